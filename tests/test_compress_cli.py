"""`uploader compress FILE --limit-mb N [-o OUT]`: exit codes, one-line errors, FILE untouched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests import _media
from uploader.cli import main

pytestmark = [
    pytest.mark.ffmpeg,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH"),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _media.make_video(tmp_path_factory.mktemp("cli") / "clip.mp4", 3, 320, 240, noisy=True)


def test_compress_writes_the_result_to_out_and_leaves_the_original(clip, tmp_path, capsys):
    before = hashlib.sha256(clip.read_bytes()).hexdigest()
    out = tmp_path / "small.mp4"
    assert main(["compress", str(clip), "--limit-mb", "0.15", "-o", str(out)]) == 0
    assert 0 < out.stat().st_size <= int(0.15 * 1024 * 1024)
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == before
    captured = capsys.readouterr()
    assert "small.mp4" in captured.out and "MiB" in captured.out
    assert "100%" in captured.err


def test_compress_into_a_directory_keeps_the_compressed_name(clip, tmp_path):
    assert main(["compress", str(clip), "--limit-mb", "0.15", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "clip.compressed.mp4").is_file()


def test_a_missing_file_is_exit_2_in_one_line(tmp_path, capsys):
    assert main(["compress", str(tmp_path / "nope.mp4"), "--limit-mb", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.mp4" in err


def test_a_bad_limit_is_exit_2(clip):
    with pytest.raises(SystemExit) as caught:
        main(["compress", str(clip), "--limit-mb", "-1"])
    assert caught.value.code == 2


def test_a_clip_that_cannot_fit_is_exit_1_with_the_limit_that_would_work(clip, capsys):
    assert main(["compress", str(clip), "--limit-mb", "0.005"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "clip.mp4" in err and "would work" in err


def test_a_text_file_is_exit_1_without_a_traceback(tmp_path, capsys):
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello")
    assert main(["compress", str(fake), "--limit-mb", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
