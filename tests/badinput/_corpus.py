"""The bad files, each made by the test that needs it (nothing binary is committed)."""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

import attrs

from tests._files import write_data, write_random
from tests._media import make_video
from tests.badinput._harness import Make


def zero_byte(folder: Path) -> Path:
    path = folder / "empty.mp4"
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
