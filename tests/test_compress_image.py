"""Images in one or two encodes through ffmpeg: the pure quality prediction, and the real
encodes behind it. Pillow fits the stills it can decode (``test_compress_still_pillow``); these
tests force the ffmpeg search, the fallback for everything else."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import uploader.compress._still_image as still_image
from tests import _media
from tests._encoder import record_image_encodes
from uploader import MediaFile, MediaType, Settings
from uploader.compress import compress_with_details, probe_media
from uploader.compress._commands import ImageEncoding, image_command, jpeg_matrix
from uploader.compress._image_search import (
    FILL,
    JPEG_SCALE,
    SAMPLE_STRIP_ROWS,
    SAMPLE_STRIPS,
    WEBP_SCALE,
    Encode,
    Keep,
    Measured,
    Model,
    QualityScale,
    SampledCurve,
    Shrink,
    SizeModel,
    Subsample,
    next_image_step,
    sample_rows,
    shrunk_size,
)

KIB = 1024
SETTINGS = Settings(compression_max_concurrent=1)

# --- the pure search -------------------------------------------------------------------------


def search(
    scale: QualityScale,
    true: Model,
    target: int,
    *,
    full_chroma: bool = False,
    prior: Model | None = None,
) -> tuple[Measured, int, float]:
    """Drive the search against a picture whose bytes follow ``true`` exactly (from ``prior``:
    a sample's prediction).

    Returns:
        (the kept encode, how many encodes, the side factor of all shrinks).
    """
    measured: list[Measured] = []
    encodes, side = 0, 1.0
    for _ in range(40):
        step = next_image_step(scale, measured, target, prior, full_chroma=full_chroma)
        if isinstance(step, Keep):
            return step.kept, encodes, side
        if isinstance(step, Encode):
            encodes += 1
            measured.append(Measured(step.level, math.ceil(true.bytes_at(step.level))))
            continue
        if isinstance(step, Shrink):
            side *= step.side
            true = true.scaled(step.side**2)
            prior = step.model.scaled(step.side**2)
        else:
            assert isinstance(step, Subsample)
            true, prior, full_chroma = true.times(0.75), step.model, False
        measured = []
    raise AssertionError("the search did not end")


@given(
    scale=st.sampled_from([WEBP_SCALE, JPEG_SCALE]),
    a=st.floats(9.0, 16.0),
    k=st.floats(0.4, 2.5),
    target=st.integers(20_000, 20_000_000),
)
@settings(max_examples=300, deadline=None)
def test_the_search_keeps_an_encode_that_fits_and_fills_the_budget(scale, a, k, target):
    kept, encodes, _ = search(scale, SizeModel(a, k), target)
    assert kept.size <= target
    best = scale.level(scale.best)
    assert kept.size >= FILL * target or kept.level >= best - 1e-9
    assert encodes <= 8


@pytest.mark.parametrize("scale", [WEBP_SCALE, JPEG_SCALE])
@pytest.mark.parametrize("share", [0.3, 0.6, 2.0])
def test_a_picture_that_follows_the_prior_takes_at_most_two_encodes(scale, share):
    first = scale.level(scale.first)
    true = SizeModel(math.log(1_000_000) - first)  # the prior's slope, 1 MB at the first quality
    kept, encodes, side = search(scale, true, int(1_000_000 * share))
    assert encodes <= 2 and side == 1.0
    assert FILL * share * 1_000_000 <= kept.size <= share * 1_000_000


def test_a_picture_too_big_at_the_floor_is_shrunk_until_it_fits():
    true = SizeModel(math.log(5_000_000), 1.0)
    kept, _, side = search(WEBP_SCALE, true, 100_000)
    assert side < 0.5 and FILL * 100_000 <= kept.size <= 100_000


def test_full_chroma_is_kept_when_the_budget_allows_and_dropped_when_it_does_not():
    roomy = next_image_step(
        JPEG_SCALE, [Measured(JPEG_SCALE.level(2.0), 1_100_000)], 1_000_000, None, full_chroma=True
    )
    assert isinstance(roomy, Encode)
    tight = next_image_step(
        JPEG_SCALE, [Measured(JPEG_SCALE.level(2.0), 4_000_000)], 1_000_000, None, full_chroma=True
    )
    assert isinstance(tight, Subsample)
    assert tight.model.bytes_at(0.0) == pytest.approx(0.75 * 4_000_000 * 2.0)


@given(st.integers(2, 10_000), st.integers(2, 10_000), st.floats(0.25, 0.92))
def test_a_shrunk_size_has_even_sides(width, height, side):
    w, h = shrunk_size((width, height), side)
    assert w % 2 == 0 and h % 2 == 0 and w >= 2 and h >= 2
    assert abs(w - width * side) <= 2 and abs(h - height * side) <= 2


# A JPEG whose size falls off a cliff between qscale 3 and 3.5 (measured on a noisy photo).
STAIRS = [(1.5, 2_237_000), (2.0, 2_105_000), (2.5, 1_847_000), (3.0, 1_459_000)]
STAIRS += [(3.5, 952_000), (5.0, 800_000), (8.0, 560_000)]


def stairs(share: float = 1.0) -> SampledCurve:
    return SampledCurve.of([(JPEG_SCALE.level(q), round(b * share)) for q, b in STAIRS], 1.0)


def test_sample_rows_are_block_aligned_spread_and_absent_for_small_pictures():
    assert sample_rows(4 * SAMPLE_STRIPS * SAMPLE_STRIP_ROWS - 1) is None
    rows = sample_rows(1600)
    assert rows is not None and len(rows) == SAMPLE_STRIPS
    assert all(r % SAMPLE_STRIP_ROWS == 0 for r in rows)
    assert list(rows) == sorted(set(rows)) and rows[-1] + SAMPLE_STRIP_ROWS <= 1600


def test_a_sampled_curve_passes_through_its_points_and_inverts():
    curve = stairs()
    for level in (JPEG_SCALE.level(q) for q in (1.0, 1.5, 2.2, 3.2, 8.0, 15.0)):
        assert curve.level_for(curve.bytes_at(level)) == pytest.approx(level, abs=1e-6)
    assert curve.bytes_at(JPEG_SCALE.level(3.0)) == pytest.approx(1_459_000 * 1.02)


@pytest.mark.parametrize("target", [1_000_000, 1_572_864, 2_400_000])
@pytest.mark.parametrize("error", [0.97, 1.0, 1.03])
def test_a_sampled_staircase_is_searched_in_one_or_two_encodes(target, error):
    """The sample predicts the steps; the picture's sizes are off it by ``error``."""
    true = stairs(error / 1.02)
    kept, encodes, side = search(JPEG_SCALE, true, target, prior=stairs())
    assert FILL * target <= kept.size <= target and side == 1.0
    assert encodes <= 2 if error != 1.0 else encodes == 1


def test_a_sampled_quality_predicted_to_fill_the_budget_is_encoded_as_it_is():
    step = next_image_step(JPEG_SCALE, [], 1_572_864, stairs(), full_chroma=True)
    assert isinstance(step, Encode) and JPEG_SCALE.quality(step.level) == 3.0


def test_quality_levels_round_trip_and_rise_with_quality():
    for scale in (WEBP_SCALE, JPEG_SCALE):
        for quality in (scale.floor, scale.first, scale.shrink_to, scale.best):
            assert scale.quality(scale.level(quality)) == pytest.approx(quality, abs=0.01)
    assert WEBP_SCALE.level(90) > WEBP_SCALE.level(80)
    assert JPEG_SCALE.level(2) > JPEG_SCALE.level(3)


def test_the_jpeg_matrix_is_ffmpegs_default_at_qscale_8_and_scales_finely():
    assert jpeg_matrix(8.0).split(",")[:3] == ["8", "16", "19"]
    coarse = [int(v) for v in jpeg_matrix(2.0).split(",")]
    finer = [int(v) for v in jpeg_matrix(2.5).split(",")]
    assert all(a <= b for a, b in zip(coarse, finer, strict=True)) and coarse != finer


# --- real encodes ----------------------------------------------------------------------------

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH")


@pytest.fixture
def ffmpeg_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every still goes through the ffmpeg search, as one Pillow cannot decode would."""

    def undecodable(path: Path, keep_alpha: bool) -> None:
        return None

    monkeypatch.setattr(still_image, "open_still", undecodable)


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch, ffmpeg_only: None) -> list[list[str]]:
    """Every image encode's command line (the seam: the runner's ``run_encode``), through the
    ffmpeg search."""
    return record_image_encodes(monkeypatch)


def stream(path: Path) -> dict[str, str]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=width,height,pix_fmt",
            "-of",
            "default=nw=1",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.split())


def make_photo(path: Path, width: int, height: int, pix_fmt: str) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s={width}x{height}:d=1,noise=alls=25:allf=u,gblur=sigma=0.7",
            "-frames:v",
            "1",
            "-pix_fmt",
            pix_fmt,
            "-q:v",
            "1",
            "-qmin",
            "1",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    return path


async def compress(source: Path, target: int, workdir: Path):
    workdir.mkdir(exist_ok=True)
    file = MediaFile(source, source.stat().st_size, MediaType.IMAGE)
    return await compress_with_details(file, target, settings=SETTINGS, workdir=workdir)


@needs_ffmpeg
async def test_a_photo_fills_its_budget_in_two_encodes_decoding_the_source_once(tmp_path, encodes):
    source = make_photo(tmp_path / "photo.jpg", 480, 360, "yuvj420p")
    target = source.stat().st_size // 2
    outcome = await compress(source, target, tmp_path / "w")
    (out,) = outcome.outputs
    assert FILL * target <= out.size_bytes <= target and out.path.suffix == ".jpg"
    assert len(encodes) == outcome.attempts <= 2
    reads_source = [cmd for cmd in encodes if str(source.absolute()) in cmd]
    assert len(reads_source) == 1  # later encodes read the decoded copy


def reads_source(cmd: list[str], source: Path) -> bool:
    return str(source.absolute()) in cmd


@needs_ffmpeg
async def test_a_large_444_photo_is_sampled_then_encoded_once_keeping_full_chroma(
    tmp_path, encodes
):
    source = make_photo(tmp_path / "photo.jpg", 640, 480, "yuvj444p")
    target = int(source.stat().st_size * 0.7)
    outcome = await compress(source, target, tmp_path / "w")
    (out,) = outcome.outputs
    assert FILL * target <= out.size_bytes <= target
    assert stream(out.path)["pix_fmt"] == "yuvj444p"
    assert len(encodes) == outcome.attempts <= 2
    assert "vstack" in " ".join(encodes[0])  # the sample run, the only one decoding the source
    assert [reads_source(cmd, source) for cmd in encodes] == [True] + [False] * (len(encodes) - 1)


@needs_ffmpeg
async def test_a_large_transparent_png_is_sampled_and_keeps_alpha_in_two_runs(tmp_path, encodes):
    source = _media.make_png(tmp_path / "alpha.png", 640, 480, alpha=True)
    target = source.stat().st_size // 5
    outcome = await compress(source, target, tmp_path / "w")
    (out,) = outcome.outputs
    assert out.path.suffix == ".webp" and FILL * target <= out.size_bytes <= target
    assert b"ALPH" in out.path.read_bytes()
    assert len(encodes) == outcome.attempts <= 2


@needs_ffmpeg
async def test_an_encode_from_the_decoded_copy_equals_one_from_the_jpeg_itself(tmp_path):
    """The decoded copy keeps a JPEG's full range (read as limited, its levels were stretched)."""
    source = make_photo(tmp_path / "photo.jpg", 160, 120, "yuvj420p")
    probe = await probe_media(source, SETTINGS)
    assert probe.video is not None and probe.video.display_size is not None
    encoding = ImageEncoding("mjpeg", 3.0, probe.video.display_size)
    copy = tmp_path / "decoded.nut"
    first, second = tmp_path / "a.jpg", tmp_path / "b.jpg"
    for cmd in (
        image_command(probe, first, encoding, settings=SETTINGS, decode_to=copy),
        image_command(probe, second, encoding, settings=SETTINGS, decoded=copy),
    ):
        subprocess.run(cmd, check=True, capture_output=True)
    assert first.read_bytes() == second.read_bytes()


@needs_ffmpeg
async def test_a_444_photo_keeps_full_chroma_when_the_budget_allows(tmp_path, ffmpeg_only):
    source = make_photo(tmp_path / "photo.jpg", 320, 240, "yuvj444p")
    roomy = await compress(source, int(source.stat().st_size * 0.8), tmp_path / "a")
    assert stream(roomy.outputs[0].path)["pix_fmt"] == "yuvj444p"
    tight = await compress(source, source.stat().st_size // 6, tmp_path / "b")
    assert stream(tight.outputs[0].path)["pix_fmt"] == "yuvj420p"


@needs_ffmpeg
async def test_a_transparent_png_becomes_a_webp_with_alpha_filling_its_budget(tmp_path, encodes):
    source = _media.make_png(tmp_path / "alpha.png", 320, 240, alpha=True)
    target = source.stat().st_size // 6
    outcome = await compress(source, target, tmp_path / "w")
    (out,) = outcome.outputs
    assert out.path.suffix == ".webp" and FILL * target <= out.size_bytes <= target
    data = out.path.read_bytes()
    assert b"ALPH" in data  # ffmpeg 5.1 decodes WebP without alpha: read the chunk
    assert not any(cmd[cmd.index("-c:v") + 1] == "png" for cmd in encodes if "-c:v" in cmd)


@needs_ffmpeg
async def test_a_shrunk_image_has_even_sides_and_fits(tmp_path, ffmpeg_only):
    source = make_photo(tmp_path / "odd.jpg", 643, 481, "yuvj420p")
    target = source.stat().st_size // 40
    (out,) = (await compress(source, target, tmp_path / "w")).outputs
    info = stream(out.path)
    assert int(info["width"]) < 643 and int(info["width"]) % 2 == 0
    assert int(info["height"]) % 2 == 0 and out.size_bytes <= target


@needs_ffmpeg
async def test_a_cmyk_jpeg_stays_a_jpeg_with_its_colours(tmp_path):
    """ffmpeg decodes Adobe CMYK JPEGs to gbrap: that fourth plane is not transparency, so
    the output is a JPEG (it was a WebP), and its colours are the picture's."""
    from PIL import Image, ImageStat

    rgb = Image.new("RGB", (320, 240), (200, 60, 30))
    rgb.paste(Image.effect_noise((320, 120), 60).convert("RGB"), (0, 0))
    source = tmp_path / "cmyk.jpg"
    rgb.convert("CMYK").save(source, quality=98)
    (out,) = (await compress(source, source.stat().st_size // 3, tmp_path / "w")).outputs
    assert out.path.suffix == ".jpg" and out.size_bytes <= source.stat().st_size // 3
    with Image.open(source) as src, Image.open(out.path) as got:
        want = ImageStat.Stat(src.convert("RGB")).mean
        have = ImageStat.Stat(got.convert("RGB")).mean
    assert all(abs(w - h) < 8 for w, h in zip(want, have, strict=True)), (want, have)
