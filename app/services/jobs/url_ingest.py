"""Fetch audio for ``url`` jobs with yt-dlp: direct media links and every site yt-dlp supports.

Guards, in order: only ``http``/``https``; every address the host resolves to must be public
(loopback, private, link-local, reserved and multicast are refused) unless the host or address
is on ``STT_URL_ALLOWLIST``; the media URLs yt-dlp extracts are checked the same way before any
byte is downloaded; playlists are refused; the declared duration and size must fit the job limits
(``STT_JOB_MAX_AUDIO_DURATION_S``, ``STT_JOB_MAX_FILE_SIZE_MB``, not the synchronous endpoint's
25 MB), the download is aborted once it passes the size limit, the ``STT_URL_FETCH_TIMEOUT_S``
deadline, or would leave less free disk than ``STT_MIN_FREE_DISK_MB``. (yt-dlp follows HTTP
redirects itself; a redirect to a private address is not seen by the guard. Deployments that
need that guarantee should also firewall the workers.)
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loguru import logger

from app.services.transcription.upload import DISK_CHECK_BYTES
from schemas.errors import InvalidRequest, PayloadTooLarge, RetriableProviderError

if TYPE_CHECKING:
    from app.core.config import Settings

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class UrlPolicy:
    max_bytes: int
    max_duration_s: float
    timeout_s: float
    allowlist: tuple[str, ...] = ()
    min_free_disk_bytes: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        """The job limits, ``STT_URL_FETCH_TIMEOUT_S`` and ``STT_URL_ALLOWLIST``."""
        return cls(
            max_bytes=settings.job_max_file_size_bytes,
            max_duration_s=settings.job_max_audio_duration_s,
            timeout_s=settings.url_fetch_timeout_s,
            allowlist=settings.url_allowlist_entries,
            min_free_disk_bytes=settings.min_free_disk_mb * 1024 * 1024,
        )

    def _networks(self) -> list[IpNetwork]:
        nets = []
        for entry in self.allowlist:
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue  # a host name
        return nets

    def check(self, url: str) -> None:
        """Raise :class:`InvalidRequest` unless ``url`` may be fetched."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest(
                "url must be an http(s) URL with a host", param="url", code="invalid_url"
            )
        host = parts.hostname.lower()
        if host in {e.lower() for e in self.allowlist}:
            return
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            raise InvalidRequest(
                f"cannot resolve host '{host}'", param="url", code="invalid_url"
            ) from None
        allowed = self._networks()
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if address.is_global or any(address in net for net in allowed):
                continue
            raise InvalidRequest(
                f"url host '{host}' resolves to a non-public address ({address}); add it to "
                "STT_URL_ALLOWLIST to permit it",
                param="url",
                code="url_not_allowed",
            )


class _YtLogger:
    def debug(self, msg: str) -> None:
        logger.trace("yt-dlp: {}", msg)

    def info(self, msg: str) -> None:
        logger.trace("yt-dlp: {}", msg)

    def warning(self, msg: str) -> None:
        logger.debug("yt-dlp: {}", msg)

    def error(self, msg: str) -> None:
        logger.debug("yt-dlp: {}", msg)


class _Abort(Exception):
    pass


def _media_urls(info: dict[str, Any]) -> Iterable[str]:
    for fmt in info.get("requested_formats") or [info]:
        if isinstance(fmt.get("url"), str):
            yield fmt["url"]


def download(url: str, dest_dir: Path, policy: UrlPolicy) -> Path:
    """Download ``url``'s audio into ``dest_dir`` (blocking; run it off the event loop)."""
    import yt_dlp
    from yt_dlp.utils import DownloadError

    policy.check(url)
    deadline = time.monotonic() + policy.timeout_s
    reason: list[Exception] = []
    checked = [0]  # bytes downloaded when free disk was last checked

    def hook(progress: dict[str, Any]) -> None:
        if time.monotonic() > deadline:
            reason.append(
                RetriableProviderError(
                    f"downloading {url} took longer than {policy.timeout_s:.0f}s",
                    code="download_timeout",
                )
            )
            raise _Abort
        size = max(progress.get("downloaded_bytes") or 0, progress.get("total_bytes") or 0)
        if size > policy.max_bytes:
            reason.append(_too_large(policy))
            raise _Abort
        if size - checked[-1] >= DISK_CHECK_BYTES:
            checked.append(size)
            if shutil.disk_usage(dest_dir).free < policy.min_free_disk_bytes:
                reason.append(_no_space(policy))
                raise _Abort

    options = {
        "outtmpl": {"default": str(dest_dir / "download.%(ext)s")},
        "format": "bestaudio/best",
        "noplaylist": True,
        "socket_timeout": min(policy.timeout_s, 30.0),
        "retries": 1,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "cachedir": False,
        "logger": _YtLogger(),
        "progress_hooks": [hook],
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:  # type: ignore[arg-type]
            info = ydl.extract_info(url, download=False)
            _check_info(info, policy)
            ydl.process_info(info)
            path = Path(ydl.prepare_filename(info))
    except (DownloadError, _Abort) as exc:
        if reason:
            raise reason[0] from None
        raise _download_error(url, str(exc)) from None
    if not path.is_file() or path.stat().st_size == 0:
        raise InvalidRequest(
            f"nothing could be downloaded from {url}", param="url", code="download_failed"
        )
    if path.stat().st_size > policy.max_bytes:
        raise _too_large(policy)
    return path


def _check_info(info: dict[str, Any] | None, policy: UrlPolicy) -> None:
    if info is None or info.get("_type") in ("playlist", "multi_video"):
        raise InvalidRequest(
            "url must point at a single media item, not a playlist", param="url", code="invalid_url"
        )
    duration = info.get("duration")
    if isinstance(duration, int | float) and duration > policy.max_duration_s + 1:
        raise InvalidRequest(
            f"media is {duration:.0f}s long; the maximum is {policy.max_duration_s:.0f}s "
            "(STT_JOB_MAX_AUDIO_DURATION_S)",
            param="url",
            code="audio_too_long",
        )
    size = info.get("filesize") or info.get("filesize_approx")
    if isinstance(size, int | float) and size > policy.max_bytes:
        raise _too_large(policy)
    for media_url in _media_urls(info):
        policy.check(media_url)


def _too_large(policy: UrlPolicy) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"remote media exceeds the maximum size of {policy.max_bytes / (1024 * 1024):g} MB "
        "(STT_JOB_MAX_FILE_SIZE_MB)",
        param="url",
    )


def _no_space(policy: UrlPolicy) -> RetriableProviderError:
    """Retriable: the disk may have room again when the job's next attempt runs."""
    return RetriableProviderError(
        f"the download would leave less than {policy.min_free_disk_bytes / 2**20:.0f} MB of free "
        "disk (STT_MIN_FREE_DISK_MB)",
        code="insufficient_storage",
    )


def _download_error(url: str, message: str) -> Exception:
    text = message.lower()
    if "http error 4" in text or "unsupported url" in text or "no video formats" in text:
        return InvalidRequest(f"cannot fetch {url}: {message}", param="url", code="download_failed")
    return RetriableProviderError(f"downloading {url} failed: {message}", code="download_failed")
