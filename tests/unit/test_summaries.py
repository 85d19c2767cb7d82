"""Summary building blocks: packing parts under a token budget, reading the model's answers,
the recursive reduce and the plain-text fallback (against the local chat server), settings."""

from __future__ import annotations

import time

import pytest

from app.bootstrap import build_summarizer
from app.core.config import ConfigError
from app.core.intelligence_settings import SUMMARY_PROMPT_TOKENS
from app.services.summaries.parts import estimate_tokens, pack, truncate
from app.services.summaries.prompts import MAP, PART_SEPARATOR, REDUCE, parse_answer, system_prompt
from app.services.summaries.summarizer import PROMPT_MARGIN, Summarizer, mark_failure
from schemas.errors import FatalProviderError
from schemas.languages import LANGUAGE_NAMES
from schemas.quality import AudioWarning
from schemas.summary import ActionItem
from schemas.transcript import Segment, Transcript, TranscriptMetadata, build_transcript
from tests.conftest import SettingsFactory
from tests.support.chat import ChatServer, chat_server


def test_pack_keeps_order_and_every_part_within_the_budget() -> None:
    lines = [f"[0:00:{i:02d}] line {i} " + "word " * (i % 7) for i in range(60)]
    lines[10] = "a very long line " + "blah " * 200  # over the budget on its own
    parts = pack(lines, 50)
    assert all(estimate_tokens(p) <= 50 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(" ".join(lines).split())
    assert len(parts) > 1 and pack(lines[:2], 50) == ["\n".join(lines[:2])]
    assert estimate_tokens("ü" * 10) == 5  # UTF-8 bytes / 4, rounded up
    assert truncate("日本語のテキスト", 2) == "日本"  # 8 bytes: whole characters only


def test_answers_are_read_as_json_notes_or_kept_as_text() -> None:
    fenced = '```json\n{"summary": "S", "key_points": "one", "action_items": ["do it"]}\n```'
    notes, structured = parse_answer(fenced)
    assert structured and notes.summary == "S" and notes.key_points == ["one"]
    assert notes.action_items == [ActionItem(text="do it")] and notes.decisions == []
    notes, structured = parse_answer("Here it is: the team agreed on nothing.")
    assert not structured and notes.summary == "Here it is: the team agreed on nothing."
    with pytest.raises(FatalProviderError):
        parse_answer("  \n")


def transcript(segments: int, language: str = "en") -> Transcript:
    return build_transcript(
        segments=[
            Segment(id=i, start=4.0 * i, end=4.0 * i + 3.5, text=f"segment {i} " + "text " * 9)
            for i in range(segments)
        ],
        language=language,
        duration=4.0 * segments,
        metadata=TranscriptMetadata(provider="mock", model="mock"),
    )


def summarizer(make_settings: SettingsFactory, base_url: str, **overrides: object) -> Summarizer:
    built = build_summarizer(
        make_settings(
            summary_api_base=base_url,
            summary_model="meeting-llm",
            summary_context_tokens=512,
            summary_answer_tokens=64,
            summary_backoff_s=0.01,
            url_allowlist="127.0.0.1",
            **overrides,
        )
    )
    assert built is not None
    return built


def test_partial_notes_that_do_not_fit_one_call_are_reduced_again(
    make_settings: SettingsFactory,
) -> None:
    with chat_server() as (server, url):
        summary = summarizer(make_settings, url).summarize(transcript(150, "de"))
    maps, reduces = server.maps(), server.reduces()
    assert len(maps) == summary.chunks >= 10
    assert len(reduces) >= 3  # groups of partial notes, then their merge
    assert summary.key_points == [f"covered parts 1-{len(maps)}"]
    assert summary.language == "de"
    assert all("german" in r["messages"][0]["content"] for r in server.requests)


def test_a_model_that_ignores_the_json_instructions(make_settings: SettingsFactory) -> None:
    server: ChatServer
    with chat_server() as (server, url):
        server.plain_text = True
        summary = summarizer(make_settings, url).summarize(transcript(5))
    assert len(server.requests) == 1  # it fits one call: no reduce
    assert not summary.structured and summary.summary == "The team met and talked."
    assert summary.text == summary.summary and summary.key_points == []


def test_a_call_past_the_timeout_is_retried(make_settings: SettingsFactory) -> None:
    with chat_server() as (server, url):
        server.slow_next, server.slow_s = 1, 1.0
        started = time.monotonic()
        summary = summarizer(make_settings, url, summary_timeout_s=0.3).summarize(transcript(5))
        elapsed = time.monotonic() - started
    assert len(server.requests) == 2 and len(server.answered()) == 1  # timed out, then retried
    assert summary.structured and elapsed < 1.0  # it did not wait for the slow answer


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"summary_api_base": "http://llm:8080/v1"}, "needs STT_SUMMARY_MODEL"),
        ({"summary_api_base": "ftp://llm/v1", "summary_model": "m"}, "http(s) URL"),
        (
            {
                "summary_api_base": "http://llm:8080/v1",
                "summary_model": "m",
                "summary_context_tokens": 3300,
                "summary_answer_tokens": 1024,
            },
            "at least 3 x STT_SUMMARY_ANSWER_TOKENS",
        ),
    ],
)
def test_summary_settings_are_checked(
    make_settings: SettingsFactory, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_settings(**overrides)
    assert build_summarizer(make_settings()) is None  # off unless a base URL is set


def test_the_prompts_fit_the_room_the_settings_keep_for_them() -> None:
    longest = max(LANGUAGE_NAMES, key=lambda code: len(LANGUAGE_NAMES[code]))
    frame = max(estimate_tokens(t.format(index=999, count=999, text="")) for t in (MAP, REDUCE))
    used = estimate_tokens(system_prompt(longest)) + frame + PROMPT_MARGIN
    assert used + estimate_tokens(PART_SEPARATOR) <= SUMMARY_PROMPT_TOKENS


def test_a_summary_failure_is_one_warning_that_a_later_summary_removes() -> None:
    low = AudioWarning(code="low_level", message="quiet")
    checked = transcript(2).with_metadata(warnings=[low])
    failed = mark_failure(mark_failure(checked, "down"), "still down")
    assert [(w.code, w.message) for w in failed.metadata.warnings or ()] == [
        ("low_level", "quiet"),
        ("summary_failed", "still down"),
    ]
    assert mark_failure(failed, None).metadata.warnings == [low]
    clean = transcript(2).with_metadata(warnings=[])
    assert mark_failure(clean, None).metadata.warnings == []  # checks ran, found nothing
    assert mark_failure(transcript(2), None).metadata.warnings is None  # no checks ran
