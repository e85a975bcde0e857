"""Missing ffmpeg is checked once, up front, and said once (issue 13 #9)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_send_cli import clean_env, fake_discord, send
from uploader.cli import main

__all__ = ["clean_env"]


@pytest.fixture
def no_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_FFMPEG_PATH", "/nowhere/ffmpeg")
    monkeypatch.setenv("COMPRESSION_FFPROBE_PATH", "/nowhere/ffprobe")


def big_and_small(folder: Path) -> Path:
    folder.mkdir()
    (folder / "big.mp4").write_bytes(os.urandom(2 * 1024 * 1024))
    (folder / "small.jpg").write_bytes(os.urandom(1000))
    return folder


@pytest.mark.usefixtures("no_ffmpeg")
def test_demo_says_ffmpeg_is_missing_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "'/nowhere/ffmpeg' and '/nowhere/ffprobe' are not installed" in captured.err
    assert "cannot run 'ffmpeg is not installed" not in captured.err
    assert captured.out == ""


@pytest.mark.usefixtures("no_ffmpeg")
def test_send_warns_once_and_names_the_file_it_could_not_compress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = big_and_small(tmp_path / "in")
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        code, out, err = send([str(folder), "--webhook", url, "--limit-mb", "1"], capsys)
    assert code == 1
    assert (out + err).count("apt-get install ffmpeg") == 1
    assert err.startswith("uploader send: warning: '/nowhere/ffmpeg' and '/nowhere/ffprobe'")
    # no encode starts, so none is claimed (issue 13 #9): the file is named once, with why
    assert "compressing" not in err
    reason = (
        "too large for the 1.0 MiB limit, and '/nowhere/ffmpeg' is not installed to compress it"
    )
    assert f"failed: {folder / 'big.mp4'}: {reason}" in out
    assert f"uploader: failed {folder / 'big.mp4'}: {reason}" in err
    assert f"❌ big.mp4: {reason}" in err


@pytest.mark.usefixtures("no_ffmpeg")
def test_plan_warns_when_ffmpeg_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = big_and_small(tmp_path / "in")
    assert main(["plan", str(folder), "--limit-mb", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("uploader plan: warning: ")
    assert (captured.out + captured.err).count("apt-get install ffmpeg") == 1
    assert "cannot compress: '/nowhere/ffprobe' is not installed" in captured.out
