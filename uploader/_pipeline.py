"""The upload pipeline: one nursery from folder to channel, wiring the actors together.

detector → router → (files that fit → batcher | oversized → compressor pool → hand-over →
batcher) → uploader, over memory channels with small buffers, so a slow stage slows its
producer instead of piling files up in memory. Each actor owns the channel ends it closes.

The actors share one `Run` (limit, stop reason, counters) and announce everything on one event
channel; a fan-out hands each event to the `Collector` and then to the reporters. The result is
built once that channel is drained, and `UploadDone` is the reporters' last event. The actors
live in their own modules (`_detect`, `_router`, `_batching`, `compress`, `_uploader`).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import attrs
import httpx
import trio

from ._batching import BatcherInput, run_batcher
from ._destination import Destination, DiscordDestination
from ._detect import check_directory, run_detector
from ._errors import UploaderError, single_error
from ._events import JournalNotice, ProgressEvent, UploadDone
from ._ledger import Ledger, open_ledger
from ._media_check import run_media_check
from ._models import (
    DetectorEvent,
    FileOutcome,
    FileStatus,
    UploadBatch,
    UploadResult,
)
from ._results import Collector
from ._router import Router
from ._run import Run
from ._settings import Settings
from ._uploader import Uploader
from .compress import Compressed, CompressionFailed, CompressionJob, run_compressor_pool
from .discord import Channel, DiscordClient, Webhook, open_discord_client
from .progress import DiscordStatusReporter, ProgressArg, Reporter, as_reporters

BATCHER_BUFFER = 64
"""Files (descriptors, not bytes) the batcher's inbox holds while it waits for the uploader."""


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
        resume: bool | None = None,
        fresh: bool = False,
        resend_uncertain: bool | None = None,
    ) -> UploadResult:
        """Deliver every media file under ``directory`` (see `upload_directory`)."""
        directory = Path(directory)
        await trio.to_thread.run_sync(check_directory, directory)
        settings = self.settings
        if resend_uncertain is not None:
            settings = attrs.evolve(settings, upload_resend_uncertain=resend_uncertain)
        target = self.destination(destination)
        if workdir is not None and _inside(Path(workdir), directory):
            # its stand-ins would be found and sent again on the next run
            raise UploaderError(f"{workdir}: the working folder must not be inside {directory}")
        journal_dir = settings.upload_journal_dir
        async with open_ledger(
            directory,
            target,
            resume=settings.upload_resume if resume is None else resume,
            fresh=fresh,
            journal_dir=None if journal_dir is None else Path(journal_dir),
            resend_uncertain=settings.upload_resend_uncertain,
        ) as ledger:
            return await self._upload_with(
                directory, destination, target, settings, ledger, progress, workdir, platform
            )

    async def _upload_with(
        self,
        directory: Path,
        destination: Webhook | Channel | Destination,
        target: Destination,
        settings: Settings,
        ledger: Ledger,
        progress: ProgressArg,
        workdir: Path | None,
        platform: str,
    ) -> UploadResult:
        own_workdir = workdir is None
        # With a journal, the working folder is stable (beside the journal), so stand-ins made
        # before a crash or Ctrl-C are reused by the next run; it goes after full success.
        stable = None if ledger.journal is None else ledger.journal.path.with_suffix(".work")
        if workdir is None and stable is None:
            workdir = Path(await trio.to_thread.run_sync(tempfile.mkdtemp, None, "uploader-"))
        else:
            workdir = workdir or stable
            assert workdir is not None
            await trio.Path(workdir).mkdir(mode=0o700, parents=True, exist_ok=True)
        reporters = as_reporters(progress)
        if settings.upload_enable_progress_updates:
            reporters.append(DiscordStatusReporter(target))
        # The limit is asked for when the first file needs routing: a run that finds every
        # file delivered already sends no request at all.
        run = Run(settings, limit_source=lambda: self._upload_limit(destination, target))
        try:
            return await self._upload(
                directory, target, run, workdir, own_workdir, reporters, platform, ledger
            )
        except BaseException:
            # Cancelled or crashed: nobody will learn where our temporary folder is, so it goes.
            # (A caller's own workdir is left as it is, and so is a journal's: the next run
            # reuses its stand-ins; partial encodes never outlive ffmpeg.)
            if own_workdir and workdir != stable:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(shutil.rmtree, workdir, True)
            raise

    async def _upload(
        self,
        directory: Path,
        target: Destination,
        run: Run,
        workdir: Path,
        own_workdir: bool,
        reporters: list[Reporter],
        platform: str,
        ledger: Ledger,
    ) -> UploadResult:
        collector = Collector(root=directory)
        with single_error():
            async with trio.open_nursery() as outer:
                for reporter in reporters:
                    outer.start_soon(reporter.run)
                sinks = [collector.take, *(r.handle for r in reporters)]
                async with trio.open_nursery() as stream:
                    events_send, events_recv = trio.open_memory_channel[ProgressEvent](256)
                    stream.start_soon(_fan_out, events_recv, sinks)
                    async with events_send:
                        await self._run_stages(
                            directory, target, run, workdir, platform, events_send, ledger
                        )
                # every event was taken: the result is complete
                result = collector.result(
                    stopped=run.stopped,
                    workdir=workdir,
                    platform=platform,
                    batches=run.messages_sent,
                    seconds=trio.current_time() - run.started,
                    upload_seconds=run.upload_seconds,
                    file_limit_bytes=run.file_limit_bytes,
                )
                if ledger.journal is not None:
                    journal = str(ledger.journal.path)
                    result = attrs.evolve(result, metadata={**result.metadata, "journal": journal})
                result = await self._cleanup(
                    result, directory, own_workdir, collector.delivered_stand_ins()
                )
                for reporter in reporters:
                    reporter.handle(UploadDone(result))
        return result

    async def _run_stages(
        self,
        directory: Path,
        target: Destination,
        run: Run,
        workdir: Path,
        platform: str,
        events: trio.MemorySendChannel[ProgressEvent],
        ledger: Ledger,
    ) -> None:
        """Wire the actors; each owns (and closes) the channel ends it is given.

        Batches an earlier run left uncertain are sent again first (with their nonces), so
        the router's questions to the journal meet them settled.
        """
        s = run.settings
        router = Router(run, ledger)
        uploader = Uploader(target, run, workdir, platform, events.clone(), self._encoders, ledger)
        if ledger.journal is not None and ledger.journal.warning is not None:
            await events.send(JournalNotice(str(ledger.journal.warning)))
        await uploader.resend_earlier()
        detected_send, detected_recv = trio.open_memory_channel[DetectorEvent](1)
        checked_send, checked_recv = trio.open_memory_channel[DetectorEvent](1)
        # Descriptors again: a few messages' worth lets detection finish while the uploader
        # is busy, and still stops the detector soon when the uploader stalls.
        batcher_send, batcher_recv = trio.open_memory_channel[BatcherInput](BATCHER_BUFFER)
        # Jobs are descriptors (a path and a size), never bytes: queueing them all lets the
        # detector finish while encoders are busy, so the batcher learns early that every file
        # was found. Backpressure on bytes stays where it matters: batcher and uploader.
        jobs_send, jobs_recv = trio.open_memory_channel[CompressionJob](math.inf)
        results_send, results_recv = trio.open_memory_channel[Compressed | CompressionFailed](0)
        batches_send, batches_recv = trio.open_memory_channel[UploadBatch](0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(uploader.deliver_all, batches_recv)
            nursery.start_soon(
                lambda: run_batcher(
                    batcher_recv,
                    batches_send,
                    max_files=s.upload_max_files_per_batch,
                    max_bytes=s.batch_max_bytes,
                    linger=s.upload_linger_seconds,
                )
            )
            nursery.start_soon(router.route, checked_recv, batcher_send, jobs_send, events.clone())
            nursery.start_soon(run_media_check, detected_recv, checked_send, events.clone(), s)
            nursery.start_soon(run_detector, directory, detected_send)
            hand_over_events, pool_events = events.clone(), events.clone()
            with run.compression:
                async with trio.open_nursery() as compression:
                    compression.start_soon(
                        router.hand_over, results_recv, batcher_send.clone(), hand_over_events
                    )
                    compression.start_soon(
                        lambda: run_compressor_pool(
                            jobs_recv,
                            results_send,
                            settings=s,
                            workdir=workdir,
                            progress=pool_events,
                            encoders=self._encoders,
                        )
                    )
            # if compression was cancelled (the run cannot deliver), close what it owned
            for end in (results_send, results_recv, jobs_recv, hand_over_events, pool_events):
                end.close()

    async def _cleanup(
        self, result: UploadResult, directory: Path, own_workdir: bool, sent: Sequence[Path]
    ) -> UploadResult:
        """Remove what may be removed: never a file that was not verified delivered.

        ``sent`` are the stand-ins Discord confirmed: after a failure the working folder keeps
        only what was not delivered.
        """
        workdir = result.workdir
        if workdir is None:
            return result
        if not result.success:
            for stand_in in sent:
                if _inside(stand_in, workdir):
                    await trio.Path(stand_in).unlink(missing_ok=True)
            # Kept for inspection, unless there is nothing in it to inspect.
            if own_workdir and not any(await trio.Path(workdir).iterdir()):
                await trio.Path(workdir).rmdir()
                return attrs.evolve(result, workdir=None)
            return result
        if own_workdir or self.settings.upload_cleanup_after_success:
            await trio.to_thread.run_sync(shutil.rmtree, workdir, True)
            workdir = None
        removed: tuple[Path, ...] = ()
        if self.settings.upload_cleanup_after_success:
            removed = await trio.to_thread.run_sync(_remove_delivered, directory, result.outcomes)
        return attrs.evolve(result, workdir=workdir, removed=removed)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _remove_delivered(directory: Path, outcomes: Sequence[FileOutcome]) -> tuple[Path, ...]:
    """Delete delivered files, then each folder that our deletions left empty, up to and
    including the request directory. A folder that was empty before, or still holds anything,
    is not ours to remove.

    Returns the files deleted.
    """
    removed = []
    for o in outcomes:
        if o.status is FileStatus.DELIVERED:
            with suppress(FileNotFoundError):
                o.path.unlink()
                removed.append(o.path)
    emptied = {p for f in removed for p in f.parents if p == directory or directory in p.parents}
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        with suppress(OSError):
            folder.rmdir()  # only succeeds when empty
    return tuple(removed)


async def _fan_out(
    events: trio.MemoryReceiveChannel[ProgressEvent],
    sinks: Sequence[Callable[[ProgressEvent], object]],
) -> None:
    """Every event to every consumer, in order: the collector first, then the reporters."""
    async with events:
        async for event in events:
            for sink in sinks:
                sink(event)


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
    resume: bool | None = None,
    fresh: bool = False,
    resend_uncertain: bool | None = None,
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
        workdir: where compressed files go (created 0700); by default a folder beside the
            run's journal (``<journal>.work``, kept until full success so a later run reuses
            its stand-ins), or a fresh temporary folder without a journal. After any failure
            nothing is removed and ``result.workdir`` says where the files are.
        platform: a label for the messages ("🎯 <platform> media files:").
        api_base: overrides the settings' API base (e.g. the loopback Discord's).
        http: an ``httpx.AsyncClient`` to use.
        resume: keep a delivery journal for this folder and destination and send only what
            it does not show delivered (``UPLOAD_RESUME``, on by default); uncertain bot
            batches of an earlier run are sent again with their nonce, so never twice. The
            journal lives in ``UPLOAD_JOURNAL_DIR`` (default ``$XDG_STATE_HOME/uploader/
            journals``) and holds no token and no webhook URL. A custom `Destination` has
            no journal.
        fresh: ignore the journal (it is kept as ``<name>.previous.jsonl``) and start anew.
        resend_uncertain: post a webhook batch once more when its answer was lost, in this
            run and for an earlier run's uncertain batches (``UPLOAD_RESEND_UNCERTAIN``): a
            possible duplicate instead of a possible gap.

    Returns:
        The result; ``success`` only when every media file was delivered.

    Raises:
        FileNotFoundError, NotADirectoryError: ``directory`` is not a folder.
    """
    async with open_upload_pipeline(settings, http=http, api_base=api_base) as pipeline:
        return await pipeline.upload(
            directory,
            destination,
            progress=progress,
            workdir=workdir,
            platform=platform,
            resume=resume,
            fresh=fresh,
            resend_uncertain=resend_uncertain,
        )
