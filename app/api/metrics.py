"""``GET /metrics``: Prometheus text exposition of every ``audio_stt_*`` series.

Open by default (scrapers sit on the operator's network); with ``STT_METRICS_TOKEN`` set the
scraper must send ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from schemas.errors import AuthenticationError

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.get_secret_value().encode()):
            raise AuthenticationError("the metrics endpoint needs its bearer token")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
