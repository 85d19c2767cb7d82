"""A worker process whose inference takes ``sys.argv[1]`` seconds (the crash test kills it).

It is the real runner and transcription handler from ``stt-gateway worker``; only the
injected ``infer`` call sleeps first.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from app.bootstrap import build_pipeline, build_worker, open_database
from app.core.config import load_settings
from app.jobs_cli import _install_signals
from schemas.jobs import Pool
from workers.runner import run_until_signalled


def main() -> None:
    delay = float(sys.argv[1])
    settings = load_settings()

    def slow(fn: Callable[..., Any], *args: object) -> tuple[Any, float]:
        time.sleep(delay)
        return fn(*args), 0.0  # (result, seconds waited for a turn)

    db, _ = open_database(settings)
    runner = build_worker(
        settings, db, build_pipeline(settings), pool=Pool.ANY, concurrency=1, infer=slow
    )
    print("ready", runner.worker_id, flush=True)
    run_until_signalled(runner, _install_signals)


if __name__ == "__main__":
    main()
