"""POSTs to OpenAI-compatible HTTP endpoints with one retry policy.

Used by the external transcription provider and the summary client (``app.services.summaries``):

* connection errors, timeouts, 429 and 5xx are retried up to ``max_retries`` times with
  exponential backoff and jitter; a ``Retry-After`` header (seconds or HTTP date) is honoured
  as the wait when present, and when it is longer than ``max_backoff_s`` the call gives up at
  once with a :class:`RetriableProviderError` carrying ``retry_after``;
* any other non-200 answer fails at once with a :class:`FatalProviderError` (retrying cannot fix
  a bad key or an unknown upstream model).

Error messages carry the caller's ``name``, the status and the upstream's own error message,
never the request headers (where the API key travels).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from loguru import logger

from schemas.errors import FatalProviderError, RetriableProviderError


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; ``None`` if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def upstream_message(response: httpx.Response) -> str:
    """The upstream's error message (OpenAI's ``{"error": {"message": ...}}``), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:300]
    return str(body)[:200]


class RetryingPoster:
    """``post`` returns the upstream's 200 response or raises after the policy's retries.

    ``on_error`` sees each failed attempt's message (the external provider's health report).
    """

    def __init__(
        self,
        client: httpx.Client,
        policy: RetryPolicy,
        *,
        name: str,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        on_error: Callable[[str], None] = lambda _message: None,
    ) -> None:
        self.client = client
        self.policy = policy
        self.name = name
        self._sleep = sleep
        self._jitter = jitter
        self._on_error = on_error

    def post(self, path: str, **request: Any) -> httpx.Response:
        policy = self.policy
        for attempt in range(policy.max_retries + 1):
            outcome, wait = self._try(path, request, attempt)
            if isinstance(outcome, httpx.Response):
                return outcome
            self._on_error(outcome.message)
            if attempt >= policy.max_retries:
                raise outcome
            if wait > policy.max_backoff_s:
                outcome.retry_after = wait
                raise outcome
            logger.info(
                "{}; retry {}/{} in {:.2f}s", outcome.message, attempt + 1, policy.max_retries, wait
            )
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        base = min(self.policy.max_backoff_s, self.policy.backoff_s * 2**attempt)
        return base * (0.5 + 0.5 * self._jitter())  # "equal jitter"

    def _try(
        self, path: str, request: dict[str, Any], attempt: int
    ) -> tuple[httpx.Response | RetriableProviderError, float]:
        try:
            response = self.client.post(path, **request)
        except httpx.TimeoutException as exc:
            return self._retriable(f"timed out ({type(exc).__name__})", "upstream_timeout"), (
                self._backoff(attempt)
            )
        except httpx.TransportError as exc:
            return self._retriable(
                f"cannot reach {str(self.client.base_url).rstrip('/')} ({type(exc).__name__})",
                "upstream_unreachable",
            ), self._backoff(attempt)
        status = response.status_code
        if status == 200:
            return response, 0.0
        message = f"upstream answered {status}: {upstream_message(response)}"
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            wait = self._backoff(attempt) if retry_after is None else retry_after
            code = "upstream_rate_limited" if status == 429 else "upstream_error"
            return self._retriable(message, code), wait
        self._on_error(message)
        raise FatalProviderError(f"{self.name}: {message}", code="upstream_rejected")

    def _retriable(self, message: str, code: str) -> RetriableProviderError:
        return RetriableProviderError(f"{self.name}: {message}", code=code)
