"""Rate limits and per-user concurrency caps.

Rate limits (moving window) come from SlowAPI's ``Limiter``, which owns the storage
(``memory://`` by default, Redis at ``STT_REDIS_URL`` so API replicas share counters) and the
strategy. The gateway evaluates them itself rather than with SlowAPI's route decorators, because
the user is known only after authentication and the provider only after the form is parsed:

* ``global``: every authenticated API call, all users together (``STT_RATE_LIMIT_GLOBAL``)
* ``user``: per user id (``STT_RATE_LIMIT_PER_USER``)
* ``provider``: per provider, all users together (``STT_RATE_LIMIT_PROVIDERS``,
  e.g. ``external=30/minute, faster-whisper=120/minute;2000/hour``)

A refused call is a :class:`RateLimited` (429 with ``Retry-After``).

Concurrency caps (:class:`UserSlots`): at most N live streaming sessions per user, in memory or
in Redis (a sorted set of slot ids with expiry times, refreshed while held, so a crashed replica's
slots lapse). Job caps are counted by the job store; :func:`enforce_job_cap` turns a count into
the same 429.

While Redis is down both follow ``STT_REDIS_FAILURE_POLICY`` (see :mod:`app.core.redis_store`):
``open`` stops rate limiting and counts session slots per replica, ``closed`` refuses with 503.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import anyio
from limits import RateLimitItem
from slowapi import Limiter

from app.core import metrics
from app.core.redis_store import REDIS_ERRORS, RedisStore, unavailable
from app.core.settings_checks import parse_provider_limits, parse_rate
from schemas.auth import Principal
from schemas.errors import RateLimited

if TYPE_CHECKING:
    from app.core.config import Settings

STRATEGY = "moving-window"


def _no_key() -> str:
    return "unused"  # keys are passed explicitly to the strategy


class RateLimits:
    """The configured rate limits; shared through ``store`` (Redis) when there is one."""

    def __init__(self, settings: Settings, store: RedisStore | None = None) -> None:
        self.enabled = settings.rate_limit_enabled
        self.shared = store is not None
        self._store = store
        self._prefix = settings.rate_limit_key_prefix
        storage_uri = settings.redis_url.get_secret_value() if settings.redis_url else "memory://"
        options: dict[str, str | float] = {}
        if store is not None:  # limits' own Redis client, with the store's short timeouts
            options = {
                "key_prefix": self._prefix,
                "socket_timeout": store.timeout_s,
                "socket_connect_timeout": store.timeout_s,
            }
        self._slowapi = Limiter(
            key_func=_no_key,
            storage_uri=storage_uri,
            # slowapi annotates str values; limits hands them to redis.from_url, which wants numbers
            storage_options=cast("dict[str, str]", options),
            strategy=STRATEGY,
            enabled=self.enabled,
        )
        self._global = parse_rate(settings.rate_limit_global)
        self._per_user = parse_rate(settings.rate_limit_per_user)
        self._providers = parse_provider_limits(settings.rate_limit_providers)

    def _evaluate(self, checks: list[tuple[str, RateLimitItem, str]]) -> RateLimited | None:
        """The refusal for the first exhausted limit, else count the call against all of them."""
        strategy = self._slowapi.limiter
        for scope, item, key in checks:
            if not strategy.test(item, self._prefix, scope, key):
                stats = strategy.get_window_stats(item, self._prefix, scope, key)
                retry = max(1.0, stats.reset_time - time.time())
                metrics.record_rate_limited(scope)
                return RateLimited(
                    f"rate limit reached ({scope}: {item}); retry in {math.ceil(retry)} s",
                    code=f"{scope}_rate_limit_exceeded",
                    retry_after=retry,
                )
        for scope, item, key in checks:
            strategy.hit(item, self._prefix, scope, key)
        return None

    def _evaluate_shared(
        self, store: RedisStore, checks: list[tuple[str, RateLimitItem, str]]
    ) -> RateLimited | None:
        """:meth:`_evaluate` in Redis; while it is down, the failure policy decides."""
        if store.should_try():
            try:
                refused = self._evaluate(checks)
            except REDIS_ERRORS as exc:
                store.failed("rate_limit", exc)
            else:
                store.succeeded()
                return refused
        if store.policy == "closed":
            raise unavailable("the rate limit")
        return None  # fail open: limits protect capacity, they never grant access

    async def _run(self, checks: list[tuple[str, RateLimitItem, str]]) -> None:
        if not self.enabled or not checks:
            return
        if self._store is None:
            refused = self._evaluate(checks)
        else:  # network round trips stay off the event loop
            refused = await anyio.to_thread.run_sync(self._evaluate_shared, self._store, checks)
        if refused is not None:
            raise refused

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


@dataclass
class _Held:
    user_id: str
    slot: str
    shared: bool  # counted in Redis (else only by this process)


class UserSlots:
    """At most ``cap`` concurrent holders per user, e.g. live streaming sessions.

    Every slot this process holds is also counted here in memory; with ``store`` the cap is
    counted in Redis, across replicas. While Redis is down, ``open`` takes slots against this
    process's own count (one replica still enforces its cap on its own sessions) and the
    keep-alive writes them to Redis once it is back; ``closed`` refuses new slots with 503.
    Slots already held are kept either way.
    """

    def __init__(
        self, kind: str, cap: int, *, store: RedisStore | None, prefix: str, ttl_s: float = 120.0
    ) -> None:
        self.kind, self.cap, self._ttl = kind, cap, ttl_s
        self._prefix = prefix
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}
        self._store = store
        self._script = store.client.register_script(_ACQUIRE) if store else None

    def _key(self, user_id: str) -> str:
        return f"{self._prefix}:slots:{self.kind}:{user_id}"

    def _acquire_local(self, user_id: str, slot: str, *, cap: bool = True) -> bool:
        with self._lock:
            held = self._held.setdefault(user_id, set())
            if cap and len(held) >= self.cap:
                return False
            held.add(slot)
            return True

    def _acquire(self, user_id: str, slot: str) -> bool:
        """Take a slot in Redis, against every replica's count; may raise REDIS_ERRORS."""
        assert self._script is not None  # only with a store
        now = time.time()
        args: list[float | int | str] = [
            now,
            now + self._ttl,
            self.cap,
            slot,
            int(self._ttl * 2000),
        ]
        return bool(self._script(keys=[self._key(user_id)], args=args))

    def _acquire_shared(self, store: RedisStore, held: _Held) -> bool:
        if store.should_try():
            try:
                acquired = self._acquire(held.user_id, held.slot)
            except REDIS_ERRORS as exc:
                store.failed(f"{self.kind}_slot_acquire", exc)
            else:
                store.succeeded()
                if acquired:
                    held.shared = True
                    self._acquire_local(held.user_id, held.slot, cap=False)
                return acquired
        if store.policy == "closed":
            raise unavailable(f"the cap on {self.kind} sessions")
        return self._acquire_local(held.user_id, held.slot)

    def _refresh(self, store: RedisStore, held: _Held) -> None:
        """Extend the slot's expiry (and its key's), writing the slot again if Redis lost it
        or never had it (taken during an outage)."""
        key = self._key(held.user_id)
        with store.client.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {held.slot: time.time() + self._ttl})
            pipe.pexpire(key, int(self._ttl * 2000))
            pipe.execute()

    def _release(self, held: _Held) -> None:
        with self._lock:
            self._held.get(held.user_id, set()).discard(held.slot)
        if self._store is None or not held.shared:
            return
        try:
            self._store.client.zrem(self._key(held.user_id), held.slot)
        except REDIS_ERRORS as exc:  # the slot lapses in Redis after its expiry
            self._store.failed(f"{self.kind}_slot_release", exc)

    def active(self, user_id: str) -> int:
        """Slots in use by ``user_id``: in Redis when there is a store (may raise REDIS_ERRORS)."""
        if self._store is None:
            with self._lock:
                return len(self._held.get(user_id, ()))
        key = self._key(user_id)
        return int(self._store.client.zcount(key, time.time(), "+inf"))

    async def _keep_alive(self, store: RedisStore, held: _Held) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await anyio.to_thread.run_sync(self._refresh, store, held)
            except REDIS_ERRORS as exc:
                store.failed(f"{self.kind}_slot_refresh", exc)
            else:
                store.succeeded()
                held.shared = True

    @asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[str]:
        """Hold one slot for the block; raises :class:`RateLimited` when the user has none left,
        or ``ServiceUnavailable`` when Redis is down and the failure policy is ``closed``."""
        held = _Held(user_id, uuid.uuid4().hex, shared=False)
        store = self._store
        if store is None:
            acquired = self._acquire_local(user_id, held.slot)
        else:
            acquired = await anyio.to_thread.run_sync(self._acquire_shared, store, held)
        if not acquired:
            metrics.record_rate_limited(self.kind)
            raise RateLimited(
                f"you already have {self.cap} active {self.kind} sessions; close one first",
                code=f"too_many_{self.kind}_sessions",
                retry_after=5,
            )
        refresher = asyncio.create_task(self._keep_alive(store, held)) if store else None
        try:
            yield held.slot
        finally:
            if refresher is None:
                self._release(held)
            else:
                refresher.cancel()
                with anyio.CancelScope(shield=True):  # release even when the task is cancelled
                    await asyncio.wait([refresher])  # no refresh may land after the release
                    await anyio.to_thread.run_sync(self._release, held)
