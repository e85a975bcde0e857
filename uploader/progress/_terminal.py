"""TerminalReporter: live progress bars (rich) per stage, with an ETA for the upload."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from .._models import (
    BatchSent,
    CompressionStarted,
    DetectionDone,
    FileCompressed,
    FileFailed,
    FileFound,
    UploadDone,
)
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
            DownloadColumn(binary_units=True),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._detect = self._progress.add_task("🔎 detecting", total=None)
        self._upload = self._progress.add_task("📤 uploading", total=None)
        self._encodes: dict[str, TaskID] = {}
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
            p.advance(self._detect, 1)
            self._planned += event.file.size_bytes
        elif isinstance(event, DetectionDone):
            p.update(self._detect, total=event.files, completed=event.files)
            p.update(self._upload, total=max(self._planned, 1))
        elif isinstance(event, CompressionStarted):
            self._planned += event.target_bytes - event.file.size_bytes
            p.update(self._upload, total=max(self._planned, 1))
            self._encodes[event.file.filename] = p.add_task(f"🗜️ {event.file.filename}", total=100)
        elif isinstance(event, CompressionProgress):
            task = self._encodes.get(event.file.filename)
            if task is not None:
                p.update(task, completed=event.percent)
        elif isinstance(event, FileCompressed):
            task = self._encodes.get(event.file.filename)
            if task is not None:
                p.update(task, completed=100)
        elif isinstance(event, BatchSent):
            p.advance(self._upload, event.batch.total_bytes)
        elif isinstance(event, FileFailed):
            p.console.print(f"[red]{describe(event)}[/red]")
        elif isinstance(event, UploadDone):
            p.update(self._upload, total=p.tasks[self._upload].completed or 1)
            p.stop()
            self.console.print(event.result.message)

    async def run(self) -> None:
        return None
