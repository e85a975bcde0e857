"""Choosing an image's next quality (pure): predict from the encodes so far what fills the budget.

An image's size grows smoothly with the encoder's quality, so instead of bisecting a fixed
ladder each encode is aimed where a model of the measured sizes says it fills ``AIM`` of the
target: ``ln(bytes) = a + k * level``, where ``level`` is the codec's quality mapped onto a
scale on which typical pictures grow about linearly in log-bytes (``QualityScale``). One
measured encode fixes ``a`` (``k`` from the prior); two fix both. Where sizes move in steps
(JPEG: noise crossing a quantiser step, a source's own grid) no such line holds, so a picture
tall enough is first sampled (strips encoded at a few qualities in one run): the search starts
from that ``SampledCurve``, shifted through each encode. A result between ``FILL`` and
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
"""WebP levels closer than this (about 1.5% in bytes) are not worth another encode."""
JPEG_RESOLUTION = 0.02
"""JPEG levels closer than this often give the same quantiser matrix (its entries are integers:
near qscale 3 the largest moves by one every ~1.6%), so they are rarely another encode."""
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
        resolution: levels closer than this are not worth another encode.
    """

    codec: str
    floor: float
    best: float
    first: float
    shrink_to: float
    full_chroma_down_to: float | None = None
    resolution: float = RESOLUTION

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
    "mjpeg",
    floor=15.0,
    best=1.0,
    first=2.0,
    shrink_to=5.0,
    full_chroma_down_to=3.0,
    resolution=JPEG_RESOLUTION,
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

    def aim(self, target: int) -> float:
        """The level to encode at next for ``target`` bytes."""
        return self.level_for(AIM * target)


SAMPLE_STRIPS = 6
"""A sample encode takes this many strips of the picture, spread over its height."""
SAMPLE_STRIP_ROWS = 16
"""Each strip is one row of 16x16 blocks (JPEG MCUs, WebP macroblocks), aligned to the grid."""
SAMPLE_BIAS = 1.02
"""A whole picture takes about this many times its strips' bytes scaled by rows (measured:
1.5-2.3% more on a noisy photo at 4:2:0 and 4:4:4 JPEG and a transparent WebP)."""
SAMPLE_SNAP = (0.92, 0.98)
"""A sampled quality predicted to use this share of the target is encoded as it is."""
WEBP_SAMPLES = (60.0, 80.0, 92.0, 100.0)
JPEG_SAMPLES = (1.5, 2.0, 2.5, 3.0, 3.5, 5.0, 8.0)
"""Sampled qualities: JPEG's sizes move in steps (noise crossing a quantiser step, or the
source's own quantisation grid), so its cheap samples are dense."""


SAMPLE_AROUND_STEP = 0.03
"""Around a JPEG source's predicted level the sample takes levels this far apart (3% in
qscale), where a re-encode's size moves in steps (the source's own grid)."""
SAMPLE_AROUND = (-3, -2, -1, 0, 1, 2, 3)
"""(Each sampled level costs about 6% of a whole encode: seven, not nine, saved 0.1x.)"""
SAMPLE_AROUND_WIDE = 0.35
"""... and one level this far either side, should the source's table mislead."""


def sample_levels(scale: QualityScale, around: float | None) -> tuple[float, ...]:
    """The levels a sample encodes, increasing: dense around ``around`` (the level a source's
    own table predicts), or the codec's fixed samples without a prediction."""
    samples = JPEG_SAMPLES if scale.codec == "mjpeg" else WEBP_SAMPLES
    fixed = tuple(sorted(scale.level(q) for q in samples))
    if around is None:
        return fixed
    floor, best = scale.level(scale.floor), scale.level(scale.best)
    wanted = [around + i * SAMPLE_AROUND_STEP for i in SAMPLE_AROUND]
    wanted += [around - SAMPLE_AROUND_WIDE, around + SAMPLE_AROUND_WIDE]
    levels = sorted({scale.level(scale.quality(min(max(x, floor), best))) for x in wanted})
    return tuple(levels) if len(levels) > 1 else fixed


def sample_rows(height: int) -> tuple[int, ...] | None:
    """The top rows of the sample's strips, or None when the picture is too short to sample
    (the strips would be over a quarter of it: encoding it whole costs about as much)."""
    if height < 4 * SAMPLE_STRIPS * SAMPLE_STRIP_ROWS:
        return None
    block = SAMPLE_STRIP_ROWS
    return tuple(
        (2 * i + 1) * height // (2 * SAMPLE_STRIPS) // block * block for i in range(SAMPLE_STRIPS)
    )


@attrs.frozen
class SampledCurve:
    """Bytes against level measured on a sample, scaled to the whole picture: piecewise
    log-linear between the sampled levels, extrapolated with the end segments' slopes.

    Attributes:
        levels: the sampled levels, increasing.
        log_sizes: ln(predicted bytes) at each level, non-decreasing.
    """

    levels: tuple[float, ...]
    log_sizes: tuple[float, ...]

    @classmethod
    def of(cls, points: Sequence[tuple[float, int]], share: float) -> SampledCurve:
        """The curve through (level, sample bytes) points, the sample being ``share`` of the
        picture's rows."""
        ordered = sorted(points)
        logs: list[float] = []
        for _, size in ordered:
            whole = math.log(max(size, 1) * SAMPLE_BIAS / share)
            logs.append(max(whole, logs[-1] if logs else -math.inf))
        return cls(tuple(level for level, _ in ordered), tuple(logs))

    def _slope(self, i: int) -> float:
        rise = self.log_sizes[i + 1] - self.log_sizes[i]
        run = self.levels[i + 1] - self.levels[i]
        return min(max(rise / run, SLOPE_BOUNDS[0]), SLOPE_BOUNDS[1])

    def bytes_at(self, level: float) -> float:
        """The predicted bytes at ``level``."""
        xs, ys = self.levels, self.log_sizes
        if level < xs[0]:
            return math.exp(ys[0] - self._slope(0) * (xs[0] - level))
        if level > xs[-1]:
            return math.exp(ys[-1] + self._slope(len(xs) - 2) * (level - xs[-1]))
        return math.exp(_interpolate(xs, ys, level))

    def level_for(self, size: float) -> float:
        """The level predicted to give ``size`` bytes (the highest, on a flat stretch)."""
        xs, ys, y = self.levels, self.log_sizes, math.log(size)
        if y < ys[0]:
            return xs[0] - (ys[0] - y) / self._slope(0)
        if y >= ys[-1]:
            return xs[-1] + (y - ys[-1]) / self._slope(len(xs) - 2)
        i = bisect.bisect_right(ys, y)
        return xs[i - 1] + (xs[i] - xs[i - 1]) * (y - ys[i - 1]) / (ys[i] - ys[i - 1])

    def aim(self, target: int) -> float:
        """A sampled level predicted within ``SAMPLE_SNAP`` of the target (the best such), whose
        size is known rather than interpolated; else the level predicted to fill ``AIM``."""
        low, high = SAMPLE_SNAP[0] * target, SAMPLE_SNAP[1] * target
        snapped = [
            x
            for x, y in zip(self.levels, self.log_sizes, strict=True)
            if low <= math.exp(y) <= high
        ]
        return max(snapped) if snapped else self.level_for(AIM * target)

    def scaled(self, pixel_ratio: float) -> SampledCurve:
        """The curve for the picture scaled to ``pixel_ratio`` of its pixels."""
        return self.times(pixel_ratio**PIXEL_EXPONENT)

    def times(self, share: float) -> SampledCurve:
        """The curve with every size multiplied by ``share``."""
        return SampledCurve(self.levels, tuple(y + math.log(share) for y in self.log_sizes))


Model = SizeModel | SampledCurve

SOURCE_SHARE = 1.0
"""An ffmpeg JPEG at a JPEG source's own qscale (``_jpeg_tables``) takes about the source's
bytes (measured: 1.00 on ffmpeg-made JPEGs at qscale 1 to 6). Away from it the model takes
slope 1, a guess: measured slopes were 0.25-0.85 within 1.6 times the source's qscale
(steeper further away and for finer sources), with steps where the new quantiser crosses
multiples of the source's; the sample and the second run correct it."""
FIRST_AIMS: tuple[float, ...] = (AIM,)
"""With a prediction from the source, the first run also encodes the whole picture at the
levels predicted to take these shares of the target: landing in FILL..100% ends the search in
that run (one encode covers the prediction erring by -5% to +5%). Measured on the benchmark's
three JPEGs (ffmpeg-made, so their sizes move in steps): a pair (0.975, 0.915) ended one in a
single run but cost more on the others (2.35x one direct encode on average, up to 2.9x); one
aimed encode 2.3x, up to 2.4x; none (the strips alone first) 2.7x, up to 3.7x."""
FIRST_AIMS_UNSAMPLED = (0.975, 0.915)
"""A picture too short to sample has no measured shape to aim the second run with but the
first run's encodes: two of them (covering -7% to +9%) also fix the slope, and cost little
next to ffmpeg's start-up at that size."""


def source_prior(scale: QualityScale, qscale: float, source_bytes: int) -> SizeModel:
    """The size model of a JPEG source re-encoded: its own bytes at its own qscale, slope 1."""
    return SizeModel(math.log(source_bytes * SOURCE_SHARE) - scale.level(qscale), 1.0)


def first_levels(
    scale: QualityScale, prior: Model, target: int, *, full_chroma: bool, sampled: bool = True
) -> tuple[float, ...]:
    """The levels to encode the whole picture at in the first run, best first, from a
    prediction: the ``FIRST_AIMS`` levels (``FIRST_AIMS_UNSAMPLED`` when the run takes no
    sample) within the codec's (and full chroma's) range.

    Empty when the prediction is far under that range: the search shrinks or drops full
    chroma there, from the sample.
    """
    lowest, best = scale.level(scale.floor), scale.level(scale.best)
    if full_chroma and scale.full_chroma_down_to is not None:
        lowest = scale.level(scale.full_chroma_down_to)
    aims = FIRST_AIMS if sampled else FIRST_AIMS_UNSAMPLED
    wanted = [prior.level_for(aim * target) for aim in aims]
    if not wanted or wanted[0] < lowest - SHRINK_MARGIN:
        return ()
    levels: list[float] = []
    for level in wanted:
        level = scale.level(scale.quality(min(max(level, lowest), best)))
        if not levels or levels[-1] - level >= scale.resolution:
            levels.append(level)
    return tuple(levels)


def fit_model(
    measured: Sequence[Measured], prior: Model | None, target: int | None = None
) -> Model | None:
    """The model through the measured encodes (the two nearest the target's bracket).

    A sampled curve is shifted through the encode nearest ``target`` in bytes (the last one
    without a target): its shape is measured, and surest where it is used. Otherwise one
    encode keeps the prior's slope (1 without a prior) and fits the intercept; two or more
    fit both from the last two at different levels. None without encodes or a prior.
    """
    if not measured:
        return prior
    if isinstance(prior, SampledCurve):
        anchor = measured[-1]
        if target is not None:
            anchor = min(measured, key=lambda m: abs(math.log(max(m.size, 1) / target)))
        return prior.times(anchor.size / prior.bytes_at(anchor.level))
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
    model: Model


@attrs.frozen
class Subsample:
    """Full-resolution chroma would cost too much quality: search again with 4:2:0 chroma,
    predicting from ``model`` (the 4:4:4 one times ``CHROMA_420_SHARE``)."""

    model: Model


ImageStep = Keep | Encode | Shrink | Subsample

CHROMA_420_SHARE = 0.75
"""A JPEG with 4:2:0 chroma takes about this share of the bytes of the 4:4:4 one."""


def next_image_step(
    scale: QualityScale,
    measured: Sequence[Measured],
    target: int,
    prior: Model | None,
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
    step_min = scale.resolution
    fits = [m for m in measured if m.size <= target]
    over = [m for m in measured if m.size > target]
    best = max(fits, key=lambda m: m.level) if fits else None
    if best is not None and (best.size >= FILL * target or best.level >= best_level - 1e-9):
        return Keep(best)
    high = min((m.level for m in over), default=None)  # the lowest level known too big
    if best is not None and high is not None and high - best.level <= 2 * step_min:
        return Keep(best)
    model = fit_model(measured, prior, target)
    if model is None:
        return Encode(scale.level(scale.first))
    if len(measured) >= MAX_ENCODES_PER_SIZE:
        return Keep(best) if best is not None else _shrink(scale, model, target)
    want = model.aim(target)
    low = best.level if best is not None else -math.inf
    if high is not None and high - step_min < want < high:
        want = high - step_min  # just under the level known too big
    if high is not None and not low + step_min <= want <= high - step_min:
        want = (max(low, floor) + high) / 2  # the model went outside the bracket: halve it
    if want >= best_level - step_min:
        want = best_level  # the best quality is within a step: encode it, not just under it
    chroma_floor = scale.full_chroma_down_to
    too_low_for_full = chroma_floor is not None and want < scale.level(chroma_floor) - 1e-9
    if full_chroma and too_low_for_full and best is None:
        at_floor = scale.level(chroma_floor or 0.0)  # worth an encode if predicted to fit
        tried = high is not None and high <= at_floor + step_min
        if tried or model.bytes_at(at_floor) > target:
            return Subsample(model.times(CHROMA_420_SHARE))
        want = at_floor
    if best is None and want < floor:
        tried_floor = high is not None and high <= floor + step_min
        if tried_floor or want < floor - SHRINK_MARGIN:
            return _shrink(scale, model, target)
        want = floor
    if best is not None and want <= best.level + step_min / 2:
        return Keep(best)
    return Encode(want)


def _shrink(scale: QualityScale, model: Model, target: int) -> Shrink:
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
