"""Properties of the streaming commit policy: committed text is never retracted or changed,
and nothing is lost or duplicated at window joins."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.streaming.agreement import LocalAgreement, TimedWord
from app.services.streaming.engine import Hypothesis, LiveEngineConfig, OnlineTranscriber
from tests.support.stream import assert_never_retracted

TRUTH_VOCAB = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
WORD_S = 0.4
PAUSE_S = 0.3  # longer than the engine's MIN_PAUSE_S: a buffer cut may go into it


def truth_words(keys: list[str], pauses: list[bool] | None = None) -> list[TimedWord]:
    """Back-to-back words; ``pauses[i]`` puts a pause after word ``i``."""
    words, at = [], 0.0
    for i, key in enumerate(keys):
        words.append(TimedWord(key, at, at + WORD_S))
        at += WORD_S + (PAUSE_S if pauses and i < len(pauses) and pauses[i] else 0.0)
    return words


@st.composite
def revealed_hypotheses(draw: st.DrawFn) -> tuple[list[TimedWord], list[list[TimedWord]]]:
    """A true word sequence revealed progressively; each hypothesis ends in noise that no
    other hypothesis repeats (a decoder guessing at the still-unheard tail)."""
    truth = truth_words(draw(st.lists(st.sampled_from(TRUTH_VOCAB), min_size=1, max_size=30)))
    cuts = sorted(draw(st.lists(st.integers(0, len(truth)), min_size=1, max_size=20)))
    hypotheses = []
    for n, cut in enumerate(cuts):
        noise = [
            TimedWord(f"noise{n}x{j}", (cut + j) * WORD_S, (cut + j + 1) * WORD_S)
            for j in range(draw(st.integers(0, 3)))
        ]
        hypotheses.append(truth[:cut] + noise)  # the window holds the whole utterance
    return truth, hypotheses


@given(revealed_hypotheses())
def test_committed_words_are_append_only_and_true(
    case: tuple[list[TimedWord], list[list[TimedWord]]],
) -> None:
    truth, hypotheses = case
    policy = LocalAgreement()
    for hypothesis in hypotheses:
        before = list(policy.committed)
        newly = policy.update(hypothesis)
        assert policy.committed == before + newly  # append-only, unchanged
        keys = [w.key for w in policy.committed]
        assert keys == [w.key for w in truth[: len(keys)]]  # never noise, never repeated
    policy.flush(truth)
    assert [w.key for w in policy.committed] == [w.key for w in truth]


@given(st.lists(st.lists(st.sampled_from(TRUTH_VOCAB), max_size=8), max_size=12))
def test_arbitrary_hypotheses_never_change_committed_words(sequences: list[list[str]]) -> None:
    policy = LocalAgreement()
    for n, keys in enumerate(sequences):
        before = list(policy.committed)
        policy.update([TimedWord(k, n + i * 0.1, n + i * 0.1 + 0.1) for i, k in enumerate(keys)])
        assert policy.committed[: len(before)] == before


class ScriptedDecoder:
    """Knows the truth; recognises exactly the words that have fully arrived in the window,
    then guesses noise for the cut-off tail. The window's timeline position is read from the
    samples themselves (each sample holds its own index)."""

    def __init__(self, truth: list[TimedWord], rng: np.random.Generator) -> None:
        self.truth = truth
        self.rng = rng
        self.calls = 0

    def __call__(self, samples: np.ndarray, prompt: str | None) -> Hypothesis:
        self.calls += 1
        start = float(samples[0]) / 16_000
        end = (float(samples[-1]) + 1) / 16_000
        words = [
            TimedWord(w.text, w.start - start, w.end - start)
            for w in self.truth
            if w.start >= start - 0.05 and w.end <= end
        ]
        if self.rng.random() < 0.7:
            words.append(TimedWord(f"guess{self.calls}", end - start - 0.2, end - start))
        return Hypothesis(words=words, language="en")


def _as_dicts(events: list[object]) -> list[dict[str, object]]:
    return [e.model_dump() for e in events]  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.sampled_from(TRUTH_VOCAB), min_size=1, max_size=60),
    steps=st.lists(st.integers(800, 40_000), min_size=1, max_size=200),
    commits=st.sets(st.integers(0, 60), max_size=4),
    seed=st.integers(0, 2**16),
    max_buffer_s=st.sampled_from([2.0, 4.0, 12.0]),
    pauses=st.lists(st.booleans(), max_size=60),
)
def test_engine_sessions_never_retract_lose_or_duplicate(
    keys: list[str],
    steps: list[int],
    commits: set[int],
    seed: int,
    max_buffer_s: float,
    pauses: list[bool],
) -> None:
    truth = truth_words(keys, pauses)
    total = round(truth[-1].end * 16_000) + 8000
    timeline = np.arange(total, dtype=np.float32)
    engine = OnlineTranscriber(
        ScriptedDecoder(truth, np.random.default_rng(seed)),
        LiveEngineConfig(max_buffer_s=max_buffer_s, hard_buffer_s=max_buffer_s * 2),
        vad=None,
    )
    events: list[object] = []
    position = 0
    for n, size in enumerate(steps * (total // max(1, sum(steps)) + 1)):
        if position >= total:
            break
        events += engine.feed(timeline[position : position + size])
        position += size
        if n in commits:
            events += engine.finalize("commit")
    events += engine.finalize("stop")
    dicts = _as_dicts(events)
    assert_never_retracted(dicts)
    finals = [w for e in dicts if e["type"] == "final" for w in e["segment"]["words"]]  # type: ignore[index]
    spoken = [w["word"] for w in finals if not w["word"].startswith("guess")]
    # commits cut words in two; away from those cuts every true word arrives exactly once
    if not commits:
        assert spoken == keys
    assert len(spoken) <= len(keys)
    times = [(w["start"], w["end"]) for w in finals]
    assert times == sorted(times)


class _NoGuesses:
    """An ``rng`` for :class:`ScriptedDecoder` that never adds a guessed word."""

    def random(self) -> float:
        return 1.0


def test_a_cut_in_a_pause_finalizes_every_committed_word() -> None:
    # "delta" is committed after the pause when the 2 s buffer overflows: the cut goes into
    # the pause, but the final must still carry "delta" (the client saw it committed)
    truth = truth_words(["alpha", "bravo", "charlie", "delta", "echo"], [False, False, True])
    timeline = np.arange(round(truth[-1].end * 16_000) + 8000, dtype=np.float32)
    engine = OnlineTranscriber(
        ScriptedDecoder(truth, _NoGuesses()),  # type: ignore[arg-type]
        LiveEngineConfig(max_buffer_s=2.0, hard_buffer_s=4.0),
        vad=None,
    )
    events: list[object] = []
    for start in range(0, len(timeline), 1600):
        events += engine.feed(timeline[start : start + 1600])
    events += engine.finalize("stop")
    dicts = _as_dicts(events)
    assert_never_retracted(dicts)
    finals = [e for e in dicts if e["type"] == "final"]
    assert finals[0]["reason"] == "max_buffer"
    assert finals[0]["segment"]["text"] == "alpha bravo charlie delta"  # type: ignore[index]
    assert " ".join(e["segment"]["text"] for e in finals) == "alpha bravo charlie delta echo"  # type: ignore[index]


def test_words_still_in_the_buffer_after_a_cut_stay_out_of_the_prompt() -> None:
    # the cut goes into the pause before "delta": "delta" is finalized but its audio is heard
    # again, so a prompt holding it would make Whisper skip it (and misplace what follows)
    truth = truth_words(["alpha", "bravo", "charlie", "delta", "echo"], [False, False, True])
    decoder = ScriptedDecoder(truth, _NoGuesses())  # type: ignore[arg-type]
    prompts: list[str | None] = []

    def recording(samples: np.ndarray, prompt: str | None) -> Hypothesis:
        prompts.append(prompt)
        return decoder(samples, prompt)

    config = LiveEngineConfig(max_buffer_s=2.0, hard_buffer_s=4.0)
    engine = OnlineTranscriber(recording, config, None)
    timeline = np.arange(round(truth[-1].end * 16_000) + 8000, dtype=np.float32)
    events: list[object] = []
    for start in range(0, len(timeline), 1600):
        before = len(events)
        events += engine.feed(timeline[start : start + 1600])
        if any(e.type == "final" for e in events[before:]):  # type: ignore[attr-defined]
            break
    engine.feed(timeline[start + 1600 : start + 3200])  # the next decode after the cut
    assert "delta" in _as_dicts(events)[-1]["segment"]["text"]  # type: ignore[index,operator]
    assert prompts[-1] == "alpha bravo charlie"
