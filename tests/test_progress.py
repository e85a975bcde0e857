"""Reporters: the Discord status message is throttled and ends with the summary."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import trio
from rich.console import Console

from uploader import (
    BatchSent,
    CompressionProgress,
    CompressionStarted,
    DetectionDone,
    FileCompressed,
    FileFailed,
    FileFound,
    FileOutcome,
    FileStatus,
    MediaFile,
    MediaType,
    UploadBatch,
    UploadDone,
    UploadResult,
)
from uploader.progress import DiscordStatusReporter, LineReporter, TerminalReporter

VIDEO = MediaFile(path=Path("video.mp4"), size_bytes=32 * 1024 * 1024, media_type=MediaType.VIDEO)
SMALL = MediaFile(
    path=Path("w/video.compressed.mp4"),
    size_bytes=9 * 1024 * 1024,
    media_type=MediaType.VIDEO,
    original_path=Path("video.mp4"),
)
RESULT = UploadResult(
    success=True,
    message="🎉 Upload complete: 1/1 files uploaded",
    outcomes=(FileOutcome(Path("video.mp4"), FileStatus.DELIVERED),),
)


class Texts:
    def __init__(self) -> None:
        self.log: list[tuple[float, str, str]] = []

    async def send_message(self, content: str) -> str:
        self.log.append((trio.current_time(), "send", content))
        return "m1"

    async def edit_message(self, message_id: str, content: str) -> None:
        assert message_id == "m1"
        self.log.append((trio.current_time(), "edit", content))


async def test_status_message_is_created_once_and_edited_at_most_every_two_seconds(
    autojump_clock: object,
) -> None:
    target = Texts()
    reporter = DiscordStatusReporter(target, interval=2.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reporter.run)
        reporter.handle(FileFound(VIDEO))
        reporter.handle(DetectionDone(1, VIDEO.size_bytes))
        reporter.handle(CompressionStarted(VIDEO, 10 * 1024 * 1024))
        for step in range(100):  # 100 progress events over 10 s
            reporter.handle(CompressionProgress(VIDEO, step))
            await trio.sleep(0.1)
        reporter.handle(FileCompressed(VIDEO, (SMALL,)))
        reporter.handle(BatchSent(UploadBatch(files=(SMALL,)), "42", 1))
        reporter.handle(UploadDone(RESULT))
    kinds = [kind for _, kind, _ in target.log]
    assert kinds[0] == "send" and kinds.count("send") == 1
    times = [t for t, _, _ in target.log]
    assert all(b - a >= 2.0 for a, b in itertools.pairwise(times))
    assert len(target.log) <= 7  # not one per event
    assert target.log[-1][2] == RESULT.message
    assert "Compressing video.mp4" in target.log[1][2]


async def test_a_failing_status_message_never_fails_the_run(autojump_clock: object) -> None:
    from uploader.discord import MissingPermissionsError

    class Refusing(Texts):
        async def send_message(self, content: str) -> str:
            raise MissingPermissionsError("missing permissions (50013)")

    reporter = DiscordStatusReporter(Refusing())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reporter.run)
        reporter.handle(FileFound(VIDEO))
        reporter.handle(UploadDone(RESULT))
    assert reporter.message_id is None


def test_line_reporter_writes_the_story() -> None:
    lines: list[str] = []
    r = LineReporter(lines.append)
    r.handle(FileFound(VIDEO))
    r.handle(DetectionDone(1, VIDEO.size_bytes))
    r.handle(CompressionStarted(VIDEO, 10 * 1024 * 1024))
    for p in range(0, 101, 5):
        r.handle(CompressionProgress(VIDEO, p))
    r.handle(FileCompressed(VIDEO, (SMALL,)))
    r.handle(BatchSent(UploadBatch(files=(SMALL,)), "42", 1))
    r.handle(FileFailed(Path("x.mp4"), "cannot fit"))
    r.handle(UploadDone(RESULT))
    assert lines == [
        "found 1 media file (32.0 MiB)",
        "compressing video.mp4 (32.0 MiB → at most 10.0 MiB)",
        "compressing video.mp4: 25%",
        "compressing video.mp4: 50%",
        "compressing video.mp4: 75%",
        "compressed video.mp4 → video.compressed.mp4 (9.0 MiB)",
        "sent message 1: 1 file (9.0 MiB)",
        "failed x.mp4: cannot fit",
        RESULT.message,
    ]


def test_terminal_reporter_draws_and_ends_with_the_summary() -> None:
    out = io.StringIO()
    r = TerminalReporter(Console(file=out, force_terminal=True, width=100))
    r.handle(FileFound(VIDEO))
    r.handle(DetectionDone(1, VIDEO.size_bytes))
    r.handle(CompressionStarted(VIDEO, 10 * 1024 * 1024))
    r.handle(CompressionProgress(VIDEO, 50))
    r.handle(FileCompressed(VIDEO, (SMALL,)))
    r.handle(BatchSent(UploadBatch(files=(SMALL,)), "42", 1))
    r.handle(UploadDone(RESULT))
    text = out.getvalue()
    assert "uploading" in text and "video.mp4" in text
    assert "Upload complete" in text
