"""The output frame ladder (pure): the sizes and rates a video may be encoded at, and the
bits-per-pixel rule that picks one from the bitrate when nothing was measured."""

from __future__ import annotations

import math

HEIGHT_LADDER = (2160, 1440, 1080, 720, 540, 480, 360, 240)
"""Output heights (of the short side), best first."""

BPP_REFERENCE_PIXELS = 640 * 360
BPP_AT_REFERENCE = 0.038
BPP_PIXEL_EXPONENT = 0.15
BPP_BOUNDS = (0.02, 0.05)
"""Video bits per pixel per frame below which the next lower rung looks better.

The threshold is where the quality of the two rungs crosses (the "convex hull" of per-title
encoding: every encode scored at the source's size, the smaller one upscaled, as a viewer sees
it). Small frames need more bits per pixel than large ones for the same picture (each pixel
carries more of the scene; streaming ladders likewise grow bitrate slower than pixel count),
so the threshold falls slowly with the frame's pixel count:
``0.038 * (pixels / 640x360) ** -0.15`` within ``BPP_BOUNDS``: 0.043 at 240p, 0.038 at 360p,
0.035 at 480p, 0.031 at 720p, 0.027 at 1080p. Measured with ffmpeg 5.1 (two-pass x264
veryfast, 6 s clips, SSIM at the source size), the crossover of a calm test pattern lies
between 0.015 and 0.025 at 720p and between 0.025 and 0.035 at 480p and 360p (1080p still wins
at 0.015); that of a detailed zooming fractal between 0.035 and 0.05 at all three. The
thresholds sit between the two, where a wrong guess costs least either way (under 0.01 SSIM).
The old flat 0.05 sent a calm 10-minute 360p clip at 25 MiB to 240p (SSIM 0.949, not 0.970).
"""

MAX_FPS = 60.0
STARVED_FPS = (30.0, 24.0, 15.0)
"""Frame rates tried, at the lowest resolution, when even that is starved of bits.

The same bits-per-pixel thresholds decide: measured at 240p (SSIM against the 30 fps source),
15 fps beat 24 and 30 fps at 50-95 kb/s and tied with them at 130 kb/s (0.042 at 30 fps).
"""


def even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def frame_candidates(width: int, height: int, fps: float) -> list[tuple[tuple[int, int], float]]:
    """Output (size, fps) pairs from best to worst: the height ladder, then lower fps."""
    short = min(width, height)
    rungs = [short] + [r for r in HEIGHT_LADDER if r < short]
    sizes = []
    for rung in rungs:
        factor = rung / short
        size = (even(width * factor), even(height * factor))
        if size not in sizes:
            sizes.append(size)
    candidates = [(size, fps) for size in sizes]
    candidates += [(sizes[-1], low) for low in STARVED_FPS if low < fps]
    return candidates


def min_bits_per_pixel(width: int, height: int) -> float:
    """The video bits per pixel per frame a ``width`` x ``height`` frame needs to be kept.

    Falls as frames grow (see ``BPP_AT_REFERENCE``), fixed per size, so the rung chosen can only
    rise with the budget.
    """
    pixels = max(width * height, 1)
    value = BPP_AT_REFERENCE * math.pow(pixels / BPP_REFERENCE_PIXELS, -BPP_PIXEL_EXPONENT)
    return min(max(value, BPP_BOUNDS[0]), BPP_BOUNDS[1])


def pick_frame(
    candidates: list[tuple[tuple[int, int], float]], video_kbps: float, source_kbps: float
) -> tuple[tuple[int, int], float]:
    """The first (best) candidate whose bits per pixel reach its threshold, else the last.

    The source's own size and fps are kept whenever the budget covers the source's bitrate: the
    plan then re-encodes at that bitrate, which the source shows is enough at that size.
    """
    if video_kbps >= source_kbps:
        return candidates[0]
    for size, fps in candidates:
        if video_kbps * 1000 / (size[0] * size[1] * fps) >= min_bits_per_pixel(*size):
            return size, fps
    return candidates[-1]
