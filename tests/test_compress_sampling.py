"""Choosing a video's size and frame rate by sampling: the pure decisions, and one real run."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import uploader.compress._sampling as sampling
from tests import _media
from tests.test_compress_plan import video_probe
from uploader import MIB, MediaFile, MediaType, Settings
from uploader.compress import CannotFitError, compress_with_details, plan_encode, probe_media
from uploader.compress._frames import frame_candidates
from uploader.compress._sample import read_score, sample_frames, scoring_metric
from uploader.compress._sampling import (
    COST_SHARE,
    MIN_GAIN,
    SamplePlan,
    pick_candidate,
    plan_sampling,
)
from uploader.compress._workspace import Workspace

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH")
SETTINGS = Settings(compression_max_concurrent=1, compression_ffmpeg_preset="veryfast")


def planned(limit_mib: float, **probe_args: object):
    probe = video_probe(**probe_args)  # type: ignore[arg-type]
    return plan_encode(probe, int(limit_mib * MIB), SETTINGS), probe


def sample_for(limit_mib: float, preset: str = "medium", **probe_args: object):
    plan, probe = planned(limit_mib, **probe_args)
    fps = min(probe.video.fps or 25.0, 60.0)
    return plan_sampling(plan, probe.video.display_size, fps, preset)


def test_a_starved_minute_of_720p_samples_its_pick_and_the_rungs_around_it():
    sample = sample_for(10, width=1280, height=720, duration=60, video_bps=20_000_000)
    assert sample is not None
    assert sample.rule in sample.candidates and len(sample.candidates) == 3
    assert sample.candidates[0] == ((1280, 720), 30.0)
    assert sample.reference == ((1280, 720), 30.0)
    assert 2 <= len(sample.starts) <= 3 and 0 < sample.cost_share <= COST_SHARE
    assert all(s >= 0 and s + sample.seconds <= 60 for s in sample.starts)


def test_a_fast_source_is_also_sampled_at_30_fps():
    sample = sample_for(25, width=1280, height=720, fps=60, duration=180, video_bps=20_000_000)
    assert sample is not None and (sample.rule[0], 30.0) in sample.candidates


@pytest.mark.parametrize(
    ("limit", "args", "why"),
    [
        (10, {"duration": 10, "width": 1280, "height": 720}, "too short to sample"),
        (100, {"duration": 60, "width": 1280, "height": 720}, "comfortable budget"),
        (10, {"duration": 60, "width": 640, "height": 360, "video_bps": 800_000}, "source fits"),
    ],
)
def test_sampling_is_skipped_where_it_cannot_win(limit, args, why):
    assert sample_for(limit, **args) is None, why


def test_sampling_is_skipped_when_it_would_cost_too_much_of_a_fast_encode():
    clip = {"width": 1280, "height": 720, "duration": 60, "video_bps": 20_000_000}
    assert sample_for(10, "medium", **clip) is not None
    assert sample_for(10, "ultrafast", **clip) is None


# Measured on the benchmark's sources (2 shared cores, CPU seconds of every ffmpeg): the real
# two-pass at medium, and the sampling (encode + PSNR scoring) as planned before the cost model
# counted the source's decodes. (width, height, seconds, source bit/s, segments, segment
# seconds, candidates, real encode CPU s, sampling CPU s)
MEASURED = [
    (1920, 1080, 30, 264_000_000, 2, 2.013, (1080, 720, 540), 110.9, 32.4),
    (1280, 720, 60, 170_000_000, 3, 2.516, (720, 540, 480), 108.4, 28.25),
]


@pytest.mark.parametrize(
    ("w", "h", "secs", "bps", "n", "each", "heights", "real", "spent"), MEASURED
)
def test_the_cost_model_matches_the_measured_cpu_time(
    w, h, secs, bps, n, each, heights, real, spent
):
    plan, _ = planned(10, width=w, height=h, duration=secs, video_bps=bps)
    source = ((w, h), 30.0)
    candidates = tuple(((height * 16 // 9 // 2 * 2, height), 30.0) for height in heights)
    encode = sampling.encode_work(plan, "medium", source) * sampling.UNIT_CPU_SECONDS
    work = n * sampling.segment_work(candidates, source, plan.source_video_kbps, each)
    assert encode == pytest.approx(real, rel=0.1)
    assert work * sampling.UNIT_CPU_SECONDS == pytest.approx(spent, rel=0.1)


def test_a_high_bitrate_half_minute_of_1080p_is_not_sampled():
    """Its two decodes per segment (from the keyframe before it) cost 0.29 of the encode."""
    assert sample_for(10, width=1920, height=1080, duration=30, video_bps=264_000_000) is None


@given(
    duration=st.floats(1, 3600),
    limit=st.floats(1, 100),
    height=st.sampled_from([360, 480, 720, 1080, 2160]),
    fps=st.sampled_from([24.0, 30.0, 60.0]),
    preset=st.sampled_from(["ultrafast", "veryfast", "medium", "slow"]),
    bits_per_pixel=st.floats(0.01, 5),
)
@settings(max_examples=200, deadline=None)
def test_a_sampling_never_exceeds_its_cost_share_and_stays_inside_the_clip(
    duration, limit, height, fps, preset, bits_per_pixel
):
    width = height * 16 // 9
    bps = int(bits_per_pixel * width * height * fps)
    try:
        plan, probe = planned(
            limit, duration=duration, width=width, height=height, fps=fps, video_bps=bps
        )
    except CannotFitError:  # nothing to sample
        return
    sample = plan_sampling(plan, probe.video.display_size, probe.video.fps, preset)
    if sample is None:
        return
    assert sample.cost_share <= COST_SHARE + 1e-9
    kbps = plan.source_video_kbps
    spent = sampling.segment_work(sample.candidates, sample.reference, kbps, sample.seconds)
    total = sampling.encode_work(plan, preset, sample.reference)
    assert len(sample.starts) * spent / total == pytest.approx(sample.cost_share)
    assert sampling.SEGMENT_SECONDS[0] <= sample.seconds <= sampling.SEGMENT_SECONDS[1]
    assert sample.rule in sample.candidates
    assert all(s >= 0 and s + sample.seconds <= duration + 1e-6 for s in sample.starts)


def _sample() -> SamplePlan:
    ladder = frame_candidates(1280, 720, 30.0)
    return SamplePlan(tuple(ladder[:3]), ladder[0], ladder[0], (10.0, 40.0), 2.0, 0.1)


def test_the_rule_keeps_its_pick_unless_another_candidate_clearly_wins():
    sample = _sample()
    high, mid, low = sample.candidates
    assert pick_candidate(sample, {high: 0.950, mid: 0.9505, low: 0.94}, "ssim") == high
    assert pick_candidate(sample, {high: 0.950, mid: 0.960, low: 0.94}, "ssim") == mid
    assert pick_candidate(sample, {high: 80.0, mid: 80.0 + MIN_GAIN["vmaf"] * 2}, "vmaf") == mid
    assert pick_candidate(sample, {mid: 0.99}, "ssim") == high  # the pick's sample failed
    assert pick_candidate(sample, {}, "ssim") == high


def test_a_zoom_that_psnr_sees_gain_at_540p_takes_540p_where_ssim_saw_too_little():
    """Measured samples of the 720p mandelbrot zoom at 10 MiB (benchmarks/sampling.py): the
    full encode at 540p scored +5.4 VMAF over 720p; SSIM's 0.13 dB kept 720p."""
    sample = _sample()
    high, mid, low = sample.candidates
    psnr = {high: 24.3488, mid: 24.6445, low: 24.5846}
    ssim = {high: 0.8351, mid: 0.8400, low: 0.8360}
    assert pick_candidate(sample, psnr, "psnr") == mid
    assert pick_candidate(sample, ssim, "ssim") == high
    # at 25 MiB PSNR keeps the source's size
    assert pick_candidate(sample, {high: 26.08, mid: 25.50, low: 25.29}, "psnr") == high


@needs_ffmpeg
async def test_without_libvmaf_the_samples_are_scored_with_psnr():
    metric = await scoring_metric(SETTINGS, Path("clip.mp4"))
    assert metric in {"psnr", "vmaf"}


def test_scores_are_read_from_the_metric_logs(tmp_path):
    ssim = tmp_path / "ssim.log"
    ssim.write_text("n:1 Y:0.9 U:0.9 V:0.9 All:0.900000 (10.0)\nn:2 Y:1 All:0.800000 (7.0)\n")
    assert read_score(ssim, "ssim") == pytest.approx(0.85)
    vmaf = tmp_path / "vmaf.json"
    vmaf.write_text('{"pooled_metrics": {"vmaf": {"mean": 71.5}}}')
    assert read_score(vmaf, "vmaf") == 71.5
    assert read_score(tmp_path / "missing.log", "ssim") is None
    psnr = tmp_path / "psnr.log"
    psnr.write_text("frame:0\nlavfi.psnr.mse_avg=10.0\nframe:1\nlavfi.psnr.mse_avg=30.0\n")
    assert read_score(psnr, "psnr") == pytest.approx(10 * math.log10(255**2 / 20))


# --- real ffmpeg -----------------------------------------------------------------------------


@needs_ffmpeg
async def test_sampling_a_tiny_clip_scores_every_candidate_and_cleans_up(tmp_path):
    source = _media.make_video(tmp_path / "clip.mp4", 4, 320, 240, noisy=True, audio=False)
    probe = await probe_media(source, SETTINGS)
    plan = plan_encode(probe, 60 * 1024, SETTINGS)
    work = tmp_path / "work"
    work.mkdir()
    frames = (((320, 240), 25.0), ((240, 180), 25.0), ((320, 240), 12.5))
    sample = SamplePlan(frames, frames[0], frames[0], (0.5, 2.5), 1.0, 0.1)
    reports: list[float] = []
    result = await sample_frames(
        plan, probe, sample, Workspace(work, source), settings=SETTINGS, report=reports.append
    )
    assert set(result.scores) == set(frames)
    assert all(
        0.0 < v <= (100.0 if result.metric == "vmaf" else 99.0) for v in result.scores.values()
    )
    assert result.chosen in frames and result.metric in {"psnr", "vmaf"}
    assert reports == sorted(reports) and reports[-1] == 100.0
    assert list(work.iterdir()) == []


@needs_ffmpeg
async def test_a_sampled_compression_reports_the_stage_and_fits(tmp_path, monkeypatch):
    monkeypatch.setattr(sampling, "MIN_DURATION", 1.0)
    monkeypatch.setattr(sampling, "COST_SHARE", 10.0)
    source = _media.make_video(tmp_path / "clip.mp4", 4, 320, 240, noisy=True)
    work = tmp_path / "work"
    work.mkdir()
    progress: list[float] = []
    outcome = await compress_with_details(
        MediaFile(source, source.stat().st_size, MediaType.VIDEO),
        80 * 1024,
        settings=SETTINGS,
        workdir=work,
        on_progress=progress.append,
    )
    assert outcome.sampling is not None and outcome.sampling.scores
    assert (outcome.plan.scale, outcome.plan.fps) == outcome.sampling.chosen
    assert outcome.outputs[0].size_bytes <= 80 * 1024
    assert progress == sorted(progress) and progress[-1] == 100.0
    assert sorted(p.name for p in work.iterdir()) == ["clip.compressed.mp4"]
