"""How the bad-input corpus runs `uploader send` and checks what it must never break.

`check` makes one bad file beside good ones, snapshots the folder, runs ``uploader send`` (as a
shell would: `uploader.cli.main`, the media check on, the real clock) against the loopback
Discord in a worker thread, and checks: one result line naming the bad file with its reason,
every good file recorded once (by sha256), the exit code, no traceback, the folder unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from tests._files import write_random
from tests.test_send_cli import FakeThread
from tests.test_send_cli import fake_discord as fake_thread
from uploader.cli import main

HAS_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAS_FFMPEG, reason="needs ffmpeg and ffprobe on PATH")
Make = Callable[[Path], Path]
SLOW = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("UPLOADER_SLOW_TESTS"), reason="UPLOADER_SLOW_TESTS=1"),
]


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
