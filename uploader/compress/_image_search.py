"""Choosing an image's next quality (pure): predict from the encodes so far what fills the budget.

An image's size grows smoothly with the encoder's quality, so instead of bisecting a fixed
ladder each encode is aimed where a model of the measured sizes says it fills ``AIM`` of the
target: ``ln(bytes) = a + k * level``, where ``level`` is the codec's quality mapped onto a
scale on which typical pictures grow about linearly in log-bytes (``QualityScale``). One
measured encode fixes ``a`` (``k`` from the prior); two fix both. A result between ``FILL`` and
100% of the target is kept; otherwise the next encode is aimed inside the bracket of the best
fitting and the lowest overshooting level. When even the floor quality cannot fit, the picture
is shrunk so that a comfortable quality fits (bytes grow with pixels ** ``PIXEL_EXPONENT``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import attrs

FILL = 0.90
"""A fitting result using at least this share of the target is kept."""
AIM = 0.955
"""Each prediction aims at this share of the target (the middle of FILL..100%)."""
RESOLUTION = 0.015
"""Levels closer than this (about 1.5% in bytes) are not worth another encode."""
MAX_ENCODES_PER_SIZE = 5
"""At one picture size the search keeps its best fit (or shrinks) after this many encodes."""
PIXEL_EXPONENT = 0.9
"""Bytes grow about as pixels ** 0.9 at equal quality (fine detail is lost when shrinking)."""
SHRINK_SIDE_BOUNDS = (0.25, 0.92)
"""A shrink scales each side by a factor within these bounds."""
SHRINK_MARGIN = 0.15
"""A prediction this far (in level) under the floor shrinks without encoding the floor first."""
SLOPE_BOUNDS = (0.3, 3.0)
"""A fitted slope ``k`` outside these bounds is clamped (noise between two close encodes)."""


@attrs.frozen
class QualityScale:
    """A codec's quality knob as a level on which log-bytes grow about linearly.

    Attributes:
        codec: the encoder (``libwebp``: quality 0-100; ``mjpeg``: qscale, lower is better).
        floor: the worst quality accepted before shrinking (codec units).
        best: the best quality searched (codec units).
        first: the quality of the first encode (codec units).
        shrink_to: the quality a shrink is sized for (codec units).
        full_chroma_down_to: full-resolution (4:4:4) chroma is kept down to this quality
            (codec units); None when the codec has no choice.
    """

    codec: str
    floor: float
    best: float
    first: float
    shrink_to: float
    full_chroma_down_to: float | None = None

    def level(self, quality: float) -> float:
        """The level of a codec quality (higher is better, about ln-bytes)."""
        if self.codec == "mjpeg":
            return -math.log(quality)
        return _interpolate(_WEBP_QUALITY, _WEBP_LEVEL, quality)

    def quality(self, level: float) -> float:
        """The codec quality of a level (the inverse of ``level``), rounded for the command."""
        if self.codec == "mjpeg":
            return round(math.exp(-level), 3)
        return round(_interpolate(_WEBP_LEVEL, _WEBP_QUALITY, level), 2)


_WEBP_QUALITY = (0.0, 20.0, 30.0, 50.0, 70.0, 80.0, 90.0, 95.0, 100.0)
_WEBP_LEVEL = (-1.5, -1.05, -0.85, -0.5, -0.25, 0.0, 0.55, 1.05, 1.6)
"""ln(bytes) of WebP against quality, relative to quality 80, between a synthetic photo and a
detailed fractal (libwebp method 4, 1280x960): the steep rise above 90 is why a fixed ladder
stepping 5 there wastes or overshoots the budget."""


def _interpolate(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """Piecewise-linear ``y(x)`` through the points (``xs`` increasing), clamped at the ends."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


WEBP_SCALE = QualityScale("libwebp", floor=40.0, best=100.0, first=90.0, shrink_to=75.0)
JPEG_SCALE = QualityScale(
    "mjpeg", floor=15.0, best=1.0, first=2.0, shrink_to=5.0, full_chroma_down_to=3.0
)


@attrs.frozen
class Measured:
    """One encode at the current picture size: its level and its bytes."""

    level: float
    size: int


@attrs.frozen
class SizeModel:
    """``ln(bytes) = a + k * level`` at one picture size."""

    a: float
    k: float = 1.0

    def bytes_at(self, level: float) -> float:
        """The predicted bytes at ``level``."""
        return math.exp(self.a + self.k * level)

    def level_for(self, size: float) -> float:
        """The level predicted to give ``size`` bytes."""
        return (math.log(size) - self.a) / self.k

    def scaled(self, pixel_ratio: float) -> SizeModel:
        """The model for the picture scaled to ``pixel_ratio`` of its pixels."""
        return self.times(pixel_ratio**PIXEL_EXPONENT)

    def times(self, share: float) -> SizeModel:
        """The model with every size multiplied by ``share``."""
        return SizeModel(self.a + math.log(share), self.k)


def fit_model(measured: Sequence[Measured], prior: SizeModel | None) -> SizeModel | None:
    """The model through the measured encodes (the two nearest the target's bracket).

    One encode keeps the prior's slope (1 without a prior) and fits the intercept; two or more
    fit both from the last two at different levels. None without encodes or a prior.
    """
    if not measured:
        return prior
    k = prior.k if prior is not None else 1.0
    last = measured[-1]
    others = [m for m in measured[:-1] if abs(m.level - last.level) > 1e-9]
    if others:
        other = others[-1]
        slope = (math.log(last.size) - math.log(other.size)) / (last.level - other.level)
        k = min(max(slope, SLOPE_BOUNDS[0]), SLOPE_BOUNDS[1])
    return SizeModel(math.log(last.size) - k * last.level, k)


@attrs.frozen
class Keep:
    """Keep this measured encode: it fills the budget, or no encode would do better."""

    kept: Measured


@attrs.frozen
class Encode:
    """Encode next at this level."""

    level: float


@attrs.frozen
class Shrink:
    """Even the floor cannot fit: scale each side by ``side`` and search again, predicting
    from ``model`` (this size's) scaled to the new pixel count."""

    side: float
    model: SizeModel


@attrs.frozen
class Subsample:
    """Full-resolution chroma would cost too much quality: search again with 4:2:0 chroma,
    predicting from ``model`` (the 4:4:4 one times ``CHROMA_420_SHARE``)."""

    model: SizeModel


ImageStep = Keep | Encode | Shrink | Subsample

CHROMA_420_SHARE = 0.75
"""A JPEG with 4:2:0 chroma takes about this share of the bytes of the 4:4:4 one."""


def next_image_step(
    scale: QualityScale,
    measured: Sequence[Measured],
    target: int,
    prior: SizeModel | None,
    *,
    full_chroma: bool = False,
) -> ImageStep:
    """What to do after the encodes ``measured`` at the current size and chroma.

    Args:
        scale: the codec's quality scale.
        measured: the encodes at this size and chroma, in order.
        target: the byte limit.
        prior: the model carried over from a larger size or 4:4:4 (None at first).
        full_chroma: the encodes keep 4:4:4 chroma (``Subsample`` may follow).
    """
    floor, best_level = scale.level(scale.floor), scale.level(scale.best)
    fits = [m for m in measured if m.size <= target]
    over = [m for m in measured if m.size > target]
    best = max(fits, key=lambda m: m.level) if fits else None
    if best is not None and (best.size >= FILL * target or best.level >= best_level - 1e-9):
        return Keep(best)
    high = min((m.level for m in over), default=None)  # the lowest level known too big
    if best is not None and high is not None and high - best.level <= 2 * RESOLUTION:
        return Keep(best)
    model = fit_model(measured, prior)
    if model is None:
        return Encode(scale.level(scale.first))
    if len(measured) >= MAX_ENCODES_PER_SIZE:
        return Keep(best) if best is not None else _shrink(scale, model, target)
    want = model.level_for(AIM * target)
    low = best.level if best is not None else -math.inf
    if high is not None and not low + RESOLUTION <= want <= high - RESOLUTION:
        want = (max(low, floor) + high) / 2  # the model went outside the bracket: halve it
    want = min(want, best_level)
    chroma_floor = scale.full_chroma_down_to
    too_low_for_full = chroma_floor is not None and want < scale.level(chroma_floor)
    if full_chroma and too_low_for_full and best is None:
        return Subsample(model.times(CHROMA_420_SHARE))
    if best is None and want < floor:
        tried_floor = high is not None and high <= floor + RESOLUTION
        if tried_floor or want < floor - SHRINK_MARGIN:
            return _shrink(scale, model, target)
        want = floor
    if best is not None and want <= best.level + RESOLUTION / 2:
        return Keep(best)
    return Encode(want)


def _shrink(scale: QualityScale, model: SizeModel, target: int) -> Shrink:
    """Scale the sides so that ``scale.shrink_to`` is predicted to fill the budget."""
    ratio = (AIM * target / model.bytes_at(scale.level(scale.shrink_to))) ** (1 / PIXEL_EXPONENT)
    side = min(max(math.sqrt(ratio), SHRINK_SIDE_BOUNDS[0]), SHRINK_SIDE_BOUNDS[1])
    return Shrink(side, model)


def shrunk_size(size: tuple[int, int], side: float) -> tuple[int, int]:
    """``size`` with both sides scaled by ``side``, rounded to even numbers (at least 2)."""
    return (
        max(2, round(size[0] * side / 2) * 2),
        max(2, round(size[1] * side / 2) * 2),
    )
