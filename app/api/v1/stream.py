"""``WS /v1/audio/stream/transcribe``: live transcription (protocol in Docs/Streaming.md)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.bootstrap import Gateway
from app.core import metrics
from app.core.auth import authenticate_websocket
from app.core.errors import websocket_close_code
from app.services.streaming.session import StreamSession
from schemas.errors import GatewayError, PermissionDenied
from schemas.streaming import ErrorEvent

router = APIRouter(tags=["streaming"])


async def _refuse(websocket: WebSocket, exc: GatewayError) -> None:
    await websocket.send_text(ErrorEvent.from_error(exc, fatal=True).model_dump_json())
    await websocket.close(websocket_close_code(exc), exc.code)


@router.websocket("/audio/stream/transcribe")
async def stream_transcribe(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    await websocket.accept()
    manager = gateway.streaming
    if not gateway.settings.streaming_enabled:
        await _refuse(
            websocket,
            PermissionDenied(
                "live streaming is disabled on this server (STT_STREAMING_ENABLED)",
                code="streaming_disabled",
            ),
        )
        return
    try:
        principal = await authenticate_websocket(websocket)  # needs the 'stream' scope
    except GatewayError as exc:
        await _refuse(websocket, exc)
        return
    except WebSocketDisconnect:  # the client left before authenticating
        return
    async with AsyncExitStack() as stack:
        try:  # per-user cap on live sessions (STT_MAX_STREAMS_PER_USER)
            await stack.enter_async_context(
                websocket.app.state.stream_slots.hold(principal.user_id)
            )
        except GatewayError as exc:
            await _refuse(websocket, exc)
            return
        session = StreamSession(
            websocket,
            manager=manager,
            registry=gateway.registry,
            principal=principal,
            admit_provider=websocket.app.state.rate_limits.admit_provider,
        )
        metrics.streaming_session_started()
        try:
            await session.run()
        finally:
            metrics.streaming_session_ended("closed")
