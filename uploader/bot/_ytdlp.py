"""Page links through yt-dlp (the optional ``ytdlp`` extra), for links that serve a web page.

Only for links `download` refused as a web page, and only when ``yt_dlp`` is importable. The
page's host is checked as any link's is (`checked_address`); the hosts yt-dlp then fetches the
media from are not (it follows them itself), which is why this needs the extra installed on
purpose. It runs in a worker thread with the request's caps: one video (no playlists), a
format filter and a byte count checked at each progress report, output only inside the request
folder with safe names. Cancelling stops it at its next progress report (at most
`SOCKET_TIMEOUT` later); what it leaves half-written (``.part``, ``.ytdl``) is removed, as is
any file that is not media.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import mimetypes
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from .._errors import single_error
from .._mediatypes import media_type_of_suffix
from ._addresses import Resolver, checked_address, parse_link, resolve_host
from ._download import Downloaded
from ._errors import NotMediaError, TooLargeError

logger = logging.getLogger("uploader.bot")

LEFTOVER_SUFFIXES = (".part", ".ytdl", ".temp", ".tmp")
SOCKET_TIMEOUT = 10.0
"""Seconds yt-dlp waits on a silent connection: the longest a cancel waits on a stalled one."""
MAX_REASON_CHARS = 200
_NO_MEDIA = "The page has no image, video or audio file I can fetch."


def ytdlp_available() -> bool:
    """Whether the ``ytdlp`` extra (the ``yt_dlp`` package) is installed."""
    return importlib.util.find_spec("yt_dlp") is not None


class _Cancelled(Exception):
    """Raised inside yt-dlp's progress hook to stop it."""


async def fetch_page(
    url: str,
    folder: Path,
    *,
    max_bytes: int,
    allow_private: bool = False,
    resolve: Resolver = resolve_host,
) -> list[Downloaded]:
    """Let yt-dlp fetch the media on a page into ``folder``.

    Raises:
        BadLinkError, PrivateAddressError: the page's link or host is refused.
        TooLargeError: the media is over ``max_bytes``.
        NotMediaError: yt-dlp found no media there (or only files that are not media).
    """
    await checked_address(parse_link(url), allow_private=allow_private, resolve=resolve)
    before = set(await trio.to_thread.run_sync(lambda: list(folder.iterdir())))
    stop = threading.Event()
    job = functools.partial(_run_ytdlp, url, folder, max_bytes, stop)
    try:
        with single_error():
            await _run_in_thread(job, stop)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_remove_leftovers, folder, before)
    return await trio.to_thread.run_sync(_collect, folder, before)


async def _run_in_thread(job: Callable[[], None], stop: threading.Event) -> None:
    """Run ``job`` in a worker thread; when cancelled, set ``stop`` and wait for it to end."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_when_cancelled, stop)
        try:
            await trio.to_thread.run_sync(job, abandon_on_cancel=False)
        except Exception:
            if stop.is_set():  # it failed because it was stopped: we were cancelled
                await trio.lowlevel.checkpoint()
            raise
        finally:
            nursery.cancel_scope.cancel()


async def _stop_when_cancelled(stop: threading.Event) -> None:
    try:
        await trio.sleep_forever()
    finally:
        stop.set()


def _run_ytdlp(url: str, folder: Path, max_bytes: int, stop: threading.Event) -> None:
    import yt_dlp  # type: ignore[import-not-found,import-untyped,unused-ignore]  # the extra

    def progress(status: dict[str, Any]) -> None:
        if stop.is_set():
            raise _Cancelled
        total = status.get("total_bytes") or status.get("total_bytes_estimate") or 0
        if max(int(status.get("downloaded_bytes") or 0), int(total)) > max_bytes:
            raise TooLargeError(_too_large(max_bytes))

    options = {
        "outtmpl": {"default": str(folder / "%(title).60B-%(id).40B.%(ext)s")},
        "restrictfilenames": True,
        "noplaylist": True,
        "format": f"best[filesize<={max_bytes}]/best[filesize_approx<={max_bytes}]/best",
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "overwrites": False,
        "socket_timeout": SOCKET_TIMEOUT,
        "progress_hooks": [progress],
        "logger": _QuietLogger(),
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=True) or {}
    except (_Cancelled, TooLargeError):
        raise
    except Exception as exc:  # yt-dlp's DownloadError and friends
        wrapped = getattr(exc, "exc_info", None) or (None, None)  # yt-dlp's DownloadError
        for cause in (wrapped[1], exc.__cause__, exc.__context__):
            if isinstance(cause, TooLargeError | _Cancelled):
                raise cause from None
        reason = (str(exc).removeprefix("ERROR: ").splitlines() or [""])[0][:MAX_REASON_CHARS]
        raise NotMediaError(
            f"The page has no media I can fetch ({reason})." if reason else _NO_MEDIA
        ) from None
    size = info.get("filesize") or info.get("filesize_approx") or 0
    if size > max_bytes:
        raise TooLargeError(_too_large(max_bytes))


class _QuietLogger:
    def debug(self, message: str) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)


def _remove_leftovers(folder: Path, before: set[Path]) -> None:
    for path in set(folder.iterdir()) - before:
        if path.suffix in LEFTOVER_SUFFIXES or not path.is_file():
            path.unlink(missing_ok=True)


def _collect(folder: Path, before: set[Path]) -> list[Downloaded]:
    """The new media files yt-dlp wrote (anything else it wrote is removed)."""
    found: list[Downloaded] = []
    for path in sorted(set(folder.iterdir()) - before):
        if media_type_of_suffix(path.suffix.lower()) is None:
            path.unlink(missing_ok=True)
            continue
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        found.append(Downloaded(path, path.stat().st_size, kind))
    if not found:
        raise NotMediaError(_NO_MEDIA)
    return found


def _too_large(limit: int) -> str:
    return f"The media is over the limit of {limit / (1024 * 1024):.1f} MiB."
