"""The uploader actor: one message per batch, in order, and what to do when Discord says no.

A 413 teaches the limit: the batch is split and resent, and a file over the learnt limit is
compressed again with the new budget. Errors after which nothing more can succeed (unknown
channel, missing permissions, a ban) stop the run: compression is cancelled and every later
file is reported with the reason. Every delivery is verified against Discord's answer.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import attrs
import trio

from ._batching import plan_batches
from ._destination import Destination
from ._errors import UploaderError
from ._limits import KNOWN_FILE_LIMITS
from ._models import (
    BatchSent,
    CompressionStarted,
    FileCompressed,
    MediaFile,
    UploadBatch,
)
from ._results import Delivered, Failed, Report, StoodIn, fit_lines, reason_of, user_path
from ._settings import Settings
from .compress import CompressionError, compress_to_fit
from .discord import (
    DeliveryUncertainError,
    DestinationNotFoundError,
    DiscordUnavailableError,
    FileTooLargeError,
    InvalidRequestBudgetError,
    MissingPermissionsError,
    RateLimitBanError,
    RateLimitWaitTooLongError,
)
from .progress import ProgressEvent

MAX_SPLITS = 4
"""How many times one batch may be split or recompressed after 413s."""

FATAL_ERRORS = (
    DiscordUnavailableError,  # after bounded retries: Discord is down or unreachable
    DestinationNotFoundError,
    MissingPermissionsError,
    RateLimitBanError,
    InvalidRequestBudgetError,
    RateLimitWaitTooLongError,
)
"""Errors after which no further message can succeed: the run stops sending."""


@attrs.define
class Uploader:
    """The uploader actor's state for one run.

    Attributes:
        destination: where messages go.
        settings: the run's settings; the per-file limit drops when a 413 teaches it.
        workdir: where recompressed stand-ins go.
        platform: the label of media messages.
        progress: where BatchSent and compression events go (not owned).
        compression: cancelled when the run cannot deliver any more.
        encoders: the limiter every encode of the pipeline shares, if any.
        fatal: why sending stopped, once it has.
    """

    destination: Destination
    settings: Settings
    workdir: Path
    platform: str
    progress: trio.MemorySendChannel[ProgressEvent]
    compression: trio.CancelScope
    encoders: trio.CapacityLimiter | None = None
    fatal: str | None = None
    messages_sent: int = 0
    upload_seconds: float = 0.0

    async def run(
        self,
        batches: trio.MemoryReceiveChannel[UploadBatch],
        reports: trio.MemorySendChannel[Report],
    ) -> None:
        """Send every batch in order; owns both channel ends."""
        async with batches, reports:
            async for batch in batches:
                started = trio.current_time()
                await self._deliver(batch, reports, depth=0)
                self.upload_seconds += trio.current_time() - started

    async def _fail(
        self, files: tuple[MediaFile, ...], reason: str, reports: trio.MemorySendChannel[Report]
    ) -> None:
        for f in files:
            await reports.send(Failed(user_path(f), reason))

    async def _deliver(
        self, batch: UploadBatch, reports: trio.MemorySendChannel[Report], *, depth: int
    ) -> None:
        if self.fatal is not None:
            await self._fail(batch.files, self.fatal, reports)
            return
        try:
            message = await self.destination.send_files(
                batch.files, content=batch_content(batch, self.platform)
            )
        except FileTooLargeError as exc:
            await self._too_large(batch, exc, reports, depth=depth)
            return
        except DeliveryUncertainError as exc:
            for f in batch.files:
                await reports.send(Failed(user_path(f), reason_of(exc), uncertain=True))
            return
        except FATAL_ERRORS as exc:
            self.fatal = f"upload stopped: {reason_of(exc)}"
            self.compression.cancel()  # no point compressing what cannot be sent
            await self._fail(batch.files, self.fatal, reports)
            return
        except UploaderError as exc:
            await self._fail(batch.files, reason_of(exc), reports)
            return
        self.messages_sent += 1
        await self.progress.send(BatchSent(batch, message.id, self.messages_sent))
        attachments = list(message.attachments)
        for i, f in enumerate(batch.files):
            attachment = attachments[i] if i < len(attachments) else None
            if attachment is None or attachment.size != f.size_bytes:
                reason = "Discord's answer did not confirm this attachment"
                await reports.send(Failed(user_path(f), reason))
            else:
                await reports.send(Delivered(f, message.id, attachment.id))

    async def _too_large(
        self,
        batch: UploadBatch,
        exc: FileTooLargeError,
        reports: trio.MemorySendChannel[Report],
        *,
        depth: int,
    ) -> None:
        """A 413: learn the limit, split the batch, send a file over it back to compression."""
        if depth >= MAX_SPLITS:
            await self._fail(batch.files, reason_of(exc), reports)
            return
        largest = max(f.size_bytes for f in batch.files)
        learnt = exc.limit_bytes
        if learnt is None and len(batch.files) == 1:
            # Discord did not say: assume the largest limit it has used that is below this file,
            # else half of it, so a few rounds at most find the real one.
            learnt = max((k for k in KNOWN_FILE_LIMITS if k < largest), default=largest // 2)
        if learnt is not None and learnt < self.settings.file_limit_bytes:
            self.settings = self.settings.with_file_limit_bytes(learnt)
        limit = self.settings.file_limit_bytes
        for f in batch.files:
            if f.size_bytes > limit:
                await self._recompress(f, reports, depth=depth)
        fitting = [f for f in batch.files if f.size_bytes <= limit]
        if not fitting:
            return
        # Several files that each fit: the request as a whole was too big, so halve it.
        half = max(sum(f.size_bytes for f in fitting) // 2, 1)
        max_bytes = self.settings.batch_max_bytes if len(fitting) == 1 else half
        for part in self._plan(fitting, min(max_bytes, self.settings.batch_max_bytes)):
            await self._deliver(part, reports, depth=depth + 1)

    def _plan(
        self, files: list[MediaFile] | tuple[MediaFile, ...], max_bytes: int
    ) -> list[UploadBatch]:
        return plan_batches(
            files, max_files=self.settings.upload_max_files_per_batch, max_bytes=max_bytes
        )

    async def _recompress(
        self, file: MediaFile, reports: trio.MemorySendChannel[Report], *, depth: int
    ) -> None:
        """Compress the user's file (not the refused stand-in) for the learnt limit, then send."""
        path = user_path(file)
        source = MediaFile(
            path=path, size_bytes=(await trio.Path(path).stat()).st_size, media_type=file.media_type
        )
        target = self.settings.compression_target_bytes
        await self.progress.send(CompressionStarted(source, target))
        try:
            async with self.encoders if self.encoders is not None else nullcontext():
                outputs = await compress_to_fit(
                    source, target, settings=self.settings, workdir=self.workdir
                )
        except CompressionError as exc:
            await reports.send(Failed(source.path, reason_of(exc), compression=True))
            return
        await reports.send(StoodIn(source, outputs))
        await self.progress.send(FileCompressed(source, outputs))
        for part in self._plan(outputs, self.settings.batch_max_bytes):
            await self._deliver(part, reports, depth=depth + 1)


def batch_content(batch: UploadBatch, platform: str) -> str:
    """A media message's text: the platform label, and what was compressed from what."""
    lines = [f"🎯 {platform} media files:"] if platform else []
    compressed = [f for f in batch.files if f.original_path is not None]
    if compressed:
        lines.append("ℹ️ Compression info:")
        lines.extend(f"🗜️ {f.filename} (compressed from {user_path(f).name})" for f in compressed)
    return fit_lines(lines)
