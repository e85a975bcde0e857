"""The upload pipeline: one nursery from folder to channel, wiring the actors together.

detector → router → (files that fit → batcher | oversized → compressor pool → batcher)
→ uploader → collector, over memory channels with small buffers, so a slow stage slows its
producer instead of piling files up in memory. Each actor owns the channel ends it closes.
Progress events go to reporters on their own channel.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs
import httpx
import trio

from ._batching import AllFound, BatcherInput, Pending, Ready, Resolved, plan_batches, run_batcher
from ._detect import check_directory, run_detector
from ._errors import UploaderError
from ._models import (
    MIB,
    BatchSent,
    CompressionStarted,
    DetectionDone,
    DetectorEvent,
    DetectorIssue,
    FileCompressed,
    FileFailed,
    FileFound,
    FileOutcome,
    FileStatus,
    MediaFile,
    RefusedPath,
    SkippedFile,
    UploadBatch,
    UploadDone,
    UploadResult,
    format_size,
)
from ._settings import Settings
from .compress import (
    Compressed,
    CompressionError,
    CompressionFailed,
    CompressionJob,
    CompressionProgress,
    compress_to_fit,
    run_compressor_pool,
)
from .discord import (
    Channel,
    DeliveryUncertainError,
    DestinationNotFoundError,
    DiscordClient,
    FileTooLargeError,
    InvalidRequestBudgetError,
    MissingPermissionsError,
    RateLimitBanError,
    RateLimitWaitTooLongError,
    SentMessage,
    Webhook,
    open_discord_client,
)

ProgressEvent = (
    FileFound
    | DetectionDone
    | CompressionStarted
    | CompressionProgress
    | FileCompressed
    | BatchSent
    | FileFailed
    | UploadDone
)
"""Everything the pipeline reports while it runs."""

BATCHER_BUFFER = 64
"""Files (descriptors, not bytes) the batcher's inbox holds while it waits for the uploader."""
DEFAULT_FILE_LIMIT = 10 * MIB
KNOWN_DISCORD_LIMITS = (100 * MIB, 50 * MIB, 25 * MIB, 10 * MIB, 8 * MIB)
"""Per-file limits Discord has applied (by boost tier, and over the years)."""

FATAL_ERRORS = (
    DestinationNotFoundError,
    MissingPermissionsError,
    RateLimitBanError,
    InvalidRequestBudgetError,
    RateLimitWaitTooLongError,
)
"""Errors after which no further message can succeed: the run stops sending."""


@runtime_checkable
class Destination(Protocol):
    """Where a pipeline delivers: the built-ins wrap a `Webhook` or a bot `Channel`.

    Implement these four methods to deliver somewhere else (the original system's
    ``register_processor``); pass the object wherever a Webhook or Channel is accepted.
    """

    async def send_files(self, files: Sequence[MediaFile], *, content: str) -> SentMessage:
        """Post one message with these attachments; return it with its attachments in order."""
        ...

    async def send_message(self, content: str) -> str:
        """Post a text message; return its id."""
        ...

    async def edit_message(self, message_id: str, content: str) -> None:
        """Replace a message's text."""
        ...

    async def upload_limit(self) -> int | None:
        """The per-file upload limit in bytes, if the destination knows it."""
        ...


@attrs.frozen
class DiscordDestination:
    """A `Webhook` or `Channel` bound to a `DiscordClient`: the built-in Destination."""

    client: DiscordClient
    target: Webhook | Channel

    async def send_files(self, files: Sequence[MediaFile], *, content: str) -> SentMessage:
        return await self.client.send_files(self.target, files, content=content)

    async def send_message(self, content: str) -> str:
        return (await self.client.send_message(self.target, content)).id

    async def edit_message(self, message_id: str, content: str) -> None:
        await self.client.edit_message(self.target, message_id, content)

    async def upload_limit(self) -> int | None:
        return await self.client.fetch_upload_limit(self.target)


# --- what flows to the collector ------------------------------------------------------------


@attrs.frozen
class _Found:
    file: MediaFile


@attrs.frozen
class _Issue:
    issue: DetectorIssue


@attrs.frozen
class _Failed:
    path: Path
    reason: str
    compression: bool = False
    uncertain: bool = False


@attrs.frozen
class _Stood:
    """A user's file will be sent as these stand-ins."""

    original: MediaFile
    outputs: tuple[MediaFile, ...]
    attempts: int


@attrs.frozen
class _Delivered:
    file: MediaFile
    message_id: str
    attachment_id: str


_CollectorInput = _Found | _Issue | _Failed | _Stood | _Delivered


# --- reporters ------------------------------------------------------------------------------


class Reporter(Protocol):
    """Something that shows progress: `handle` is called for every event, in order."""

    def handle(self, event: ProgressEvent) -> None:
        """Take one event; must not block."""
        ...

    async def run(self) -> None:
        """Background work (e.g. throttled edits); return soon after `UploadDone`."""
        ...


@attrs.frozen
class _CallbackReporter:
    callback: Callable[[ProgressEvent], None]

    def handle(self, event: ProgressEvent) -> None:
        self.callback(event)

    async def run(self) -> None:
        return None


ProgressArg = Reporter | Callable[[ProgressEvent], None] | Iterable[Reporter] | None


def _reporters(progress: ProgressArg) -> list[Reporter]:
    if progress is None:
        return []
    if hasattr(progress, "handle"):
        return [progress]  # type: ignore[list-item]
    if callable(progress):
        return [_CallbackReporter(progress)]
    return list(progress)


# --- the run ----------------------------------------------------------------------------------


@attrs.define
class _Run:
    """One request: its settings, destination, working directory and channels' plumbing."""

    directory: Path
    destination: Destination
    settings: Settings
    workdir: Path
    platform: str
    progress: trio.MemorySendChannel[ProgressEvent]
    fatal: str | None = None
    batches_sent: int = 0
    upload_seconds: float = 0.0
    compression: trio.CancelScope = attrs.Factory(trio.CancelScope)

    async def route(
        self,
        detected: trio.MemoryReceiveChannel[DetectorEvent],
        batcher: trio.MemorySendChannel[BatcherInput],
        jobs: trio.MemorySendChannel[CompressionJob],
        collector: trio.MemorySendChannel[_CollectorInput],
    ) -> None:
        """The size router: files that fit go to the batcher, oversized ones to compression."""
        limit = self.settings.file_limit_bytes
        target = self.settings.compression_target_bytes
        found = total = 0
        async with detected, batcher, jobs, collector:
            async for event in detected:
                if not isinstance(event, MediaFile):
                    await collector.send(_Issue(event))
                    continue
                found += 1
                total += event.size_bytes
                await collector.send(_Found(event))
                await self.progress.send(FileFound(event))
                if event.size_bytes <= limit:
                    await batcher.send(Ready(event))
                elif self.fatal is not None:
                    await collector.send(_Failed(event.path, self.fatal))
                else:
                    await batcher.send(Pending(event.path, target))
                    await self.progress.send(CompressionStarted(event, target))
                    try:
                        await jobs.send(CompressionJob(event, target))
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        # compression was stopped because nothing more can be delivered
                        await collector.send(_Failed(event.path, self.fatal or "not compressed"))
                        await batcher.send(Resolved(event.path, ()))
            await batcher.send(AllFound())
            await self.progress.send(DetectionDone(found, total))

    async def take_compressed(
        self,
        results: trio.MemoryReceiveChannel[Compressed | CompressionFailed],
        batcher: trio.MemorySendChannel[BatcherInput],
        collector: trio.MemorySendChannel[_CollectorInput],
    ) -> None:
        """Hands compressed stand-ins to the batcher and failures to the collector."""
        async with results, batcher, collector:
            async for result in results:
                original = result.job.file
                if isinstance(result, Compressed):
                    await collector.send(_Stood(original, result.outputs, result.attempts))
                    await self.progress.send(FileCompressed(original, result.outputs))
                    await batcher.send(Resolved(original.path, result.outputs))
                else:
                    await collector.send(
                        _Failed(original.path, _reason(result.error), compression=True)
                    )
                    await batcher.send(Resolved(original.path, ()))

    async def upload(
        self,
        batches: trio.MemoryReceiveChannel[UploadBatch],
        collector: trio.MemorySendChannel[_CollectorInput],
    ) -> None:
        """The uploader actor: one message per batch, in order, through the rate limiter."""
        async with batches, collector:
            async for batch in batches:
                started = trio.current_time()
                await self._deliver(batch, collector, depth=0)
                self.upload_seconds += trio.current_time() - started

    async def _deliver(
        self,
        batch: UploadBatch,
        collector: trio.MemorySendChannel[_CollectorInput],
        *,
        depth: int,
    ) -> None:
        if self.fatal is not None:
            for f in batch.files:
                await collector.send(_Failed(_user_path(f), self.fatal))
            return
        try:
            message = await self.destination.send_files(
                batch.files, content=_batch_content(batch, self.platform)
            )
        except FileTooLargeError as exc:
            await self._too_large(batch, exc, collector, depth=depth)
            return
        except DeliveryUncertainError as exc:
            for f in batch.files:
                await collector.send(_Failed(_user_path(f), _reason(exc), uncertain=True))
            return
        except FATAL_ERRORS as exc:
            self.fatal = f"upload stopped: {_reason(exc)}"
            self.compression.cancel()  # no point compressing what cannot be sent
            for f in batch.files:
                await collector.send(_Failed(_user_path(f), _reason(exc)))
            return
        except UploaderError as exc:
            for f in batch.files:
                await collector.send(_Failed(_user_path(f), _reason(exc)))
            return
        self.batches_sent += 1
        await self.progress.send(BatchSent(batch, message.id, self.batches_sent))
        by_position = list(message.attachments)
        for i, f in enumerate(batch.files):
            attachment = by_position[i] if i < len(by_position) else None
            if attachment is None or attachment.size != f.size_bytes:
                await collector.send(
                    _Failed(_user_path(f), "Discord's answer did not confirm this attachment")
                )
            else:
                await collector.send(_Delivered(f, message.id, attachment.id))

    async def _too_large(
        self,
        batch: UploadBatch,
        exc: FileTooLargeError,
        collector: trio.MemorySendChannel[_CollectorInput],
        *,
        depth: int,
    ) -> None:
        """A 413: learn the limit, split the batch, send a file over it back to compression."""
        largest = max(f.size_bytes for f in batch.files)
        learnt = exc.limit_bytes
        if learnt is None and len(batch.files) == 1:
            # Discord did not say: assume the largest limit it has used that is below this file,
            # else half of it, so a few rounds at most find the real one.
            learnt = max((k for k in KNOWN_DISCORD_LIMITS if k < largest), default=largest // 2)
        if learnt is not None and learnt < self.settings.file_limit_bytes:
            self.settings = self.settings.with_file_limit_bytes(learnt)
        limit = self.settings.file_limit_bytes
        if depth >= 4:
            for f in batch.files:
                await collector.send(_Failed(_user_path(f), _reason(exc)))
            return
        fitting = [f for f in batch.files if f.size_bytes <= limit]
        for f in batch.files:
            if f.size_bytes > limit:
                await self._recompress(f, collector, depth=depth)
        if not fitting:
            return
        max_bytes = min(
            self.settings.batch_max_bytes, max(sum(f.size_bytes for f in fitting) // 2, 1)
        )
        if len(fitting) == 1:
            max_bytes = self.settings.batch_max_bytes
        for part in plan_batches(
            fitting, max_files=self.settings.upload_max_files_per_batch, max_bytes=max_bytes
        ):
            await self._deliver(part, collector, depth=depth + 1)

    async def _recompress(
        self,
        file: MediaFile,
        collector: trio.MemorySendChannel[_CollectorInput],
        *,
        depth: int,
    ) -> None:
        source = MediaFile(
            path=_user_path(file),
            size_bytes=(await trio.Path(_user_path(file)).stat()).st_size,
            media_type=file.media_type,
        )
        target = self.settings.compression_target_bytes
        await self.progress.send(CompressionStarted(source, target))
        try:
            outputs = await compress_to_fit(
                source, target, settings=self.settings, workdir=self.workdir
            )
        except CompressionError as exc:
            await collector.send(_Failed(source.path, _reason(exc), compression=True))
            return
        await collector.send(_Stood(source, outputs, 1))
        await self.progress.send(FileCompressed(source, outputs))
        for part in plan_batches(
            outputs,
            max_files=self.settings.upload_max_files_per_batch,
            max_bytes=self.settings.batch_max_bytes,
        ):
            await self._deliver(part, collector, depth=depth + 1)


def _user_path(file: MediaFile) -> Path:
    return file.original_path if file.original_path is not None else file.path


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _batch_content(batch: UploadBatch, platform: str) -> str:
    lines = [f"🎯 {platform} media files:"] if platform else []
    compressed = [f for f in batch.files if f.original_path is not None]
    if compressed:
        lines.append("ℹ️ Compression info:")
        lines.extend(f"🗜️ {f.filename} (compressed from {f.original_path.name})" for f in compressed)  # type: ignore[union-attr]
    return "\n".join(lines)[:2000]


@attrs.define
class _Collector:
    """Gathers every file's fate into the UploadResult."""

    order: list[Path] = attrs.Factory(list)
    originals: dict[Path, MediaFile] = attrs.Factory(dict)
    issues: dict[Path, DetectorIssue] = attrs.Factory(dict)
    failed: dict[Path, str] = attrs.Factory(dict)
    uncertain: set[Path] = attrs.Factory(set)
    stand_ins: dict[Path, tuple[MediaFile, ...]] = attrs.Factory(dict)
    delivered: dict[Path, list[tuple[MediaFile, str, str]]] = attrs.Factory(dict)
    compression_attempts: int = 0
    compression_successes: int = 0

    def take(self, item: _CollectorInput) -> FileFailed | None:
        if isinstance(item, _Found):
            self.order.append(item.file.path)
            self.originals[item.file.path] = item.file
        elif isinstance(item, _Issue):
            self.order.append(item.issue.path)
            self.issues[item.issue.path] = item.issue
            if not isinstance(item.issue, (SkippedFile, RefusedPath)):
                return FileFailed(item.issue.path, item.issue.reason)
        elif isinstance(item, _Stood):
            self.compression_attempts += 1
            self.compression_successes += 1
            self.stand_ins[item.original.path] = item.outputs
        elif isinstance(item, _Failed):
            self.compression_attempts += item.compression
            if item.uncertain:
                self.uncertain.add(item.path)
            self.failed.setdefault(item.path, item.reason)
            return FileFailed(item.path, item.reason)
        else:
            path = _user_path(item.file)
            self.delivered.setdefault(path, []).append(
                (item.file, item.message_id, item.attachment_id)
            )
        return None

    def outcomes(self, stopped: str | None) -> tuple[FileOutcome, ...]:
        result: list[FileOutcome] = []
        for path in self.order:
            issue = self.issues.get(path)
            if issue is not None:
                status = (
                    FileStatus.SKIPPED
                    if isinstance(issue, (SkippedFile, RefusedPath))
                    else FileStatus.FAILED
                )
                result.append(FileOutcome(path, status, issue.reason))
                continue
            original = self.originals[path]
            sent = self.delivered.get(path, [])
            expected = self.stand_ins.get(path, (original,))
            if path in self.failed or len(sent) < len(expected):
                reason = self.failed.get(path) or stopped or "not delivered"
                status = FileStatus.UNCERTAIN if path in self.uncertain else FileStatus.FAILED
                result.append(FileOutcome(path, status, reason, size_bytes=original.size_bytes))
                continue
            result.append(
                FileOutcome(
                    path,
                    FileStatus.DELIVERED,
                    message_id=sent[0][1],
                    attachments=tuple(a for _, _, a in sent),
                    sent_as=tuple(f.filename for f, _, _ in sent),
                    size_bytes=original.size_bytes,
                    sent_bytes=sum(f.size_bytes for f, _, _ in sent),
                )
            )
        return tuple(result)


def summarize(outcomes: Sequence[FileOutcome]) -> str:
    """The closing summary, as the original showed it."""
    media = [o for o in outcomes if o.status is not FileStatus.SKIPPED]
    delivered = [o for o in media if o.status is FileStatus.DELIVERED]
    lines = []
    if media and len(delivered) == len(media):
        lines.append(f"🎉 Upload complete: {len(delivered)}/{len(media)} files uploaded")
    elif not media:
        lines.append("🤷 No media files to upload")
    else:
        lines.append(f"⚠️ Partial upload: {len(delivered)}/{len(media)} files uploaded")
    compressed = [o for o in delivered if o.compressed]
    if compressed:
        lines.append("ℹ️ Compression info:")
        for o in compressed:
            lines.append(
                f"🗜️ {', '.join(o.sent_as)} (compressed from {o.path.name},"
                f" {format_size(o.size_bytes)} → {format_size(o.sent_bytes)})"
            )
    for o in media:
        if o.status is FileStatus.FAILED:
            lines.append(f"❌ {o.path.name}: {o.reason}")
        elif o.status is FileStatus.UNCERTAIN:
            lines.append(f"❓ {o.path.name}: {o.reason}")
    return "\n".join(lines)


@contextmanager
def _single_error() -> Iterator[None]:
    """Let the caller see the one real error rather than a group from our hidden nursery."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        real = [e for e in leaves if not isinstance(e, trio.Cancelled)]
        if len(real) == 1:
            raise real[0] from group
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


class UploadPipeline:
    """A long-lived uploader for a bot: one HTTP client and rate limiter for every request.

    Open it with `open_upload_pipeline` or ``await nursery.start(run_upload_pipeline, ...)``,
    then call `upload` for each request (concurrently if you like).
    """

    def __init__(self, client: DiscordClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def destination(self, target: Webhook | Channel | Destination) -> Destination:
        """The Destination for a Webhook, a Channel, or your own Destination object."""
        if isinstance(target, (Webhook, Channel)):
            return DiscordDestination(self.client, target)
        return target

    async def upload(
        self,
        directory: Path | str,
        destination: Webhook | Channel | Destination,
        *,
        progress: ProgressArg = None,
        workdir: Path | None = None,
        platform: str = "",
    ) -> UploadResult:
        """Deliver every media file under ``directory`` (see `upload_directory`)."""
        directory = Path(directory)
        await trio.to_thread.run_sync(check_directory, directory)
        settings = self.settings
        target = self.destination(destination)
        own_workdir = workdir is None
        if workdir is None:
            workdir = Path(await trio.to_thread.run_sync(tempfile.mkdtemp, None, "uploader-"))
        else:
            await trio.Path(workdir).mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            learnt = await target.upload_limit()
        except UploaderError:
            learnt = None
        if learnt is not None and learnt > max(settings.file_limit_bytes, DEFAULT_FILE_LIMIT):
            # A boosted server allows more than the default: no need to compress for less.
            # (A lower limit the user chose on purpose is kept.)
            settings = settings.with_file_limit_bytes(learnt)
        reporters = _reporters(progress)
        if settings.upload_enable_progress_updates:
            from .progress import DiscordStatusReporter

            reporters.append(DiscordStatusReporter(target))
        started = trio.current_time()
        try:
            return await self._upload(
                directory, target, settings, workdir, own_workdir, reporters, platform, started
            )
        except BaseException:
            # Cancelled or crashed: nobody will learn where our temporary folder is, so it goes.
            # (A caller's own workdir is left as it is; partial encodes never outlive ffmpeg.)
            if own_workdir:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(shutil.rmtree, workdir, True)
            raise

    async def _upload(
        self,
        directory: Path,
        target: Destination,
        settings: Settings,
        workdir: Path,
        own_workdir: bool,
        reporters: list[Reporter],
        platform: str,
        started: float,
    ) -> UploadResult:
        with _single_error():
            async with trio.open_nursery() as outer:
                events_send, events_recv = trio.open_memory_channel[ProgressEvent](256)
                for reporter in reporters:
                    outer.start_soon(reporter.run)
                outer.start_soon(_fan_out, events_recv, reporters)
                async with events_send:
                    run = _Run(directory, target, settings, workdir, platform, events_send)
                    collector = await self._run_stages(run)
                    outcomes = collector.outcomes(run.fatal)
                    result = self._result(
                        run, collector, outcomes, own_workdir, trio.current_time() - started
                    )
                    result = await self._cleanup(result, directory, own_workdir)
                    await events_send.send(UploadDone(result))
        return result

    async def _run_stages(self, run: _Run) -> _Collector:
        s = run.settings
        collector = _Collector()
        detected_send, detected_recv = trio.open_memory_channel[DetectorEvent](1)
        # Descriptors again: a few messages' worth lets detection finish while the uploader
        # is busy, and still stops the detector soon when the uploader stalls.
        batcher_send, batcher_recv = trio.open_memory_channel[BatcherInput](BATCHER_BUFFER)
        # Jobs are descriptors (a path and a size), never bytes: queueing them all lets the
        # detector finish while encoders are busy, so the batcher learns early that every file
        # was found. Backpressure on bytes stays where it matters: batcher and uploader.
        jobs_send, jobs_recv = trio.open_memory_channel[CompressionJob](math.inf)
        results_send, results_recv = trio.open_memory_channel[Compressed | CompressionFailed](0)
        batches_send, batches_recv = trio.open_memory_channel[UploadBatch](0)
        collect_send, collect_recv = trio.open_memory_channel[_CollectorInput](16)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._collect, collect_recv, collector, run.progress.clone())
            nursery.start_soon(run.upload, batches_recv, collect_send.clone())
            nursery.start_soon(
                lambda: run_batcher(
                    batcher_recv,
                    batches_send,
                    max_files=s.upload_max_files_per_batch,
                    max_bytes=s.batch_max_bytes,
                    linger=s.upload_linger_seconds,
                )
            )
            nursery.start_soon(
                run.route, detected_recv, batcher_send, jobs_send, collect_send.clone()
            )
            nursery.start_soon(run_detector, run.directory, detected_send, s)
            with run.compression:
                async with trio.open_nursery() as compression:
                    compression.start_soon(
                        run.take_compressed, results_recv, batcher_send.clone(), collect_send
                    )
                    compression.start_soon(
                        lambda: run_compressor_pool(
                            jobs_recv,
                            results_send,
                            settings=s,
                            workdir=run.workdir,
                            progress=run.progress.clone(),
                        )
                    )
            # if compression was cancelled (the run cannot deliver), close what it owned
            for end in (results_send, results_recv, jobs_recv, collect_send):
                end.close()
        return collector

    async def _collect(
        self,
        items: trio.MemoryReceiveChannel[_CollectorInput],
        collector: _Collector,
        progress: trio.MemorySendChannel[ProgressEvent],
    ) -> None:
        async with items, progress:
            async for item in items:
                event = collector.take(item)
                if event is not None:
                    await progress.send(event)

    def _result(
        self,
        run: _Run,
        collector: _Collector,
        outcomes: tuple[FileOutcome, ...],
        own_workdir: bool,
        seconds: float,
    ) -> UploadResult:
        media = [o for o in outcomes if o.status is not FileStatus.SKIPPED]
        success = bool(media) and all(o.status is FileStatus.DELIVERED for o in media)
        if not media:
            success = not any(o.status is FileStatus.FAILED for o in outcomes)
        metadata: dict[str, object] = {
            "platform": run.platform,
            "total_files": len(media),
            "successful_uploads": sum(o.status is FileStatus.DELIVERED for o in media),
            "failed_uploads": sum(o.status is not FileStatus.DELIVERED for o in media),
            "skipped_files": len(outcomes) - len(media),
            "compression_attempts": collector.compression_attempts,
            "successful_compressions": collector.compression_successes,
            "total_size_mb": round(sum(o.size_bytes for o in media) / (1024 * 1024), 3),
            "batches_processed": run.batches_sent,
            "processing_time_seconds": round(seconds, 3),
            "upload_time_seconds": round(run.upload_seconds, 3),
            "file_limit_bytes": run.settings.file_limit_bytes,
        }
        return UploadResult(
            success=success,
            message=summarize(outcomes),
            outcomes=outcomes,
            workdir=run.workdir,
            metadata=metadata,
        )

    async def _cleanup(
        self, result: UploadResult, directory: Path, own_workdir: bool
    ) -> UploadResult:
        """Remove what may be removed: never a file that was not verified delivered."""
        workdir = result.workdir
        if workdir is None:
            return result
        if not result.success:
            # Kept for inspection, unless there is nothing in it to inspect.
            if own_workdir and not any(await trio.Path(workdir).iterdir()):
                await trio.Path(workdir).rmdir()
                return attrs.evolve(result, workdir=None)
            return result
        if own_workdir or self.settings.upload_cleanup_after_success:
            await trio.to_thread.run_sync(shutil.rmtree, workdir, True)
            workdir = None
        if self.settings.upload_cleanup_after_success:
            await trio.to_thread.run_sync(_remove_delivered, directory, result.outcomes)
        return attrs.evolve(result, workdir=workdir)


def _remove_delivered(directory: Path, outcomes: Sequence[FileOutcome]) -> None:
    """Delete delivered files, then the request directory if nothing else is left in it."""
    for o in outcomes:
        if o.status is FileStatus.DELIVERED:
            o.path.unlink(missing_ok=True)
    for folder in sorted((p for p in directory.rglob("*") if p.is_dir()), reverse=True):
        with suppress(OSError):
            folder.rmdir()
    with suppress(OSError):
        directory.rmdir()


async def _fan_out(
    events: trio.MemoryReceiveChannel[ProgressEvent], reporters: Sequence[Reporter]
) -> None:
    async with events:
        async for event in events:
            for reporter in reporters:
                reporter.handle(event)


@asynccontextmanager
async def open_upload_pipeline(
    settings: Settings | None = None,
    *,
    http: httpx.AsyncClient | None = None,
    api_base: str | None = None,
) -> AsyncIterator[UploadPipeline]:
    """Open an `UploadPipeline` (HTTP client and rate limiter shared by every upload).

    Args:
        settings: defaults to `Settings.from_env()`.
        http: an ``httpx.AsyncClient`` to use (kept open); one is opened by default.
        api_base: overrides ``settings.discord_api_base`` (e.g. the loopback Discord).
    """
    settings = Settings.from_env() if settings is None else settings
    async with open_discord_client(settings, http=http, api_base=api_base) as client:
        yield UploadPipeline(client, settings)


async def run_upload_pipeline(
    settings: Settings | None = None,
    *,
    http: httpx.AsyncClient | None = None,
    api_base: str | None = None,
    task_status: trio.TaskStatus[UploadPipeline] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The nursery start form: ``pipeline = await nursery.start(run_upload_pipeline)``.

    Runs until the nursery is cancelled.
    """
    async with open_upload_pipeline(settings, http=http, api_base=api_base) as pipeline:
        task_status.started(pipeline)
        await trio.sleep_forever()


async def upload_directory(
    directory: Path | str,
    destination: Webhook | Channel | Destination,
    *,
    settings: Settings | None = None,
    progress: ProgressArg = None,
    workdir: Path | None = None,
    platform: str = "",
    api_base: str | None = None,
    http: httpx.AsyncClient | None = None,
) -> UploadResult:
    """Deliver every media file under ``directory`` to ``destination``.

    Detects, compresses what is over the per-file limit, packs files into the fewest messages
    and uploads them through the rate limiter, all at once: uploading starts while videos are
    still being compressed.

    Args:
        directory: the folder to send (recursively).
        destination: a `Webhook`, a bot `Channel`, or your own `Destination`.
        settings: defaults to `Settings.from_env()`.
        progress: a reporter, a list of reporters, or a callable taking each event.
        workdir: where compressed files go (created 0700); a fresh temporary folder by default,
            removed after full success. After any failure nothing is removed and
            ``result.workdir`` says where the files are.
        platform: a label for the messages ("🎯 <platform> media files:").
        api_base: overrides the settings' API base (e.g. the loopback Discord's).
        http: an ``httpx.AsyncClient`` to use.

    Returns:
        The result; ``success`` only when every media file was delivered.

    Raises:
        FileNotFoundError, NotADirectoryError: ``directory`` is not a folder.
    """
    async with open_upload_pipeline(settings, http=http, api_base=api_base) as pipeline:
        return await pipeline.upload(
            directory, destination, progress=progress, workdir=workdir, platform=platform
        )
