"""The upload pipeline: one nursery from folder to channel, wiring the actors together.

detector → router → (files that fit → batcher | oversized → compressor pool → batcher)
→ uploader → collector, over memory channels with small buffers, so a slow stage slows its
producer instead of piling files up in memory. Each actor owns the channel ends it closes.
Progress events go to the reporters on their own channel. The router and the hand-over of
compressed stand-ins live here; the other actors have modules of their own (`_detect`,
`_batching`, `compress`, `_uploader`, `_results`).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import attrs
import httpx
import trio

from ._batching import AllFound, BatcherInput, Pending, Ready, Resolved, run_batcher
from ._destination import Destination, DiscordDestination
from ._detect import check_directory, run_detector
from ._errors import UploaderError, single_error
from ._limits import DEFAULT_FILE_LIMIT
from ._models import (
    CompressionStarted,
    DetectionDone,
    DetectorEvent,
    FileCompressed,
    FileFound,
    FileOutcome,
    FileStatus,
    MediaFile,
    UploadBatch,
    UploadDone,
    UploadResult,
)
from ._results import Collector, Failed, Found, Issue, Report, StoodIn, reason_of
from ._settings import Settings
from ._uploader import Uploader
from .compress import Compressed, CompressionFailed, CompressionJob, run_compressor_pool
from .discord import Channel, DiscordClient, Webhook, open_discord_client
from .progress import ProgressArg, ProgressEvent, Reporter, as_reporters

BATCHER_BUFFER = 64
"""Files (descriptors, not bytes) the batcher's inbox holds while it waits for the uploader."""


@attrs.define
class _Router:
    """The size router and the hand-over of compressed stand-ins, for one run."""

    settings: Settings
    progress: trio.MemorySendChannel[ProgressEvent]
    uploader: Uploader

    async def route(
        self,
        detected: trio.MemoryReceiveChannel[DetectorEvent],
        batcher: trio.MemorySendChannel[BatcherInput],
        jobs: trio.MemorySendChannel[CompressionJob],
        reports: trio.MemorySendChannel[Report],
    ) -> None:
        """Files that fit go to the batcher, oversized ones to compression; owns its ends."""
        limit = self.settings.file_limit_bytes
        target = self.settings.compression_target_bytes
        found = total = 0
        async with detected, batcher, jobs, reports:
            async for event in detected:
                if not isinstance(event, MediaFile):
                    await reports.send(Issue(event))
                    continue
                found += 1
                total += event.size_bytes
                await reports.send(Found(event))
                await self.progress.send(FileFound(event))
                if event.size_bytes <= limit:
                    await batcher.send(Ready(event))
                elif self.uploader.fatal is not None:
                    await reports.send(Failed(event.path, self.uploader.fatal))
                else:
                    await batcher.send(Pending(event.path, target))
                    await self.progress.send(CompressionStarted(event, target))
                    try:
                        await jobs.send(CompressionJob(event, target))
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        # compression was stopped because nothing more can be delivered
                        stopped = self.uploader.fatal or "not compressed"
                        await reports.send(Failed(event.path, stopped))
                        await batcher.send(Resolved(event.path, ()))
            await batcher.send(AllFound())
            await self.progress.send(DetectionDone(found, total))

    async def hand_over(
        self,
        results: trio.MemoryReceiveChannel[Compressed | CompressionFailed],
        batcher: trio.MemorySendChannel[BatcherInput],
        reports: trio.MemorySendChannel[Report],
    ) -> None:
        """Compressed stand-ins go to the batcher, failures to the collector; owns its ends."""
        async with results, batcher, reports:
            async for result in results:
                original = result.job.file
                if isinstance(result, Compressed):
                    await reports.send(StoodIn(original, result.outputs))
                    await self.progress.send(FileCompressed(original, result.outputs))
                    await batcher.send(Resolved(original.path, result.outputs))
                else:
                    failure = Failed(original.path, reason_of(result.error), compression=True)
                    await reports.send(failure)
                    await batcher.send(Resolved(original.path, ()))


async def _collect(
    reports: trio.MemoryReceiveChannel[Report],
    collector: Collector,
    progress: trio.MemorySendChannel[ProgressEvent],
) -> None:
    """The collector actor: every report into the Collector, failures out as events."""
    async with reports, progress:
        async for item in reports:
            event = collector.take(item)
            if event is not None:
                await progress.send(event)


class UploadPipeline:
    """A long-lived uploader for a bot: one HTTP client and rate limiter for every request.

    Open it with `open_upload_pipeline` or ``await nursery.start(run_upload_pipeline, ...)``,
    then call `upload` for each request (concurrently if you like).
    """

    def __init__(self, client: DiscordClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._limits: dict[Webhook | Channel, int | None] = {}
        # every request's encodes together stay within COMPRESSION_MAX_CONCURRENT
        self._encoders = trio.CapacityLimiter(settings.compression_max_concurrent)

    async def _upload_limit(
        self, key: Webhook | Channel | Destination, target: Destination
    ) -> int | None:
        """The destination's upload limit, asked once per channel for the pipeline's life."""
        if not isinstance(key, Webhook | Channel):
            try:
                return await target.upload_limit()
            except UploaderError:
                return None
        if key not in self._limits:
            try:
                self._limits[key] = await target.upload_limit()
            except UploaderError:
                return None  # unknown this time; ask again next time
        limit = self._limits[key]
        return limit

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
        if workdir is not None and _inside(Path(workdir), directory):
            # its stand-ins would be found and sent again on the next run
            raise UploaderError(f"{workdir}: the working folder must not be inside {directory}")
        if workdir is None:
            workdir = Path(await trio.to_thread.run_sync(tempfile.mkdtemp, None, "uploader-"))
        else:
            await trio.Path(workdir).mkdir(mode=0o700, parents=True, exist_ok=True)
        learnt = await self._upload_limit(destination, target)
        if learnt is not None and learnt > max(settings.file_limit_bytes, DEFAULT_FILE_LIMIT):
            # A boosted server allows more than the default: no need to compress for less.
            # (A lower limit the user chose on purpose is kept.)
            settings = settings.with_file_limit_bytes(learnt)
        reporters = as_reporters(progress)
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
        with single_error():
            async with trio.open_nursery() as outer:
                events_send, events_recv = trio.open_memory_channel[ProgressEvent](256)
                for reporter in reporters:
                    outer.start_soon(reporter.run)
                outer.start_soon(_fan_out, events_recv, reporters)
                async with events_send:
                    uploader = Uploader(
                        target,
                        settings,
                        workdir,
                        platform,
                        events_send,
                        trio.CancelScope(),
                        encoders=self._encoders,
                    )
                    collector = await self._run_stages(directory, uploader)
                    result = collector.result(
                        stopped=uploader.fatal,
                        workdir=workdir,
                        platform=platform,
                        batches=uploader.messages_sent,
                        seconds=trio.current_time() - started,
                        upload_seconds=uploader.upload_seconds,
                        file_limit_bytes=uploader.settings.file_limit_bytes,
                    )
                    result = await self._cleanup(result, directory, own_workdir)
                    await events_send.send(UploadDone(result))
        return result

    async def _run_stages(self, directory: Path, uploader: Uploader) -> Collector:
        s = uploader.settings
        progress = uploader.progress
        router = _Router(s, progress, uploader)
        collector = Collector()
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
        reports_send, reports_recv = trio.open_memory_channel[Report](16)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_collect, reports_recv, collector, progress.clone())
            nursery.start_soon(uploader.run, batches_recv, reports_send.clone())
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
                router.route, detected_recv, batcher_send, jobs_send, reports_send.clone()
            )
            nursery.start_soon(run_detector, directory, detected_send, s)
            with uploader.compression:
                async with trio.open_nursery() as compression:
                    compression.start_soon(
                        router.hand_over, results_recv, batcher_send.clone(), reports_send
                    )
                    compression.start_soon(
                        lambda: run_compressor_pool(
                            jobs_recv,
                            results_send,
                            settings=s,
                            workdir=uploader.workdir,
                            progress=progress.clone(),
                            encoders=self._encoders,
                        )
                    )
            # if compression was cancelled (the run cannot deliver), close what it owned
            for end in (results_send, results_recv, jobs_recv, reports_send):
                end.close()
        return collector

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


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


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
