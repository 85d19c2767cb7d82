"""The webhook delivery loop: claim due outbox events, POST them signed, record each attempt.

Runs in a thread of every ``stt-gateway serve`` (standalone workers only write the outbox). Any
number of gateways may share one database: a claim hands an event to one of them under a lease
(see :mod:`app.db.webhooks_repo`), so two replicas never deliver it at the same time; a gateway
killed mid-attempt leaves its claim to expire and another one (or itself, restarted) retries.

At least once: an event is marked delivered only after a 2xx answer. Everything else is retried
after :func:`backoff` until the event's ``max_attempts`` are spent, except ``410 Gone`` and a
callback host that now resolves to a refused address (checked again on every attempt, since DNS
can change), which give up at once. Redirects are not followed (a 3xx is a failed attempt).
"""

from __future__ import annotations

import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from os import getpid

import httpx
from loguru import logger
from sqlalchemy.exc import SQLAlchemyError

from app.core import metrics
from app.core.config import Settings
from app.db.database import Database
from app.db.ids import new_token, utcnow
from app.db.webhooks_repo import Outcome, WebhookRepository
from app.services.jobs.url_ingest import UrlPolicy
from app.services.jobs.webhook_signing import headers
from schemas.errors import InvalidRequest, LeaseLost
from schemas.webhooks import Delivery, redact_url

BACKOFF_FACTOR = 3.0
JITTER = (0.8, 1.0)  # a retry waits 80-100 % of its step, so replicas do not retry in lockstep
GONE = 410


def backoff_step(attempt: int, base_s: float, max_s: float) -> float:
    """The nominal wait after failed attempt ``attempt`` (1-based): ``base * 3**(attempt-1)``,
    capped at ``max_s``. With the defaults: 10 s, 30 s, 1.5 min, 4.5 min, 13.5 min, 40.5 min,
    2 h 1.5 min, then 3 h per step."""
    exponent = min(max(attempt - 1, 0), 64)  # 3**64 s is far past any cap
    return float(min(max_s, base_s * BACKOFF_FACTOR**exponent))


def backoff(attempt: int, base_s: float, max_s: float) -> float:
    """:func:`backoff_step` with jitter: between 80 % and 100 % of the step."""
    return backoff_step(attempt, base_s, max_s) * random.uniform(*JITTER)


@dataclass(frozen=True)
class DeliveryConfig:
    secret: str | None
    backoff_base_s: float
    backoff_max_s: float
    timeout_s: float
    poll_s: float
    concurrency: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        secret = settings.webhook_secret
        return cls(
            secret=secret.get_secret_value() if secret is not None else None,
            backoff_base_s=settings.webhook_backoff_base_s,
            backoff_max_s=settings.webhook_backoff_max_s,
            timeout_s=settings.webhook_timeout_s,
            poll_s=settings.webhook_poll_s,
            concurrency=settings.webhook_concurrency,
        )

    @property
    def lease_s(self) -> float:
        """A claim outlives one attempt: connect, write and read may each take ``timeout_s``."""
        return 3 * self.timeout_s + 30.0


class WebhookDispatcher:
    def __init__(
        self,
        db: Database,
        config: DeliveryConfig,
        policy: UrlPolicy,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.policy = policy
        self.repo = WebhookRepository(db.dialect)
        self.name = f"{socket.gethostname()}:{getpid()}:webhooks"
        self._client = httpx.Client(
            timeout=config.timeout_s,
            follow_redirects=False,
            transport=transport,
            limits=httpx.Limits(max_connections=config.concurrency),
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop claiming; attempts in flight finish (a cut-off one is retried after its lease)."""
        self._stop.set()
        self.db.wakeup.notify()
        if self._thread is not None:
            self._thread.join(timeout=3 * self.config.timeout_s + 5)
            self._thread = None
        self._client.close()

    def _run(self) -> None:
        with ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="webhook") as pool:
            while not self._stop.is_set():
                mark = self.db.wakeup.mark()
                try:
                    claimed = self.run_once(pool)
                    if not claimed:
                        with self.db.read() as conn:
                            metrics.set_webhook_pending(self.repo.count_waiting(conn))
                except SQLAlchemyError as exc:
                    logger.warning("webhook outbox unavailable ({}); retrying", exc)
                    claimed = 0
                if not claimed:
                    self.db.wakeup.wait(mark, self.config.poll_s)

    # -- one round ------------------------------------------------------------------------
    def run_once(self, pool: ThreadPoolExecutor) -> int:
        """Claim up to ``concurrency`` due events and attempt them all; returns how many."""
        now = utcnow()
        with self.db.write() as conn:
            claimed = self.repo.claim(
                conn,
                limit=self.config.concurrency,
                claimed_by=self.name,
                claim_id=new_token(),
                now=now,
                until=now + timedelta(seconds=self.config.lease_s),
            )
        for future in [pool.submit(self.deliver, delivery) for delivery in claimed]:
            future.result()
        return len(claimed)

    def deliver(self, delivery: Delivery) -> Outcome:
        """One attempt, recorded under this gateway's claim."""
        outcome = self._attempt(delivery)
        try:
            with self.db.write() as conn:
                self.repo.finish(conn, delivery, outcome, utcnow())
        except LeaseLost as exc:
            metrics.record_webhook("lease_lost")
            logger.warning("{}", exc)
            return outcome
        label = "delivered" if outcome.delivered else "retry" if outcome.retry_at else "failed"
        metrics.record_webhook(label)
        logger.log(
            "INFO" if outcome.delivered or outcome.retry_at else "WARNING",
            "webhook {} (job {}) to {}: attempt {}/{} {}{}",
            delivery.id,
            delivery.job_id,
            redact_url(delivery.url),
            delivery.attempts,
            delivery.max_attempts,
            label,
            f" ({outcome.error})" if outcome.error else "",
        )
        return outcome

    def _attempt(self, delivery: Delivery) -> Outcome:
        try:
            self.policy.check(delivery.url)
        except InvalidRequest as exc:
            return self._failed(delivery, None, exc.message, final=exc.code == "url_not_allowed")
        body = delivery.body.encode()
        sent = headers(self.config.secret, delivery.id, int(time.time()), body)
        try:
            with self._client.stream("POST", delivery.url, content=body, headers=sent) as reply:
                code = reply.status_code  # the body is never read
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            message = str(exc).replace(delivery.url, redact_url(delivery.url))
            return self._failed(delivery, None, f"{type(exc).__name__}: {message}")
        if 200 <= code < 300:
            return Outcome(delivered=True, status_code=code)
        return self._failed(delivery, code, f"HTTP {code}", final=code == GONE)

    def _failed(
        self, delivery: Delivery, code: int | None, error: str, *, final: bool = False
    ) -> Outcome:
        if final or delivery.attempts >= delivery.max_attempts:
            return Outcome(delivered=False, status_code=code, error=error)
        wait = backoff(delivery.attempts, self.config.backoff_base_s, self.config.backoff_max_s)
        return Outcome(
            delivered=False,
            status_code=code,
            error=error,
            retry_at=utcnow() + timedelta(seconds=wait),
        )
