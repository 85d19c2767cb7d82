"""The OpenAI-compatible chat endpoint that writes summaries (``STT_SUMMARY_API_BASE``).

``POST {base}/chat/completions`` through :class:`providers.http_retry.RetryingPoster`: timeouts
(``STT_SUMMARY_TIMEOUT_S``), connection errors, 429 and 5xx are retried with backoff up to
``STT_SUMMARY_MAX_RETRIES`` times, other answers fail at once. Before a summary's first call the
base URL passes ``guard``: the gateway passes the URL ingestion guard
(``app.services.jobs.url_ingest.UrlPolicy.check``), so a host that resolves to a private,
loopback or link-local address must be on ``STT_URL_ALLOWLIST``. The API key travels
only in the ``Authorization`` header; it is registered for log redaction like every secret
setting, is not in any error message and not in ``repr``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from providers.http_retry import RetryingPoster, RetryPolicy
from schemas.errors import FatalProviderError

NAME = "summary endpoint"
TEMPERATURE = 0.2


@dataclass(frozen=True)
class ChatConfig:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 120.0
    answer_tokens: int = 1024
    json_mode: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class ChatClient:
    def __init__(
        self,
        config: ChatConfig,
        guard: Callable[[str], None],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._guard = guard
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s),
        )
        self._http = RetryingPoster(self._client, config.retry, name=NAME, sleep=sleep)

    def close(self) -> None:
        self._client.close()

    def check_endpoint(self) -> None:
        """Raise :class:`InvalidRequest` when the base URL's host may not be called."""
        self._guard(self.config.base_url)

    def complete(self, system: str, user: str) -> str:
        """The model's answer to one system + user message (blocking: call it off the loop)."""
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": TEMPERATURE,
            "max_tokens": self.config.answer_tokens,
        }
        if self.config.json_mode:
            body["response_format"] = {"type": "json_object"}
        response = self._http.post("/chat/completions", json=body)
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise FatalProviderError(
                f"{NAME}: upstream answered 200 without a chat completion",
                code="upstream_bad_response",
            )
        return content
