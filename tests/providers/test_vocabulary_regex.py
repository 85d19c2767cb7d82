"""Regular-expression vocabulary rules (``"re:PATTERN"``) and per-language default prompts:
units, properties, and the REST API with the mock provider."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.streaming.setup import build_engine, resolve_start
from app.services.transcription.pipeline import TranscriptionPipeline
from app.services.vocabulary import Vocabulary, parse_vocabulary, validate_vocabulary
from app.services.vocabulary_regex import MAX_PATTERN_CHARS, MAX_RULES
from providers.base import AudioInput, SegmentStream
from providers.mock import MockProvider
from providers.registry import ProviderRegistry
from schemas.errors import InvalidRequest
from schemas.options import TranscriptionOptions
from schemas.streaming import StartMessage
from schemas.transcript import Word
from tests.conftest import SettingsFactory
from tests.support.audio import speech
from tests.support.server import running_server

RUMA = {r"re:\bрум\b": "RUMA"}


def test_a_cyrillic_rule_replaces_whole_words_only() -> None:
    vocab = Vocabulary(RUMA)
    assert (
        vocab.correct_text("Это рум, а не румы и не брум. рум")
        == "Это RUMA, а не румы и не брум. RUMA"
    )
    assert vocab.correct_text("Рум") == "Рум"  # case-sensitive unless the pattern says (?i)
    assert Vocabulary({r"re:(?i)\bрум\b": "RUMA"}).correct_text("Рум!") == "RUMA!"


def test_rules_keep_words_consistent_with_the_text() -> None:
    words = [
        Word(word=w, start=i * 0.5, end=i * 0.5 + 0.4, probability=0.9 - i / 10)
        for i, w in enumerate(["Позвони", "в", "рум,", "э", "завтра"])
    ]
    vocab = Vocabulary({**RUMA, r"re:\bв\s+RUMA\b": "в RUMA Inc", r"re:\bэ\b\s*": ""})
    fixed = vocab.correct_words(words)
    assert [w.word for w in fixed] == ["Позвони", "в RUMA Inc,", "завтра"]
    merged, joined = fixed[1], fixed[2]  # "в" + "рум,"; the deleted "э" + "завтра"
    assert (merged.start, merged.end, merged.probability) == (0.5, 1.4, pytest.approx(0.7))
    assert (joined.start, joined.end) == (1.5, 2.4)
    assert " ".join(w.word for w in fixed) == vocab.correct_text(" ".join(w.word for w in words))


def test_group_references_in_replacements() -> None:
    vocab = Vocabulary({r"re:\b(\d+)\s+процентов\b": r"\1 %"})
    assert vocab.correct_text("рост 15 процентов") == "рост 15 %"


@pytest.mark.parametrize(
    "pattern, reason",
    [
        ("(a+)+b", "repeat inside a repeat"),
        ("(a|ab)*c", "alternation inside an unbounded repeat"),
        ("x*", "empty string"),
        ("[unclosed", "not a valid regular expression"),
        ("a" * (MAX_PATTERN_CHARS + 1), "longer than"),
    ],
)
def test_dangerous_or_broken_patterns_are_refused(pattern: str, reason: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_vocabulary(json.dumps({f"re:{pattern}": "x"}))
    assert caught.value.code == "invalid_vocabulary" and reason in caught.value.message


def test_bad_replacements_and_too_many_rules_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="invalid replacement"):
        validate_vocabulary({"re:(a)b": r"\2"})
    with pytest.raises(InvalidRequest, match="regular-expression rules"):
        validate_vocabulary({f"re:w{i}": "x" for i in range(MAX_RULES + 1)})


cyrillic = st.lists(
    st.sampled_from(["рум", "рум,", "Рум", "румы", "э", "в", "да.", "брум"]), max_size=20
)


@settings(max_examples=200, deadline=None)
@given(cyrillic)
def test_words_and_text_agree_after_any_rules(tokens: list[str]) -> None:
    words = [Word(word=t, start=i, end=i + 0.5, probability=0.8) for i, t in enumerate(tokens)]
    vocab = Vocabulary({**RUMA, r"re:\bэ\b": "", r"re:(?i)\bв\s+рум": "в-рум"})
    fixed = vocab.correct_words(words)
    assert " ".join(w.word for w in fixed) == vocab.correct_text(" ".join(tokens))
    assert all(w.word and w.start <= w.end for w in fixed)
    assert [w.start for w in fixed] == sorted(w.start for w in fixed)


class Recording(MockProvider):
    """The mock provider, remembering the prompt of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.prompts: list[str | None] = []

    def iter_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        self.prompts.append(options.prompt)
        return super().iter_segments(audio, options, model)

    def transcribe_stream(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        self.prompts.append(options.prompt)
        return super().transcribe_stream(audio, options, model)


def _registry(provider: Recording) -> ProviderRegistry:
    return ProviderRegistry(
        {"mock": provider}, default_provider="mock", default_model="mock", translation_model="mock"
    )


def test_default_prompts_apply_when_the_language_is_known_and_no_prompt_is_given() -> None:
    provider = Recording()
    registry = _registry(provider)
    prompts = {"ru": "Компания RUMA.", "de": "Kubernetes."}
    pipeline = TranscriptionPipeline(registry, Vocabulary(), default_prompts=prompts)
    audio = AudioInput(np.zeros(16_000, dtype=np.float32))
    chain = registry.chain("mock")
    for options in (
        TranscriptionOptions(language="ru"),
        TranscriptionOptions(language="ru", prompt="Свой."),
        TranscriptionOptions(),  # language unknown before decoding: no default
        TranscriptionOptions(language="fr"),
    ):
        pipeline.run(audio, chain, options)
    assert provider.prompts == ["Компания RUMA.", "Свой.", None, None]


def test_default_prompt_starts_a_live_session(make_settings: SettingsFactory) -> None:
    provider = Recording()
    settings = make_settings(default_prompts={"ru": "Компания RUMA."})
    pending = resolve_start(
        StartMessage(type="start", model="mock", language="ru", vad={"enabled": False}),
        settings,
        _registry(provider),
    )
    engine = build_engine(pending, settings)
    noise = np.random.default_rng(0).normal(0, 0.1, 16_000 * 2).astype(np.float32)
    unvoiced = build_engine(
        resolve_start(
            StartMessage(type="start", model="mock", vad={"enabled": False}),
            settings,
            _registry(provider),
        ),
        settings,
    )
    for live in (engine, unvoiced):
        for i in range(0, len(noise), 8000):
            live.feed(noise[i : i + 8000])
    assert "Компания RUMA." in provider.prompts
    assert None in provider.prompts  # the session without a language has no default prompt


def test_rules_and_defaults_through_the_api(make_settings: SettingsFactory, tmp_path: Path) -> None:
    fixture = tmp_path / "words.txt"
    fixture.write_text("позвони в рум завтра утром, рум ждёт", encoding="utf-8")
    settings = make_settings(
        mock_fixture=fixture,
        vocabulary={r"re:\bутром\b": "в 9:00"},
        default_provider="mock",
        default_model="mock",
    )
    path = speech("Anything at all.")
    request_vocabulary = json.dumps({r"re:\bрум\b": "RUMA"}, ensure_ascii=False)
    with running_server(settings) as url:

        def post(**data: str) -> httpx.Response:
            with open(path, "rb") as f:
                return httpx.post(
                    f"{url}/v1/audio/transcriptions",
                    files={"file": ("a.wav", f, "audio/wav")},
                    data={"model": "mock", **data},
                    timeout=60,
                )

        response = post(vocabulary=request_vocabulary, response_format="verbose_json")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["text"] == "позвони в RUMA завтра в 9:00, RUMA ждёт"
        metadata = body["metadata"]
        assert metadata["warnings"] == []
        quality = metadata["quality"]
        assert quality["confidence_source"] == "segments"  # no word timestamps asked
        assert quality["confidence_buckets"] == {"high": 1.0, "medium": 0.0, "low": 0.0}
        assert quality["real_time_factor"] >= 0 and quality["words_per_minute"] > 0
        bad = post(vocabulary=json.dumps({"re:(a+)+": "x"}))
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_vocabulary"
        assert bad.json()["error"]["param"] == "vocabulary"
