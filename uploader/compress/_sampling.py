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
from collections.abc import Callable, Mapping

import attrs

from ._ffmpeg import encode_speed, preset_speed
from ._frames import frame_candidates, min_bits_per_pixel
from ._model import EncodePlan

SAMPLE_PRESET = "veryfast"
"""The x264 preset of the samples: the ranking of sizes holds across presets."""
COST_SHARE = 0.12
"""Sampling may cost at most this share of the real encode's estimated work. The estimate
follows the measured CPU time within 10% on the benchmark's 720p and 1080p sources; an
unsampled encode (the wider motion search included) takes about 1.1-1.15x plain two-pass's
CPU, so this keeps a sampled one under the issue's 1.3x (measured: 1.22x on the 720p noise
at 10 MiB). With segments on keyframes and two candidates it still affords three segments of
2.4 s on the benchmark's 720p sources (170 and 60 Mbit/s)."""
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
PASS1_COST = 0.8
"""x264's first (analysis) pass costs about this share of the second (measured at medium,
decode apart: 0.67 on a 1080p pattern, 0.91 on 720p noise)."""
SAMPLE_ENCODE_COST = 3.5
"""A sample's x264 work per second of 720p30, in units of ``preset_speed``. The samples are
short one-pass encodes of three sizes at once and cost about as much per pixel as the real
encode's medium pass (measured: 0.50-0.65 CPU s per second of 720p, 3-3.8 units), not the
third of it ``preset_speed(SAMPLE_PRESET)`` would say."""
SCORE_COST = 0.3
"""Decoding, scaling and scoring (PSNR) one candidate's sample at the source's size, per
second of 720p30 of the source (measured: 0.055 CPU s on 720p and on 1080p)."""
DECODE_COST_PER_MBIT = 0.0165
"""Decoding the source, per second of it and per Mbit/s of its video bitrate (measured: 0.0025
to 0.0029 CPU s per Mbit on x264 sources of 60 to 264 Mbit/s). Decoding dominates sampling on
a high-bitrate source: each segment is decoded twice (encode, then scoring), each time from
the keyframe before it."""
DECODE_COST_PER_PIXEL = 0.1
"""Decoding the source, per second of 720p30, besides its bits (measured: 360p at 3.6 Mbit/s)."""
UNKNOWN_BITS_PER_PIXEL = 1.0
"""The source's video bits per pixel assumed for its decode when its bitrate is unknown."""
SEEK_FRAMES = 125
"""Frames decoded before each segment's start when it is not on a keyframe (input seeking
lands on the keyframe before it; x264's default keyframe gap is 250 frames: measured 112 and
171 frames on average). Segments are moved onto the nearest keyframes (``snap_starts``)
where they can be, which saves this: on the benchmark's noise source, 37% of the sampling's
work."""
UNIT_CPU_SECONDS = 0.17
"""CPU seconds of one unit (``preset_speed`` 1 for a second of 720p30) on the reference
machine: the real encodes' pass 2 at medium took 0.47-0.58 CPU s per second of 720p."""
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


def decode_work(source: Frame, source_kbps: int) -> float:
    """The work of decoding a second of the source (relative units)."""
    (width, height), fps = source
    kbps = source_kbps or UNKNOWN_BITS_PER_PIXEL * width * height * fps / 1000
    return DECODE_COST_PER_MBIT * kbps / 1000 + DECODE_COST_PER_PIXEL * _pixels(source)


def encode_work(plan: EncodePlan, preset: str, source: Frame) -> float:
    """The real two-pass encode's estimated work (relative units): both passes decode the
    whole source."""
    assert plan.scale is not None
    frame = (plan.scale, plan.fps or 30.0)
    x264 = (1 + PASS1_COST) * encode_speed(preset, plan.bits_per_pixel) * _pixels(frame)
    return plan.duration * (x264 + 2 * decode_work(source, plan.source_video_kbps))


def segment_work(
    candidates: tuple[Frame, ...],
    source: Frame,
    source_kbps: int,
    seconds: float,
    seek_frames: float = SEEK_FRAMES,
) -> float:
    """The work one ``seconds``-long segment adds to sampling every candidate: its encodes
    and scores, and its two decodes (encoding, scoring) from ``seek_frames`` before it."""
    encode = SAMPLE_ENCODE_COST * preset_speed(SAMPLE_PRESET)
    per_second = sum(encode * _pixels(c) + SCORE_COST * _pixels(source) for c in candidates)
    decoded = seconds + seek_frames / source[1]
    return seconds * per_second + 2 * decoded * decode_work(source, source_kbps)


def _segments(budget: float, work: Callable[[float], float]) -> tuple[int, float] | None:
    """The most segments (at most ``MAX_SEGMENTS``, at least two) whose work at the shortest
    length fits ``budget``, and the longest length that still fits (None when two do not).
    ``work`` is linear in the length."""
    fixed, per_second = work(0.0), work(1.0) - work(0.0)
    for segments in range(MAX_SEGMENTS, 1, -1):
        seconds = (budget / segments - fixed) / per_second
        if seconds >= SEGMENT_SECONDS[0]:
            return segments, min(SEGMENT_SECONDS[1], seconds)
    return None


def _candidates(ladder: list[Frame], rule: Frame, source_fps: float) -> tuple[Frame, ...]:
    """The rule's pick and its neighbours on the ladder (the rung below only, when the pick is
    the source's size), and the pick at ``FAST_FPS`` for a fast source. Two rungs below the
    source's size never won where one did (the zoom at 10 MiB: 540p 50.82 VMAF in full
    encodes, 480p 50.56), and dropping it lets sampling afford a third segment."""
    i = ladder.index(rule)
    chosen = ladder[max(0, i - 1) : i + 2]
    if source_fps > FAST_FPS and rule[1] > FAST_FPS:
        chosen.append((rule[0], FAST_FPS))
    return tuple(chosen)


def plan_sampling(
    plan: EncodePlan,
    display_size: tuple[int, int],
    source_fps: float,
    preset: str,
    *,
    seek_frames: float = SEEK_FRAMES,
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
        seek_frames: frames decoded before each segment (0 when they will be on keyframes).
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
    source: Frame = (display_size, source_fps)
    total = encode_work(plan, preset, source)
    kbps = plan.source_video_kbps

    def work(seconds: float) -> float:
        return segment_work(candidates, source, kbps, seconds, seek_frames)

    fitting = _segments(COST_SHARE * total, work)
    if fitting is None:
        return None
    segments, seconds = fitting
    step = plan.duration / segments
    starts = tuple(round(step * (i + 0.5) - seconds / 2, 3) for i in range(segments))
    share = segments * work(seconds) / total
    return SamplePlan(candidates, rule, source, starts, seconds, share)


PTS_SEEKING_DEMUXERS = frozenset({"mov"})
"""Demuxers whose files are indexed by presentation time (the mp4 family): ffmpeg seeks there
to exactly the keyframe at or before ``-ss``."""
SEEK_BACK_SECONDS = 3 / 23
"""How far before ``-ss`` ffmpeg seeks in other containers when a stream has B-frames (its
allowance for the decode delay; measured: ``-ss`` 1.02 in a Matroska file with a keyframe
every second started decoding at 0, 1.152 at 1)."""


def seek_margin(demuxer: str, fps: float) -> float:
    """How far after a keyframe a segment starts so that ffmpeg's input seek lands on that
    keyframe: half a frame (at least 2 ms, past the start's rounding to 1 ms), plus ffmpeg's
    step back where the container is not indexed by presentation time."""
    half = max(0.5 / fps, 0.002)
    return half if demuxer in PTS_SEEKING_DEMUXERS else half + SEEK_BACK_SECONDS + 0.002


def latest_starts(sample: SamplePlan, duration: float, margin: float) -> tuple[float, ...]:
    """The latest keyframe each segment can start on (``margin`` after it) and still end
    inside its share of the clip (the segments are centred in equal shares)."""
    step = duration / len(sample.starts)
    return tuple((i + 1) * step - sample.seconds - margin for i in range(len(sample.starts)))


def snap_starts(
    starts: tuple[float, ...],
    seconds: float,
    keyframes: list[tuple[float | None, ...]],
    margin: float,
) -> tuple[float, ...] | None:
    """The segments moved onto keyframes, or None when one cannot be (no keyframe known, or
    each would overlap the segment before).

    Each segment takes the keyframe nearest its planned start among its candidates (the one at
    or before the start, and the last one that still keeps the segment in its share of the
    clip), so that the segments stay spread as planned. It starts ``margin`` after it
    (``seek_margin``): input seeking then lands on that keyframe, so almost none of the source
    is decoded only to be skipped.

    Args:
        starts: the planned starts (seconds from the source's start, ascending).
        seconds: each segment's length.
        keyframes: for each start, keyframe times it may move to (None: unknown).
        margin: how far after its keyframe a segment starts.
    """
    snapped: list[float] = []
    end = 0.0
    for start, choices in zip(starts, keyframes, strict=True):
        usable = [k for k in choices if k is not None and k >= end]
        if not usable:
            return None
        keyframe = min(usable, key=lambda k: abs(k - start))
        snapped.append(round(keyframe + margin, 3))
        end = snapped[-1] + seconds
    return tuple(snapped)


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
