"""Wake-ups for idle workers: an in-process signal, fed across processes by PostgreSQL NOTIFY.

Workers wait on :class:`Wakeup` with a timeout (the fallback poll). Producers in the same
process signal it directly after committing; on PostgreSQL a :class:`PgListener` thread turns
``NOTIFY stt_jobs`` from any process into the same signal. SQLite has no cross-process channel,
so separate worker processes on SQLite fall back to the poll interval.
"""

from __future__ import annotations

import threading

from loguru import logger


class Wakeup:
    """A counter-based condition: ``wait`` returns early once anything was signalled."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return self._generation

    def wait(self, since: int, timeout: float) -> bool:
        """Wait until a signal newer than ``since`` (from :meth:`mark`) or ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: self._generation != since, timeout=timeout)


class PgListener:
    """``LISTEN`` on a dedicated autocommit connection; every notification signals ``wakeup``."""

    def __init__(self, conninfo: str, channel: str, wakeup: Wakeup) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._wakeup = wakeup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self._channel}")
                    self._wakeup.notify()  # catch up on anything enqueued while connecting
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._wakeup.notify()
            except psycopg.Error as exc:
                logger.warning("LISTEN {} failed ({}); retrying in 1s", self._channel, exc)
                self._stop.wait(1.0)
