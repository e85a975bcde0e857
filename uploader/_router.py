"""The size router and the hand-over of compressed stand-ins: where each found file goes.

The router sends files within the run's current per-file limit to the batcher and larger ones
to the compressor pool (telling the batcher a stand-in is pending); the hand-over passes the
pool's results on to the batcher. Both announce what happened on the run's one event channel.
"""

from __future__ import annotations

import shutil

import attrs
import trio

from ._batching import AllFound, BatcherInput, Pending, Ready, Resolved
from ._events import (
    CompressionStarted,
    DetectionDone,
    FileCompressed,
    FileFailed,
    FileFound,
    FileSkipped,
    ProgressEvent,
)
from ._ledger import Ledger
from ._models import (
    DetectorEvent,
    MediaFile,
    format_size,
)
from ._results import failure, reason_of, user_path
from ._run import Run
from .compress import Compressed, CompressionFailed, CompressionJob, FFmpegNotFoundError


def compression_event(result: Compressed | CompressionFailed) -> FileCompressed | FileFailed:
    """The event a finished compression deserves (the pool's and a recompression's alike).

    A refused part compressed on its own keeps naming the user's file as its outputs' original.
    """
    original = result.job.file
    user = user_path(original)
    if isinstance(result, Compressed):
        outputs = result.outputs
        if original.original_path is not None:
            outputs = tuple(attrs.evolve(o, original_path=user) for o in outputs)
        return FileCompressed(original, outputs)
    if isinstance(result.error, FFmpegNotFoundError):  # how to install it is said once, up front
        reason = f"not compressed: {result.error.program!r} is not installed"
        return failure(user, reason, compression=True)
    return failure(user, reason_of(result.error), compression=True)


@attrs.define
class Router:
    """The router and hand-over actors of one run.

    Attributes:
        run: the run's state (its current limit, whether it stopped).
        ledger: the run's journal: what was delivered before is not sent again, and every
            compression is recorded before its stand-ins go on.
    """

    run: Run
    ledger: Ledger = attrs.Factory(Ledger)
    _missing: list[str] | None = None

    def missing_tool(self) -> str | None:
        """The program compressing needs and cannot find (ffmpeg, ffprobe), looked up once."""
        if self._missing is None:
            s = self.run.settings
            programs = (s.compression_ffmpeg_path, s.compression_ffprobe_path)
            self._missing = [p for p in programs if shutil.which(p) is None]
        return self._missing[0] if self._missing else None

    async def route(
        self,
        detected: trio.MemoryReceiveChannel[DetectorEvent],
        batcher: trio.MemorySendChannel[BatcherInput],
        jobs: trio.MemorySendChannel[CompressionJob],
        events: trio.MemorySendChannel[ProgressEvent],
    ) -> None:
        """Files that fit go to the batcher, oversized ones to compression; owns its ends."""
        found = total = 0
        async with detected, batcher, jobs, events:
            async for event in detected:
                if not isinstance(event, MediaFile):
                    await events.send(FileSkipped(event))
                    continue
                found += 1
                total += event.size_bytes
                await events.send(FileFound(event))
                try:
                    placement = await self.ledger.place(event, self.run.file_limit_bytes)
                except OSError as exc:
                    await events.send(failure(event.path, reason_of(exc)))
                    continue
                for announced in placement.events:
                    await events.send(announced)
                if placement.send is None:
                    lowered = await self.run.settle_limit()
                    if lowered is not None:  # the server takes less than the user asked
                        await events.send(lowered)
                    await self._place(event, batcher, jobs, events)
                for ready in placement.send or ():
                    await batcher.send(Ready(ready))
            await batcher.send(AllFound())
            await events.send(DetectionDone(found, total))

    async def _place(
        self,
        file: MediaFile,
        batcher: trio.MemorySendChannel[BatcherInput],
        jobs: trio.MemorySendChannel[CompressionJob],
        events: trio.MemorySendChannel[ProgressEvent],
    ) -> None:
        if file.size_bytes <= self.run.file_limit_bytes:
            await batcher.send(Ready(file))
            return
        if self.run.stopped is not None:
            await events.send(failure(file.path, self.run.stopped, stopped=True))
            return
        missing = self.missing_tool()
        if missing is not None:  # said once up front by the command line; no encode starts
            limit = format_size(self.run.file_limit_bytes)
            reason = (
                f"too large for the {limit} limit, and {missing!r} is not installed to compress it"
            )
            await events.send(failure(file.path, reason))
            return
        target = self.run.compression_target_bytes
        await batcher.send(Pending(file.path, target))
        await events.send(CompressionStarted(file, target))
        try:
            await jobs.send(CompressionJob(file, target))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # compression was stopped because nothing more can be delivered
            reason = self.run.stopped or "not compressed"
            await events.send(failure(file.path, reason, stopped=self.run.stopped is not None))
            await batcher.send(Resolved(file.path, ()))

    async def hand_over(
        self,
        results: trio.MemoryReceiveChannel[Compressed | CompressionFailed],
        batcher: trio.MemorySendChannel[BatcherInput],
        events: trio.MemorySendChannel[ProgressEvent],
    ) -> None:
        """Compressed stand-ins go to the batcher, failures are announced; owns its ends."""
        async with results, batcher, events:
            async for result in results:
                event = compression_event(result)
                outputs = event.outputs if isinstance(event, FileCompressed) else ()
                try:
                    await self.ledger.compressed(result.job.file, outputs)  # before they go on
                except OSError as exc:  # the user's file vanished meanwhile
                    event, outputs = failure(result.job.file.path, reason_of(exc)), ()
                self.run.note_compressed(result.job.file.path, outputs)
                await events.send(event)
                await batcher.send(Resolved(result.job.file.path, outputs))
