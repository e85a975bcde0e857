"""The image encode runner: search quality, then size, for the best still image under the target.

A PNG source is first re-packed losslessly; then a binary search over the codec's qualities
finds the best one that fits; when even the lowest is too big the picture is shrunk by about
the missing share and searched again.
"""

from __future__ import annotations

import math
from pathlib import Path

from .._settings import Settings
from ._commands import image_command
from ._errors import CannotFitError
from ._ffmpeg import StagedProgress, encode_timeout, run_encode
from ._model import EncodePlan
from ._probe import MediaProbe
from ._workspace import Workspace, size_of

WEBP_QUALITIES = (100, 95, 90, 85, 78, 70, 60, 50, 40)
JPEG_QSCALES = (2, 3, 4, 6, 8, 11, 15)
"""Qualities searched, best first (WebP quality; JPEG qscale, lower is better)."""
MIN_IMAGE_SIDE = 16
"""An image is not shrunk below this many pixels on its short side."""


def shrunk(size: tuple[int, int], target: int, smallest: int) -> tuple[int, int]:
    """The next smaller size to try when the lowest quality came out at ``smallest`` bytes.

    Shrinks by about the missing share (bytes grow with the pixel count), within 25-85%.
    """
    factor = min(0.85, max(0.25, math.sqrt(target / max(smallest, 1)) * 0.9))
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


class _ImageSearch:
    """The encodes of one image search: each into a fresh temporary, counted."""

    def __init__(
        self,
        plan: EncodePlan,
        probe: MediaProbe,
        space: Workspace,
        settings: Settings,
        progress: StagedProgress,
    ) -> None:
        assert plan.scale is not None
        self.plan = plan
        self.probe = probe
        self.space = space
        self.settings = settings
        self.progress = progress
        self.encodes = 0
        self.timeout = encode_timeout(1.0, plan.scale[0] * plan.scale[1], "medium")

    async def encode(
        self, codec: str, quality: int | None, size: tuple[int, int], ext: str
    ) -> tuple[Path, int]:
        """Encode once; returns the temporary file and its size."""
        out = self.space.temp(f".{ext}")
        cmd = image_command(
            self.probe,
            out,
            codec=codec,
            quality=quality,
            size=size,
            alpha=self.plan.keep_alpha,
            settings=self.settings,
        )
        await run_encode(
            cmd, path=self.probe.path, time_limit=self.timeout, duration=0, report=None
        )
        self.encodes += 1
        self.progress.report(min(95.0, self.encodes * 12.0))
        return out, size_of(out)

    async def best_quality(
        self, qualities: tuple[int, ...], size: tuple[int, int]
    ) -> tuple[Path | None, int]:
        """Binary search for the best quality (lowest index) that fits at ``size``.

        Returns:
            (the fitting file or None, the size of the last encode that did not fit).
        """
        plan = self.plan
        best: Path | None = None
        lo, hi = 0, len(qualities)
        smallest = 0
        while lo < hi:
            mid = (lo + hi) // 2
            out, got = await self.encode(plan.codec, qualities[mid], size, plan.container)
            if got <= plan.target_bytes:
                if best is not None:
                    self.space.discard(best)
                best, hi = out, mid
            else:
                smallest = got
                self.space.discard(out)
                lo = mid + 1
        return best, smallest


async def fit_image(
    plan: EncodePlan,
    probe: MediaProbe,
    space: Workspace,
    *,
    settings: Settings,
    progress: StagedProgress,
) -> tuple[Path, str, int]:
    """Search quality (then size) for the best image under the target.

    Returns:
        (the fitting temporary file, its extension, the number of encodes).

    Raises:
        CannotFitError: not even a tiny picture at the lowest quality fits.
    """
    assert plan.scale is not None
    search = _ImageSearch(plan, probe, space, settings, progress)
    if plan.lossless_first:
        out, got = await search.encode("png", None, plan.scale, "png")
        if got <= plan.target_bytes:
            return out, "png", search.encodes
        space.discard(out)
    qualities = WEBP_QUALITIES if plan.codec == "libwebp" else JPEG_QSCALES
    size = plan.scale
    while True:
        best, smallest = await search.best_quality(qualities, size)
        if best is not None:
            return best, plan.container, search.encodes
        size = shrunk(size, plan.target_bytes, smallest)
        if min(size) < MIN_IMAGE_SIDE:
            raise CannotFitError(
                probe.path, "the image cannot fit even at a tiny size and the lowest quality", None
            )
