"""The first run of an image search: the source's own table, the first encodes, the sample."""

from __future__ import annotations

import itertools
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.compress._image_search import (
    FILL,
    JPEG_SCALE,
    WEBP_SCALE,
    Encode,
    Keep,
    Measured,
    SampledCurve,
    SizeModel,
    Subsample,
    first_levels,
    next_image_step,
    sample_levels,
    source_prior,
)
from uploader.compress._jpeg_tables import jpeg_qscale

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH")


# --- the source's own quality ----------------------------------------------------------------


@needs_ffmpeg
@pytest.mark.parametrize("qscale", [1, 2, 4, 6])
def test_an_ffmpeg_jpegs_qscale_is_read_from_its_table(tmp_path: Path, qscale: int) -> None:
    path = tmp_path / "a.jpg"
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"]
    cmd += ["-i", "testsrc2=s=64x48:d=1", "-frames:v", "1", "-pix_fmt", "yuvj420p"]
    subprocess.run([*cmd, "-q:v", str(qscale), "-qmin", "1", str(path)], check=True)
    estimate = jpeg_qscale(path.read_bytes())
    assert estimate is not None and estimate == pytest.approx(qscale, rel=0.12)


def dqt(values: list[int], table: int = 0) -> bytes:
    body = bytes([table]) + bytes(values)
    return b"\xff\xdb" + (len(body) + 2).to_bytes(2, "big") + body


def test_a_table_after_metadata_and_fill_bytes_is_found_and_scales_with_its_entries() -> None:
    app1 = b"\xff\xe1" + (10).to_bytes(2, "big") + b"Exif\0\0\0\0"
    coarse = [8] + [40] * 63
    fine = [8] + [20] * 63
    head = b"\xff\xd8" + app1 + b"\xff\xff" + dqt(coarse) + b"\xff\xda\x00\x02"
    finer = b"\xff\xd8" + dqt(fine) + b"\xff\xda\x00\x02"
    a, b = jpeg_qscale(head), jpeg_qscale(finer)
    assert a is not None and b is not None and a == pytest.approx(2 * b)


@given(st.binary(max_size=400))
def test_any_bytes_give_a_qscale_or_none_never_an_error(data: bytes) -> None:
    for head in (data, b"\xff\xd8" + data, b"\xff\xd8\xff\xdb" + data):
        result = jpeg_qscale(head)
        assert result is None or (result > 0 and math.isfinite(result))


# --- the first encodes -----------------------------------------------------------------------


@given(
    qscale=st.floats(0.5, 12.0),
    source=st.integers(50_000, 30_000_000),
    share=st.floats(0.05, 0.99),
    full_chroma=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_the_first_levels_are_in_range_best_first_and_apart(qscale, source, share, full_chroma):
    prior = source_prior(JPEG_SCALE, qscale, source)
    levels = first_levels(JPEG_SCALE, prior, int(source * share), full_chroma=full_chroma)
    lowest = JPEG_SCALE.level(3.0 if full_chroma else JPEG_SCALE.floor)
    for level in levels:
        assert lowest - 1e-3 <= level <= JPEG_SCALE.level(JPEG_SCALE.best) + 1e-9
    assert all(a - b >= JPEG_SCALE.resolution for a, b in itertools.pairwise(levels))


@given(sampled=st.booleans(), error=st.floats(0.955, 1.045), target=st.integers(100_000, 10**7))
@settings(max_examples=200, deadline=None)
def test_the_first_encodes_cover_a_prediction_off_by_4_percent_either_way(sampled, error, target):
    """A picture whose sizes follow the prediction times ``error`` lands one of the first
    encodes in FILL..100% of the target (within the codec's range, away from its ends); two
    of them, without a sample, cover -7% to +9%."""
    prior = SizeModel(math.log(target) - JPEG_SCALE.level(4.0))  # the target at qscale 4
    levels = first_levels(JPEG_SCALE, prior, target, full_chroma=False, sampled=sampled)
    if not sampled:
        assert len(levels) == 2
        wide = [prior.bytes_at(level) * error * 1.04 for level in levels]
        assert any(FILL * target <= size <= target for size in wide)
    sizes = [prior.bytes_at(level) * error for level in levels]
    assert any(FILL * target <= size <= target for size in sizes)


@given(
    a=st.floats(11.0, 15.0),
    k=st.floats(0.3, 2.5),
    error=st.floats(0.5, 2.0),
    target=st.integers(100_000, 5_000_000),
    sampled=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_a_search_started_from_the_first_encodes_never_keeps_one_over_the_limit(
    a, k, error, target, sampled
):
    """Whatever the truth (slope and offset unlike the prediction's), the first encodes then
    the search keep one encode that fits: never over the limit."""
    true = SizeModel(a, k)
    prior = SizeModel(a + math.log(error))
    measured = [
        Measured(level, math.ceil(true.bytes_at(level)))
        for level in first_levels(JPEG_SCALE, prior, target, full_chroma=False, sampled=sampled)
    ]
    for _ in range(12):
        step = next_image_step(JPEG_SCALE, measured, target, prior)
        if isinstance(step, Keep):
            assert step.kept.size <= target
            return
        if not isinstance(step, Encode):
            return  # a shrink: searched again at the smaller size (tested elsewhere)
        measured.append(Measured(step.level, math.ceil(true.bytes_at(step.level))))
    raise AssertionError("the search did not end")


# --- full chroma at its floor ----------------------------------------------------------------


def test_full_chroma_is_kept_at_its_floor_quality_when_that_is_predicted_to_fit() -> None:
    """The measured 4:4:4 encode is over and the curve's aim is under full chroma's floor
    (qscale 3), but at that floor it is predicted to fit: encode there, not at 4:2:0."""
    sampled = ((2.5, 1_200_000), (3.0, 990_000), (3.5, 800_000))
    curve = SampledCurve.of([(JPEG_SCALE.level(q), size) for q, size in sampled], 1.02)
    over = Measured(JPEG_SCALE.level(2.7), round(curve.bytes_at(JPEG_SCALE.level(2.7))))
    step = next_image_step(JPEG_SCALE, [over], 1_000_000, curve, full_chroma=True)
    assert isinstance(step, Encode) and JPEG_SCALE.quality(step.level) == 3.0
    tried = Measured(JPEG_SCALE.level(3.0), 1_010_000)
    again = next_image_step(JPEG_SCALE, [over, tried], 1_000_000, curve, full_chroma=True)
    assert isinstance(again, Subsample)


# --- the sample's levels ---------------------------------------------------------------------


@given(
    scale=st.sampled_from([JPEG_SCALE, WEBP_SCALE]),
    around=st.none() | st.floats(-3.0, 2.0),
)
def test_sample_levels_increase_within_the_codecs_range(scale, around):
    levels = sample_levels(scale, around)
    low, high = scale.level(scale.floor), scale.level(scale.best)
    assert list(levels) == sorted(set(levels)) and len(levels) >= 2
    assert all(low - 1e-3 <= x <= high + 1e-3 for x in levels)
