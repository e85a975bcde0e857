"""What to encode next when fitting a still image decoded in memory (pure: measured sizes in).

A picture's encoded size grows smoothly with the encoder's quality. Each codec's quality is
mapped onto a ``level`` on which ln(bytes) of a typical picture grows about linearly with slope
one (``StillScale``), so one measured encode already predicts the quality that fills the
budget, and two or more predict it by the secant through the measured points nearest the
target (bracketing it when they can). A fitting result using at least ``FILL`` of the target is
kept; the next encode is always aimed strictly inside the bracket of the best fitting and the
lowest overshooting quality: by the line through the bracket's ends (regula falsi, Illinois
weighted), halving the bracket instead when the last encode did not halve it, so the search
ends in a few encodes even on a curve the mapping describes badly (flat, then a cliff where the
quantiser stops flattening a picture's noise). When even the floor quality cannot fit, the
search says how much to shrink each side so that ``shrink_to`` would fit.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import attrs

FILL = 0.90
"""A fitting encode using at least this share of the target is kept."""
AIM = 0.955
"""Predictions aim at this share of the target (the middle of FILL..100%)."""
BRACKET_AIM = 0.945
"""Inside a bracket, steps aim a little lower: on a curve that bends (a cliff) the line
through the bracket's ends overshoots more often than it falls short, and an overshoot costs
another encode where a result at FILL..AIM is kept."""
MAX_ENCODES = 6
"""At one picture size the best fit is kept (or the picture shrunk) after this many encodes."""
PIXEL_EXPONENT = 0.9
"""Bytes grow about as pixels ** 0.9 at equal quality (a smaller picture has less fine detail)."""
SIDE_BOUNDS = (0.25, 0.92)
"""One shrink scales each side by a factor within these bounds."""
SLOPE_BOUNDS = (0.3, 3.0)
"""A secant slope (ln-bytes per level) outside these bounds is clamped: two close encodes can
differ by noise more than by quality."""
SKIP_FLOOR_MARGIN = 0.25
"""No fit and a prediction (from a measured slope) this far in level under the floor: give up
on this size without encoding the floor itself."""
HINTED_SKIP_MARGIN = 0.75
"""The same from a sample alone (its stacked strips can misjudge a picture by a third): only a
picture predicted over twice the target at the floor is given up without an encode."""


@attrs.frozen
class StillScale:
    """One codec's quality knob as a level on which ln(bytes) grows about linearly.

    Attributes:
        codec: ``jpeg`` or ``webp`` (Pillow quality 0-100, higher is better).
        floor: the worst quality accepted before the picture is shrunk.
        best: the best quality searched.
        first: the first encode's quality when nothing predicts better.
        shrink_to: a shrink is sized so that this quality would fill the budget.
        step: qualities are rounded to multiples of this (finer steps rarely change a table).
        qualities: a typical picture's size curve: these qualities...
        levels: ...at these ln(bytes), relative to quality 80.
    """

    codec: str
    floor: float
    best: float
    first: float
    shrink_to: float
    step: float
    qualities: tuple[float, ...]
    levels: tuple[float, ...]

    def level(self, quality: float) -> float:
        """About ln(bytes) at ``quality``, relative to quality 80, for a typical picture."""
        return _interpolate(self.qualities, self.levels, quality)

    def quality(self, level: float) -> float:
        """The quality at ``level`` (the inverse of ``level``), rounded to ``step``."""
        raw = _interpolate(self.levels, self.qualities, level)
        return min(self.best, max(0.0, round(raw / self.step) * self.step))

    def with_floor(self, floor: float) -> StillScale:
        """The same scale accepting nothing under ``floor`` (4:4:4 chroma is kept down to it)."""
        return attrs.evolve(self, floor=floor)


def _interpolate(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """Piecewise-linear ``y(x)`` through the points (``xs`` increasing), extended at the ends."""
    i = min(max(bisect.bisect_right(xs, x), 1), len(xs) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


_QSCALE_LEVEL = math.log(2) / 12
"""A JPEG quality step of 12 halves the quantiser (``_still_pillow.jpeg_table``); bytes grow
about as 1 / qscale, so ln(bytes) grows about this much per quality step."""
JPEG = StillScale(
    "jpeg",
    floor=43.0,
    best=90.0,
    first=78.0,
    shrink_to=62.0,
    step=0.25,
    qualities=(0.0, 100.0),
    levels=(-80 * _QSCALE_LEVEL, 20 * _QSCALE_LEVEL),
)
"""ffmpeg's matrix scaled by qscale 15 (the floor) to 1 (the best), 2 first and 5 for a shrink,
as the ffmpeg search did."""
WEBP = StillScale(
    "webp",
    floor=40.0,
    best=100.0,
    first=85.0,
    shrink_to=75.0,
    step=0.25,
    qualities=(0.0, 20.0, 30.0, 50.0, 70.0, 80.0, 90.0, 95.0, 100.0),
    levels=(-1.5, -1.05, -0.85, -0.5, -0.25, 0.0, 0.55, 1.05, 1.6),
)
"""libwebp lossy; the steep rise above 90 is where a fixed ladder wastes or overshoots."""
JPEG_FULL_CHROMA_DOWN_TO = 71.0
"""A 4:4:4 JPEG keeps full chroma only at this quality (qscale 3) or better; below it 4:2:0
at a higher quality looks better at the same size."""
CHROMA_420_SHARE = 0.75
"""A 4:2:0 JPEG takes about this share of the 4:4:4 one's bytes at the same quality."""


@attrs.frozen
class Point:
    """One measured encode at the current picture size and chroma."""

    quality: float
    size: int


@attrs.frozen
class Keep:
    """Keep this encode (it fits; another would not be worth it)."""

    point: Point


@attrs.frozen
class Try:
    """Encode at this quality next."""

    quality: float


@attrs.frozen
class TooBig:
    """Nothing at or above the floor fits: scale each side by ``side`` (or drop 4:4:4 chroma).

    ``floor_bytes`` is the measured or predicted size at the floor quality.
    """

    side: float
    floor_bytes: float


Step = Keep | Try | TooBig


def _slope(scale: StillScale, a: Point, b: Point) -> float:
    """ln-bytes per level between two points (clamped), 1 when they share a quality."""
    run = scale.level(b.quality) - scale.level(a.quality)
    if run == 0:
        return 1.0
    slope = (math.log(b.size) - math.log(a.size)) / run
    return min(max(slope, SLOPE_BOUNDS[0]), SLOPE_BOUNDS[1])


def _line(
    scale: StillScale, points: Sequence[Point], hints: Sequence[Point], near: float
) -> tuple[Point, float]:
    """A point and a slope through which ln(bytes) is predicted near ``near`` (ln-bytes): the
    secant of the two measured points nearest it, else one measured point with the hints'
    slope (or the scale's own, 1), else the hints alone."""
    known = sorted(points or hints, key=lambda p: abs(math.log(p.size) - near))
    if len(known) >= 2 and known[0].quality != known[1].quality:
        return known[0], _slope(scale, known[0], known[1])
    if len(hints) >= 2 and hints[0].quality != hints[1].quality:
        return known[0], _slope(scale, hints[0], hints[1])
    return known[0], 1.0


def _ln_at(scale: StillScale, points: Sequence[Point], hints: Sequence[Point], q: float) -> float:
    """Predicted ln(bytes) at quality ``q``."""
    near = sorted(points or hints, key=lambda p: abs(p.quality - q))[0]
    point, slope = _line(scale, points, hints, math.log(near.size))
    return math.log(point.size) + slope * (scale.level(q) - scale.level(point.quality))


def _aim(scale: StillScale, points: Sequence[Point], hints: Sequence[Point], target: int) -> float:
    """The level predicted to fill ``AIM`` of ``target``."""
    goal = math.log(AIM * target)
    point, slope = _line(scale, points, hints, goal)
    return scale.level(point.quality) + (goal - math.log(point.size)) / slope


def _within(
    scale: StillScale, points: Sequence[Point], best: Point, over: Point, target: int
) -> float:
    """The level to encode next inside the bracket of ``best`` (fits, under ``FILL``) and
    ``over``: where the line through the two ends crosses ``BRACKET_AIM`` of the target
    (regula falsi on ln-bytes), with the Illinois weight when the last two encodes fell on the
    same side (the other end is stale), else halfway when the last encode failed to halve
    the bracket. A curve that is flat and then climbs a cliff (a noisy picture whose noise the
    quantiser stops flattening) bends every secant, so the crossing alone can creep along
    one end for many encodes."""
    low, high = scale.level(best.quality), scale.level(over.quality)
    goal = math.log(BRACKET_AIM * target)
    below, above = goal - math.log(best.size), math.log(over.size) - goal
    if len(points) >= 2:
        last, before = (p.size <= target for p in points[-2:])
        if last == before:  # the same end moved twice: weigh the stale one down
            below, above = (below, above / 2) if last else (below / 2, above)
    share = below / (below + above)
    if not _halved(scale, points, target):
        share = 0.5
    return low + share * (high - low)


def _halved(scale: StillScale, points: Sequence[Point], target: int) -> bool:
    """Whether the last encode at least halved the bracket it was aimed into (true when
    there was no bracket before it)."""
    before = points[:-1]
    lows = [scale.level(p.quality) for p in before if p.size <= target]
    highs = [scale.level(p.quality) for p in before if p.size > target]
    if not lows or not highs:
        return True
    now_lows = [scale.level(p.quality) for p in points if p.size <= target]
    now_highs = [scale.level(p.quality) for p in points if p.size > target]
    return min(now_highs) - max(now_lows) <= (min(highs) - max(lows)) / 2


def _too_big(
    scale: StillScale, points: Sequence[Point], hints: Sequence[Point], target: int
) -> TooBig:
    at_floor = math.exp(_ln_at(scale, points, hints, scale.floor))
    at_shrink = math.exp(_ln_at(scale, points, hints, max(scale.shrink_to, scale.floor)))
    side = (AIM * target / at_shrink) ** (1 / (2 * PIXEL_EXPONENT))
    return TooBig(min(max(side, SIDE_BOUNDS[0]), SIDE_BOUNDS[1]), at_floor)


def next_still_step(
    scale: StillScale, points: Sequence[Point], target: int, hints: Sequence[Point] = ()
) -> Step:
    """What to do next at this picture size, from the encodes so far (``points``).

    ``hints`` are estimated points (a sample's sizes scaled to the picture, or a previous
    size's): they aim the first encode and give the slope while only one was measured. Never
    keeps an encode over ``target``.
    """
    fits = [p for p in points if p.size <= target]
    overs = [p for p in points if p.size > target]
    best = max(fits, key=lambda p: p.quality, default=None)
    over = min(overs, key=lambda p: p.quality, default=None)
    if best is not None and (best.size >= FILL * target or best.quality >= scale.best):
        return Keep(best)
    if over is not None and over.quality <= scale.floor:
        return _too_big(scale, points, hints, target)
    if not points and not hints:
        return Try(scale.first)
    low = scale.level(best.quality) if best else -math.inf
    high = scale.level(over.quality) if over else math.inf
    if best is not None and over is not None:
        want = _within(scale, points, best, over, target)
    else:
        want = _aim(scale, points, hints, target)
        if not low < want < high:
            want = (low + high) / 2  # the secant left the bracket: halve it instead
    margin = SKIP_FLOOR_MARGIN if len({p.quality for p in points}) >= 2 else HINTED_SKIP_MARGIN
    sloped = len({p.quality for p in points or hints}) >= 2
    if best is None and sloped and want < scale.level(scale.floor) - margin:
        return _too_big(scale, points, hints, target)
    floor = scale.level(scale.floor)
    return _untried(scale, points, hints, max(want, floor), best, over, target)


def _untried(
    scale: StillScale,
    points: Sequence[Point],
    hints: Sequence[Point],
    want: float,
    best: Point | None,
    over: Point | None,
    target: int,
) -> Step:
    """The quality nearest ``want`` strictly inside the bracket and not yet encoded, or the
    end of the search when there is none (or the encodes at this size are spent)."""
    lo = best.quality if best else -math.inf
    hi = over.quality if over else math.inf
    tried = {p.quality for p in points}
    quality = scale.quality(want)
    candidates = [quality, quality + scale.step, quality - scale.step]
    usable = [
        q for q in candidates if lo < q < hi and q not in tried and scale.floor <= q <= scale.best
    ]
    if usable and len(points) < MAX_ENCODES:
        return Try(usable[0])
    if best is not None:
        return Keep(best)
    return _too_big(scale, points, hints, target)


def shrunk_size(size: tuple[int, int], side: float) -> tuple[int, int]:
    """``size`` with each side scaled by ``side`` (a grow too), rounded down to even (at least
    2)."""
    return (max(2, int(size[0] * side) // 2 * 2), max(2, int(size[1] * side) // 2 * 2))


GROW_MIN = 1.04
"""A grow back scales each side by at least this much (less is not worth a search)."""


def grown_size(
    size: tuple[int, int],
    too_big: tuple[int, int],
    scale: StillScale,
    kept: Point,
    target: int,
    *,
    halve: bool = False,
) -> tuple[int, int] | None:
    """After a shrink went too far (``kept``, at ``size``, leaves over a tenth of the target
    unused), a size between ``size`` and ``too_big`` (where the floor did not fit) predicted to
    fill the budget at ``shrink_to`` (with ``halve``: halfway, in log, to ``too_big``); None
    when no such size is worth a search. Even sides."""
    if kept.size >= FILL * target:
        return None
    room = min(too_big[0] / size[0], too_big[1] / size[1])
    if halve:
        side = math.sqrt(room)
    else:
        at_shrink = kept.size * math.exp(scale.level(scale.shrink_to) - scale.level(kept.quality))
        side = (AIM * target / at_shrink) ** (1 / (2 * PIXEL_EXPONENT))
    side = min(side, 0.97 * room)
    if side < GROW_MIN:
        return None
    grown = shrunk_size(size, side)
    between = all(a < b < c for a, b, c in zip(size, grown, too_big, strict=True))
    return grown if between else None  # even sides can round back onto either end
