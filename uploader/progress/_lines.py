"""LineReporter: one plain line per event, for logs, pipes and CI (no terminal needed)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .._events import (
    BatchSent,
    CompressionStarted,
    DetectionDone,
    DiscordUnavailable,
    FileCompressed,
    FileFailed,
    FileFound,
    FileSkipped,
    JournalNotice,
    UploadDone,
)
from .._models import format_size
from ..compress import CompressionProgress


def describe(event: object) -> str | None:
    """The line an event deserves, or None for events too small to mention."""
    if isinstance(event, DetectionDone):
        noun = "media file" if event.files == 1 else "media files"
        return f"found {event.files} {noun} ({format_size(event.total_bytes)})"
    if isinstance(event, CompressionStarted):
        return (
            f"compressing {event.file.filename} ({format_size(event.file.size_bytes)}"
            f" → at most {format_size(event.target_bytes)})"
        )
    if isinstance(event, FileCompressed):
        outputs = ", ".join(f"{o.filename} ({format_size(o.size_bytes)})" for o in event.outputs)
        return f"compressed {event.file.filename} → {outputs}"
    if isinstance(event, BatchSent):
        n = len(event.batch.files)
        return (
            f"sent message {event.number}: {n} file{'s' if n != 1 else ''}"
            f" ({format_size(event.batch.total_bytes)})"
        )
    if isinstance(event, FileFailed):
        return f"failed {event.path.name}: {event.reason}"
    if isinstance(event, FileSkipped) and event.failed:
        return f"failed {event.issue.path.name}: {event.issue.reason}"
    if isinstance(event, JournalNotice):
        return event.text
    if isinstance(event, DiscordUnavailable):
        return f"Discord unavailable, retrying in {event.retry_in:.0f} s ({event.reason})"
    if isinstance(event, UploadDone):
        return event.result.message
    return None


class LineReporter:
    """Writes a line per notable event (``write`` defaults to the ``uploader`` logger).

    Compression progress is reported in quarters so long encodes show life without flooding.
    """

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or logging.getLogger("uploader").info
        self._quarters: dict[Path, int] = {}  # by path: two folders may hold the same name

    def handle(self, event: object) -> None:
        if isinstance(event, FileFound):
            return
        if isinstance(event, CompressionProgress):
            quarter = int(event.percent // 25)
            path = event.file.path
            if 0 < quarter < 4 and quarter > self._quarters.get(path, 0):
                self._quarters[path] = quarter
                self._write(f"compressing {path.name}: {quarter * 25}%")
            return
        line = describe(event)
        if line is not None:
            for part in line.splitlines():
                self._write(part)

    async def run(self) -> None:
        return None
