"""The uploader actor: one message per batch, in order, and what to do when Discord says no.

A 413 teaches the limit (see `decide_too_large`): the run's limit goes down, a file over it is
compressed again (through the compressor pool's own job function, under the shared encoder
cap, with the same events and progress), and the rest is resent in smaller messages. Errors
after which nothing more can succeed (unknown channel, missing permissions, a ban) stop the run.
Every delivery is verified against Discord's answer.

The uploader never waits on the pool's channels: a recompression is encoded in the uploader's
own task, holding only the encoder limiter, which pool workers release before they hand a
result on. So no cycle of channels (uploader → pool → hand-over → batcher → uploader) exists.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import trio

from ._batching import plan_batches
from ._destination import Destination
from ._errors import UploaderError
from ._events import (
    BatchSent,
    CompressionStarted,
    FileCompressed,
    FileDelivered,
    LimitLowered,
    ProgressEvent,
)
from ._models import (
    MediaFile,
    UploadBatch,
)
from ._results import STOPPED, failure, fit_lines, reason_of, user_path
from ._router import compression_event
from ._run import Run
from ._too_large import MAX_SPLITS, decide_too_large
from .compress import CompressionJob
from .compress._pool import run_job
from .discord import (
    DeliveryUncertainError,
    DestinationNotFoundError,
    DiscordUnavailableError,
    FileTooLargeError,
    InvalidRequestBudgetError,
    MissingPermissionsError,
    RateLimitBanError,
    RateLimitWaitTooLongError,
    SentMessage,
)

FATAL_ERRORS = (
    DiscordUnavailableError,  # after bounded retries: Discord is down or unreachable
    DestinationNotFoundError,
    MissingPermissionsError,
    RateLimitBanError,
    InvalidRequestBudgetError,
    RateLimitWaitTooLongError,
)
"""Errors after which no further message can succeed: the run stops sending."""

UNCONFIRMED = "Discord's answer did not confirm this attachment"


@attrs.define
class Uploader:
    """The uploader actor of one run.

    Attributes:
        destination: where messages go.
        run: the run's state: its limit, its counters, `Run.stop`.
        workdir: where recompressed stand-ins go.
        platform: the label of media messages.
        events: the run's event channel (the uploader's own clone: it closes it).
        encoders: the limiter every encode of the pipeline shares, if any.
    """

    destination: Destination
    run: Run
    workdir: Path
    platform: str
    events: trio.MemorySendChannel[ProgressEvent]
    encoders: trio.CapacityLimiter | None = None

    async def deliver_all(self, batches: trio.MemoryReceiveChannel[UploadBatch]) -> None:
        """Send every batch in order; owns ``batches`` and ``events``."""
        async with batches, self.events:
            async for batch in batches:
                started = trio.current_time()
                await self._deliver(batch, depth=0)
                self.run.upload_seconds += trio.current_time() - started

    async def _fail(self, files: tuple[MediaFile, ...], reason: str) -> None:
        stopped = reason == self.run.stopped  # run-wide: reporters say it once
        for f in files:
            await self.events.send(failure(user_path(f), reason, stopped=stopped))

    async def _deliver(self, batch: UploadBatch, *, depth: int) -> None:
        if self.run.stopped is not None:
            await self._fail(batch.files, self.run.stopped)
            return
        limit = self.run.file_limit_bytes
        over = [f for f in batch.files if f.size_bytes > limit]
        if over:  # a 413 taught a lower limit after this batch was planned: don't ask again
            for f in over:
                await self._recompress(f, depth=depth)
            batch = UploadBatch(tuple(f for f in batch.files if f.size_bytes <= limit))
            if not batch.files:
                return
        try:
            message = await self.destination.send_files(
                batch.files, content=batch_content(batch, self.platform)
            )
        except FileTooLargeError as exc:
            await self._too_large(batch, exc, depth=depth)
        except DeliveryUncertainError as exc:
            for f in batch.files:
                await self.events.send(failure(user_path(f), reason_of(exc), uncertain=True))
        except FATAL_ERRORS as exc:
            self.run.stop(f"{STOPPED}{reason_of(exc)}")
            await self._fail(batch.files, self.run.stopped or "")
        except UploaderError as exc:
            await self._fail(batch.files, reason_of(exc))
        else:
            await self._confirm(batch, message)

    async def _confirm(self, batch: UploadBatch, message: SentMessage) -> None:
        """Announce the message, and each file Discord's answer shows at its size."""
        await self.events.send(BatchSent(batch, message.id, self.run.count_message()))
        attachments = list(message.attachments)
        for i, f in enumerate(batch.files):
            attachment = attachments[i] if i < len(attachments) else None
            if attachment is None or attachment.size != f.size_bytes:
                await self.events.send(failure(user_path(f), UNCONFIRMED))
            else:
                await self.events.send(FileDelivered(f, message.id, attachment.id))

    async def _too_large(self, batch: UploadBatch, exc: FileTooLargeError, *, depth: int) -> None:
        """A 413: learn the limit, recompress what is over it, resend the rest smaller."""
        settings = self.run.settings
        decision = decide_too_large(
            batch,
            stated_limit=exc.limit_bytes,
            file_limit=self.run.file_limit_bytes,
            max_files=settings.upload_max_files_per_batch,
            max_bytes=settings.batch_max_bytes,
            depth=depth,
        )
        previous = self.run.file_limit_bytes
        if self.run.learn_limit(decision.limit):
            stated = exc.limit_bytes is not None
            await self.events.send(LimitLowered(decision.limit, previous, stated=stated))
        await self._fail(decision.fail, reason_of(exc))
        for f in decision.recompress:
            await self._recompress(f, depth=depth)
        for part in decision.resend:
            await self._deliver(part, depth=depth + 1)

    async def _recompress(self, file: MediaFile, *, depth: int) -> None:
        """Compress the user's file (not the refused stand-in) for the run's limit, then send."""
        path = user_path(file)
        if depth >= MAX_SPLITS:
            await self._fail((file,), f"still over Discord's limit after {depth} tries")
            return
        try:
            size = (await trio.Path(path).stat()).st_size
        except OSError as exc:
            await self._fail((file,), reason_of(exc))
            return
        job = CompressionJob(
            MediaFile(path, size, file.media_type), self.run.compression_target_bytes
        )
        await self.events.send(CompressionStarted(job.file, job.target_bytes))
        result = await run_job(
            job,
            settings=self.run.settings,
            workdir=self.workdir,
            encoders=self.encoders,
            progress=self.events,
        )
        event = compression_event(result)
        await self.events.send(event)
        if isinstance(event, FileCompressed):
            settings = self.run.settings
            for part in plan_batches(
                event.outputs,
                max_files=settings.upload_max_files_per_batch,
                max_bytes=settings.batch_max_bytes,
            ):
                await self._deliver(part, depth=depth + 1)


def batch_content(batch: UploadBatch, platform: str) -> str:
    """A media message's text: the platform label, and what was compressed from what."""
    lines = [f"🎯 {platform} media files:"] if platform else []
    compressed = [f for f in batch.files if f.original_path is not None]
    if compressed:
        lines.append("ℹ️ Compression info:")
        lines.extend(f"🗜️ {f.filename} (compressed from {user_path(f).name})" for f in compressed)
    return fit_lines(lines)
