"""Live transcription WebSockets: ``/audio/stream/transcribe`` (the gateway's protocol,
Docs/Streaming.md) and ``/realtime`` (OpenAI's Realtime API, transcription sessions,
Docs/Realtime.md). Both share authentication, the per-user session cap, leases and metrics."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from app.bootstrap import Gateway
from app.core import metrics
from app.core.auth import authenticate_websocket
from app.core.errors import websocket_close_code
from app.services.streaming.live import LiveSession
from app.services.streaming.realtime.session import RealtimeSession
from app.services.streaming.session import StreamSession
from schemas.errors import GatewayError, PermissionDenied
from schemas.realtime import ErrorEvent as RealtimeErrorEvent
from schemas.realtime import RealtimeError
from schemas.streaming import ErrorEvent

router = APIRouter(tags=["streaming"])
ErrorRenderer = Callable[[GatewayError], BaseModel]


def _native_error(exc: GatewayError) -> BaseModel:
    return ErrorEvent.from_error(exc, fatal=True)


def _realtime_error(exc: GatewayError) -> BaseModel:
    return RealtimeErrorEvent(error=RealtimeError.from_error(exc))


async def _refuse(websocket: WebSocket, exc: GatewayError, render: ErrorRenderer) -> None:
    await websocket.send_text(render(exc).model_dump_json())
    await websocket.close(websocket_close_code(exc), exc.code)


async def _serve(
    websocket: WebSocket, session_type: type[LiveSession], render: ErrorRenderer, protocol: str
) -> None:
    gateway: Gateway = websocket.app.state.gateway
    await websocket.accept()
    if not gateway.settings.streaming_enabled:
        await _refuse(
            websocket,
            PermissionDenied(
                "live streaming is disabled on this server (STT_STREAMING_ENABLED)",
                code="streaming_disabled",
            ),
            render,
        )
        return
    try:
        principal = await authenticate_websocket(websocket)  # needs the 'stream' scope
    except GatewayError as exc:
        await _refuse(websocket, exc, render)
        return
    except WebSocketDisconnect:  # the client left before authenticating
        return
    async with AsyncExitStack() as stack:
        try:  # per-user cap on live sessions (STT_MAX_STREAMS_PER_USER)
            await stack.enter_async_context(
                websocket.app.state.stream_slots.hold(principal.user_id)
            )
        except GatewayError as exc:
            await _refuse(websocket, exc, render)
            return
        session = session_type(
            websocket,
            manager=gateway.streaming,
            registry=gateway.registry,
            principal=principal,
            admit_provider=websocket.app.state.rate_limits.admit_provider,
        )
        metrics.streaming_session_started(protocol)
        try:
            await session.run()
        finally:
            metrics.streaming_session_ended("closed", protocol)


@router.websocket("/audio/stream/transcribe")
async def stream_transcribe(websocket: WebSocket) -> None:
    await _serve(websocket, StreamSession, _native_error, "native")


@router.websocket("/realtime")
async def realtime(websocket: WebSocket) -> None:
    """OpenAI Realtime API, transcription sessions (``?intent=transcription``)."""
    await _serve(websocket, RealtimeSession, _realtime_error, "realtime")
