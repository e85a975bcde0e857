"""DiscordStatusReporter: one status message in the channel, created once, edited in place.

Edits are throttled (one per ``interval`` seconds, two by default) so a busy upload never spends
its rate limit on progress; the last edit is the summary, as the original system wrote it, or,
when the run is cancelled (shutdown, Ctrl-C), a shielded "stopped" line with what arrived so far
(a cancel that lands while the message is first posted lets that post finish, for up to
``STOPPED_EDIT_TIMEOUT``, so the message it may have made is marked too).
"""

from __future__ import annotations

import logging
from logging import DEBUG, WARNING
from pathlib import Path
from typing import Protocol

import trio

from .._errors import UploaderError
from .._events import (
    BatchSent,
    CompressionStarted,
    DetectionDone,
    FileCompressed,
    FileFailed,
    FileFound,
    FileSkipped,
    UploadDone,
)
from .._models import format_size
from .._results import fit_lines
from ..compress import CompressionProgress
from ..discord import DestinationNotFoundError, MissingPermissionsError

logger = logging.getLogger("uploader")

STOPPED_EDIT_TIMEOUT = 5.0
"""Seconds the "stopped" edit of a cancelled run may take: a shutdown never waits on Discord."""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class _TextTarget(Protocol):
    async def send_message(self, content: str) -> str: ...

    async def edit_message(self, message_id: str, content: str) -> None: ...


class DiscordStatusReporter:
    """Keeps one message up to date with the run's progress.

    Args:
        destination: where to post (any `uploader.Destination`).
        interval: the least time between two edits, in seconds.
    """

    def __init__(self, destination: _TextTarget, *, interval: float = 2.0) -> None:
        self._destination = destination
        self._interval = interval
        self._found = 0
        self._found_bytes = 0
        self._detection_done = False
        # by path: two folders may hold the same name
        self._compressing: dict[Path, tuple[int, int, float]] = {}
        self._compressed: list[str] = []
        self._messages = 0
        self._files_sent = 0
        self._failed: list[str] = []
        self._final: str | None = None
        self._changed = trio.Event()
        self._given_up = False
        self._posting: trio.CancelScope | None = None
        self.message_id: str | None = None
        self.edits = 0

    def handle(self, event: object) -> None:
        if isinstance(event, FileFound):
            self._found += 1
            self._found_bytes += event.file.size_bytes
        elif isinstance(event, DetectionDone):
            self._detection_done = True
        elif isinstance(event, CompressionStarted):
            self._compressing[event.file.path] = (
                event.file.size_bytes,
                event.target_bytes,
                0.0,
            )
        elif isinstance(event, CompressionProgress):
            path = event.file.path
            if path in self._compressing:
                size, target, _ = self._compressing[path]
                self._compressing[path] = (size, target, event.percent)
        elif isinstance(event, FileCompressed):
            self._compressing.pop(event.file.path, None)
            out = sum(o.size_bytes for o in event.outputs)
            self._compressed.append(
                f"✅ Compressed {event.file.filename}"
                f" ({format_size(event.file.size_bytes)} → {format_size(out)})"
            )
        elif isinstance(event, BatchSent):
            self._messages += 1
            self._files_sent += len(event.batch.files)
        elif isinstance(event, FileFailed):
            self._compressing.pop(event.path, None)
            self._failed.append(f"❌ {event.path.name}: {event.reason}")
        elif isinstance(event, FileSkipped) and event.failed:
            self._failed.append(f"❌ {event.issue.path.name}: {event.issue.reason}")
        elif isinstance(event, UploadDone):
            self._final = event.result.channel_summary
        else:
            return
        self._changed.set()

    def render(self) -> str:
        """The status text now."""
        if self._final is not None:
            return fit_lines(self._final.splitlines())
        lines = ["📤 Processing files for upload..."]
        if self._found:
            more = "" if self._detection_done else " so far"
            noun = "media file" if self._found == 1 else "media files"
            lines.append(
                f"📊 Found {self._found} {noun}{more} ({format_size(self._found_bytes)} total)"
            )
        for path, (size, target, percent) in self._compressing.items():
            lines.append(
                f"🗜️ Compressing {path.name} ({format_size(size)} → target {format_size(target)})"
                f": {percent:.0f}%"
            )
        lines.extend(self._compressed[-5:])
        if self._messages:
            sent, messages = _count(self._files_sent, "file"), _count(self._messages, "message")
            lines.append(f"📎 Uploaded {sent} in {messages}")
        if len(self._failed) > 5:
            lines.append(f"❌ {len(self._failed)} files failed; the last ones:")
        lines.extend(self._failed[-5:])
        return fit_lines(lines)

    def render_stopped(self) -> str:
        """The status text of a run cancelled before its summary."""
        lines = [f"⏹️ Stopped: {self._files_sent}/{self._found} files uploaded"]
        lines.extend(self._failed[-5:])
        return fit_lines(lines)

    def _worth_posting(self) -> bool:
        """Post nothing for a folder with nothing to send (no media found, nothing failed)."""
        return self.message_id is not None or bool(self._found or self._failed)

    async def run(self) -> None:
        """Post, then edit at most once per interval until the summary was written.

        A status message that cannot be posted or edited is given up after one warning: the
        reason (a refused token, a deleted webhook) is the run's to report, not once per edit.
        Cancelled before the summary, it says once that the run was stopped, so the message is
        never left showing a compression or an upload that will not go on.
        """
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._bound_first_post_on_cancel)
                await self._follow()
                nursery.cancel_scope.cancel()
        except* trio.Cancelled:
            await self._say_stopped()
            raise

    async def _bound_first_post_on_cancel(self) -> None:
        """Waits for the run's cancellation, then gives a first post in flight (shielded, see
        ``_post``) ``STOPPED_EDIT_TIMEOUT`` more to come back."""
        try:
            await trio.sleep_forever()
        finally:
            if self._posting is not None:
                self._posting.deadline = trio.current_time() + STOPPED_EDIT_TIMEOUT

    async def _post(self, text: str) -> None:
        """The first post, shielded: a cancel landing while it is in flight would leave a
        message that may exist with no id to mark it stopped. A cancel bounds the wait
        instead (``_bound_first_post_on_cancel``); past that the post is abandoned."""
        with trio.CancelScope(shield=True) as self._posting:
            self.message_id = await self._destination.send_message(text)
        self._posting = None
        await trio.lowlevel.checkpoint()  # a cancelled run stops here, its message known

    async def _say_stopped(self) -> None:
        if self.message_id is None or self._final is not None or self._given_up:
            return
        with trio.CancelScope(shield=True), trio.move_on_after(STOPPED_EDIT_TIMEOUT):
            try:
                await self._destination.edit_message(self.message_id, self.render_stopped())
                self.edits += 1
            except UploaderError as exc:
                logger.warning("status message not marked stopped: %s", exc)

    async def _follow(self) -> None:
        next_edit = trio.current_time()
        while True:
            await self._changed.wait()
            await trio.sleep_until(next_edit)
            self._changed = trio.Event()
            final = self._final is not None
            if not self._worth_posting():
                if final:
                    return
                continue
            text = self.render()
            try:
                if self.message_id is None:
                    await self._post(text)
                else:
                    await self._destination.edit_message(self.message_id, text)
                    self.edits += 1
            except UploaderError as exc:
                # Progress is a courtesy: a failed edit must never fail the upload.
                # (a refusal of the whole destination is said by the run's summary)
                run_wide = isinstance(exc, DestinationNotFoundError | MissingPermissionsError)
                logger.log(DEBUG if run_wide else WARNING, "status message given up: %s", exc)
                self._given_up = True
                return
            if final:
                return
            next_edit = trio.current_time() + self._interval
