"""The session state machine: an explicit transition table, illegal moves refused.

=================  ============================  ===========
state              message                       next state
=================  ============================  ===========
awaiting_start     start                         active
active             audio, commit                 active
active             pause                         paused
paused             audio (counted, not decoded)  paused
paused             resume                        active
active, paused     stop                          closing
any                (disconnect, fatal error)     closed
=================  ============================  ===========

Anything else (a second ``start``, ``resume`` while active, audio before ``start``...) raises
:class:`InvalidSessionState`, which the session reports as a non-fatal ``error`` event.
"""

from __future__ import annotations

from enum import Enum

from schemas.errors import InvalidRequest


class SessionState(str, Enum):
    AWAITING_START = "awaiting_start"
    ACTIVE = "active"
    PAUSED = "paused"
    CLOSING = "closing"
    CLOSED = "closed"


class Message(str, Enum):
    START = "start"
    AUDIO = "audio"
    PAUSE = "pause"
    RESUME = "resume"
    COMMIT = "commit"
    STOP = "stop"


S, M = SessionState, Message
TRANSITIONS: dict[tuple[SessionState, Message], SessionState] = {
    (S.AWAITING_START, M.START): S.ACTIVE,
    (S.ACTIVE, M.AUDIO): S.ACTIVE,
    (S.ACTIVE, M.COMMIT): S.ACTIVE,
    (S.ACTIVE, M.PAUSE): S.PAUSED,
    (S.PAUSED, M.AUDIO): S.PAUSED,
    (S.PAUSED, M.RESUME): S.ACTIVE,
    (S.ACTIVE, M.STOP): S.CLOSING,
    (S.PAUSED, M.STOP): S.CLOSING,
}


class InvalidSessionState(InvalidRequest):
    default_code = "invalid_state"


class SessionStateMachine:
    def __init__(self) -> None:
        self.state = SessionState.AWAITING_START

    def check(self, message: Message) -> SessionState:
        """The state ``message`` leads to; raises if it is not allowed now."""
        target = TRANSITIONS.get((self.state, message))
        if target is None:
            hint = " (send 'start' first)" if self.state is SessionState.AWAITING_START else ""
            raise InvalidSessionState(
                f"'{message.value}' is not allowed while the session is {self.state.value}{hint}",
                param="type",
            )
        return target

    def apply(self, message: Message) -> SessionState:
        self.state = self.check(message)
        return self.state

    def close(self) -> None:
        self.state = SessionState.CLOSED
