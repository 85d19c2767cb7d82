"""Multichannel and speaker roles without a model: per-channel decoding, the merge by time,
the role rule, the form's refusals and the role-labelled renderings."""

from __future__ import annotations

import hashlib
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from app.api.forms import build_options, parse_form
from app.core.config import Settings, load_settings
from app.services.jobs.media import options_hash
from app.services.transcription.audio import check_channels, decode_file, decode_span
from app.services.transcription.formats import render
from app.services.transcription.multichannel import merge_channels, on_channel
from app.services.transcription.roles import apply_roles, parse_roles
from schemas.errors import GatewayError, InvalidRequest
from schemas.jobs import AudioSource, TranscriptionPayload
from schemas.options import ResponseFormat, Task, TranscriptionOptions
from schemas.transcript import (
    Diarization,
    Segment,
    Transcript,
    TranscriptMetadata,
    Word,
    build_transcript,
)

RATE = 16_000


def _wav(path: Path, channels: list[np.ndarray]) -> Path:
    frames = np.stack(channels, axis=1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((frames * 32767).astype("<i2").tobytes())
    return path


def _tone(hz: float, seconds: float, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def test_each_channel_decodes_alone_and_the_downmix_mixes_them(tmp_path: Path) -> None:
    left = _tone(440, 2.0)
    right = np.zeros_like(left)
    right[RATE:] = _tone(1000, 1.0)  # the right channel is silent for the first second
    path = _wav(tmp_path / "stereo.wav", [left, right])
    assert check_channels(path, max_channels=8) == 2
    ch0 = decode_file(path, max_duration_s=60, channel=0).samples
    ch1 = decode_file(path, max_duration_s=60, channel=1).samples
    mix = decode_file(path, max_duration_s=60).samples
    assert ch0.size == ch1.size == mix.size == 2 * RATE
    assert _rms(ch0[:RATE]) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert _rms(ch1[: RATE - 800]) < 1e-3 and _rms(ch1[RATE + 800 :]) > 0.3
    assert np.allclose(mix, (ch0 + ch1) * np.sqrt(0.5), atol=2e-3)  # FFmpeg's downmix
    span = decode_span(path, 1.0, 2.0, channel=1).samples  # a job chunk of one channel
    assert span.size == RATE and np.allclose(span, ch1[RATE:], atol=1e-3)


def test_mono_and_too_many_channels_are_refused(tmp_path: Path) -> None:
    mono = _wav(tmp_path / "mono.wav", [_tone(440, 0.5)])
    with pytest.raises(InvalidRequest) as refused:
        check_channels(mono, max_channels=8)
    assert refused.value.param == "multichannel" and refused.value.code == "mono_audio"
    assert "mono" in refused.value.message
    three = _wav(tmp_path / "three.wav", [_tone(440, 0.5)] * 3)
    with pytest.raises(InvalidRequest) as refused:
        check_channels(three, max_channels=2)
    assert refused.value.code == "too_many_channels" and "3 channels" in refused.value.message
    assert "STT_MAX_AUDIO_CHANNELS" in refused.value.message


def _words(text: str, start: float, step: float = 0.3) -> list[Word]:
    return [
        Word(word=w, start=start + i * step, end=start + (i + 1) * step, probability=0.9)
        for i, w in enumerate(text.split())
    ]


def _channel(segments: list[tuple[float, str]], processing_ms: int) -> Transcript:
    return build_transcript(
        segments=[
            Segment(
                id=0,
                start=start,
                end=start + 0.3 * len(text.split()),
                text=text,
                words=_words(text, start),
            )
            for start, text in segments
        ],
        language="en",
        duration=10.0,
        metadata=TranscriptMetadata(provider="p", model="m", processing_ms=processing_ms),
    )


def test_channels_merge_by_start_time_with_their_speakers() -> None:
    agent = _channel([(0.0, "thank you for calling our bank today"), (4.0, "how can I help")], 100)
    customer = _channel([(1.0, "okay"), (2.5, "my card was stolen")], 50)
    merged = merge_channels([on_channel(agent, 0), on_channel(customer, 1)], 10.0)
    assert [s.start for s in merged.segments] == [0.0, 1.0, 2.5, 4.0]
    assert [s.id for s in merged.segments] == [0, 1, 2, 3]
    assert [(s.channel, s.speaker) for s in merged.segments] == [
        (0, "ch0"),
        (1, "ch1"),
        (1, "ch1"),
        (0, "ch0"),
    ]
    # the customer's "okay" is said over the agent: it keeps its own end, inside the agent's
    assert merged.segments[1].end == pytest.approx(1.3)
    assert merged.segments[1].end < merged.segments[0].end
    assert all(w.speaker == s.speaker for s in merged.segments for w in s.words or ())
    assert merged.text == " ".join(s.text for s in merged.segments)
    assert merged.diarization == Diarization(enabled=True, speakers=2)
    assert merged.metadata.processing_ms == 150
    assert merged.metadata.model_extra == {"channels": 2}
    body = render(merged, ResponseFormat.DIARIZED_JSON)
    assert isinstance(body, dict)
    assert [(s["speaker"], s["channel"]) for s in body["segments"]] == [
        ("ch0", 0),
        ("ch1", 1),
        ("ch1", 1),
        ("ch0", 0),
    ]


def test_roles_follow_channel_order_even_when_the_second_channel_talks_first() -> None:
    first = on_channel(_channel([(2.0, "hello this is the agent")], 1), 0)
    second = on_channel(_channel([(0.0, "hi I am calling about my bill")], 1), 1)
    named = apply_roles(merge_channels([first, second], 10.0), ("agent", "customer"))
    assert [(s.speaker, s.channel) for s in named.segments] == [("customer", 1), ("agent", 0)]
    assert {w.speaker for w in named.segments[0].words or ()} == {"customer"}
    assert named.diarization.roles == {"ch0": "agent", "ch1": "customer"}


def _diarized(speakers: list[str]) -> Transcript:
    return build_transcript(
        segments=[
            Segment(id=0, start=i, end=i + 0.9, text=f"part {i}", speaker=speaker)
            for i, speaker in enumerate(speakers)
        ],
        language="en",
        duration=10.0,
        metadata=TranscriptMetadata(provider="p", model="m"),
        diarization=Diarization(enabled=True, speakers=len(set(speakers))),
    )


def test_diarized_roles_go_by_first_appearance_and_extra_speakers_keep_labels() -> None:
    named = apply_roles(_diarized(["B", "A", "B", "C", "A"]), ("clinician", "patient"))
    assert [s.speaker for s in named.segments] == [
        "clinician",
        "patient",
        "clinician",
        "C",
        "patient",
    ]
    assert named.diarization.roles == {"B": "clinician", "A": "patient"}
    assert render(named, ResponseFormat.TEXT) == (
        "clinician: part 0\npatient: part 1\nclinician: part 2\nC: part 3\npatient: part 4\n"
    )
    srt = render(named, ResponseFormat.SRT)
    vtt = render(named, ResponseFormat.VTT)
    assert isinstance(srt, str) and isinstance(vtt, str)
    assert "[clinician] part 0" in srt and "[patient] part 1" in srt
    assert "<v clinician>part 0" in vtt
    # consecutive segments of one speaker share a line; without roles text is unchanged
    assert render(apply_roles(_diarized(["A", "A"]), ("x",)), ResponseFormat.TEXT) == (
        "x: part 0 part 1\n"
    )
    assert render(_diarized(["A", "B"]), ResponseFormat.TEXT) == "part 0 part 1\n"


def test_role_names_are_validated() -> None:
    assert parse_roles(" agent , customer ") == ("agent", "customer")
    assert parse_roles("Dr. O'Neil,patient-1") == ("Dr. O'Neil", "patient-1")
    for bad, why in [
        ("agent,,customer", "empty"),
        ("agent,Agent", "twice"),
        ("<b>agent</b>", "only letters"),
        ("agent,B", "speaker label"),
        ("ch0", "speaker label"),
        ("x" * 41, "over 40"),
        (",".join(f"r{i}" for i in range(17)), "at most 16"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            parse_roles(bad)
        assert refused.value.param == "speaker_roles" and why in refused.value.message, bad


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(_env_file=None, data_dir=tmp_path)


def _options(settings: Settings, **fields: str):  # type: ignore[no-untyped-def]
    form = parse_form({"model": ["mock"], **{k: [v] for k, v in fields.items()}})
    return build_options(form, Task.TRANSCRIBE, settings)


def test_form_fields_and_their_refusals(settings: Settings) -> None:
    options = _options(settings, multichannel="true", diarize="true", speaker_roles="a,b")
    assert options.multichannel and options.diarization is None  # the channel is the speaker
    assert options.speaker_roles == ("a", "b")
    diarized = _options(settings, diarize="true", speaker_roles="clinician,patient")
    assert diarized.diarization is not None and diarized.speaker_roles == ("clinician", "patient")
    for fields, param in [
        ({"multichannel": "true", "stream": "true"}, "multichannel"),
        ({"multichannel": "true", "num_speakers": "3"}, "num_speakers"),
        ({"speaker_roles": "agent,customer"}, "speaker_roles"),  # no speakers to name
        ({"multichannel": "maybe"}, "multichannel"),
    ]:
        with pytest.raises(GatewayError) as refused:
            _options(settings, **fields)
        assert refused.value.status_code == 400 and refused.value.param == param, fields


def test_multichannel_roles_and_emotion_are_part_of_the_dedup_hash() -> None:
    """A mono transcript of the same audio is never reused for a multichannel request (nor one
    with other roles, nor one asking for emotions); without the new options the hash is what it
    was before them."""
    payload = TranscriptionPayload(
        source=AudioSource(kind="upload"), model="tiny.en", options=TranscriptionOptions()
    )

    def with_options(**changes: object) -> TranscriptionPayload:
        return payload.model_copy(update={"options": payload.options.model_copy(update=changes)})

    hashes = {
        options_hash(p, "faster-whisper:tiny.en")
        for p in (
            payload,
            with_options(multichannel=True),
            with_options(multichannel=True, speaker_roles=("agent", "customer")),
            with_options(multichannel=True, speaker_roles=("customer", "agent")),
            with_options(emotion=True),
            with_options(enhance=True),
            with_options(enhance=False),
        )
    }
    assert len(hashes) == 7
    before = {"model": "m", "options": payload.options.model_dump(mode="json")}
    for name in ("multichannel", "speaker_roles", "emotion", "enhance"):
        del before["options"][name]
    digest = hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    assert options_hash(payload, "m") == digest
