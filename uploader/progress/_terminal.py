"""TerminalReporter: live progress bars (rich) per stage, with an ETA for the upload.

File names are shown literally (never read as rich markup: ``[id]`` stays), shortened in the
middle to fit the terminal so every row keeps its bar, percentage and ETA. The bars are stopped
(cursor restored, last frame kept) when the run ends or is cancelled, e.g. by Ctrl-C.
"""

from __future__ import annotations

import logging
from pathlib import Path

import trio
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress_bar import ProgressBar
from rich.table import Column
from rich.text import Text

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
from .._models import format_size, printable
from .._results import shown_path
from ..compress import CompressionProgress
from ._lines import Narrator

OTHER_COLUMNS = 4 + 18 + 7 + 4 + 2
"""What a row needs besides the name and the bar: percentage, detail ("9.0 MiB / 32.0 MiB"),
ETA, the four gaps between five columns, and the label's wide emoji."""
MIN_NAME = 16


def bar_width(columns: int) -> int:
    """The bar's width on a terminal ``columns`` wide: narrower on narrow terminals."""
    return 24 if columns >= 100 else 12


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut in the middle (the end keeps the extension
    and a download's ``[id]``)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) * 2 // 3
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail :]


class _NameColumn(ProgressColumn):
    """The bar's label as plain text (no markup), shortened to leave room for the bar."""

    def __init__(self, console: Console) -> None:
        self._console = console
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        columns = self._console.width
        width = max(MIN_NAME, columns - bar_width(columns) - OTHER_COLUMNS)
        return Text(shorten(task.description, width))


class _Bar(BarColumn):
    """A bar as wide as the terminal leaves room for."""

    def __init__(self, console: Console) -> None:
        self._console = console
        super().__init__(bar_width=bar_width(console.width))

    def render(self, task: Task) -> ProgressBar:
        self.bar_width = bar_width(self._console.width)
        return super().render(task)


class _HonestTimeColumn(TimeRemainingColumn):
    """The ETA, or nothing while the total is not known yet (``eta`` field False)."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("eta", True):
            return Text("")
        return super().render(task)


class _AboveTheBars(logging.Handler):
    """Prints the ``uploader`` logger's records through the live console, above the bars."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        line = f"uploader: {record.getMessage()}"
        self.console.print(Text(line, style="yellow"), soft_wrap=True)


class TerminalReporter:
    """Bars for detection, each encode and the upload (bytes, with ETA), on a terminal.

    Args:
        console: the rich Console to draw on (stderr by default).
        summary: print the run's summary when it ends (the CLI prints its own on stdout).
        root: the folder sent: bars name files by their path in it (two folders may hold the
            same name); without it, by their full path.
    """

    def __init__(
        self, console: Console | None = None, *, summary: bool = True, root: Path | None = None
    ) -> None:
        self.console = console or Console(stderr=True)
        self._summary = summary
        self._root = root
        self._progress = Progress(
            _NameColumn(self.console),
            _Bar(self.console),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}", markup=False),  # files, bytes or nothing
            _HonestTimeColumn(),
            console=self.console,
            transient=False,
        )
        self._detect = self._progress.add_task("🔎 detecting", total=None, detail="")
        self._upload = self._progress.add_task("📤 uploading", total=None, detail="", eta=False)
        self._found = 0
        self._encodes: dict[Path, TaskID] = {}  # by path: two folders may hold the same name
        self._planned = 0
        self._detected = False
        self._started = False
        self._done = trio.Event()
        self._narrator = Narrator()

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._progress.start()

    def stop(self) -> None:
        """Stop drawing: the last frame stays, the cursor is shown again (idempotent)."""
        self._progress.stop()
        self._done.set()

    def _say(self, line: str | None, style: str) -> None:
        if line is not None:
            self._progress.console.print(Text(line, style=style), soft_wrap=True)

    def _running_encodes(self) -> bool:
        p = self._progress
        return any(not p.tasks[t].finished for t in self._encodes.values() if t in p.task_ids)

    def _update_eta(self) -> None:
        """The upload's ETA only once its total is known: every file found, no encode running."""
        honest = self._detected and not self._running_encodes()
        self._progress.update(self._upload, eta=honest)

    def handle(self, event: object) -> None:
        if self._done.is_set():
            return
        self._start()
        p = self._progress
        if isinstance(event, FileFound):
            self._found += 1
            noun = "file" if self._found == 1 else "files"
            p.update(self._detect, advance=1, detail=f"{self._found} {noun}")
            self._planned += event.file.size_bytes
        elif isinstance(event, DetectionDone):
            self._detected = True
            p.update(self._detect, total=event.files, completed=event.files)
            p.update(self._upload, total=max(self._planned, 1))
        elif isinstance(event, CompressionStarted | CompressionProgress | FileCompressed):
            self._encode(event)
        elif isinstance(event, BatchSent):
            p.advance(self._upload, event.batch.total_bytes)
            up = p.tasks[self._upload]
            total = format_size(int(up.total)) if up.total else "?"
            p.update(self._upload, detail=f"{format_size(int(up.completed))} / {total}")
        elif isinstance(event, FileFailed):
            task = self._encodes.pop(event.path, None)
            if task is not None:  # a failed encode's bar goes, rather than stay at its last %
                p.remove_task(task)
            self._say(self._narrator.line(event), "red")
        elif isinstance(event, FileSkipped):
            self._say(self._narrator.line(event), "red" if event.failed else "dim")
        elif isinstance(event, JournalNotice):
            p.console.print(event.text, markup=False, highlight=False)
        elif isinstance(event, DiscordUnavailable):  # until the next message goes out
            wait = f"Discord unavailable, retrying in {event.retry_in:.0f} s"
            p.update(self._upload, detail=wait)
        elif isinstance(event, UploadDone):
            self._finish(event)
            return
        else:
            self._say(self._narrator.line(event), "yellow")
        self._update_eta()

    def _encode(self, event: CompressionStarted | CompressionProgress | FileCompressed) -> None:
        p = self._progress
        if isinstance(event, CompressionStarted):
            self._planned += event.target_bytes - event.file.size_bytes
            p.update(self._upload, total=max(self._planned, 1))
            old = self._encodes.pop(event.file.path, None)
            if old is not None:  # compressed again after a 413: one bar per file
                p.remove_task(old)
            self._encodes[event.file.path] = p.add_task(
                f"🗜️ {self._label(event.file.path)}", total=100, detail=""
            )
            return
        task = self._encodes.get(event.file.path)
        if task is not None:
            done = 100 if isinstance(event, FileCompressed) else event.percent
            p.update(task, completed=done)

    def _label(self, path: Path) -> str:
        return printable(path) if self._root is None else shown_path(path, self._root)

    def _finish(self, event: UploadDone) -> None:
        p = self._progress
        done = int(p.tasks[self._upload].completed)
        p.update(self._upload, total=done or 1, detail=format_size(done), eta=True)
        self.stop()
        if self._summary:
            self.console.print(Text(event.result.message), soft_wrap=True)

    async def run(self) -> None:
        """Wait for the run to end; stop the bars however it ends (Ctrl-C included).

        Meanwhile the ``uploader`` logger's warnings are printed above the bars: written
        straight to stderr they would land inside the live display.
        """
        logger = logging.getLogger("uploader")
        handler, propagate = _AboveTheBars(self._progress.console), logger.propagate
        logger.addHandler(handler)
        logger.propagate = False
        try:
            await self._done.wait()
        finally:
            self.stop()
            logger.removeHandler(handler)
            logger.propagate = propagate
