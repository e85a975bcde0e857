"""A bad-input corpus, runs: many files, a folder vanishing, a full disk, no ffmpeg, a journal.

Each run still names what it could not send on one line, delivers the rest, exits as it should
and leaves the user's folder as it was.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._files import write_data
from tests._media import make_video
from tests.badinput._harness import SLOW, good_files, needs_ffmpeg, send, snapshot
from tests.test_send_cli import fake_discord as fake_thread
from uploader import Channel, Webhook
from uploader._detect import _Walk
from uploader.cli import main
from uploader.compress._workspace import Workspace
from uploader.journal import JournalMismatchError, destination_key, journal_name, open_journal

# --- many files ----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1000, pytest.param(10_000, marks=SLOW)], ids=["1000", "10000"])
def test_many_tiny_files_all_arrive_in_few_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], count: int
) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    expected = Counter(
        write_data(folder / f"{i:05}.jpg", i.to_bytes(4, "big") + b"x") for i in range(count)
    )
    started = time.monotonic()
    run = send(folder, capsys, webhook_limit=None, global_limit=None)  # our own pace only
    took = time.monotonic() - started
    run.assert_clean()
    assert (run.code, run.recorded) == (0, expected), run.out[:2000] + run.err[-2000:]
    assert run.messages <= count // 10
    assert took < count / 20, f"{count} files took {took:.1f} s"


# --- the world changing under the run ---------------------------------------------------------


def test_a_folder_removed_during_the_walk_is_named_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "media"
    good = good_files(folder)
    gone = folder / "gone"
    good_files(gone, 2)
    listed = _Walk.list_dir

    def vanishing(walk: _Walk, item: object) -> object:
        if getattr(item, "path", None) == gone:
            shutil.rmtree(gone)
        return listed(walk, item)  # type: ignore[arg-type]

    monkeypatch.setattr(_Walk, "list_dir", vanishing)
    run = send(folder, capsys)
    run.assert_clean()
    assert run.recorded == good
    named = run.lines_naming(str(gone))
    assert len(named) == 1 and "no such file or directory" in named[0], run.out + run.err
    assert run.code == 1  # what was in it is not known: the run cannot say all was sent


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, mounted for the test (skipped where mounting is not allowed)."""
    where = tmp_path / "tiny"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def big_video(folder: Path) -> Path:
    return make_video(folder / "big.mp4", 1.5, 320, 240, video_kbps=3000)


def too_big_to_send(
    big: Path, good: Counter[str], capsys: pytest.CaptureFixture[str], workdir: Path, reason: str
) -> None:
    """``big`` (over a 0.25 MiB limit) beside ``good`` files: it is named with ``reason``."""
    folder = big.parent
    before = snapshot(folder)
    run = send(folder, capsys, "--limit-mb", "0.25", "--workdir", str(workdir))
    run.assert_clean()
    assert run.recorded == good, run.out + run.err
    named = run.lines_naming(big.name)
    assert len(named) == 1 and reason in named[0].lower(), run.out + run.err
    assert run.code == 1
    assert snapshot(folder) == before


@needs_ffmpeg
def test_a_full_disk_while_compressing_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_disk: Path
) -> None:
    folder = tmp_path / "media"
    good = good_files(folder)
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * (200 * 1024))  # leaves about 56 KiB
    too_big_to_send(big_video(folder), good, capsys, tiny_disk / "work", "no space left on device")


@needs_ffmpeg
def test_without_ffmpeg_the_video_to_compress_is_named_and_the_rest_arrives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "media"
    good = good_files(folder)
    big = big_video(folder)
    small = make_video(folder / "small.mp4", 1, 160, 120, video_kbps=100)
    good[hashlib.sha256(small.read_bytes()).hexdigest()] += 1
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    too_big_to_send(big, good, capsys, tmp_path / "work", "is not installed")


# --- a journal from another folder ------------------------------------------------------------


async def test_a_journal_from_another_folder_is_refused(tmp_path: Path) -> None:
    ours, theirs, journals = tmp_path / "ours", tmp_path / "theirs", tmp_path / "journals"
    ours.mkdir()
    theirs.mkdir()
    key = destination_key(Channel(456, "SECRET-token"))
    async with open_journal(theirs, key, directory=journals) as journal:
        written = journal.path
    mine = journals / journal_name(ours.resolve(), key)
    mine.write_bytes(written.read_bytes())
    with pytest.raises(JournalMismatchError) as caught:
        async with open_journal(ours, key, directory=journals):
            pass  # pragma: no cover
    message = str(caught.value)
    assert "\n" not in message and str(theirs.resolve()) in message
    assert "SECRET" not in message + mine.read_text()


def test_send_refuses_a_journal_from_another_folder_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours, theirs, journals = tmp_path / "ours", tmp_path / "theirs", tmp_path / "journals"
    good_files(ours)
    good_files(theirs, 1)
    with fake_thread() as served:
        url = served.call(served.fake.create_webhook)
        argv = ["--webhook", url, "--journal-dir", str(journals)]
        assert main(["send", str(theirs), *argv]) == 0
        (written,) = journals.glob("*.jsonl")
        # their journal where ours belongs (a restored backup, a synced state folder)
        mine = journals / journal_name(ours.resolve(), destination_key(Webhook(url)))
        mine.write_bytes(written.read_bytes())
        before = served.recorded()
        capsys.readouterr()
        code = main(["send", str(ours), *argv])
        captured = capsys.readouterr()
        assert served.recorded() == before  # nothing of ours was sent
    assert code == 1  # the run could not start; not a usage error
    assert captured.err.count("\n") == 1 and str(theirs.resolve()) in captured.err
    assert "Traceback" not in captured.out + captured.err


@needs_ffmpeg
def test_a_workdir_that_cannot_be_written_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC from the workspace's own writes (not ffmpeg's), as any disk may give."""
    folder = tmp_path / "media"
    good = good_files(folder)

    def full(*args: object, **kwargs: object) -> list[Path]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Workspace, "reserve", full)
    too_big_to_send(big_video(folder), good, capsys, tmp_path / "work", "no space left on device")
