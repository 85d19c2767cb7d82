"""LocalAgreement-2: commit the words two consecutive hypotheses agree on.

Each decode of the live buffer yields a hypothesis (timed words on the session timeline). Words
already committed are removed from its head (by time, then by an n-gram match against the tail
of what was committed that lies over already committed audio, which removes the duplicated
words window joins otherwise produce); the
longest common prefix of what remains and the previous hypothesis's uncommitted tail is
committed. Committed words are append-only: nothing here ever edits or removes them.

After Macháček et al., "Turning Whisper into Real-Time Transcription System" (2023).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_NON_WORD = re.compile(r"[^\w']+")
#: words starting this much before the last committed word's end still count as new
TIME_TOLERANCE_S = 0.1
#: longest run of words compared when removing the overlap at a window join
MAX_OVERLAP_WORDS = 5
#: how far past the last committed word a re-decoded duplicate may end (timestamp jitter)
JOIN_SLACK_S = 0.25


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float
    end: float
    probability: float = 1.0

    @property
    def key(self) -> str:
        """Comparison form: case and punctuation do not block agreement."""
        return _NON_WORD.sub("", self.text.lower())


def _keys(words: Sequence[TimedWord]) -> list[str]:
    return [w.key for w in words]


def common_prefix(a: Sequence[TimedWord], b: Sequence[TimedWord]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x.key != y.key:
            break
        n += 1
    return n


@dataclass
class LocalAgreement:
    """The commit policy of one session. ``committed`` grows; ``tentative`` is revisable."""

    committed: list[TimedWord] = field(default_factory=list)
    tentative: list[TimedWord] = field(default_factory=list)
    #: the last committed words of the session, kept across utterances for join de-duplication
    _context: list[TimedWord] = field(default_factory=list)
    _last_end: float = 0.0
    _provisional: bool = False

    @property
    def last_committed_end(self) -> float:
        return self._last_end

    def unseen(self, hypothesis: Sequence[TimedWord]) -> list[TimedWord]:
        """The part of ``hypothesis`` that is not already committed."""
        words = [w for w in hypothesis if w.key and w.start > self._last_end - TIME_TOLERANCE_S]
        context = _keys(self._context)
        head = _keys(words)
        for n in range(min(len(context), len(head), MAX_OVERLAP_WORDS), 0, -1):
            # a re-decoded copy lies over audio already committed (give or take timestamp
            # jitter); the same words said again after it are speech, not a duplicate
            if context[-n:] == head[:n] and words[n - 1].end <= self._last_end + JOIN_SLACK_S:
                return words[n:]
        return words

    def _commit(self, words: Sequence[TimedWord]) -> None:
        self.committed.extend(words)
        if words:
            self._context = (self._context + list(words))[-MAX_OVERLAP_WORDS:]
            self._last_end = max(self._last_end, words[-1].end)

    def update(
        self, hypothesis: Sequence[TimedWord], *, provisional: bool = False
    ) -> list[TimedWord]:
        """Feed the newest hypothesis; returns the words it newly commits.

        A ``provisional`` hypothesis (decoded from too little audio to trust) becomes the
        tentative tail but commits nothing, and the next hypothesis is not compared with it.
        """
        new = self.unseen(hypothesis)
        n = 0 if provisional or self._provisional else common_prefix(new, self.tentative)
        self._provisional = provisional
        agreed = new[:n]
        self._commit(agreed)
        self.tentative = new[n:]
        return agreed

    def flush(self, hypothesis: Sequence[TimedWord] | None = None) -> list[TimedWord]:
        """End of utterance: commit everything ``hypothesis`` (default: the tentative tail)
        adds after the committed words. Returns the newly committed words."""
        rest = self.unseen(hypothesis) if hypothesis is not None else list(self.tentative)
        self._commit(rest)
        self.tentative = []
        return rest

    def pause_before_end(self, min_pause_s: float, not_before: float) -> int | None:
        """Index of the committed word that follows the latest pause of ``min_pause_s`` or
        more starting at ``not_before`` or later; ``None`` when the speaker never paused."""
        for i in range(len(self.committed) - 1, 0, -1):
            if self.committed[i - 1].end < not_before:
                return None
            if self.committed[i].start - self.committed[i - 1].end >= min_pause_s:
                return i
        return None

    def take_committed(self, *, keep_context: bool) -> list[TimedWord]:
        """Hand the committed words over (to a ``final``) and start the next utterance.

        ``keep_context`` when the next window starts right after the last committed word
        (a buffer cut mid-speech): the join context and the tentative tail stay, so the next
        utterance neither repeats committed words nor loses words still under revision. After a
        cut at silence the next window holds only new audio, so the context is dropped and a
        phrase the speaker really repeats is not mistaken for a duplicate.
        """
        words, self.committed = self.committed, []
        if not keep_context:
            self._context = []
            self.tentative = []
        return words
