"""A bad-input corpus, files: each bad file gets one clear line and the rest is delivered.

Zero-byte, cut and garbled media, text named .mp4, huge dimensions, hours of audio, audio-only
MP4, a FIFO, symlink loops and escapes, and names with newlines, quotes, unicode and dashes;
every case also checks that nothing of the user's folder changed (see ``_harness.check``).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests._files import write_random
from tests.badinput._corpus import CASES, Case
from tests.badinput._harness import HAS_FFMPEG, check, good_files, send, snapshot
from uploader._models import printable


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


@given(st.text())
def test_printable_leaves_no_control_character_and_keeps_the_rest(text: str) -> None:
    shown = printable(text)
    assert not any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029" for c in shown)
    if text.isprintable():
        assert shown == text
