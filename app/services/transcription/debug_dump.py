"""``STT_DEBUG_DUMP_AUDIO``: keep a copy of received audio for debugging (off by default).

Copies go to ``STT_DATA_DIR/debug-audio/<sanitised user id>/`` with mode 0600, encrypted when
``STT_STORAGE_ENCRYPTION_KEY`` is set, named by time and request id only (never the client's
file name). Operators delete them; nothing here expires them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from loguru import logger

from app.core.config import Settings
from app.core.crypto import cipher_from_key, store_audio
from app.core.log_context import current
from app.core.paths import contained, safe_component

_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,5}$")


def dump_debug_audio(settings: Settings, user_id: str, source: Path, filename: str) -> Path | None:
    """Copy ``source`` into the user's debug directory when enabled; returns the copy's path."""
    if not settings.debug_dump_audio:
        return None
    suffix = Path(filename).suffix
    suffix = suffix.lower() if _SUFFIX.match(suffix) else ".bin"
    request_id = safe_component(current().get("request_id") or "no-request")
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    directory = contained(settings.debug_audio_dir, user_id)
    target = directory / f"{stamp}-{request_id}{suffix}"
    key = settings.storage_encryption_key
    store_audio(source, target, cipher_from_key(key.get_secret_value() if key else None))
    logger.warning("STT_DEBUG_DUMP_AUDIO: kept received audio at {}", target)
    return target
