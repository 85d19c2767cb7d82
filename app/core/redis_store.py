"""The Redis server behind shared rate limits and session caps, and whether it answers.

Every Redis call of the gateway (rate limits, per-user stream slots, the ``/ready`` probe) reports
its outcome to one :class:`RedisStore`, which logs each change of state once (never once per
request), exports it as ``audio_stt_dependency_up{dependency="redis"}`` (failed calls count in
``audio_stt_dependency_errors_total``) and shows it in ``/ready``.

What a caller does while Redis is down is ``STT_REDIS_FAILURE_POLICY``
(Docs/Security_and_Operations.md, "When Redis is down"):

* ``open`` (default): rate limits are not enforced; per-user stream slots are counted by this
  replica alone, so each replica still enforces ``STT_MAX_STREAMS_PER_USER`` on its own sessions;
* ``closed``: a call that needs Redis is refused with :func:`unavailable` (503, WebSocket close
  1013, code ``redis_unavailable``).

Calls use short socket timeouts (``STT_REDIS_TIMEOUT_S``) and run in worker threads, never on the
event loop. After a failure, callers (``/ready`` too) skip Redis for :data:`PROBE_INTERVAL_S`;
then one call tries it again, so a Redis that hangs costs one timeout per interval, not one per
request. The client reconnects by itself once the server is back.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Literal

import redis
from loguru import logger
from redis.exceptions import RedisError

from app.core import metrics
from schemas.errors import ServiceUnavailable

if TYPE_CHECKING:
    from app.core.config import Settings

RedisPolicy = Literal["open", "closed"]
DEPENDENCY = "redis"
PROBE_INTERVAL_S = 2.0
# What a failed call raises: redis-py's errors, and socket errors it lets through.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)


class RedisStore:
    """One Redis client with short timeouts, and the server's up/down state (thread-safe)."""

    def __init__(self, url: str, *, timeout_s: float, policy: RedisPolicy = "open") -> None:
        self.policy: RedisPolicy = policy
        self.timeout_s = timeout_s
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._lock = threading.Lock()
        self._up: bool | None = None  # unknown until the first call
        self._probe_at = 0.0
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisStore | None:
        if settings.redis_url is None:
            return None
        return cls(
            settings.redis_url.get_secret_value(),
            timeout_s=settings.redis_timeout_s,
            policy=settings.redis_failure_policy,
        )

    @property
    def up(self) -> bool | None:
        """True/False after the last call; None before any."""
        return self._up

    def should_try(self) -> bool:
        """Whether a request should call Redis now: not while it is known to be down, except
        for one caller per :data:`PROBE_INTERVAL_S`, which probes it."""
        with self._lock:
            if self._up is not False:
                return True
            now = time.monotonic()
            if now < self._probe_at:
                return False
            self._probe_at = now + PROBE_INTERVAL_S
            return True

    def succeeded(self) -> None:
        with self._lock:
            changed, self._up, self.last_error = self._up is not True, True, None
        if changed:
            metrics.set_dependency_up(DEPENDENCY, True)
            logger.info("redis is reachable: shared rate limits and session caps are enforced")

    def failed(self, operation: str, exc: BaseException) -> None:
        """Record a failed call; ``operation`` is a short fixed name (a metric label)."""
        metrics.record_dependency_error(DEPENDENCY, operation)
        with self._lock:
            changed, self._up = self._up is not False, False
            self.last_error = type(exc).__name__
            self._probe_at = time.monotonic() + PROBE_INTERVAL_S
        if changed:
            metrics.set_dependency_up(DEPENDENCY, False)
            logger.error(
                "redis is unavailable ({} during {}); STT_REDIS_FAILURE_POLICY={}: {}",
                type(exc).__name__,
                operation,
                self.policy,
                "rate limits are off and session caps are per replica until it returns"
                if self.policy == "open"
                else "calls that need it are refused with 503 until it returns",
            )

    def ping(self) -> bool:
        """Probe the server now (blocking: call it from a worker thread)."""
        try:
            self.client.ping()
        except REDIS_ERRORS as exc:
            self.failed("ping", exc)
            return False
        self.succeeded()
        return True

    def close(self) -> None:
        self.client.close()


def unavailable(what: str) -> ServiceUnavailable:
    """The refusal under ``STT_REDIS_FAILURE_POLICY=closed``."""
    return ServiceUnavailable(
        f"{what} cannot be checked: the shared limits store (Redis) is unavailable; retry shortly",
        code="redis_unavailable",
        retry_after=5,
    )
