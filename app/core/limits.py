"""Rate limits and per-user concurrency caps.

Rate limits (moving window) come from SlowAPI's ``Limiter``, which owns the storage
(``memory://`` by default, Redis at ``STT_REDIS_URL`` so API replicas share counters) and the
strategy. The gateway evaluates them itself rather than with SlowAPI's route decorators, because
the user is known only after authentication and the provider only after the form is parsed:

* ``global``: every authenticated API call, all users together (``STT_RATE_LIMIT_GLOBAL``)
* ``user``: per user id (``STT_RATE_LIMIT_PER_USER``)
* ``provider``: per provider, all users together (``STT_RATE_LIMIT_PROVIDERS``,
  e.g. ``external=30/minute, faster-whisper=120/minute;2000/hour``)

A refused call is a :class:`RateLimited` (429 with ``Retry-After``). When the Redis server is down
the limits fail open with an error log: rate limits protect capacity, they do not grant access.

Concurrency caps (:class:`UserSlots`): at most N live streaming sessions per user, in memory or
in Redis (a sorted set of slot ids with expiry times, refreshed while held, so a crashed replica's
slots lapse). Job caps are counted by the job store; :func:`enforce_job_cap` turns a count into
the same 429.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import redis
from limits import RateLimitItem, parse_many
from loguru import logger
from redis.exceptions import RedisError
from slowapi import Limiter

from app.core import metrics
from schemas.auth import Principal
from schemas.errors import RateLimited

if TYPE_CHECKING:
    from app.core.config import Settings

STRATEGY = "moving-window"


def parse_rate(value: str) -> list[RateLimitItem]:
    """``"120/minute;2000/hour"`` -> limits; empty means no limit. Raises ``ValueError``."""
    if not value.strip():
        return []
    try:
        return list(parse_many(value))
    except ValueError:
        raise ValueError(f"not a rate limit: {value!r} (expected e.g. '120/minute')") from None


def parse_provider_limits(value: str) -> dict[str, list[RateLimitItem]]:
    """``"external=30/minute, mock=5/second;100/minute"`` -> per-provider limits."""
    result: dict[str, list[RateLimitItem]] = {}
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        name, sep, rate = entry.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"not a provider rate limit: {entry!r} (expected 'name=RATE')")
        result[name.strip()] = parse_rate(rate)
    return result


def _no_key() -> str:
    return "unused"  # keys are passed explicitly to the strategy


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.shared = settings.redis_url is not None
        self._prefix = settings.rate_limit_key_prefix
        storage_uri = settings.redis_url.get_secret_value() if settings.redis_url else "memory://"
        self._slowapi = Limiter(
            key_func=_no_key,
            storage_uri=storage_uri,
            storage_options={"key_prefix": self._prefix} if self.shared else {},
            strategy=STRATEGY,
            enabled=self.enabled,
        )
        self._global = parse_rate(settings.rate_limit_global)
        self._per_user = parse_rate(settings.rate_limit_per_user)
        self._providers = parse_provider_limits(settings.rate_limit_providers)

    def _evaluate(self, checks: list[tuple[str, RateLimitItem, str]]) -> None:
        strategy = self._slowapi.limiter
        try:
            for scope, item, key in checks:
                if not strategy.test(item, self._prefix, scope, key):
                    stats = strategy.get_window_stats(item, self._prefix, scope, key)
                    retry = max(1.0, stats.reset_time - time.time())
                    metrics.record_rate_limited(scope)
                    raise RateLimited(
                        f"rate limit reached ({scope}: {item}); retry in {math.ceil(retry)} s",
                        code=f"{scope}_rate_limit_exceeded",
                        retry_after=retry,
                    )
            for scope, item, key in checks:
                strategy.hit(item, self._prefix, scope, key)
        except (RedisError, OSError) as exc:
            logger.error("rate-limit storage unavailable, not limiting: {}", type(exc).__name__)

    async def _run(self, checks: list[tuple[str, RateLimitItem, str]]) -> None:
        if not self.enabled or not checks:
            return
        if self.shared:  # network round trips stay off the event loop
            await anyio.to_thread.run_sync(self._evaluate, checks)
        else:
            self._evaluate(checks)

    async def admit(self, principal: Principal) -> None:
        """Count one API call against the global and the caller's limits."""
        checks = [("global", item, "all") for item in self._global]
        checks += [("user", item, principal.user_id) for item in self._per_user]
        await self._run(checks)

    async def admit_provider(self, provider: str) -> None:
        """Count one use of ``provider`` against its threshold, if one is configured."""
        await self._run(
            [("provider", item, provider) for item in self._providers.get(provider, [])]
        )

    def reset(self) -> None:
        self._slowapi.reset()


def enforce_job_cap(active_jobs: int, settings: Settings) -> None:
    """Refuse a new job when the user already has ``STT_MAX_ACTIVE_JOBS_PER_USER`` active."""
    if active_jobs >= settings.max_active_jobs_per_user:
        metrics.record_rate_limited("jobs")
        raise RateLimited(
            f"you already have {active_jobs} queued or running jobs; the limit is "
            f"{settings.max_active_jobs_per_user}",
            code="too_many_active_jobs",
            retry_after=30,
        )


_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


class UserSlots:
    """At most ``cap`` concurrent holders per user, e.g. live streaming sessions."""

    def __init__(
        self, kind: str, cap: int, *, redis_url: str | None, prefix: str, ttl_s: float = 120.0
    ) -> None:
        self.kind, self.cap, self._ttl = kind, cap, ttl_s
        self._prefix = prefix
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._script = self._redis.register_script(_ACQUIRE) if self._redis else None

    def _key(self, user_id: str) -> str:
        return f"{self._prefix}:slots:{self.kind}:{user_id}"

    def _acquire(self, user_id: str, slot: str) -> bool:
        if self._script is None:
            with self._lock:
                held = self._held.setdefault(user_id, set())
                if len(held) >= self.cap:
                    return False
                held.add(slot)
                return True
        now = time.time()
        args: list[float | int | str] = [
            now,
            now + self._ttl,
            self.cap,
            slot,
            int(self._ttl * 2000),
        ]
        return bool(self._script(keys=[self._key(user_id)], args=args))

    def _refresh(self, user_id: str, slot: str) -> None:
        if self._redis is not None:
            self._redis.zadd(self._key(user_id), {slot: time.time() + self._ttl}, xx=True)

    def _release(self, user_id: str, slot: str) -> None:
        if self._redis is None:
            with self._lock:
                self._held.get(user_id, set()).discard(slot)
            return
        self._redis.zrem(self._key(user_id), slot)

    def active(self, user_id: str) -> int:
        if self._redis is None:
            with self._lock:
                return len(self._held.get(user_id, ()))
        key = self._key(user_id)
        return int(self._redis.zcount(key, time.time(), "+inf"))

    async def _keep_alive(self, user_id: str, slot: str) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await anyio.to_thread.run_sync(self._refresh, user_id, slot)
            except RedisError as exc:
                logger.warning("could not refresh a {} slot: {}", self.kind, type(exc).__name__)

    @asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[str]:
        """Hold one slot for the block; raises :class:`RateLimited` when the user has none left."""
        slot = uuid.uuid4().hex
        if self._redis is None:
            acquired = self._acquire(user_id, slot)
        else:
            acquired = await anyio.to_thread.run_sync(self._acquire, user_id, slot)
        if not acquired:
            metrics.record_rate_limited(self.kind)
            raise RateLimited(
                f"you already have {self.cap} active {self.kind} sessions; close one first",
                code=f"too_many_{self.kind}_sessions",
                retry_after=5,
            )
        refresher = asyncio.create_task(self._keep_alive(user_id, slot)) if self._redis else None
        try:
            yield slot
        finally:
            if refresher is None:
                self._release(user_id, slot)
            else:
                refresher.cancel()
                with anyio.CancelScope(shield=True):  # release even when the task is cancelled
                    await anyio.to_thread.run_sync(self._release, user_id, slot)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
