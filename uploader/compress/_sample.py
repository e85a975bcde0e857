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
from ._errors import FFmpegFailedError
from ._ffmpeg import encode_timeout, run_encode, run_tool
from ._model import EncodePlan
from ._probe import MediaProbe
from ._sampling import SAMPLE_PRESET, Frame, SamplePlan, pick_candidate
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
