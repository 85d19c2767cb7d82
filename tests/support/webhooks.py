"""A local webhook receiver: a threaded HTTP server on 127.0.0.1 that verifies signatures.

Each request is recorded (event id, body, whether its signature verified, the status answered).
``answers`` is a queue of status codes to answer first (e.g. ``[500, 500]``); once it is empty,
``default`` is answered (200 unless changed, e.g. to 503 while a test wants delivery to fail).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from app.services.jobs.webhook_signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)


@dataclass(frozen=True)
class Received:
    event_id: str
    body: bytes
    verified: bool
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    secret: str
    url: str = ""
    default: int = 200
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        verified = verify(
            self.secret,
            body,
            handler.headers.get(TIMESTAMP_HEADER, ""),
            handler.headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
        )
        with self.lock:
            status = self.answers.pop(0) if self.answers else self.default
            event_id = handler.headers.get(ID_HEADER, "")
            self.received.append(Received(event_id, body, verified, status))
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def delivered(self) -> list[Received]:
        """Requests answered with a 2xx (the deliveries that count)."""
        with self.lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def delivered_ids(self) -> Counter[str]:
        return Counter(r.event_id for r in self.delivered())


@contextmanager
def webhook_receiver(secret: str) -> Iterator[Receiver]:
    """Run a :class:`Receiver` on a free loopback port; its ``url`` is ``http://127.0.0.1:P/hook``."""
    receiver = Receiver(secret)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver.answer(self)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook?token=s3cret"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
