"""When to encode again and at what bitrate, from the sizes measured so far (pure).

Every output is measured: one over its target is re-encoded lower, in proportion to the miss,
at most ``MAX_ENCODES`` times in all; a video that fits but leaves its budget underused may be
re-encoded once higher.
"""

from __future__ import annotations

import math
from pathlib import Path

from .._models import MIB
from ._errors import CompressionError
from ._model import AudioRung, EncodePlan
from ._plan import AUDIO_MONO_BELOW_KBPS, AUDIO_ONLY_LADDER

MAX_ENCODES = 3
"""The first encode plus at most two corrective re-encodes."""
CORRECTION = 0.94
"""A re-encode aims at ``(target / actual) * CORRECTION`` of the previous bitrate."""
UNDERFILL = 0.90
"""A video output under this share of its target may be re-encoded once at a higher bitrate."""
RAISE_CORRECTION = 0.97
"""An upward re-encode aims at this share of the predicted bitrate (a miss wastes an encode)."""
MAX_RAISE = 1.5
"""An upward re-encode raises the video bitrate by at most this factor."""
RAISE_MAX_BITS_PER_PIXEL = 0.2
"""No upward re-encode past this video density (bits per pixel per frame): the picture is as
good as it gets, and x264 often cannot even spend the bits (a calm 720p clip planned at 0.7
bits per pixel stays at 70% of its target however high the bitrate)."""


def still_over(path: Path, size: int, target: int, encodes: int) -> CompressionError:
    """The error for an output still over its target when no re-encode is left."""
    return CompressionError(
        path,
        f"still {size / MIB:.2f} MiB after {encodes} encodes, over the "
        f"{target / MIB:.2f} MiB limit; try a lower limit margin or a faster preset",
    )


def lowered_video_kbps(plan: EncodePlan, size: int) -> int | None:
    """The video bitrate of a re-encode after an output of ``size`` bytes missed the target.

    None when it would fall below 1 kb/s.
    """
    kbps = math.floor(plan.video_kbps * plan.target_bytes / size * CORRECTION)
    return kbps if kbps >= 1 else None


def lowered_audio(plan: EncodePlan, size: int) -> AudioRung | None:
    """The audio rung of a re-encode after an output of ``size`` bytes missed the target.

    AAC and Opus take the corrected bitrate to the kilobit; MP3 the highest rung under it.
    None when even the lowest rung is above it.
    """
    wanted = plan.audio_kbps * plan.target_bytes / size * CORRECTION
    rung = next((r for r in AUDIO_ONLY_LADDER if r.kbps <= wanted), None)
    if rung is not None and plan.codec != "libmp3lame":
        kbps = math.floor(wanted)
        rung = AudioRung(kbps, 1 if kbps < AUDIO_MONO_BELOW_KBPS else 2)
    return rung


def raised_kbps(plan: EncodePlan, measured: list[tuple[int, int]]) -> int | None:
    """The video bitrate of one upward re-encode, or None when it is not worth the risk.

    Only for an output that fit but used under ``UNDERFILL`` of its target, planned below the
    source's video bitrate. Each measured encode (kb/s, bytes) predicts the bitrate at which
    the video would fill the plan's budget, never the whole target (audio and container as
    planned, video bytes in proportion to the bitrate); the lowest prediction is taken,
    ``RAISE_CORRECTION`` below it, and never above the source's bitrate or ``MAX_RAISE`` times
    the current one, nor to ``RAISE_MAX_BITS_PER_PIXEL``. The output is measured anyway: a
    miss only costs the encode.
    """
    size = measured[-1][1]
    if size >= UNDERFILL * plan.target_bytes or plan.scale is None:
        return None
    pixels_per_second = plan.scale[0] * plan.scale[1] * (plan.fps or 30.0)
    densest = RAISE_MAX_BITS_PER_PIXEL * pixels_per_second / 1000
    ceiling = min(plan.source_video_kbps or math.inf, densest)
    if plan.video_kbps >= ceiling:
        return None
    others = plan.planned_bytes - plan.video_kbps * 125 * plan.duration  # audio + container
    aim = min(plan.budget_bytes + plan.overhead_bytes, plan.target_bytes) - others
    predictions = [kbps * aim / (got - others) for kbps, got in measured if got > others]
    if len(predictions) < len(measured) or aim <= 0:
        return None
    kbps = math.floor(
        min(min(predictions) * RAISE_CORRECTION, ceiling, plan.video_kbps * MAX_RAISE)
    )
    return kbps if kbps > plan.video_kbps else None
