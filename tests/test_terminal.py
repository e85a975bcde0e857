"""What a terminal shows (issue 13): literal names, intact bars, every file named, one stop line,
honest ETAs, and a restored cursor after Ctrl-C."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from uploader import (
    BatchSent,
    CompressionProgress,
    CompressionStarted,
    DetectionDone,
    FileFailed,
    FileFound,
    FileOutcome,
    FileSkipped,
    MediaFile,
    MediaType,
    RefusedPath,
    SkippedFile,
    UploadBatch,
    UploadDone,
    UploadResult,
)
from uploader.progress import TerminalReporter
from uploader.progress._terminal import shorten
from uploader.testing import Fault, open_fake_discord

MIB = 1024 * 1024
ETA = re.compile(r"\d:\d\d:\d\d|-:--:--")
BRACKETS = "[red]Holiday[green] clip [dQw4w9WgXcQ].jpg"


def reporter(width: int) -> tuple[TerminalReporter, Console]:
    console = Console(file=io.StringIO(), force_terminal=True, width=width, record=True)
    return TerminalReporter(console), console


def frame(r: TerminalReporter, width: int) -> list[str]:
    """The bars as they are drawn now, one string per row."""
    c = Console(file=io.StringIO(), width=width, record=True)
    c.print(r._progress.get_renderable())
    return c.export_text().splitlines()


def done(message: str, *outcomes: FileOutcome) -> UploadDone:
    return UploadDone(UploadResult(success=False, message=message, outcomes=outcomes))


def test_names_with_brackets_are_shown_literally() -> None:
    clip = MediaFile(Path("in") / BRACKETS, 32 * MIB, MediaType.IMAGE)
    r, console = reporter(160)
    r.handle(FileFound(clip))
    r.handle(DetectionDone(1, clip.size_bytes))
    r.handle(CompressionStarted(clip, 8 * MIB))
    assert any(BRACKETS in row for row in frame(r, 160))
    r.handle(FileFailed(clip.path, "cannot fit [at 8 MiB]"))
    r.handle(done(f"❌ {BRACKETS}: cannot fit"))
    text = console.export_text()
    assert f"failed in/{BRACKETS}: cannot fit [at 8 MiB]" in text
    assert f"❌ {BRACKETS}: cannot fit" in text


@pytest.mark.parametrize("width", [80, 120])
def test_a_long_name_leaves_every_bar_its_percentage(width: int) -> None:
    name = "A very long video title that a downloader wrote out in full " * 2
    clip = MediaFile(Path(f"{name[:100]} [dQw4w9WgXcQ].mp4"), 32 * MIB, MediaType.VIDEO)
    assert len(clip.filename) > 110
    r, _ = reporter(width)
    r.handle(FileFound(clip))
    r.handle(DetectionDone(1, clip.size_bytes))
    r.handle(CompressionStarted(clip, 8 * MIB))
    r.handle(CompressionProgress(clip, 40))
    rows = frame(r, width)
    encode = next(row for row in rows if "🗜" in row)
    assert " 40%" in encode and "━" in encode and "[dQw4w9WgXcQ].mp4" in encode
    assert all("%" in row for row in rows) and len(rows) == 3  # one line per bar


@given(st.text(min_size=0, max_size=200), st.integers(min_value=1, max_value=120))
def test_shorten_fits_and_keeps_the_end(text: str, width: int) -> None:
    short = shorten(text, width)
    assert len(short) <= max(width, 0)
    if len(text) <= width:
        assert short == text
    elif width >= 3:
        assert short[0] == text[0] and short[-1] == text[-1] and "…" in short


def test_skipped_and_refused_files_are_named_on_a_terminal() -> None:
    r, console = reporter(100)
    r.handle(FileSkipped(SkippedFile(Path("in/notes.txt"), "not media")))
    r.handle(FileSkipped(RefusedPath(Path("in/escape"), "a symlink out of the folder")))
    r.handle(done("🤷 No media files to upload"))
    text = console.export_text()
    assert "skipped in/notes.txt: not media" in text
    assert "skipped in/escape: a symlink out of the folder" in text


def test_a_run_wide_refusal_is_one_line_for_two_thousand_files() -> None:
    r, console = reporter(100)
    reason = "upload stopped: Discord refused the webhook token"
    for i in range(2000):
        r.handle(FileFound(MediaFile(Path(f"in/{i}.jpg"), 1000, MediaType.IMAGE)))
    r.handle(DetectionDone(2000, 2_000_000))
    for i in range(2000):
        r.handle(FileFailed(Path(f"in/{i}.jpg"), reason, stopped=True))
    r.handle(done("⚠️ 2000 files not sent: " + reason))
    text = console.export_text()
    assert text.count(reason) == 1  # once, in the summary (issue 13 #6, QA: said 3 times)
    assert "in/1999.jpg" not in text


def test_the_upload_eta_is_absent_while_files_are_still_being_compressed() -> None:
    clip = MediaFile(Path("big.mp4"), 32 * MIB, MediaType.VIDEO)
    photo = MediaFile(Path("a.jpg"), 2 * MIB, MediaType.IMAGE)
    r, _ = reporter(120)
    for f in (clip, photo):
        r.handle(FileFound(f))
    r.handle(DetectionDone(2, clip.size_bytes + photo.size_bytes))
    r.handle(CompressionStarted(clip, 8 * MIB))
    r.handle(BatchSent(UploadBatch((photo,)), "1", 1))
    upload = next(row for row in frame(r, 120) if "uploading" in row)
    assert not ETA.search(upload)  # no 0:00:02 while the encode runs
    r.handle(CompressionProgress(clip, 100))
    upload = next(row for row in frame(r, 120) if "uploading" in row)
    assert ETA.search(upload)


# --- a real terminal: Ctrl-C -----------------------------------------------------------------


def _read_until(fd: int, seen: bytearray, needle: bytes, deadline: float) -> None:
    while needle not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {needle!r} in {bytes(seen)!r}")
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            seen += chunk


async def test_ctrl_c_restores_the_cursor_and_ends_the_bars_first(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(os.urandom(5000))
    async with open_fake_discord() as fake:
        fake.inject(Fault("slow", route="execute_webhook", delay=60))
        env = {**os.environ, "DISCORD_WEBHOOK_URL": fake.create_webhook(), "COLUMNS": "100"}
        env |= {"TERM": "xterm-256color", "UPLOAD_ENABLE_PROGRESS_UPDATES": "false"}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "uploader", "send", str(folder)],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
        )
        os.close(follower)
        seen = bytearray()
        try:
            await trio.to_thread.run_sync(
                _read_until, leader, seen, b"uploading", time.monotonic() + 30
            )
            await trio.sleep(0.5)  # a few renders of the live bars
            process.send_signal(signal.SIGINT)
            await trio.to_thread.run_sync(_read_until, leader, seen, b"\0", time.monotonic() + 30)
            code = await trio.to_thread.run_sync(process.wait)
        finally:
            os.close(leader)
            if process.poll() is None:
                process.kill()
    out = bytes(seen)
    assert code == 130, out
    assert b"\x1b[?25l" in out  # the bars hid the cursor ...
    assert out.rindex(b"\x1b[?25h") > out.rindex(b"\x1b[?25l")  # ... and it is back
    after = out[out.rindex(b"\x1b[?25h") :]
    assert b"interrupted" in after  # said once the bars are gone, not between two renders
    before = out[: out.index(b"uploader send: interrupted")]
    assert before.removesuffix(b"\x1b[?25h").endswith(b"\n")  # on its own line
    assert b"Traceback" not in out


async def test_a_warning_logged_while_the_bars_are_live_is_printed_above_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    r, console = reporter(100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(r.run)
        await trio.testing.wait_all_tasks_blocked()
        r.handle(FileFound(MediaFile(Path("in/a.jpg"), 1000, MediaType.IMAGE)))  # bars live
        logging.getLogger("uploader").warning("status message given up: Discord is down")
        r.handle(done("🎉 Upload complete: 1/1 files uploaded"))
    logging.getLogger("uploader").warning("after the bars")
    assert "uploader: status message given up: Discord is down" in console.export_text()
    assert "status message given up" not in capsys.readouterr().err  # not across the bars
    assert "after the bars" not in console.export_text()


def test_bars_name_files_by_their_path_in_the_folder_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 13 #3: the label was the absolute path cut in the middle, so two clips of one name
    # in different folders looked alike; named from the folder sent, they keep apart.
    from uploader.cli._common import progress_reporter

    root = Path("/home/someone/Downloads/a rather long folder name/with more inside it")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    r = progress_reporter(False, summary=False, root=root)
    assert isinstance(r, TerminalReporter)
    for folder in ("trip", "party"):
        clip = MediaFile(root / folder / "clip.mp4", 32 * MIB, MediaType.VIDEO)
        r.handle(CompressionStarted(clip, 10 * MIB))
    rows = frame(r, 80)
    assert any("🗜️ trip/clip.mp4 " in row for row in rows), rows
    assert any("🗜️ party/clip.mp4 " in row for row in rows), rows
    r.stop()
