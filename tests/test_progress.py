"""Reporters: the Discord status message is throttled and ends with the summary."""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

import pytest
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
    FileSkipped,
    FileStatus,
    MediaFile,
    MediaType,
    SkippedFile,
    UnreadablePath,
    UploadBatch,
    UploadDone,
    UploadResult,
    upload_directory,
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


A_CLIP = MediaFile(Path("a/clip.mp4"), 32 * 1024 * 1024, MediaType.VIDEO)
B_CLIP = MediaFile(Path("b/clip.mp4"), 16 * 1024 * 1024, MediaType.VIDEO)


def stand_in(original: MediaFile) -> MediaFile:
    out = Path(f"w/{original.path.parent.name}.clip.compressed.mp4")
    return MediaFile(out, 1024, MediaType.VIDEO, original_path=original.path)


def test_same_names_in_two_folders_get_a_bar_each() -> None:
    r = TerminalReporter(Console(file=io.StringIO(), force_terminal=True, width=100))
    for clip in (A_CLIP, B_CLIP):
        r.handle(CompressionStarted(clip, 10 * 1024 * 1024))
    r.handle(CompressionProgress(A_CLIP, 30))
    r.handle(CompressionProgress(B_CLIP, 60))
    assert len(r._progress.tasks) == 4  # detecting, uploading, and one bar per clip
    assert sorted(t.completed for t in r._progress.tasks[2:]) == [30, 60]
    for clip in (A_CLIP, B_CLIP):
        r.handle(FileCompressed(clip, (stand_in(clip),)))
    assert [t.completed for t in r._progress.tasks[2:]] == [100, 100]


def test_same_names_in_two_folders_get_a_status_line_each() -> None:
    r = DiscordStatusReporter(Texts())
    for clip in (A_CLIP, B_CLIP):
        r.handle(CompressionStarted(clip, 10 * 1024 * 1024))
    r.handle(CompressionProgress(A_CLIP, 30))
    r.handle(CompressionProgress(B_CLIP, 60))
    lines = [line for line in r.render().splitlines() if "Compressing clip.mp4" in line]
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["30%", "60%"]
    r.handle(FileCompressed(A_CLIP, (stand_in(A_CLIP),)))
    assert [line for line in r.render().splitlines() if "Compressing" in line] == [lines[1]]


def test_same_names_in_two_folders_get_their_quarters_each() -> None:
    lines: list[str] = []
    r = LineReporter(lines.append)
    r.handle(DetectionDone(2, A_CLIP.size_bytes + B_CLIP.size_bytes))
    for percent in (30, 55):
        r.handle(CompressionProgress(A_CLIP, percent))
        r.handle(CompressionProgress(B_CLIP, percent))
    # each named with its folder (issue 13 #10), so the two are told apart
    assert lines[1:] == [
        "compressing a/clip.mp4: 25%",
        "compressing b/clip.mp4: 25%",
        "compressing a/clip.mp4: 50%",
        "compressing b/clip.mp4: 50%",
    ]


def test_an_unreadable_path_is_shown_as_failed_and_a_skipped_one_as_skipped() -> None:
    # Changed on purpose (issue 13 #4): skipped files are named too, each by its path.
    lines: list[str] = []
    r = LineReporter(lines.append)
    r.handle(FileSkipped(UnreadablePath(Path("in/locked.mp4"), "permission denied")))
    r.handle(FileSkipped(SkippedFile(Path("in/notes.txt"), "not media")))
    assert lines == ["failed in/locked.mp4: permission denied", "skipped in/notes.txt: not media"]
    status = DiscordStatusReporter(Texts())
    status.handle(FileSkipped(UnreadablePath(Path("in/locked.mp4"), "permission denied")))
    assert "❌ locked.mp4: permission denied" in status.render()


async def test_two_clips_of_the_same_name_both_reach_100_through_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    from tests._encoder import FakeEncoder
    from tests._memory import MemoryDestination, small_settings

    FakeEncoder().install(monkeypatch)
    for folder in ("a", "b"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        (tmp_path / "in" / folder / "clip.mp4").write_bytes(os.urandom(300 * 1024))
    r = TerminalReporter(Console(file=io.StringIO(), force_terminal=True, width=100))
    result = await upload_directory(
        tmp_path / "in", MemoryDestination(), settings=small_settings(tmp_path), progress=r
    )
    assert result.success, result.message
    encodes = [t for t in r._progress.tasks if "clip.mp4" in t.description]
    assert [t.completed for t in encodes] == [100, 100]


def test_a_stated_lower_limit_is_said_as_the_servers() -> None:
    from uploader import LimitLowered

    lines: list[str] = []
    r = LineReporter(lines.append)
    r.handle(DetectionDone(0, 0))
    r.handle(LimitLowered(8 * 1024 * 1024, 10 * 1024 * 1024, stated=True))
    assert lines[1:] == [
        "this server takes files up to 8.0 MiB, not 10.0 MiB: larger files are compressed to fit"
    ]


def test_a_guessed_lower_limit_is_said_once() -> None:
    from uploader import LimitLowered

    lines: list[str] = []
    r = LineReporter(lines.append)
    r.handle(DetectionDone(0, 0))
    r.handle(LimitLowered(25 * 1024 * 1024, 100 * 1024 * 1024))
    r.handle(LimitLowered(10 * 1024 * 1024, 25 * 1024 * 1024))
    assert len(lines[1:]) == 1, lines


def test_piped_lines_start_with_what_was_found() -> None:
    lines: list[str] = []
    r = LineReporter(lines.append)
    r.handle(FileFound(VIDEO))
    r.handle(CompressionStarted(VIDEO, 10 * 1024 * 1024))  # the router is faster than the walk
    r.handle(CompressionProgress(VIDEO, 30))
    r.handle(DetectionDone(1, VIDEO.size_bytes))
    assert lines == [
        "found 1 media file (32.0 MiB)",
        "compressing video.mp4 (32.0 MiB → at most 10.0 MiB)",
        "compressing video.mp4: 25%",
    ]


async def test_a_refused_status_message_is_given_up_after_one_warning(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    # issue 13 #6: a wrong token is not repeated once per edit on stderr
    from uploader.discord import MissingPermissionsError

    class Refusing(Texts):
        async def send_message(self, content: str) -> str:
            raise MissingPermissionsError("Discord refused the webhook token")

    caplog.set_level("DEBUG", logger="uploader")  # a run-wide refusal is said by the summary
    reporter = DiscordStatusReporter(Refusing(), interval=0.1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reporter.run)
        for _ in range(50):
            reporter.handle(FileFound(VIDEO))
            await trio.sleep(0.2)
        reporter.handle(UploadDone(RESULT))
    warnings = [r for r in caplog.records if "status message" in r.getMessage()]
    assert len(warnings) == 1


def test_the_status_counts_one_file_and_one_message_in_the_singular() -> None:
    r = DiscordStatusReporter(Texts())
    r.handle(FileFound(SMALL))
    r.handle(BatchSent(UploadBatch(files=(SMALL,)), "42", 1))
    assert "📎 Uploaded 1 file in 1 message" in r.render().splitlines()


class SlowFirstPost(Texts):
    """The first post answers only when ``answer`` is set (or never)."""

    def __init__(self) -> None:
        super().__init__()
        self.posting = trio.Event()
        self.answer = trio.Event()

    async def send_message(self, content: str) -> str:
        self.posting.set()
        await self.answer.wait()
        return await super().send_message(content)


async def _cancel_during_first_post(target: SlowFirstPost, answer_after: float | None) -> float:
    """Runs a reporter, cancels it while its first post is in flight, answers that post
    ``answer_after`` seconds later (None: never); returns how long the cancel took."""
    reporter = DiscordStatusReporter(target)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reporter.run)
        reporter.handle(FileFound(VIDEO))
        await target.posting.wait()
        cancelled_at = trio.current_time()
        nursery.cancel_scope.cancel()
        if answer_after is not None:
            with trio.CancelScope(shield=True):
                await trio.sleep(answer_after)
                target.answer.set()
    return trio.current_time() - cancelled_at


async def test_a_run_cancelled_during_its_first_post_still_marks_the_message_stopped(
    autojump_clock: object,
) -> None:
    """A cancel (Ctrl-C, bot shutdown) landing while the status message is first posted used
    to abandon the post: the message could appear with no id to edit, showing progress that
    would never go on."""
    target = SlowFirstPost()
    took = await _cancel_during_first_post(target, answer_after=1.0)
    assert [kind for _, kind, _ in target.log] == ["send", "edit"]
    assert target.log[-1][2].startswith("⏹️ Stopped: 0/1 files uploaded")
    assert took == pytest.approx(1.0)


async def test_a_first_post_that_never_answers_holds_a_cancel_only_briefly(
    autojump_clock: object,
) -> None:
    from uploader.progress._status import STOPPED_EDIT_TIMEOUT

    target = SlowFirstPost()
    took = await _cancel_during_first_post(target, answer_after=None)
    assert target.log == []
    assert took == pytest.approx(STOPPED_EDIT_TIMEOUT)
