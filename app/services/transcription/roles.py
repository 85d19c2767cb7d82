"""``speaker_roles``: role names (``agent,customer``, ``clinician,patient``) for the speakers.

The rule, in the order the names are given:

* a multichannel transcript: role ``i`` names channel ``i`` (its speaker ``ch{i}``), whether
  or not that channel said anything;
* a diarized transcript: roles go to the speakers in order of first appearance (the first
  speaker to talk gets the first role).

Speakers beyond the roles keep their labels. The role replaces the label on every segment and
word, so ``diarized_json``, ``verbose_json``, SRT (``[agent] ...``) and WebVTT (``<v agent>``)
show it with no change of their own; ``diarization.roles`` keeps the mapping (label -> role),
and the ``text`` format then writes one ``role: text`` line per speaker turn.
"""

from __future__ import annotations

import re

from app.services.transcription.multichannel import channel_speaker, relabel_speakers
from schemas.errors import InvalidRequest
from schemas.options import MAX_SPEAKERS
from schemas.transcript import Transcript

MAX_ROLE_CHARS = 40
_ROLE = re.compile(r"\w[\w .'-]*")
# the gateway's own labels (A, B, ... and ch0, ch1, ...) would make a role ambiguous
_LABEL = re.compile(r"[A-Z]|ch\d+")


def parse_roles(value: str) -> tuple[str, ...]:
    """The comma-separated role names of ``value``; 400 (``speaker_roles``) for an empty or
    over-long name, one with characters other than letters, digits, spaces and ``_.'-``, one
    that looks like a speaker label, a name given twice, or more than 16 names."""
    names = tuple(name.strip() for name in value.split(","))
    for name in names:
        if not name:
            _refuse("a role name is empty (write the names separated by commas)")
        if len(name) > MAX_ROLE_CHARS:
            _refuse(f"the role name '{name[:20]}...' is over {MAX_ROLE_CHARS} characters")
        if not _ROLE.fullmatch(name):
            _refuse(
                f"the role name '{name}' may hold only letters, digits, spaces and _ . ' - "
                "(starting with a letter or digit)"
            )
        if _LABEL.fullmatch(name):
            _refuse(f"the role name '{name}' looks like a speaker label (A, B, ..., ch0, ...)")
    if len({n.casefold() for n in names}) < len(names):
        _refuse("a role name is given twice")
    if len(names) > MAX_SPEAKERS:
        _refuse(f"at most {MAX_SPEAKERS} role names")
    return names


def _refuse(message: str) -> None:
    raise InvalidRequest(
        f"invalid speaker_roles: {message}", param="speaker_roles", code="invalid_speaker_roles"
    )


def role_map(transcript: Transcript, roles: tuple[str, ...]) -> dict[str, str]:
    """Speaker label -> role by the module's rule."""
    if any(s.channel is not None for s in transcript.segments):
        return {channel_speaker(i): role for i, role in enumerate(roles)}
    order = list(dict.fromkeys(s.speaker for s in transcript.segments if s.speaker))
    return dict(zip(order, roles, strict=False))


def apply_roles(transcript: Transcript, roles: tuple[str, ...]) -> Transcript:
    """``transcript`` with its speakers renamed to ``roles``; ``diarization.roles`` set."""
    mapping = role_map(transcript, roles)

    def named(speaker: str | None) -> str | None:
        return mapping.get(speaker, speaker) if speaker else speaker

    segments = relabel_speakers(transcript.segments, named)
    diarization = transcript.diarization.model_copy(update={"roles": mapping})
    return transcript.model_copy(update={"segments": segments, "diarization": diarization})


def role_lines(transcript: Transcript) -> str:
    """The transcript as ``speaker: text`` lines, one per run of segments by one speaker."""
    lines: list[tuple[str, list[str]]] = []
    for segment in transcript.segments:
        speaker = segment.speaker or "unknown"
        if lines and lines[-1][0] == speaker:
            lines[-1][1].append(segment.text)
        else:
            lines.append((speaker, [segment.text]))
    return "".join(f"{speaker}: {' '.join(texts)}\n" for speaker, texts in lines)
