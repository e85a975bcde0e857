"""`uploader compress FILE --limit-mb N [-o OUT]`: exit codes, one-line errors, FILE untouched."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import trio

from tests import _media
from tests._files import sha256_file
from uploader._models import MIB
from uploader.cli import main
from uploader.cli._compress import _named_for

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe on PATH",
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _media.make_video(tmp_path_factory.mktemp("cli") / "clip.mp4", 3, 320, 240, noisy=True)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temporary root, to see that a run leaves nothing in it."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def limit_mb(path: Path, share: float) -> str:
    return f"{path.stat().st_size * share / MIB:.4f}"


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_compress_writes_the_result_to_out_and_leaves_the_original(clip, tmp_path, scratch, capsys):
    before = sha256_file(clip)
    out = tmp_path / "small.mp4"
    assert main(["compress", str(clip), "--limit-mb", "0.15", "-o", str(out)]) == 0
    assert 0 < out.stat().st_size <= int(0.15 * 1024 * 1024)
    assert sha256_file(clip) == before
    captured = capsys.readouterr()
    assert "small.mp4" in captured.out and "MiB" in captured.out
    assert "100%" in captured.err
    assert list(scratch.iterdir()) == []


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_compress_into_a_directory_keeps_the_compressed_name(clip, tmp_path):
    assert main(["compress", str(clip), "--limit-mb", "0.15", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "clip.compressed.mp4").is_file()


def test_a_missing_file_is_exit_2_in_one_line(tmp_path, capsys):
    assert main(["compress", str(tmp_path / "nope.mp4"), "--limit-mb", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.mp4" in err


def test_a_directory_is_named_as_such(tmp_path, capsys):
    assert main(["compress", str(tmp_path), "--limit-mb", "1"]) == 2
    assert capsys.readouterr().err == (
        f"uploader compress: error: {tmp_path}: is a directory, not a file\n"
    )


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_a_bad_limit_is_exit_2(clip, capsys):
    # `main` returns argparse's refusals as exit code 2 like every other usage error.
    assert main(["compress", str(clip), "--limit-mb", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("uploader compress: error: argument --limit-mb:") and err.count("\n") == 1


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_a_clip_that_cannot_fit_is_exit_1_with_the_limit_and_the_flag_that_would_work(clip, capsys):
    assert main(["compress", str(clip), "--limit-mb", "0.005"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "clip.mp4" in err and "would work" in err
    assert "COMPRESSION_SPLIT_LONG=true or pass --split" in err


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_a_text_file_is_exit_1_without_a_traceback(tmp_path, capsys):
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello")
    assert main(["compress", str(fake), "--limit-mb", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1


# A file within the limit: copied unchanged, never encoded.


@pytest.fixture
def no_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any encode would fail with exit 1: only ffprobe may run."""
    monkeypatch.setenv("COMPRESSION_FFMPEG_PATH", "/nonexistent/ffmpeg")


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_a_file_within_the_limit_is_copied_to_out_unchanged(clip, tmp_path, no_ffmpeg, capsys):
    out = tmp_path / "copy.mp4"
    assert main(["compress", str(clip), "--limit-mb", "50", "-o", str(out)]) == 0
    assert sha256_file(out) == sha256_file(clip)
    captured = capsys.readouterr()
    assert captured.out == (
        f"{clip}: {clip.stat().st_size / MIB:.2f} MiB already fits the 50.00 MiB limit; "
        f"copied unchanged to {out}\n"
    )
    assert captured.err == ""


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_a_file_within_the_limit_goes_to_the_current_directory_by_default(
    clip, tmp_path, no_ffmpeg, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main(["compress", str(clip), "--limit-mb", "50"]) == 0
    assert sha256_file(tmp_path / "clip.compressed.mp4") == sha256_file(clip)
    assert main(["compress", str(clip), "--limit-mb", "50"]) == 2  # never replaced unasked


# OUT's extension follows what the result holds.


@pytest.mark.parametrize(
    ("out", "produced", "written"),
    [
        ("out.mp4", ".mp4", "out.mp4"),
        ("out.MP4", ".mp4", "out.MP4"),
        ("out.gif", ".mp4", "out.mp4"),
        ("x.png", ".webp", "x.webp"),
        ("x.jpeg", ".jpg", "x.jpeg"),
        ("song.mp4", ".m4a", "song.mp4"),
        ("result", ".mp4", "result.mp4"),
        ("take.2", ".mp4", "take.2.mp4"),
        ("out.gif", "", "out.gif"),  # a copy of a FILE without an extension: kept as asked
    ],
)
def test_out_is_renamed_only_when_its_extension_names_another_format(out, produced, written):
    assert _named_for(Path(out), produced) == Path(written)


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_an_animated_gif_asked_as_gif_is_written_as_mp4(tmp_path, capsys):
    gif = _media.make_gif(tmp_path / "anim.gif", 2, 160, 120)
    out = tmp_path / "out.gif"
    assert main(["compress", str(gif), "--limit-mb", limit_mb(gif, 0.5), "-o", str(out)]) == 0
    assert not out.exists()
    assert (tmp_path / "out.mp4").read_bytes()[4:8] == b"ftyp"
    line = capsys.readouterr().out
    assert f"→ {tmp_path / 'out.mp4'}:" in line and "named .mp4, not .gif" in line


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_a_transparent_png_asked_as_png_is_written_as_webp(tmp_path, capsys):
    png = _media.make_png(tmp_path / "t.png", 160, 120)
    out = tmp_path / "x.png"
    assert main(["compress", str(png), "--limit-mb", limit_mb(png, 0.5), "-o", str(out)]) == 0
    assert not out.exists()
    data = (tmp_path / "x.webp").read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert "named .webp, not .png: the result is WEBP" in capsys.readouterr().out


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_the_renamed_out_never_replaces_a_file_and_is_refused_before_encoding(
    tmp_path, no_ffmpeg, capsys
):
    gif = _media.make_gif(tmp_path / "anim.gif", 2, 160, 120)
    (tmp_path / "out.mp4").write_text("keep me")
    out = tmp_path / "out.gif"
    assert main(["compress", str(gif), "--limit-mb", limit_mb(gif, 0.5), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out.mp4 already exists" in err
    assert (tmp_path / "out.mp4").read_text() == "keep me" and not out.exists()


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_a_file_within_the_limit_keeps_its_format_and_says_so(clip, tmp_path, no_ffmpeg, capsys):
    out = tmp_path / "copy.gif"
    assert main(["compress", str(clip), "--limit-mb", "50", "-o", str(out)]) == 0
    assert sha256_file(tmp_path / "copy.mp4") == sha256_file(clip) and not out.exists()
    assert "(named .mp4, not .gif: the result is MP4)" in capsys.readouterr().out


# Ctrl-C and SIGTERM: ffmpeg killed, temporary files removed, exit 130 in one line.


@pytest.mark.ffmpeg
@needs_ffmpeg
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_mid_encode_cleans_up(tmp_path: Path, sig: signal.Signals) -> None:
    source = _media.make_video(tmp_path / "clip.mp4", 20, 640, 360, video_kbps=4000)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(scratch),
        "COMPRESSION_FFMPEG_PRESET": "veryslow",  # long enough to be caught mid-encode
    }
    command = [sys.executable, "-m", "uploader", "compress", str(source), "--limit-mb", "0.5"]
    process = await trio.lowlevel.open_process(
        [*command, "-o", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    seen = b""
    with trio.fail_after(60):
        while not _media.ffmpeg_reading(source):  # noqa: ASYNC110 (polling another process)
            await trio.sleep(0.05)
        process.send_signal(sig)
        while chunk := await process.stderr.receive_some(4096):
            seen += chunk
        code = await process.wait()
        printed = await process.stdout.receive_some(4096)
    lines = [ln for ln in seen.decode().splitlines() if not ln.startswith("compressing ")]
    assert code == 130, seen.decode()
    assert lines == ["uploader compress: interrupted"]
    assert printed == b""
    assert _media.ffmpeg_reading(source) == []
    assert list(scratch.iterdir()) == []
    assert list(out.iterdir()) == []


# issue 13 #15: -o names a file, never a folder, and never replaces one silently.


def test_split_parts_asked_as_one_file_go_next_to_it_named_after_it(tmp_path):
    from uploader.cli._compress import _destinations

    out = tmp_path / "tiny.mp4"
    placed = _destinations(["clip.part1.mp4", "clip.part2.mp4"], out, tmp_path / "clip.mp4")
    assert [p for p, _ in placed] == [tmp_path / "tiny.part1.mp4", tmp_path / "tiny.part2.mp4"]
    assert not out.exists()  # no folder named tiny.mp4


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_an_existing_out_is_refused_like_a_renamed_one(clip, tmp_path, capsys):
    out = tmp_path / "existing.mp4"
    out.write_text("keep me")
    assert main(["compress", str(clip), "--limit-mb", "0.15", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "existing.mp4 already exists" in err
    assert out.read_text() == "keep me"
    assert main(["compress", str(clip), "--limit-mb", "50", "-o", str(out)]) == 2  # a copy too
    assert out.read_text() == "keep me"


def test_parts_are_zero_padded_when_there_are_ten_or_more(tmp_path: Path) -> None:
    from uploader.cli._compress import _destinations

    names = [f"x.part{i}.mp4" for i in range(1, 13)]
    placed = [p.name for p, _ in _destinations(names, tmp_path / "tiny.mp4", tmp_path / "x.mp4")]
    assert placed[0] == "tiny.part01.mp4" and placed[-1] == "tiny.part12.mp4"
    assert placed == sorted(placed)
