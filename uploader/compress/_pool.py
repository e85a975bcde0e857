"""The compressor pool actor: N workers take jobs from a channel and send back results."""

from __future__ import annotations

from contextlib import AsyncExitStack, nullcontext, suppress
from functools import partial
from pathlib import Path

import attrs
import trio

from .._models import MediaFile
from .._settings import Settings
from ._compress import compress_with_details
from ._errors import CompressionError


@attrs.frozen
class CompressionJob:
    """A file to compress and the size every output must not exceed."""

    file: MediaFile
    target_bytes: int


@attrs.frozen
class Compressed:
    """A job that succeeded.

    Attributes:
        job: the job.
        outputs: the stand-in, or the consecutive parts of a split video.
        attempts: encodes the hardest output needed (1: it fit on the first encode).
    """

    job: CompressionJob
    outputs: tuple[MediaFile, ...]
    attempts: int


@attrs.frozen
class CompressionFailed:
    """A job that failed, with the typed error (its message names the file)."""

    job: CompressionJob
    error: CompressionError


@attrs.frozen
class CompressionProgress:
    """How far the encode of ``file`` is, 0..100."""

    file: MediaFile
    percent: float


async def run_job(
    job: CompressionJob,
    *,
    settings: Settings,
    workdir: Path,
    encoders: trio.CapacityLimiter | None = None,
    progress: trio.MemorySendChannel[CompressionProgress] | None = None,
) -> Compressed | CompressionFailed:
    """Compress one job: what each pool worker does, and what a caller outside the pool may do.

    ``encoders`` is held for the encode only, never while a result is handed on, so a caller
    waiting for it waits only for encodes that finish on their own. Progress events are dropped
    rather than waited for when ``progress`` is full (it is not closed).
    """

    def report(percent: float) -> None:
        if progress is None:
            return
        # Never let a slow listener hold up an encode: drop the event instead.
        with suppress(trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            progress.send_nowait(CompressionProgress(job.file, percent))

    try:
        async with encoders if encoders is not None else nullcontext():
            outcome = await compress_with_details(
                job.file, job.target_bytes, settings=settings, workdir=workdir, on_progress=report
            )
    except CompressionError as exc:
        return CompressionFailed(job, exc)
    return Compressed(job, outcome.outputs, outcome.attempts)


async def _worker(
    jobs: trio.MemoryReceiveChannel[CompressionJob],
    results: trio.MemorySendChannel[Compressed | CompressionFailed],
    progress: trio.MemorySendChannel[CompressionProgress] | None,
    *,
    settings: Settings,
    workdir: Path,
    encoders: trio.CapacityLimiter | None,
) -> None:
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(jobs)
        await stack.enter_async_context(results)
        if progress is not None:
            await stack.enter_async_context(progress)
        async for job in jobs:
            result = await run_job(
                job, settings=settings, workdir=workdir, encoders=encoders, progress=progress
            )
            await results.send(result)


async def run_compressor_pool(
    jobs: trio.MemoryReceiveChannel[CompressionJob],
    results: trio.MemorySendChannel[Compressed | CompressionFailed],
    *,
    settings: Settings,
    workdir: Path,
    progress: trio.MemorySendChannel[CompressionProgress] | None = None,
    encoders: trio.CapacityLimiter | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Compress every job with ``settings.compression_max_concurrent`` parallel workers.

    The pool owns ``jobs``, ``results`` and ``progress`` and closes them: ``results`` closes
    once ``jobs`` is exhausted (closed by its sender) and every worker is done. A failed job
    is reported as CompressionFailed and the pool goes on; progress events are dropped
    rather than waited for when the progress channel is full.

    Args:
        jobs: where jobs come from.
        results: where each job's Compressed or CompressionFailed goes (in completion order).
        settings: ffmpeg paths, preset, concurrency, splitting.
        workdir: where outputs are written.
        progress: optional channel for CompressionProgress events.
        encoders: a limiter shared with other pools (e.g. every request of a bot), so that
            all of them together never run more encodes than it allows.
        task_status: ``nursery.start`` support; started once the workers run.
    """
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(jobs)
        await stack.enter_async_context(results)
        if progress is not None:
            await stack.enter_async_context(progress)
        async with trio.open_nursery() as nursery:
            for _ in range(settings.compression_max_concurrent):
                worker = partial(
                    _worker, settings=settings, workdir=Path(workdir), encoders=encoders
                )
                nursery.start_soon(
                    worker,
                    jobs.clone(),
                    results.clone(),
                    progress.clone() if progress is not None else None,
                )
            task_status.started()
