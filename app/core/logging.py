"""loguru set-up: one sink, human or JSON lines, standard-library logs routed through it."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterable

from loguru import logger

from app.core.log_context import human_format, patch_record, register_secret


def _package_dirs(name: str) -> tuple[str, ...]:
    spec = importlib.util.find_spec(name)
    locations = spec.submodule_search_locations if spec else None
    return tuple(os.path.join(path, "") for path in locations or ())


#: The websockets library logs every frame and handshake line at DEBUG, payloads and headers
#: included (uvicorn hands it the ``uvicorn.error`` logger): an ``auth`` message's token, an
#: ``Authorization`` header, a ``?token=`` query. Its payload elision keeps the start and end of
#: a credential, which no redaction pattern can recognise, so those records are dropped.
_WIRE_DUMP_DIRS = _package_dirs("websockets")


def _is_wire_dump(record: logging.LogRecord) -> bool:
    return record.levelno < logging.INFO and record.pathname.startswith(_WIRE_DUMP_DIRS)


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if _is_wire_dump(record):
            return
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure_logging(level: str, *, json_lines: bool, secrets: Iterable[str] = ()) -> None:
    """One stderr sink; every record carries the request/job context and has secrets redacted
    (see ``app.core.log_context``)."""
    for secret in secrets:
        register_secret(secret)
    logger.remove()
    logger.configure(patcher=patch_record)
    logger.add(
        sys.stderr,
        level=level,
        serialize=json_lines,
        format=human_format,
        backtrace=False,
        diagnose=False,
    )
    std_level = 5 if level == "TRACE" else logging.getLevelName(level)
    logging.basicConfig(handlers=[_InterceptHandler()], level=std_level, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = [_InterceptHandler()]
        logging.getLogger(name).propagate = False
