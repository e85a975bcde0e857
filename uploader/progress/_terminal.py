"""TerminalReporter: live progress bars (rich) per stage, with an ETA for the upload."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

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
from ._lines import describe


class TerminalReporter:
    """Bars for detection, each encode and the upload (bytes, with ETA), on a terminal.

    Args:
        console: the rich Console to draw on (stderr by default).
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),  # files, bytes or nothing, per bar
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._detect = self._progress.add_task("🔎 detecting", total=None, detail="")
        self._upload = self._progress.add_task("📤 uploading", total=None, detail="")
        self._found = 0
        self._encodes: dict[Path, TaskID] = {}  # by path: two folders may hold the same name
        self._planned = 0
        self._started = False

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._progress.start()

    def handle(self, event: object) -> None:
        self._start()
        p = self._progress
        if isinstance(event, FileFound):
            self._found += 1
            noun = "file" if self._found == 1 else "files"
            p.update(self._detect, advance=1, detail=f"{self._found} {noun}")
            self._planned += event.file.size_bytes
        elif isinstance(event, DetectionDone):
            p.update(self._detect, total=event.files, completed=event.files)
            p.update(self._upload, total=max(self._planned, 1))
        elif isinstance(event, CompressionStarted):
            self._planned += event.target_bytes - event.file.size_bytes
            p.update(self._upload, total=max(self._planned, 1))
            old = self._encodes.pop(event.file.path, None)
            if old is not None:  # compressed again after a 413: one bar per file
                p.remove_task(old)
            self._encodes[event.file.path] = p.add_task(
                f"🗜️ {event.file.filename}", total=100, detail=""
            )
        elif isinstance(event, CompressionProgress):
            task = self._encodes.get(event.file.path)
            if task is not None:
                p.update(task, completed=event.percent)
        elif isinstance(event, FileCompressed):
            task = self._encodes.get(event.file.path)
            if task is not None:
                p.update(task, completed=100)
        elif isinstance(event, BatchSent):
            p.advance(self._upload, event.batch.total_bytes)
            up = p.tasks[self._upload]
            total = format_size(int(up.total)) if up.total else "?"
            p.update(self._upload, detail=f"{format_size(int(up.completed))} / {total}")
        elif isinstance(event, FileFailed):
            task = self._encodes.pop(event.path, None)
            if task is not None:  # a failed encode's bar goes, rather than stay at its last %
                p.remove_task(task)
            p.console.print(f"[red]{describe(event)}[/red]", markup=True, highlight=False)
        elif isinstance(event, FileSkipped) and event.failed:
            p.console.print(f"[red]{describe(event)}[/red]", markup=True, highlight=False)
        elif isinstance(event, JournalNotice):
            p.console.print(event.text, markup=False, highlight=False)
        elif isinstance(event, DiscordUnavailable):  # until the next message goes out
            wait = f"Discord unavailable, retrying in {event.retry_in:.0f} s"
            p.update(self._upload, detail=wait)
        elif isinstance(event, UploadDone):
            done = int(p.tasks[self._upload].completed)
            p.update(self._upload, total=done or 1, detail=format_size(done))
            p.stop()
            self.console.print(event.result.message)

    async def run(self) -> None:
        return None
