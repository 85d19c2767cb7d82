"""Circuit breakers: stop sending work to a provider that keeps failing, probe it again later.

State machine (one breaker per provider name)::

    closed --(failure_threshold consecutive failures)--> open
    open   --(reset_after_s elapsed; the next call is let through as a probe)--> half_open
    half_open --(probe succeeds)--> closed
    half_open --(probe fails)--> open (the wait starts again)

While open, :meth:`CircuitBreaker.allow` refuses calls, so the fallback chain moves on to the
next provider at once instead of waiting on timeouts. Only one probe runs at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from schemas.providers import BreakerSnapshot, BreakerState


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 3
    reset_after_s: float = 30.0


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._total_failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._last_error: str | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._current()

    def _current(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._opened_at is not None
            and self._clock() - self._opened_at >= self._policy.reset_after_s
        ):
            self._state = BreakerState.HALF_OPEN
            self._probing = False
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        with self._lock:
            if self._current() is not BreakerState.OPEN or self._opened_at is None:
                return 0.0
            return max(0.0, self._policy.reset_after_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a call go to this provider now? In half-open state only one probe may."""
        with self._lock:
            state = self._current()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self, reason: str) -> None:
        with self._lock:
            state = self._current()
            self._failures += 1
            self._total_failures += 1
            self._last_error = reason
            self._probing = False
            if state is BreakerState.HALF_OPEN or self._failures >= self._policy.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()

    def release(self) -> None:
        """A let-through call ended without a verdict (e.g. a client error): free the probe."""
        with self._lock:
            self._probing = False

    def snapshot(self) -> BreakerSnapshot:
        with self._lock:
            state = self._current()
            now = self._clock()
            opened = self._opened_at
            return BreakerSnapshot(
                state=state,
                consecutive_failures=self._failures,
                total_failures=self._total_failures,
                opened_for_s=round(now - opened, 3) if opened is not None else None,
                retry_in_s=(
                    round(max(0.0, self._policy.reset_after_s - (now - opened)), 3)
                    if state is BreakerState.OPEN and opened is not None
                    else None
                ),
                last_error=self._last_error,
            )


class BreakerBoard:
    """One breaker per provider name, created on first use."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, provider: str) -> CircuitBreaker:
        with self._lock:
            if (breaker := self._breakers.get(provider)) is None:
                breaker = self._breakers[provider] = CircuitBreaker(self.policy, self._clock)
            return breaker
