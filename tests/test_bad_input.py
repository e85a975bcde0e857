"""A bad-input corpus: each bad file gets one clear line, the rest is delivered, nothing changes.

Every case is generated here (nothing binary is committed) into a folder beside a few good
files, then `uploader send` runs on it as a shell would (`uploader.cli.main`, the media check
ON as in real use, the real clock) against the loopback Discord in a worker thread. Each case
checks: the bad file is named on exactly one line with its reason, every good file arrived once
(by sha256), the exit code, no traceback, and the user's folder unchanged (paths, sizes, mtimes,
hashes).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests._files import write_data, write_random
from tests._media import make_video
from tests.test_send_cli import FakeThread
from tests.test_send_cli import fake_discord as fake_thread
from uploader import Channel, Webhook
from uploader._detect import _Walk
from uploader._models import printable
from uploader._settings import ENV_VARIABLES
from uploader.cli import main
from uploader.compress._workspace import Workspace
from uploader.journal import JournalMismatchError, destination_key, journal_name, open_journal

HAS_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAS_FFMPEG, reason="needs ffmpeg and ffprobe on PATH")
Make = Callable[[Path], Path]
SLOW = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("UPLOADER_SLOW_TESTS"), reason="UPLOADER_SLOW_TESTS=1"),
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_VARIABLES, "DISCORD_TOKEN", "DISCORD_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UPLOAD_ENABLE_PROGRESS_UPDATES", "false")
    monkeypatch.setenv("UPLOAD_CHECK_MEDIA", "true")  # as in real use


# --- the user's folder, before and after --------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under ``folder`` (links not followed): mode, size, mtime, content hash."""
    seen: dict[str, tuple[int, int, int, str]] = {}
    for top, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            path = Path(top, name)
            st = path.lstat()
            digest = ""
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = os.readlink(path)
            seen[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return seen


def good_files(folder: Path, count: int = 3) -> Counter[str]:
    """``count`` small files that must arrive whatever their neighbour is; their sha256s."""
    folder.mkdir(parents=True, exist_ok=True)
    return Counter(write_random(folder / f"good{i}.jpg", 3000 + i) for i in range(count))


@attrs.frozen
class Run:
    code: int
    out: str
    err: str
    recorded: Counter[str]
    messages: int

    def lines_naming(self, name: str) -> list[str]:
        """The result's lines naming ``name`` (stderr narrates progress, so it is not counted)."""
        return [line for line in self.out.splitlines() if name in line]

    def warnings_naming(self, name: str) -> list[str]:
        """The progress warnings naming ``name`` (said on stderr only)."""
        return [line for line in self.err.splitlines() if name in line and "warning" in line]

    def assert_clean(self) -> None:
        assert "Traceback" not in self.out + self.err, self.out + self.err


def send(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    *extra: str,
    served: FakeThread | None = None,
    **fake_options: object,
) -> Run:
    """`uploader send FOLDER --webhook URL *extra` against a fresh loopback Discord."""
    if served is None:
        with fake_thread(**fake_options) as fresh:
            return send(folder, capsys, *extra, served=fresh)
    url = served.call(served.fake.create_webhook)
    capsys.readouterr()
    code = main(["send", str(folder), "--webhook", url, *extra])
    captured = capsys.readouterr()
    messages = served.call(lambda: len(served.fake.messages))
    return Run(code, captured.out, captured.err, served.recorded(), messages)


def check(
    folder: Path,
    make: Make,
    capsys: pytest.CaptureFixture[str],
    *extra: str,
    code: int,
    reason: str | None,
    delivered: bool = False,
    warned: bool = False,
) -> Run:
    """Make the bad file beside good ones, send, and check the rules every case shares."""
    good = good_files(folder)
    bad = make(folder)
    before = snapshot(folder)
    run = send(folder, capsys, *extra)
    run.assert_clean()
    assert snapshot(folder) == before
    expected = good.copy()
    if delivered:
        expected[hashlib.sha256(bad.read_bytes()).hexdigest()] += 1
    assert run.recorded == expected, run.out + run.err
    named = run.warnings_naming(bad.name) if warned else run.lines_naming(bad.name)
    if reason is None:
        assert named == [], named
    else:
        assert len(named) == 1 and reason in named[0], run.out + run.err
    assert run.code == code, run.out + run.err
    return run


# --- the corpus: one bad file each -----------------------------------------------------------


def zero_byte(folder: Path) -> Path:
    return write_sized0(folder / "empty.mp4")


def write_sized0(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def text_as_mp4(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("this is a shopping list, not a video\n" * 40)
    return path


def _video(folder: Path, name: str, *extra: str) -> Path:
    path = make_video(folder / f".{name}", 2, 160, 120, video_kbps=300)
    if extra:
        fixed = folder / f".fixed-{name}"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", path, "-c", "copy", *extra, fixed], check=True
        )
        path = fixed
    return path.rename(folder / name)


def mp4_cut_after_header(folder: Path) -> Path:
    """The index first (faststart), then cut after a quarter: states 2 s, holds less."""
    path = _video(folder, "cut.mp4", "-movflags", "+faststart")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 4])
    return path


def mp4_cut_before_index(folder: Path) -> Path:
    """The index last (ffmpeg's default), cut in half: no index, nothing can be played."""
    path = _video(folder, "noindex.mp4")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def mp4_garbage_inside(folder: Path) -> Path:
    path = _video(folder, "garbled.mp4", "-movflags", "+faststart")
    data = bytearray(path.read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = os.urandom(third)
    path.write_bytes(bytes(data))
    return path


FRAME = ("-frames:v", "1")
SILENCE = "anullsrc=r=8000:cl=mono"
TEN_MIN = ("-t", "600", "-c:a", "aac", "-b:a", "8k")


def jpeg_cut_in_half(folder: Path) -> Path:
    path = folder / "half.jpg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", *FRAME, path],
        check=True,
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(folder: Path, name: str = "huge.png", padding: int = 0) -> Path:
    """A PNG whose header claims 60000×60000 pixels, with a few bytes of (bogus) data."""
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    data = zlib.compress(os.urandom(padding) if padding else b"\0" * 64)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
    png += _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")
    write_data(folder / name, png)
    return folder / name


def huge_png_over_limit(folder: Path) -> Path:
    return huge_png(folder, "huge-big.png", padding=400_000)


def long_audio(folder: Path) -> Path:
    """Three hours of silence at a tiny bitrate (ten minutes encoded, then repeated)."""
    ten = folder.parent / "ten-minutes.m4a"
    path = folder / "long.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", SILENCE, *TEN_MIN, ten])
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "17", "-i", ten, "-c", "copy", path])
    assert path.stat().st_size > 100_000, "ffmpeg did not make the three-hour file"
    return path


def audio_only_mp4(folder: Path) -> Path:
    path = folder / "song.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", "aac", path],
        check=True,
    )
    return path


def fifo(folder: Path) -> Path:
    path = folder / "pipe.mp4"
    os.mkfifo(path)
    return path


def self_loop(folder: Path) -> Path:
    path = folder / "self.jpg"
    path.symlink_to("self.jpg")
    return path


def folder_loop(folder: Path) -> Path:
    (folder / "sub").mkdir()
    path = folder / "sub" / "back"
    path.symlink_to("..")
    return path


def escape(folder: Path) -> Path:
    outside = folder.parent / "outside.jpg"
    write_random(outside, 5000)
    path = folder / "escape.jpg"
    path.symlink_to(outside)
    return path


@attrs.frozen
class Case:
    make: Make
    code: int
    reason: str | None  # None: no line at all
    delivered: bool = False
    ffmpeg: bool = False
    warned: bool = False  # delivered, with a warning on stderr
    extra: tuple[str, ...] = ()


CASES = {
    "zero-byte": Case(zero_byte, 0, "empty file"),
    "text-named-mp4": Case(text_as_mp4, 0, "not playable media", ffmpeg=True),
    "mp4-cut-after-header": Case(
        mp4_cut_after_header, 0, "cut short", True, ffmpeg=True, warned=True
    ),
    "mp4-cut-before-index": Case(mp4_cut_before_index, 0, "not playable media", ffmpeg=True),
    "mp4-garbage-inside": Case(mp4_garbage_inside, 0, None, True, ffmpeg=True),
    # images are not probed: a cut JPEG still shows its top half, so it goes as it is
    "jpeg-cut-in-half": Case(jpeg_cut_in_half, 0, None, True, ffmpeg=True),
    "png-60000x60000": Case(huge_png, 0, None, True),
    "png-60000x60000-over-limit": Case(
        huge_png_over_limit, 1, "huge-big.png", ffmpeg=True, extra=("--limit-mb", "0.25")
    ),
    "three-hour-audio": Case(long_audio, 0, None, True, ffmpeg=True),
    "audio-only-mp4": Case(audio_only_mp4, 0, None, True, ffmpeg=True),
    "fifo": Case(fifo, 0, "not a regular file"),
    "symlink-to-itself": Case(self_loop, 0, "symlink loop"),
    "symlink-folder-loop": Case(folder_loop, 0, "symlink loop"),
    "symlink-escaping": Case(escape, 0, "outside the directory"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_file_gets_one_line_and_the_rest_arrives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    if case.ffmpeg and not HAS_FFMPEG:
        pytest.skip("needs ffmpeg and ffprobe on PATH")
    folder = tmp_path / "media"
    folder.mkdir()
    check(
        folder,
        case.make,
        capsys,
        *case.extra,
        "--workdir",
        str(tmp_path / "work"),
        code=case.code,
        reason=case.reason,
        delivered=case.delivered,
        warned=case.warned,
    )


# --- names ---------------------------------------------------------------------------------

NAMES = [
    "new\nline.jpg",
    "cr\rlf\r\n.jpg",
    'quote\'s "double".jpg',
    "semi;colon; rm -rf x.jpg",
    "ünïcødé 写真 🎉.jpg",
    "dots..in..the..name.jpg",
    "-leading-dash.jpg",
    "--help.jpg",
    "$(echo no).jpg",
    "tab\there.jpg",
]


@pytest.mark.parametrize("name", ["new\nline.mp4", "cr\rlf\r\n.mp4", "esc\x1b[2Jape.mp4"])
def test_a_skipped_file_with_control_characters_in_its_name_is_still_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    folder = tmp_path / "media"
    good = good_files(folder)
    (folder / name).write_text("not a video")
    before = snapshot(folder)
    run = send(folder, capsys)
    run.assert_clean()
    assert (run.code, run.recorded) == (0, good), run.out + run.err
    assert snapshot(folder) == before
    shown = repr(name)[1:-1]  # control characters escaped, as Python writes them
    named = run.lines_naming(shown)
    assert len(named) == 1 and "not playable media" in named[0], run.out + run.err
    assert run.out.count("\n") == 2 and "\r" not in run.out and "\x1b" not in run.out
    assert "\r" not in run.err and "\x1b" not in run.err


@pytest.mark.parametrize("name", NAMES, ids=[repr(n) for n in NAMES])
def test_odd_names_are_delivered_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    folder = tmp_path / "media"
    good = good_files(folder)
    good[write_random(folder / name, 4321)] += 1
    before = snapshot(folder)
    run = send(folder, capsys)
    run.assert_clean()
    assert (run.code, run.recorded) == (0, good), run.out + run.err
    assert snapshot(folder) == before


def test_a_dotdot_segment_in_the_folder_given_is_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "media"
    good = good_files(folder / "sub")
    run = send(folder / "sub" / ".." / "sub", capsys)
    run.assert_clean()
    assert (run.code, run.recorded) == (0, good), run.out + run.err


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


@pytest.mark.xfail(strict=True, reason="TODO: the journal is not wired into `uploader send` yet")
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
    assert code == 2
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


@given(st.text())
def test_printable_leaves_no_control_character_and_keeps_the_rest(text: str) -> None:
    shown = printable(text)
    assert not any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029" for c in shown)
    if text.isprintable():
        assert shown == text
