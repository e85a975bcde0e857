"""A still image is checked whole by its framing, not read back with ffprobe."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import uploader.compress._compress as compress_module
from uploader import MediaFile, MediaType, Settings
from uploader.compress import CompressionError, compress_with_details
from uploader.compress._still_check import HEAD_BYTES, TAIL_BYTES, still_is_whole

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH")
FORMATS = {"jpg": ["-c:v", "mjpeg"], "png": ["-c:v", "png"], "webp": ["-c:v", "libwebp"]}


def whole(data: bytes, ext: str) -> bool:
    return still_is_whole(ext, data[:HEAD_BYTES], data[-TAIL_BYTES:], len(data))


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg on PATH")
    directory = tmp_path_factory.mktemp("stills")
    files = {}
    for ext, codec in FORMATS.items():
        path = directory / f"a.{ext}"
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"]
        cmd += ["-i", "testsrc2=s=96x64:d=1", "-frames:v", "1", *codec, "-update", "1"]
        subprocess.run([*cmd, str(path)], check=True)
        files[ext] = path.read_bytes()
    return files


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_an_ffmpeg_still_is_whole_and_not_once_cut(encoded: dict[str, bytes], ext: str) -> None:
    data = encoded[ext]
    assert whole(data, ext)
    assert not any(whole(data[:cut], ext) for cut in range(0, len(data), 7))
    assert not whole(data, "gif")


@given(st.binary(max_size=64), st.sampled_from(sorted(FORMATS)))
def test_any_bytes_are_judged_without_an_error(data: bytes, ext: str) -> None:
    whole(data, ext)


@needs_ffmpeg
async def test_an_image_cut_short_by_its_encoder_fails_as_a_compression_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "photo.jpg"
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"]
    cmd += ["-i", "testsrc2=s=320x240:d=1,noise=alls=30:allf=u", "-frames:v", "1", "-q:v", "1"]
    subprocess.run([*cmd, str(source)], check=True)
    real = compress_module.fit_still

    async def cut(*args, **kwargs):  # type: ignore[no-untyped-def]
        path, ext, encodes = await real(*args, **kwargs)
        path.write_bytes(path.read_bytes()[:-100])
        return path, ext, encodes

    monkeypatch.setattr(compress_module, "fit_still", cut)
    (tmp_path / "w").mkdir()
    file = MediaFile(source, source.stat().st_size, MediaType.IMAGE)
    with pytest.raises(CompressionError, match="incomplete"):
        await compress_with_details(
            file, source.stat().st_size // 2, settings=Settings(), workdir=tmp_path / "w"
        )
