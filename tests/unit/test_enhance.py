"""The enhancement stage (STT_ENHANCE and the ``enhance`` form field): the FFmpeg filter chain
on decoded samples, the level it reaches, when ``auto`` applies it, what the pipeline reports."""

from __future__ import annotations

from dataclasses import replace

import httpx
import numpy as np
import pytest

from app.bootstrap import build_pipeline
from app.core.config import ConfigError
from app.services.transcription import enhance as enhance_module
from app.services.transcription.audio_warnings import WarningThresholds
from app.services.transcription.enhance import (
    EnhanceMode,
    EnhanceSettings,
    enhance,
    measure_level,
    run_filters,
)
from app.services.transcription.multichannel import ChannelReader
from app.services.transcription.pipeline import TranscriptionPipeline
from app.services.vocabulary import Vocabulary
from providers.base import AudioInput, SegmentStream
from providers.mock import MockProvider
from providers.registry import ProviderRegistry
from schemas.options import TranscriptionOptions
from tests.conftest import SettingsFactory
from tests.support.audio import speech
from tests.support.server import running_server

RATE = 16_000


def _tone(hz: float, dbfs: float, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (10 ** (dbfs / 20) * np.sqrt(2) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(samples, dtype=np.float64))))


def test_quiet_audio_is_raised_to_the_target_level() -> None:
    audio = AudioInput(_tone(440, -50), source_rate=8000)
    enhanced, applied = enhance(audio, EnhanceSettings(mode=EnhanceMode.ON, target_dbfs=-20))
    assert applied is not None
    assert applied.level_dbfs == pytest.approx(-50, abs=0.2)
    assert applied.gain_db == pytest.approx(30, abs=0.2)
    assert applied.filters == "highpass=f=80,lowpass=f=7600,volume=30dB"
    assert measure_level(enhanced, -50) == pytest.approx(-20, abs=0.5)
    assert len(enhanced.samples) == len(audio.samples)
    assert enhanced.source_rate == 8000  # the warnings still see the source's rate
    assert _db(audio.samples) == pytest.approx(-50, abs=0.2)  # the original is untouched


def test_the_band_pass_removes_hum_and_hiss_but_keeps_speech_frequencies() -> None:
    band = ["highpass=f=300", "lowpass=f=3400"]
    for hz, kept in ((50, False), (1000, True), (7000, False)):
        out = run_filters(_tone(hz, -20), RATE, band)
        loss = _db(_tone(hz, -20)[RATE:]) - _db(out[RATE:])  # after the filters settle
        assert (loss < 1) if kept else (loss > 6), (hz, loss)


def test_long_audio_is_filtered_in_blocks_without_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten-second blocks go through one graph: the result equals a single-block run."""
    rng = np.random.default_rng(1)
    noise = (0.05 * rng.standard_normal(RATE * 25)).astype(np.float32)
    chain = ["highpass=f=80", "lowpass=f=7600", "volume=6dB"]
    blocks = run_filters(noise, RATE, chain)
    assert blocks.shape == noise.shape
    monkeypatch.setattr(enhance_module, "BLOCK_S", 60.0)
    np.testing.assert_allclose(blocks, run_filters(noise, RATE, chain), atol=1e-6)


def test_auto_enhances_only_audio_under_the_warning_level() -> None:
    settings = EnhanceSettings(mode=EnhanceMode.AUTO, auto_below_dbfs=-40)
    loud = AudioInput(_tone(440, -25))
    assert enhance(loud, settings) == (loud, None)
    quiet = AudioInput(_tone(440, -48))
    _, applied = enhance(quiet, settings)
    assert applied is not None and applied.gain_db == pytest.approx(28, abs=0.2)
    off = EnhanceSettings(mode=EnhanceMode.OFF)
    assert enhance(quiet, off) == (quiet, None)


def test_the_gain_is_capped_and_silence_is_not_amplified_into_noise() -> None:
    silence = AudioInput(_tone(440, -90))
    enhanced, applied = enhance(silence, EnhanceSettings(mode=EnhanceMode.ON, max_gain_db=40))
    assert applied is not None and applied.gain_db == 40
    assert measure_level(enhanced, -120) == pytest.approx(-50, abs=0.5)
    empty = AudioInput(np.zeros(0, dtype=np.float32))
    assert enhance(empty, EnhanceSettings(mode=EnhanceMode.ON)) == (empty, None)


class Heard(MockProvider):
    """The mock provider, remembering the level of the audio it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.levels: list[float] = []

    def iter_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        self.levels.append(measure_level(audio, -50))
        return super().iter_segments(audio, options, model)

    def registry(self) -> ProviderRegistry:
        return ProviderRegistry(
            {"mock": self}, default_provider="mock", default_model="mock", translation_model="mock"
        )


def test_the_pipeline_transcribes_the_enhanced_copy_and_warns_about_the_original() -> None:
    provider = Heard()
    registry = provider.registry()
    pipeline = TranscriptionPipeline(
        registry,
        Vocabulary(),
        warnings=WarningThresholds(),
        enhancement=EnhanceSettings(mode=EnhanceMode.AUTO),
    )
    quiet = AudioInput(_tone(440, -48, seconds=4))
    transcript = pipeline.run(quiet, registry.chain("mock"), TranscriptionOptions())
    assert provider.levels[-1] == pytest.approx(-20, abs=0.5)
    enhancement = transcript.metadata.enhancement
    assert enhancement is not None and enhancement.filters.endswith("volume=28dB")
    assert [w.code for w in transcript.metadata.warnings or []] == ["low_level"]
    loud = pipeline.run(AudioInput(_tone(440, -20)), registry.chain("mock"), TranscriptionOptions())
    assert loud.metadata.enhancement is None
    assert provider.levels[-1] == pytest.approx(-20, abs=0.5)


def test_settings_choose_the_stage(make_settings: SettingsFactory) -> None:
    assert build_pipeline(make_settings()).enhancement.mode is EnhanceMode.AUTO
    assert build_pipeline(make_settings(enhance="off")).enhancement.mode is EnhanceMode.OFF
    stage = build_pipeline(
        make_settings(enhance="on", enhance_target_dbfs=-23, enhance_lowpass_hz=0)
    ).enhancement
    assert stage.mode is EnhanceMode.ON and stage.band() == ["highpass=f=80"]
    assert stage.target_dbfs == -23
    with pytest.raises(ConfigError, match="STT_ENHANCE_LOWPASS_HZ"):
        make_settings(enhance_highpass_hz=3000, enhance_lowpass_hz=300)
    with pytest.raises(ConfigError):
        make_settings(enhance="loud")


def test_a_request_turns_the_stage_on_or_off_over_the_setting() -> None:
    provider = Heard()
    registry = provider.registry()
    pipeline = TranscriptionPipeline(registry, Vocabulary())  # STT_ENHANCE=off
    chain = registry.chain("mock")
    loud = AudioInput(_tone(440, -30))
    assert pipeline.run(loud, chain, TranscriptionOptions()).metadata.enhancement is None
    forced = pipeline.run(loud, chain, TranscriptionOptions(enhance=True)).metadata.enhancement
    assert forced is not None and forced.gain_db == pytest.approx(10, abs=0.2)
    assert provider.levels == pytest.approx([-30, -20], abs=0.5)
    auto = replace(pipeline, enhancement=EnhanceSettings(mode=EnhanceMode.AUTO))
    quiet = AudioInput(_tone(440, -50))
    assert auto.run(quiet, chain, TranscriptionOptions(enhance=False)).metadata.enhancement is None
    assert provider.levels[-1] == pytest.approx(-50, abs=0.5)


def test_the_enhance_form_field(make_settings: SettingsFactory) -> None:
    recording = speech("Please call me back about the invoice tomorrow morning.")
    settings = make_settings(default_provider="mock", default_model="mock", enhance="off")

    def post(client: httpx.Client, **data: str) -> httpx.Response:
        with open(recording, "rb") as handle:
            form = {"model": "mock", "response_format": "verbose_json", **data}
            return client.post("/v1/audio/transcriptions", files={"file": handle}, data=form)

    with running_server(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert post(client).json()["metadata"].get("enhancement") is None
        enhancement = post(client, enhance="true").json()["metadata"]["enhancement"]
        assert enhancement["filters"].startswith("highpass=f=80,lowpass=f=7600,volume=")
        refused = post(client, enhance="true", stream="true")
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "capability_not_supported"
        assert refused.json()["error"]["param"] == "stream"
        invalid = post(client, enhance="loud")
        assert invalid.status_code == 400 and invalid.json()["error"]["param"] == "enhance"


def test_each_channel_is_enhanced_for_itself() -> None:
    """multichannel=true: the quiet channel is raised, the loud one left alone, and the merged
    transcript reports the gain the quiet channel needed."""
    provider = Heard()
    registry = provider.registry()
    pipeline = TranscriptionPipeline(
        registry, Vocabulary(), enhancement=EnhanceSettings(mode=EnhanceMode.AUTO)
    )
    tracks = [AudioInput(_tone(440, -50)), AudioInput(_tone(440, -22))]
    channels = ChannelReader(2, lambda i: tracks[i])
    downmix = AudioInput((tracks[0].samples + tracks[1].samples) / 2)
    options = TranscriptionOptions(multichannel=True)
    transcript = pipeline.run(downmix, registry.chain("mock"), options, channels)
    assert provider.levels == pytest.approx([-20, -22], abs=0.5)
    assert transcript.metadata.enhancement is not None
    assert transcript.metadata.enhancement.gain_db == pytest.approx(30, abs=0.2)
