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
from ._destination import Destination, dedupes
from ._errors import UploaderError
from ._events import (
    BatchSent,
    CompressionStarted,
    DiscordUnavailable,
    FileCompressed,
    FileDelivered,
    LimitLowered,
    ProgressEvent,
)
from ._ledger import Ledger
from ._models import (
    MediaFile,
    UploadBatch,
)
from ._results import failure, fit_lines, reason_of, user_path
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
    retry_waits_to,
)
from .discord._client import new_nonce

FATAL_ERRORS = (
    DiscordUnavailableError,  # past the retry deadline: Discord is down or unreachable
    DestinationNotFoundError,
    MissingPermissionsError,
    RateLimitBanError,
    InvalidRequestBudgetError,
    RateLimitWaitTooLongError,
)
"""Errors after which no further message can succeed: the run stops sending."""

UNCONFIRMED = "Discord's answer did not confirm this attachment"
MAYBE_POSTED = " (an answer was lost: the message may have been posted)"
MAYBE_POSTED_BOT = (
    " (an answer was lost: the message may have been posted; sending again within"
    " 4 minutes settles it without a duplicate)"
)


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
        ledger: the run's journal: an intent before each request, its outcome after.
    """

    destination: Destination
    run: Run
    workdir: Path
    platform: str
    events: trio.MemorySendChannel[ProgressEvent]
    encoders: trio.CapacityLimiter | None = None
    ledger: Ledger = attrs.Factory(Ledger)
    _sent: dict[Path, tuple[str, str]] = attrs.Factory(dict)
    """Stand-ins delivered this run: (message id, attachment id)."""

    async def deliver_all(self, batches: trio.MemoryReceiveChannel[UploadBatch]) -> None:
        """Send every batch in order; owns ``batches`` and ``events``."""
        async with batches, self.events:
            async for batch in batches:
                started = trio.current_time()
                await self._deliver(batch, depth=0)
                self.run.upload_seconds += trio.current_time() - started

    async def resend_earlier(self) -> None:
        """Send an earlier run's uncertain bot batches again, each with its own nonce.

        Discord answers with the message it holds if the first request posted (so never a
        duplicate), else posts it now. Whatever goes wrong leaves the batch uncertain: its
        first request may still have posted, so it is never sent under a new nonce.
        """
        journal = self.ledger.journal
        if journal is None or not dedupes(self.destination):
            return
        for resend in await journal.resends():
            found = await journal.resend_files(resend)
            files = tuple(f for f in found if f is not None)
            if not files or len(files) != len(found):
                continue  # a stand-in is gone: the batch stays uncertain
            batch = UploadBatch(files)
            try:
                with retry_waits_to(self._waiting):
                    message = await self.destination.send_files(
                        files, content=batch_content(batch, self.platform), nonce=resend.nonce
                    )
            except UploaderError as exc:
                await journal.uncertain(resend.batch, reason_of(exc))
                continue
            ids = resend.confirm([(a.id, a.size) for a in message.attachments])
            await journal.delivered(resend.batch, message.id, ids)
            await self.events.send(BatchSent(batch, message.id, self.run.count_message()))

    async def _fail(
        self, files: tuple[MediaFile, ...], reason: str, *, uncertain: bool = False
    ) -> None:
        stopped = reason == self.run.stopped  # run-wide: reporters say it once
        for f in files:
            event = failure(user_path(f), reason, uncertain=uncertain, stopped=stopped)
            await self.events.send(event)

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
        await self._send(batch, depth=depth, resend=self.run.settings.upload_resend_uncertain)

    async def _send(self, batch: UploadBatch, *, depth: int, resend: bool) -> None:
        """One message, with one nonce for every attempt (bot path), and its true outcome."""
        nonce = new_nonce() if dedupes(self.destination) else None
        extra = {"nonce": nonce} if nonce is not None else {}
        try:
            entry = await self.ledger.intent(batch.files, nonce)  # before the request
        except OSError as exc:
            await self._fail(batch.files, reason_of(exc))
            return
        try:
            with retry_waits_to(self._waiting):
                message = await self.destination.send_files(
                    batch.files, content=batch_content(batch, self.platform), **extra
                )
        except FileTooLargeError as exc:
            await self.ledger.failed(entry, reason_of(exc))
            await self._too_large(batch, exc, depth=depth)
        except DeliveryUncertainError as exc:
            await self.ledger.uncertain(entry, reason_of(exc))
            if resend:  # the user prefers a possible duplicate to a possible gap
                await self._send(batch, depth=depth, resend=False)
                return
            await self._fail(batch.files, reason_of(exc), uncertain=True)
        except FATAL_ERRORS as exc:
            await self._stopped(batch, exc, entry, nonce)
        except UploaderError as exc:
            await self.ledger.failed(entry, reason_of(exc))
            await self._fail(batch.files, reason_of(exc))
        else:
            await self._confirm(batch, message, entry)

    async def _stopped(
        self, batch: UploadBatch, exc: BaseException, entry: str | None, nonce: str | None
    ) -> None:
        """Nothing more can be delivered: stop the run; this batch failed, or may be posted."""
        self.run.stop(f"upload stopped: {reason_of(exc)}")
        reason = self.run.stopped or ""
        if isinstance(exc, DiscordUnavailableError) and exc.uncertain:
            reason += MAYBE_POSTED_BOT if nonce is not None else MAYBE_POSTED
            await self.ledger.uncertain(entry, reason)
            await self._fail(batch.files, reason, uncertain=True)
        else:
            await self.ledger.failed(entry, reason)
            await self._fail(batch.files, reason)

    async def _waiting(self, seconds: float, reason: str) -> None:
        await self.events.send(DiscordUnavailable(seconds, reason))

    async def _confirm(self, batch: UploadBatch, message: SentMessage, entry: str | None) -> None:
        """Announce the message, and each file Discord's answer shows at its size."""
        attachments = list(message.attachments)
        confirmed = [
            i < len(attachments) and attachments[i].size == f.size_bytes
            for i, f in enumerate(batch.files)
        ]
        await self.ledger.delivered(entry, message, confirmed)
        await self.events.send(BatchSent(batch, message.id, self.run.count_message()))
        for f, ok, attachment in zip(batch.files, confirmed, attachments, strict=False):
            if ok:
                self._sent[f.path] = (message.id, attachment.id)
                await self.events.send(FileDelivered(f, message.id, attachment.id))
        for f, ok in zip(batch.files, confirmed, strict=True):
            if not ok:  # something was posted, but not this file as it was sent
                await self.events.send(failure(user_path(f), UNCONFIRMED, uncertain=True))

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
        """Compress the user's file again for the run's limit, then send the result.

        A part of a split video is compressed on its own instead (its siblings may be
        delivered already, and the user's file would give a new set of parts to send again).
        """
        path = user_path(file)
        if depth >= MAX_SPLITS:
            await self._fail((file,), f"still over Discord's limit after {depth} tries")
            return
        siblings = self.run.parts.get(path) if file.original_path is not None else None
        one_part = siblings is not None
        source = file.path if one_part else path
        try:
            size = (await trio.Path(source).stat()).st_size
        except OSError as exc:
            await self._fail((file,), reason_of(exc))
            return
        job = CompressionJob(
            MediaFile(source, size, file.media_type, original_path=path if one_part else None),
            self.run.compression_target_bytes,
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
        if isinstance(event, FileCompressed):
            user = MediaFile(path, size if not one_part else 0, file.media_type)
            outputs = event.outputs
            if siblings is not None:  # the set the journal knows: this part replaced
                outputs = _replace(siblings, file, outputs)
            await self.ledger.compressed(user, outputs)  # before any output is sent
            if siblings is not None:
                await self.ledger.reattribute(outputs, self._sent)
            self.run.note_compressed(path, outputs)
        await self.events.send(event)
        if isinstance(event, FileCompressed):
            settings = self.run.settings
            for part in plan_batches(
                event.outputs,
                max_files=settings.upload_max_files_per_batch,
                max_bytes=settings.batch_max_bytes,
            ):
                await self._deliver(part, depth=depth + 1)


def _replace(
    parts: tuple[MediaFile, ...], refused: MediaFile, outputs: tuple[MediaFile, ...]
) -> tuple[MediaFile, ...]:
    """The parts of a split file with the refused one replaced by its own compression."""
    merged: list[MediaFile] = []
    for p in parts:
        merged.extend(outputs if p.path == refused.path else (p,))
    return tuple(merged)


def batch_content(batch: UploadBatch, platform: str) -> str:
    """A media message's text: the platform label, and what was compressed from what."""
    lines = [f"🎯 {platform} media files:"] if platform else []
    compressed = [f for f in batch.files if f.original_path is not None]
    if compressed:
        lines.append("ℹ️ Compression info:")
        lines.extend(f"🗜️ {f.filename} (compressed from {user_path(f).name})" for f in compressed)
    return fit_lines(lines)
