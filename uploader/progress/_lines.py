"""LineReporter: one plain line per event, for logs, pipes and CI (no terminal needed).

`Narrator` holds the lines every local reporter shares about single files and warnings: each
skipped or failed file named by its path, and a run-wide stop (a refused token, a deleted
webhook) said once however many files it stopped.
"""

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
    LimitLowered,
    MediaWarning,
    UploadDone,
)
from .._models import format_size, printable
from ..compress import CompressionProgress


def describe(event: object) -> str | None:
    """The line an event deserves, or None for events too small to mention."""
    if isinstance(event, DetectionDone):
        noun = "media file" if event.files == 1 else "media files"
        return f"found {event.files} {noun} ({format_size(event.total_bytes)})"
    if isinstance(event, CompressionStarted):
        return (
            f"compressing {printable(event.file.path)} ({format_size(event.file.size_bytes)}"
            f" → at most {format_size(event.target_bytes)})"
        )
    if isinstance(event, FileCompressed):
        outputs = ", ".join(f"{o.filename} ({format_size(o.size_bytes)})" for o in event.outputs)
        return printable(f"compressed {event.file.path} → {outputs}")
    if isinstance(event, BatchSent):
        n = len(event.batch.files)
        return (
            f"sent message {event.number}: {n} file{'s' if n != 1 else ''}"
            f" ({format_size(event.batch.total_bytes)})"
        )
    if isinstance(event, JournalNotice):
        return event.text
    if isinstance(event, DiscordUnavailable):
        return f"Discord unavailable, retrying in {event.retry_in:.0f} s ({event.reason})"
    if isinstance(event, UploadDone):
        return event.result.message
    return Narrator().line(event)


class Narrator:
    """The lines about single files and warnings, with a run-wide stop said once."""

    def __init__(self) -> None:
        self.stops: dict[str, int] = {}
        """Each run-wide reason said, and how many files it stopped."""

    def line(self, event: object) -> str | None:
        """The line for a skipped or failed file or a warning; None for other events."""
        if isinstance(event, FileSkipped):
            verb = "failed" if event.failed else "skipped"
            return printable(f"{verb} {event.issue.path}: {event.issue.reason}")
        if isinstance(event, FileFailed):
            if not event.stopped:
                return printable(f"failed {event.path}: {event.reason}")
            seen = event.reason in self.stops
            self.stops[event.reason] = self.stops.get(event.reason, 0) + 1
            return None if seen else event.reason
        if isinstance(event, MediaWarning):
            return printable(f"warning {event.path}: {event.message}")
        if isinstance(event, LimitLowered):
            now, before = format_size(event.limit_bytes), format_size(event.previous_bytes)
            if event.stated:
                return (
                    f"this server takes files up to {now}, not {before}:"
                    " larger files are compressed to fit"
                )
            return (
                f"Discord refused a file as too large: this server's limit is below {before};"
                f" files over {now} are compressed to fit"
            )
        return None


class LineReporter:
    """Writes a line per notable event (``write`` defaults to the ``uploader`` logger).

    Compression progress is reported in quarters so long encodes show life without flooding;
    lines about compressing and sending wait until every file was found, so the story starts
    with "found N media files".
    """

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or logging.getLogger("uploader").info
        self._quarters: dict[Path, int] = {}  # by path: two folders may hold the same name
        self._narrator = Narrator()
        self._held: list[str] | None = []  # None once detection is done

    def _say(self, line: str, *, hold: bool) -> None:
        if hold and self._held is not None:
            self._held.append(line)
            return
        for part in line.splitlines():
            self._write(part)

    def handle(self, event: object) -> None:
        if isinstance(event, FileFound):
            return
        if isinstance(event, CompressionProgress):
            quarter = int(event.percent // 25)
            path = event.file.path
            if 0 < quarter < 4 and quarter > self._quarters.get(path, 0):
                self._quarters[path] = quarter
                self._say(f"compressing {printable(path)}: {quarter * 25}%", hold=True)
            return
        noted = self._narrator.line(event)
        if noted is not None or isinstance(event, FileSkipped | FileFailed):
            if noted is not None:  # failures wait for "found N", skips need no context
                self._say(noted, hold=isinstance(event, FileFailed))
            return
        line = describe(event)
        if isinstance(event, DetectionDone | UploadDone) and self._held is not None:
            held, self._held = self._held, None
            first, then = ([line], held) if isinstance(event, DetectionDone) else (held, [line])
            for text in (*first, *then):
                if text is not None:
                    self._say(text, hold=False)
            return
        if line is not None:
            self._say(line, hold=True)

    async def run(self) -> None:
        return None
