"""A session whose handler task is cancelled (server shutdown, an ASGI cancel scope) still
returns its capacity lease, even when the cancellation is delivered again and again while it
cleans up (anyio's cancellation is level-triggered: every await re-raises)."""

from __future__ import annotations

import asyncio
from typing import Any

from app.bootstrap import build_gateway
from app.services.streaming.session import StreamSession
from schemas.auth import Principal, Scope
from tests.conftest import SettingsFactory


class _SilentSocket:
    """A connected client that never sends anything."""

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send_text(self, data: str) -> None:
        pass

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        pass


async def test_lease_released_under_repeated_cancellation(make_settings: SettingsFactory) -> None:
    gateway = build_gateway(make_settings(embedded_worker=False, stream_max_sessions=1))
    try:
        leases = gateway.streaming.leases
        for _ in range(3):  # with a leak the second session could not even start
            session = StreamSession(
                _SilentSocket(),  # type: ignore[arg-type]
                manager=gateway.streaming,
                registry=gateway.registry,
                principal=Principal(user_id="u", scopes=frozenset(Scope)),
            )
            task = asyncio.create_task(session.run())
            async with asyncio.timeout(5):  # a session that never takes its lease fails here
                while leases.active == 0:
                    await asyncio.sleep(0.001)
            while not task.done():
                task.cancel()
                await asyncio.sleep(0)
            assert leases.active == 0
    finally:
        gateway.close()
