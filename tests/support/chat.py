"""A local OpenAI-compatible chat server (``POST /v1/chat/completions``) for summary tests.

It runs under uvicorn on loopback (:func:`tests.support.server.serving`), so the gateway's real
HTTP client, timeouts and retries are exercised. It records every request it receives, can be
told to fail the next ``fail_next`` requests (``fail_status``) and recover, to stay ``down``, or
to answer the next ``slow_next`` requests only after ``slow_s`` seconds (past a client's
timeout), and answers like a model that follows the gateway's prompts:

* a map request ("Part i of n ...") gets notes naming its part: key point ``covered parts i-i``
  and one decision and action item (owner ``Alice``);
* a reduce request reads the JSON notes it was shown (a note cut short fails it) and merges
  their key points into one ``covered parts a-b`` when the parts it covers are consecutive
  (each listed otherwise), keeping the first three decisions and two action items, so its
  answer stays short like a model's under ``max_tokens``. The final summary of a well-made
  map-reduce of ``n`` parts says ``covered parts 1-n``.

``plain_text`` makes every answer a plain sentence instead (a model that ignores the JSON
instructions).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.server import serving

_PART = re.compile(r"^Part (\d+) of (\d+)")
_SPAN = re.compile(r"covered parts (\d+)-(\d+)")


@dataclass
class ChatServer:
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 503
    down: bool = False
    plain_text: bool = False
    slow_next: int = 0
    slow_s: float = 1.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what it received -------------------------------------------------------------------
    def users(self) -> list[str]:
        return [r["messages"][-1]["content"] for r in self.requests]

    def answered(self) -> list[dict[str, Any]]:
        """The requests it answered with a completion (not the failed ones)."""
        return [r for r in self.requests if r.get("_answered")]

    def maps(self) -> list[str]:
        """The user messages of the answered map requests, in the order received."""
        users = [r["messages"][-1]["content"] for r in self.answered()]
        return [u for u in users if _PART.match(u)]

    def reduces(self) -> list[str]:
        users = [r["messages"][-1]["content"] for r in self.answered()]
        return [u for u in users if not _PART.match(u)]

    # -- how it answers ---------------------------------------------------------------------
    def _notes(self, user: str) -> dict[str, Any]:
        part = _PART.match(user)
        if part:
            i = part.group(1)
            return {
                "summary": f"part {i}",
                "key_points": [f"covered parts {i}-{i}"],
                "decisions": [f"decision {i}"],
                "action_items": [{"text": f"follow up on part {i}", "owner": "Alice"}],
            }
        shown = [json.loads(block) for block in user.split("\n\n")[1:]]
        spans = [_SPAN.fullmatch(p) for n in shown for p in n["key_points"]]
        ranges = [(int(m.group(1)), int(m.group(2))) for m in spans if m]
        consecutive = all(b[0] == a[1] + 1 for a, b in pairwise(ranges))
        points = (
            [f"covered parts {ranges[0][0]}-{ranges[-1][1]}"]
            if consecutive
            else [f"covered parts {a}-{b}" for a, b in ranges]
        )
        return {
            "summary": "merged " + ", ".join(n["summary"] for n in shown),
            "key_points": points,
            "decisions": [d for n in shown for d in n["decisions"]][:3],
            "action_items": [a for n in shown for a in n["action_items"]][:2],
        }

    def answer(self, body: dict[str, Any]) -> JSONResponse:
        with self._lock:
            self.requests.append(body)
            if self.down or self.fail_next > 0:
                self.fail_next = max(0, self.fail_next - 1)
                return JSONResponse(
                    {"error": {"message": "the model is overloaded", "type": "server_error"}},
                    status_code=self.fail_status,
                )
            body["_answered"] = True
        user = body["messages"][-1]["content"]
        content = "The team met and talked." if self.plain_text else json.dumps(self._notes(user))
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> JSONResponse:
            self.headers.append(dict(request.headers))
            body = await request.json()
            if self.slow_next > 0:
                self.slow_next -= 1
                self.requests.append(body)  # received, then answered too late
                await asyncio.sleep(self.slow_s)
                return JSONResponse({"error": {"message": "too late"}}, status_code=504)
            return self.answer(body)

        return app


@contextmanager
def chat_server() -> Iterator[tuple[ChatServer, str]]:
    """A started :class:`ChatServer` and its OpenAI base URL (``http://127.0.0.1:PORT/v1``)."""
    server = ChatServer()
    with serving(server.app()) as url:
        yield server, f"{url}/v1"
