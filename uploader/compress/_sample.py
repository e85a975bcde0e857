"""The sampling runner: encode and score short segments at each candidate frame, pick the best.

The decisions (whether to sample, what, which candidate wins) are in ``_sampling``; this module
runs ffmpeg for each (candidate, segment), reads the score it logs, and returns the plan with
the chosen size and fps. A sample that fails only loses its candidate: the real encode follows
whatever the sampling found.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import attrs

from .._settings import Settings
from ._commands import sample_command, score_command
from ._effort import preset_of
from ._errors import EncodeTimeoutError, FFmpegFailedError
from ._ffmpeg import encode_timeout, run_encode, run_tool
from ._frames import MAX_FPS
from ._model import EncodePlan
from ._probe import MediaProbe, ffprobe_command
from ._sampling import (
    SAMPLE_PRESET,
    Frame,
    SamplePlan,
    latest_starts,
    pick_candidate,
    plan_sampling,
    seek_margin,
    snap_starts,
)
from ._workspace import Workspace

_SSIM_FRAME = re.compile(r"All:([\d.]+)")
_PSNR_MSE = re.compile(r"lavfi\.psnr\.mse_avg=([\d.]+)")
_METRICS: dict[str, str] = {}
"""The metric each ffmpeg path scores with (``vmaf`` when it has libvmaf), found once."""


@attrs.frozen
class SampleResult:
    """What sampling measured: every candidate's mean score and the pick."""

    metric: str
    scores: dict[Frame, float]
    chosen: Frame


async def scoring_metric(settings: Settings, path_for_errors: Path) -> str:
    """``vmaf`` when the ffmpeg has libvmaf, else ``psnr`` (asked once per ffmpeg path).

    Not SSIM: on a zooming fractal at 10 MiB it saw 540p only 0.13 dB ahead of 720p, where
    PSNR saw 0.30 dB and full encodes scored +5.4 VMAF (``benchmarks/sampling.py``).
    """
    ffmpeg_path = settings.compression_ffmpeg_path
    if ffmpeg_path not in _METRICS:
        result = await run_tool(
            [ffmpeg_path, "-hide_banner", "-nostdin", "-filters"],
            path=path_for_errors,
            time_limit=30.0,
        )
        _METRICS[ffmpeg_path] = "vmaf" if b" libvmaf " in result.stdout else "psnr"
    return _METRICS[ffmpeg_path]


KEYFRAME_PROBE_SECONDS = 30.0


async def plan_samples(
    plan: EncodePlan, probe: MediaProbe, settings: Settings
) -> SamplePlan | None:
    """What to sample for a video plan (``plan_sampling``), with the segments moved onto the
    source's keyframes nearest their starts within their shares of the clip; planned again
    with the cost of decoding up to each start when they cannot be (None: keep the rule's
    pick)."""
    video = probe.video
    assert video is not None and video.display_size is not None
    source_fps = min(video.fps or 25.0, MAX_FPS)
    planning = (plan, video.display_size, source_fps, preset_of(settings))
    sample = plan_sampling(*planning, seek_frames=0.0)
    if sample is None:
        return None
    margin = seek_margin(probe.demuxer, video.fps or source_fps)
    latest = latest_starts(sample, plan.duration, margin)
    times = tuple(t for pair in zip(sample.starts, latest, strict=True) for t in pair)
    found = await keyframes_before(probe, times, settings)
    choices = [tuple(found[i : i + 2]) for i in range(0, len(found), 2)]
    snapped = snap_starts(sample.starts, sample.seconds, choices, margin)
    if snapped is None:
        return plan_sampling(*planning)
    return attrs.evolve(sample, starts=snapped)


async def keyframes_before(
    probe: MediaProbe, times: tuple[float, ...], settings: Settings
) -> list[float | None]:
    """The source's video keyframe at or before each time (seconds from its start, as
    ``-ss`` counts them), None where ffprobe did not say.

    One ffprobe seeks to each time and reads one packet there: seeking lands on the keyframe
    at or before it, so that packet is the keyframe (nothing is decoded).
    """
    video = probe.video
    assert video is not None
    intervals = ",".join(f"{t + probe.start_time:.3f}%+#1" for t in times)
    cmd = ffprobe_command(
        settings,
        probe.path,
        *("-f", probe.demuxer, "-read_intervals", intervals),
        *("-select_streams", str(video.index), "-show_entries", "packet=pts_time,flags"),
        *("-of", "json"),
    )
    try:
        result = await run_tool(cmd, path=probe.path, time_limit=KEYFRAME_PROBE_SECONDS)
    except EncodeTimeoutError:  # only advice: the segments keep their planned starts
        return [None] * len(times)
    if result.returncode != 0:
        return [None] * len(times)
    return parse_keyframes(result.stdout, times, probe.start_time)


def parse_keyframes(
    stdout: bytes, times: tuple[float, ...], start_time: float
) -> list[float | None]:
    """The keyframe at or before each time (from the source's start) in ffprobe's packets,
    one per interval; None where the packet is no keyframe or lies after its time (a seek by
    bytes, as in MPEG-TS, can land there); all None unless there is one packet per time."""
    count = len(times)
    try:
        packets = json.loads(stdout or b"{}").get("packets") or []
    except (ValueError, AttributeError):
        return [None] * count
    if len(packets) != count:
        return [None] * count
    found: list[float | None] = []
    for time, packet in zip(times, packets, strict=True):
        try:
            pts = float(packet["pts_time"]) - start_time
        except (KeyError, TypeError, ValueError):
            pts = math.nan
        keyframe = "K" in str(packet.get("flags", "")) and math.isfinite(pts)
        found.append(pts if keyframe and pts <= time + 0.001 else None)
    return found


def read_score(log: Path, metric: str) -> float | None:
    """The mean score in a metric filter's log (ssim: per-frame stats; psnr: frame metadata;
    vmaf: JSON)."""
    try:
        text = log.read_text()
    except OSError:
        return None
    if metric == "vmaf":
        try:
            return float(json.loads(text)["pooled_metrics"]["vmaf"]["mean"])
        except (ValueError, KeyError, TypeError):
            return None
    if metric == "psnr":  # the mean squared error over all frames, in dB
        errors = [float(m.group(1)) for m in _PSNR_MSE.finditer(text)]
        return 10 * math.log10(255**2 / max(sum(errors) / len(errors), 1e-10)) if errors else None
    values = [float(m.group(1)) for m in _SSIM_FRAME.finditer(text)]
    return sum(values) / len(values) if values else None


async def sample_frames(
    plan: EncodePlan,
    probe: MediaProbe,
    sample: SamplePlan,
    space: Workspace,
    *,
    settings: Settings,
    report: Callable[[float], None],
) -> SampleResult:
    """Encode every candidate (one ffmpeg), score them all (another); the pick by
    ``pick_candidate``. Sampling that fails keeps the rule's pick."""
    metric = await scoring_metric(settings, probe.path)
    frames = list(sample.candidates)
    outs = [(space.temp(".mkv"), frame) for frame in frames]
    logs = [space.temp(".log") for _ in frames]
    seconds = sample.seconds * len(sample.starts)
    pixels = sum(w * h for (w, h), _ in frames)
    timeout = encode_timeout(seconds, pixels, SAMPLE_PRESET) * 2
    starts, each = sample.starts, sample.seconds
    scores: dict[Frame, float] = {}
    try:
        encode = sample_command(
            probe,
            outs,
            video_kbps=plan.video_kbps,
            preset=SAMPLE_PRESET,
            starts=starts,
            seconds=each,
            settings=settings,
        )
        await run_encode(encode, path=probe.path, time_limit=timeout, duration=0, report=None)
        report(50.0)
        samples = [(out, frame, log) for (out, frame), log in zip(outs, logs, strict=True)]
        score = score_command(
            probe,
            samples,
            sample.reference,
            metric=metric,
            starts=starts,
            seconds=each,
            settings=settings,
        )
        await run_encode(score, path=probe.path, time_limit=timeout, duration=0, report=None)
        for frame, log in zip(frames, logs, strict=True):
            value = read_score(log, metric)
            if value is not None:
                scores[frame] = value
    except FFmpegFailedError:
        pass  # the samples are only advice: the real encode follows the rule's pick
    finally:
        for path in [out for out, _ in outs] + logs:
            space.discard(path)
    report(100.0)
    return SampleResult(metric, scores, pick_candidate(sample, scores, metric))


def with_frame(plan: EncodePlan, frame: Frame) -> EncodePlan:
    """The plan encoding at ``frame`` (size, fps)."""
    return attrs.evolve(plan, scale=frame[0], fps=frame[1])
