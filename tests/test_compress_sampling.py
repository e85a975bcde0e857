"""Choosing a video's size and frame rate by sampling: the pure decisions, and one real run."""

from __future__ import annotations

import itertools
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import uploader.compress._sample as sample_runner
import uploader.compress._sampling as sampling
from tests import _media
from tests.test_compress_plan import video_probe
from uploader import MIB, MediaFile, MediaType, Settings
from uploader.compress import CannotFitError, compress_with_details, plan_encode, probe_media
from uploader.compress._ffmpeg import WIDE_SEARCH_COST
from uploader.compress._frames import frame_candidates
from uploader.compress._sample import (
    keyframes_before,
    parse_keyframes,
    read_score,
    sample_frames,
    scoring_metric,
)
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
    """The sampling planned as the compressor first plans it: segments on keyframes."""
    plan, probe = planned(limit_mib, **probe_args)
    fps = min(probe.video.fps or 25.0, 60.0)
    return plan_sampling(plan, probe.video.display_size, fps, preset, seek_frames=0.0)


def test_a_starved_minute_of_720p_samples_its_pick_and_the_rungs_around_it():
    sample = sample_for(10, width=1280, height=720, duration=60, video_bps=20_000_000)
    assert sample is not None
    assert sample.candidates == (((1280, 720), 30.0), ((960, 540), 30.0))  # pick, rung below
    assert sample.rule == sample.candidates[0]
    assert sample.reference == ((1280, 720), 30.0)
    assert 2 <= len(sample.starts) <= 3 and 0 < sample.cost_share <= COST_SHARE + 1e-9
    assert all(s >= 0 and s + sample.seconds <= 60 for s in sample.starts)


@pytest.mark.parametrize(
    ("limit", "heights"), [(5, (480, 360, 240)), (8, (540, 480, 360)), (10, (720, 540, 480))]
)
def test_a_pick_below_the_source_size_is_sampled_with_the_rungs_on_both_sides(limit, heights):
    sample = sample_for(limit, width=1920, height=1080, duration=120, video_bps=20_000_000)
    assert sample is not None
    assert [size[1] for size, _ in sample.candidates] == list(heights)
    assert sample.rule == sample.candidates[1]


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


def test_segments_off_keyframes_cost_more_and_may_not_be_affordable():
    """Decoding from the keyframe before each segment (twice) is most of the sampling's work
    on a high-bitrate source: planned without keyframes, the same minute is not sampled."""
    plan, probe = planned(10, width=1280, height=720, duration=60, video_bps=170_000_000)
    args = (plan, probe.video.display_size, 30.0, "medium")
    on_keyframes = plan_sampling(*args, seek_frames=0.0)
    assert on_keyframes is not None and plan_sampling(*args) is None


# Measured on the benchmark's sources (2 shared cores, CPU seconds of every ffmpeg): the real
# two-pass at medium (before it took the wider motion search, whose cost the model now adds),
# and the sampling (encode + PSNR scoring, each segment decoded from the keyframe before it) as
# planned before the cost model counted the source's decodes. (width, height, seconds, source
# bit/s, segments, segment seconds, candidates, real encode CPU s, sampling CPU s)
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
    decode = 2 * secs * sampling.decode_work(source, plan.source_video_kbps)
    x264 = (encode / sampling.UNIT_CPU_SECONDS - decode) / WIDE_SEARCH_COST + decode
    assert x264 * sampling.UNIT_CPU_SECONDS == pytest.approx(real, rel=0.1)
    assert work * sampling.UNIT_CPU_SECONDS == pytest.approx(spent, rel=0.1)


def test_a_high_bitrate_half_minute_of_1080p_is_not_sampled():
    """Decoding its segments alone would cost over a tenth of the encode (a sampled 1080p
    clip that cannot fit at a lower size gains nothing for it: measured +0.55 dB at 1080p)."""
    assert sample_for(10, width=1920, height=1080, duration=30, video_bps=264_000_000) is None


@given(
    duration=st.floats(1, 3600),
    limit=st.floats(1, 100),
    height=st.sampled_from([360, 480, 720, 1080, 2160]),
    fps=st.sampled_from([24.0, 30.0, 60.0]),
    preset=st.sampled_from(["ultrafast", "veryfast", "medium", "slow"]),
    bits_per_pixel=st.floats(0.01, 5),
    seek_frames=st.sampled_from([0.0, sampling.SEEK_FRAMES]),
)
@settings(max_examples=200, deadline=None)
def test_a_sampling_never_exceeds_its_cost_share_and_stays_inside_the_clip(
    duration, limit, height, fps, preset, bits_per_pixel, seek_frames
):
    width = height * 16 // 9
    bps = int(bits_per_pixel * width * height * fps)
    try:
        plan, probe = planned(
            limit, duration=duration, width=width, height=height, fps=fps, video_bps=bps
        )
    except CannotFitError:  # nothing to sample
        return
    sample = plan_sampling(
        plan, probe.video.display_size, probe.video.fps, preset, seek_frames=seek_frames
    )
    if sample is None:
        return
    assert sample.cost_share <= COST_SHARE + 1e-9
    kbps = plan.source_video_kbps
    spent = sampling.segment_work(
        sample.candidates, sample.reference, kbps, sample.seconds, seek_frames
    )
    total = sampling.encode_work(plan, preset, sample.reference)
    assert len(sample.starts) * spent / total == pytest.approx(sample.cost_share)
    assert sampling.SEGMENT_SECONDS[0] <= sample.seconds <= sampling.SEGMENT_SECONDS[1]
    assert sample.rule in sample.candidates
    assert all(s >= 0 and s + sample.seconds <= duration + 1e-6 for s in sample.starts)


@given(
    duration=st.floats(15, 600),
    segments=st.integers(2, 3),
    seconds=st.floats(2, 3),
    keyframe_every=st.floats(0.2, 12),
    fps=st.sampled_from([24.0, 30.0, 60.0, 1000.0]),
    demuxer=st.sampled_from(["mov", "matroska", "mpegts"]),
)
@settings(max_examples=300, deadline=None)
def test_snapped_segments_start_just_past_the_nearest_keyframe_in_their_share(
    duration, segments, seconds, keyframe_every, fps, demuxer
):
    step = duration / segments
    starts = tuple(round(step * (i + 0.5) - seconds / 2, 3) for i in range(segments))
    sample = SamplePlan(((((2, 2), fps),) * 2), ((2, 2), fps), ((2, 2), fps), starts, seconds, 0)
    margin = sampling.seek_margin(demuxer, fps)
    latest = sampling.latest_starts(sample, duration, margin)

    def before(t: float) -> float:
        return keyframe_every * (t // keyframe_every)

    choices = [(before(s), before(late)) for s, late in zip(starts, latest, strict=True)]
    snapped = sampling.snap_starts(starts, seconds, choices, margin)  # type: ignore[arg-type]
    if snapped is None:  # only when a share of the clip can hold no segment on a keyframe
        assert keyframe_every > step - seconds - 2 * margin - 0.001
        return
    seek_back = 0.0 if demuxer == "mov" else sampling.SEEK_BACK_SECONDS
    end = 0.0
    for start, options, moved in zip(starts, choices, snapped, strict=True):
        keyframe = min((k for k in options if k >= end), key=lambda k: abs(k - start))
        landing = moved - seek_back  # where ffmpeg seeks: just past the keyframe, before the next
        assert keyframe < landing <= keyframe + max(0.5 / fps, 0.002) + 0.0026
        assert landing < keyframe + keyframe_every
        assert moved + seconds <= duration  # inside the clip
        end = moved + seconds
    assert all(b >= a + seconds for a, b in itertools.pairwise(snapped))


def test_a_segment_moves_to_the_nearer_keyframe_and_not_onto_the_one_before():
    snap = sampling.snap_starts
    half = sampling.seek_margin("mov", 30.0)
    assert snap((5.0, 20.0), 3.0, [(4.0, 8.0), (None, None)], half) is None
    assert snap((5.0, 20.0), 3.0, [(4.0, 8.0), (16.0, 21.0)], half) == (4.017, 21.017)
    assert snap((5.0, 20.0), 3.0, [(4.0, 6.0), (6.0, 6.0)], half) is None  # 6 < 6.017 + 3


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        (b'{"packets": [{"pts_time": "8.333", "flags": "K_"}, {"pts_time": "41.6", "flags": "K"}]}',
         [8.333 - 1.4, 41.6 - 1.4]),
        (b'{"packets": [{"pts_time": "8.333", "flags": "__"}, {"pts_time": "x", "flags": "K_"}]}',
         [None, None]),
        (b'{"packets": [{"pts_time": "8.333", "flags": "K_"}]}', [None, None]),
        (b'{"packets": [{"pts_time": "11.43", "flags": "K_"}, {"pts_time": "45", "flags": "K"}]}',
         [None, 45 - 1.4]),  # a seek by bytes landed after the first time
        (b"not json", [None, None]),
        (b"", [None, None]),
    ],
)  # fmt: skip
def test_keyframes_are_read_from_one_packet_per_interval(stdout, expected):
    found = parse_keyframes(stdout, (10.0, 44.0), 1.4)
    assert found == [pytest.approx(e) if e is not None else None for e in expected]


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
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])
async def test_the_keyframe_before_each_start_is_found_by_seeking(tmp_path, suffix):
    """A keyframe every second: the one at or before each time, counted from the source's
    start as ``-ss`` counts (an MPEG-TS stream starts at 1.4 s). MPEG-TS seeks by bytes and
    lands anywhere: there a time is either unknown or still a keyframe before it."""
    source = tmp_path / f"clip{suffix}"
    _media._run(
        ["-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=6", "-f", "lavfi",
         "-i", "sine=d=6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
         "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(source)]
    )  # fmt: skip
    probe = await probe_media(source, SETTINGS)
    assert (probe.start_time > 1.0) == (suffix == ".ts")
    scan = subprocess.run(
        ["ffprobe", "-v", "error", "-skip_frame", "nokey", "-select_streams", "0",
         "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    keyframes = [float(t.strip(",")) - probe.start_time for t in scan.stdout.split()]
    times = (1.5, 3.1, 4.96)
    found = await keyframes_before(probe, times, SETTINGS)
    for time, keyframe in zip(times, found, strict=True):
        latest = max(k for k in keyframes if k <= time)
        if suffix == ".ts":
            assert keyframe is None or any(abs(keyframe - k) < 0.002 for k in keyframes)
            assert keyframe is None or keyframe <= time + 0.001
        else:
            assert keyframe == pytest.approx(latest, abs=0.002)


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
async def test_ffmpeg_starts_decoding_a_snapped_segment_at_its_keyframe(tmp_path, suffix):
    """Where ffmpeg's input seek lands for a snapped start: on the keyframe, not one before
    (in Matroska with B-frames ffmpeg steps 3/23 s back before seeking)."""
    source = tmp_path / f"clip{suffix}"
    _media._run(
        ["-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=6", "-c:v", "libx264",
         "-preset", "ultrafast", "-bf", "2", "-g", "25", "-sc_threshold", "0",
         "-pix_fmt", "yuv420p", str(source)]
    )  # fmt: skip
    probe = await probe_media(source, SETTINGS)
    margin = sampling.seek_margin(probe.demuxer, 25.0)
    (start,) = sampling.snap_starts((1.5,), 2.0, [(1.0,)], margin)  # type: ignore[misc]
    run = subprocess.run(
        ["ffmpeg", "-hide_banner", "-debug_ts", "-ss", f"{start:.3f}", "-i", str(source),
         "-t", "0.1", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    first = re.search(r"demuxer -> .*?pkt_pts_time:([\d.]+)", run.stderr)
    assert first is not None and float(first.group(1)) == pytest.approx(1.0, abs=0.05)


@needs_ffmpeg
async def test_keyframes_that_cannot_be_read_leave_the_segments_where_planned(
    tmp_path, monkeypatch
):
    """The keyframe probe is advice: timed out (or failed), sampling is planned with the cost
    of decoding up to each start, as before keyframes were looked for."""
    source = _media.make_video(tmp_path / "clip.mp4", 4, 320, 240, audio=False)
    probe = await probe_media(source, SETTINGS)
    monkeypatch.setattr(sample_runner, "KEYFRAME_PROBE_SECONDS", 0.0)
    assert await keyframes_before(probe, (1.0, 2.0), SETTINGS) == [None, None]
    monkeypatch.setattr(sampling, "MIN_DURATION", 1.0)
    monkeypatch.setattr(sampling, "COST_SHARE", 10.0)
    plan = plan_encode(probe, 60 * 1024, SETTINGS)
    planned_then = await sample_runner.plan_samples(plan, probe, SETTINGS)
    fps = probe.video.fps
    expected = plan_sampling(plan, probe.video.display_size, fps, "veryfast")
    assert planned_then is not None and planned_then == expected


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
