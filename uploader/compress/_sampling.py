"""Choosing a video's output size and frame rate by measurement (pure decisions).

The bits-per-pixel rule (``_frames``) guesses where a smaller frame starts to look better; the
crossover moves a lot with the content (a calm pattern keeps 720p at 0.02 bits per pixel, a
zooming fractal wants 540p at 0.05). So before the real encode a few short segments spread
through the clip are encoded at the plan's bitrate at the rule's pick and its neighbours on the
ladder (and at 30 fps when the source is faster), with a fast preset, and each is scored
against the source at the source's size. This module decides whether that is worth it, what to
sample, and which candidate wins; ``_sample`` runs it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from ._ffmpeg import preset_speed
from ._frames import frame_candidates, min_bits_per_pixel
from ._model import EncodePlan

SAMPLE_PRESET = "veryfast"
"""The x264 preset of the samples: the ranking of sizes holds across presets."""
COST_SHARE = 0.15
"""Sampling may cost at most this share of the real encode's estimated work (the estimate
errs by up to half on hard-to-decode sources: this keeps it under a quarter)."""
MIN_DURATION = 15.0
"""Clips shorter than this keep the bits-per-pixel rule (segments would cover them anyway)."""
SEGMENT_SECONDS = (2.0, 3.0)
"""Each sampled segment lasts this long: shorter ones leave x264's rate control unsettled."""
MAX_SEGMENTS = 3
COMFORT = 4.0
"""At this many times its bits-per-pixel threshold the source's size stays: sampling a lower
rung cannot win there (measured: a 720p clip at 0.12 bits per pixel kept its size)."""
MIN_GAIN = {"psnr": 0.15, "ssim": 0.15, "vmaf": 0.5}
"""A candidate replaces the rule's pick only when it scores this much higher (PSNR in dB; SSIM
in dB, ``-10 log10(1 - ssim)``: 0.002 is 0.2 dB at SSIM 0.96 but nothing at 0.52 on pure
noise). Measured: a zooming fractal at 10 MiB gained 0.30 dB PSNR at 540p (+5.4 VMAF in the
full encode); at 25 MiB, and a 1080p swinging pattern at 10 MiB, lost 0.6 dB below the source's
size."""
FAST_FPS = 30.0
"""Sources faster than this are also sampled at this frame rate."""
PASS1_COST = 0.4
"""x264's first (analysis) pass costs about this share of the second."""
SCORE_COST = 1.0
"""Decoding, scaling and scoring one candidate's sample at the source's size, relative to
encoding the source's size at the sample preset (measured: 480p, CPU seconds)."""
REFERENCE_PIXELS = 1280 * 720

Frame = tuple[tuple[int, int], float]


@attrs.frozen
class SamplePlan:
    """What to sample before the real encode.

    Attributes:
        candidates: the (size, fps) pairs to compare, best first on the ladder.
        rule: the bits-per-pixel rule's pick (kept on ties).
        reference: the source's upright size and fps, where every sample is scored.
        starts: where each segment starts in the source (seconds).
        seconds: each segment's length.
        cost_share: the sampling's estimated work relative to the real encode's.
    """

    candidates: tuple[Frame, ...]
    rule: Frame
    reference: Frame
    starts: tuple[float, ...]
    seconds: float
    cost_share: float


def _pixels(frame: Frame) -> float:
    (width, height), fps = frame
    return width * height * fps / (REFERENCE_PIXELS * 30.0)


def encode_work(plan: EncodePlan, preset: str) -> float:
    """The real two-pass encode's estimated work (relative units)."""
    assert plan.scale is not None
    frame = (plan.scale, plan.fps or 30.0)
    return plan.duration * (1 + PASS1_COST) * preset_speed(preset) * _pixels(frame)


def sampling_work(candidates: tuple[Frame, ...], source: Frame, seconds: float) -> float:
    """The work of encoding and scoring ``seconds`` of samples of every candidate."""
    score = SCORE_COST * preset_speed(SAMPLE_PRESET) * _pixels(source)
    return seconds * sum(preset_speed(SAMPLE_PRESET) * _pixels(c) + score for c in candidates)


def _candidates(ladder: list[Frame], rule: Frame, source_fps: float) -> tuple[Frame, ...]:
    """The rule's pick, the rung above and the rung(s) below (three in all), and the pick at
    ``FAST_FPS`` for a fast source."""
    i = ladder.index(rule)
    low = max(0, min(i - 1, len(ladder) - 3))
    chosen = ladder[low : low + 3]
    if source_fps > FAST_FPS and rule[1] > FAST_FPS:
        chosen.append((rule[0], FAST_FPS))
    return tuple(chosen)


def plan_sampling(
    plan: EncodePlan, display_size: tuple[int, int], source_fps: float, preset: str
) -> SamplePlan | None:
    """What to sample for a video plan, or None to keep the rule's pick.

    None when the clip is short, split into parts, or has its size kept by the budget (at the
    source's bitrate, or ``COMFORT`` times the threshold), or when even the shortest sampling
    would cost over ``COST_SHARE`` of the encode.

    Args:
        plan: the planned video (its ``scale`` and ``fps`` are the rule's pick).
        display_size: the source's upright size.
        source_fps: the source's frame rate (as planned: capped at 60).
        preset: the real encode's x264 preset.
    """
    if plan.scale is None or plan.duration < MIN_DURATION or plan.parts > 1:
        return None
    if plan.source_video_kbps and plan.video_kbps >= plan.source_video_kbps:
        return None
    top = (display_size[0] * display_size[1]) * source_fps
    if plan.video_kbps * 1000 / top >= COMFORT * min_bits_per_pixel(*display_size):
        return None
    ladder = frame_candidates(*display_size, source_fps)
    rule: Frame = (plan.scale, plan.fps or source_fps)
    if rule not in ladder:
        return None
    candidates = _candidates(ladder, rule, source_fps)
    if len(candidates) < 2:
        return None
    budget = COST_SHARE * encode_work(plan, preset)
    source: Frame = (display_size, source_fps)
    per_second = sampling_work(candidates, source, 1.0)
    segments = min(MAX_SEGMENTS, int(budget / per_second / SEGMENT_SECONDS[0]))
    if segments < 2:
        return None
    seconds = min(SEGMENT_SECONDS[1], budget / per_second / segments)
    step = plan.duration / segments
    starts = tuple(round(step * (i + 0.5) - seconds / 2, 3) for i in range(segments))
    share = per_second * seconds * segments / encode_work(plan, preset)
    return SamplePlan(candidates, rule, source, starts, seconds, share)


def _comparable(score: float, metric: str) -> float:
    """A score on a scale where equal steps mean equal gains (dB for PSNR and SSIM)."""
    if metric in ("vmaf", "psnr"):
        return score
    return -10 * math.log10(max(1 - score, 1e-10))


def pick_candidate(sample: SamplePlan, scores: Mapping[Frame, float], metric: str) -> Frame:
    """The best-scoring candidate, or the rule's pick unless it wins by ``MIN_GAIN``.

    Candidates without a score (their sample failed) are left out.
    """
    scored = {c: _comparable(s, metric) for c, s in scores.items() if c in sample.candidates}
    if not scored or sample.rule not in scored:
        return sample.rule
    best = max(scored, key=lambda c: scored[c])
    if scored[best] - scored[sample.rule] < MIN_GAIN[metric]:
        return sample.rule
    return best
