"""One heartbeat thread per worker process renews every lease it holds.

Each tracked lease carries what the last renewal learnt: whether the lease was lost (another
worker has the job now) or the owner asked to cancel. Handlers see both at their next
:meth:`Tracked.check` (a checkpoint) and stop there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger
from sqlalchemy.exc import SQLAlchemyError

from schemas.errors import JobCancelled, LeaseLost

RenewFn = Callable[[], bool]  # renews; returns True when cancellation was requested


@dataclass(eq=False)
class Tracked:
    name: str
    renew: RenewFn
    lost: bool = False
    cancel_requested: bool = False
    reason: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def beat(self) -> None:
        with self._lock:
            if self.lost:
                return
            try:
                self.cancel_requested = self.renew() or self.cancel_requested
            except LeaseLost as exc:
                self.lost, self.reason = True, exc.message

    def check(self) -> None:
        """A checkpoint: raise if the work must stop (lease gone or job cancelled)."""
        if self.lost:
            raise LeaseLost(self.reason or f"lease on {self.name} lost")
        if self.cancel_requested:
            raise JobCancelled(f"{self.name} was cancelled")


class Heartbeat:
    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._tracked: set[Tracked] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def track(self, name: str, renew: RenewFn) -> Tracked:
        tracked = Tracked(name, renew)
        with self._lock:
            self._tracked.add(tracked)
        return tracked

    def untrack(self, tracked: Tracked) -> None:
        with self._lock:
            self._tracked.discard(tracked)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                current = list(self._tracked)
            for tracked in current:
                try:
                    tracked.beat()
                except SQLAlchemyError as exc:  # database briefly unreachable: try next beat
                    logger.warning("heartbeat for {} failed: {}", tracked.name, exc)
