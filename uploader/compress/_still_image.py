"""The still-image runner: decode once with Pillow, search the quality in memory, write once.

The picture is decoded in a worker thread and every encode goes to memory, so a search of a
few encodes costs a few encoder runs and one decode, not one ffmpeg start-up and decode per
encode. What to encode next comes from ``_still_search``. A sample (strips of the picture
encoded at the first quality) or, for a JPEG source, its own quality and size predict the
first real encode. Only the kept encode is written, through the Workspace: a cancel between
encodes leaves nothing behind, and encodes abandoned by a cancel only ever touch memory.

Anything Pillow cannot handle (see ``_still_pillow.open_still``) or fails on goes through the
ffmpeg search (``_encode_image.fit_image``) as before.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import attrs
import trio
from PIL import Image

from .._settings import Settings
from ._encode_image import MIN_IMAGE_SIDE, SMALL_IMAGE_PIXELS, fit_image
from ._errors import CannotFitError
from ._ffmpeg import StagedProgress
from ._model import EncodePlan
from ._probe import MediaProbe
from ._still_pillow import Decoded, StillEncoding, encode_still, open_still, resized, sample_of
from ._still_search import (
    CHROMA_420_SHARE,
    JPEG,
    JPEG_FULL_CHROMA_DOWN_TO,
    PIXEL_EXPONENT,
    WEBP,
    Keep,
    Point,
    StillScale,
    TooBig,
    Try,
    grown_size,
    next_still_step,
    shrunk_size,
)
from ._workspace import Workspace

log = logging.getLogger(__name__)


GROWS = 2
"""Sizes tried when growing back after a shrink that left over a tenth of the budget."""


@attrs.frozen
class _Searched:
    """A search at one size: the kept encode, or why none fits (and the encodes measured)."""

    kept: tuple[Point, bytes] | None
    too_big: TooBig | None
    points: list[Point]


def _area(size: tuple[int, int], other: tuple[int, int]) -> float:
    """How many times ``other``'s pixels ``size`` has."""
    return size[0] * size[1] / (other[0] * other[1])


class _Search:
    """The encodes of one picture, counted, each in a thread abandoned on cancel."""

    def __init__(self, plan: EncodePlan, decoded: Decoded, progress: StagedProgress) -> None:
        self.plan = plan
        self.decoded = decoded
        self.progress = progress
        self.encodes = 0
        self.codec = "webp" if plan.codec == "libwebp" else "jpeg"

    async def encode(self, image: Image.Image, encoding: StillEncoding) -> bytes:
        job = functools.partial(encode_still, image, encoding, self.decoded.icc)
        data = await trio.to_thread.run_sync(job, abandon_on_cancel=True)
        self.encodes += 1
        self.progress.report(min(95.0, 10.0 + 20.0 * self.encodes))
        return data

    def encoding(self, quality: float, size: tuple[int, int], full_chroma: bool) -> StillEncoding:
        method = 6 if size[0] * size[1] <= SMALL_IMAGE_PIXELS else 4
        return StillEncoding(self.codec, quality, full_chroma, method)

    async def hints(self, image: Image.Image, scale: StillScale, full_chroma: bool) -> list[Point]:
        """Estimated points before any real encode: a sample (strips of the picture) encoded
        at the first quality and where that predicts the budget is filled, scaled to the
        whole picture (none for a picture too short to sample)."""
        sample = await trio.to_thread.run_sync(sample_of, image, abandon_on_cancel=True)
        if sample is None:
            return []
        picture, share = sample
        hints: list[Point] = []
        quality = scale.first
        for _ in range(2):
            encoding = self.encoding(quality, image.size, full_chroma)
            job = functools.partial(encode_still, picture, encoding, None)
            data = await trio.to_thread.run_sync(job, abandon_on_cancel=True)
            hints.append(Point(quality, round(len(data) / share)))
            step = next_still_step(scale, [], self.plan.target_bytes, hints)
            if not isinstance(step, Try) or step.quality == quality:
                break
            quality = step.quality
        return hints

    async def search_at(
        self, image: Image.Image, scale: StillScale, full: bool, hints: list[Point]
    ) -> _Searched:
        """The quality search at one picture size and chroma."""
        target = self.plan.target_bytes
        points: list[Point] = []
        best: tuple[Point, bytes] | None = None
        while True:
            step = next_still_step(scale, points, target, hints)
            if isinstance(step, Keep):
                assert best is not None and best[0] == step.point
                return _Searched(best, None, points)
            if not isinstance(step, Try):
                return _Searched(None, step, points)
            data = await self.encode(image, self.encoding(step.quality, image.size, full))
            point = Point(step.quality, len(data))
            points.append(point)
            if point.size <= target and (best is None or point.quality > best[0].quality):
                best = (point, data)

    async def fit(self) -> bytes:
        """The best lossy encode under the target: the quality searched at the source size
        (for a 4:4:4 source first with full chroma), shrinking only when the floor cannot fit,
        and growing back once when a shrink went further than the budget needed."""
        image = self.decoded.image
        full = self.codec == "jpeg" and self.decoded.full_chroma and image.mode != "L"
        base = JPEG if self.codec == "jpeg" else WEBP
        scale = base.with_floor(JPEG_FULL_CHROMA_DOWN_TO) if full else base
        hints = await self.hints(image, scale, full)
        too_big: tuple[int, int] | None = None  # the smallest size the floor did not fit
        while True:
            searched = await self.search_at(image, scale, full, hints)
            if searched.kept is not None:
                if too_big is None:
                    return searched.kept[1]
                return await self.grown(image, too_big, scale, searched.kept)
            assert searched.too_big is not None
            factor = CHROMA_420_SHARE
            if full:  # nothing fits with full chroma at a fair quality: 4:2:0 from here
                full, scale = False, base
            else:
                too_big = image.size
                image = await self.shrink(too_big, searched.too_big.side)
                factor = _area(image.size, too_big) ** PIXEL_EXPONENT
            hints = [Point(p.quality, round(p.size * factor)) for p in searched.points or hints]

    async def grown(
        self,
        image: Image.Image,
        too_big: tuple[int, int],
        scale: StillScale,
        kept: tuple[Point, bytes],
    ) -> bytes:
        """``kept`` (at a shrunk ``image``), or a search at a size between it and ``too_big``
        when ``kept`` leaves more than a tenth of the budget and that search fills it better.
        Up to ``GROWS`` sizes are tried: the first predicted, the next halfway (in log) through
        what is left, since the prediction just missed."""
        size = image.size
        for attempt in range(GROWS):
            larger = grown_size(
                size, too_big, scale, kept[0], self.plan.target_bytes, halve=attempt > 0
            )
            if larger is None:
                break
            picture = await trio.to_thread.run_sync(
                resized, self.decoded.image, larger, abandon_on_cancel=True
            )
            growth = _area(larger, size) ** PIXEL_EXPONENT
            hint = Point(kept[0].quality, round(kept[0].size * growth))
            searched = await self.search_at(picture, scale, False, [hint])
            if searched.kept is None:
                too_big = larger
            elif searched.kept[0].size > kept[0].size:
                size, kept = larger, searched.kept
        return kept[1]

    async def shrink(self, size: tuple[int, int], side: float) -> Image.Image:
        """The decoded picture scaled from ``size`` by ``side`` (even sides).

        Raises:
            CannotFitError: the picture would be smaller than ``MIN_IMAGE_SIDE``.
        """
        smaller = shrunk_size(size, side)
        if min(smaller) < MIN_IMAGE_SIDE:
            raise CannotFitError(
                self.plan.source_path or Path(),
                "the image cannot fit even at a tiny size and the lowest quality",
                None,
            )
        job = functools.partial(resized, self.decoded.image, smaller)
        return await trio.to_thread.run_sync(job, abandon_on_cancel=True)

    async def lossless(self) -> bytes | None:
        """A lossless PNG re-pack (zlib 9, filters chosen per row), when it fits."""
        data = await self.encode(self.decoded.image, StillEncoding("png", 100.0))
        return data if len(data) <= self.plan.target_bytes else None


async def _decode(plan: EncodePlan, probe: MediaProbe) -> Decoded | None:
    """The picture decoded by Pillow, or None when ffmpeg should take it."""
    job = functools.partial(open_still, probe.path, plan.keep_alpha)
    try:
        return await trio.to_thread.run_sync(job, abandon_on_cancel=True)
    except Exception as exc:  # any failure to decode leaves the picture to ffmpeg
        # Pillow raises more than OSError on damaged files (SyntaxError, struct.error, EXIF
        # parsing errors...); ffmpeg either manages or says what is wrong in one line.
        log.debug("Pillow cannot decode %s (%s); using ffmpeg", probe.path, exc)
        return None


async def _write(space: Workspace, data: bytes, ext: str) -> Path:
    """The kept encode written to a fresh temporary (the thread is waited for on cancel, so
    the file is registered and removed with the other temporaries)."""
    out = space.temp(f".{ext}")
    await trio.to_thread.run_sync(out.write_bytes, data)
    return out


async def fit_still(
    plan: EncodePlan,
    probe: MediaProbe,
    space: Workspace,
    *,
    settings: Settings,
    progress: StagedProgress,
) -> tuple[Path, str, int]:
    """The best image under the target (see ``fit_image`` for the returns and errors): with
    Pillow when it can decode the picture, else with ffmpeg."""
    decoded = await _decode(plan, probe)
    if decoded is None:
        return await fit_image(plan, probe, space, settings=settings, progress=progress)
    progress.report(10.0)
    search = _Search(plan, decoded, progress)
    try:
        if plan.lossless_first:
            data = await search.lossless()
            if data is not None:
                return await _write(space, data, "png"), "png", search.encodes
        data = await search.fit()
    except (OSError, ValueError) as exc:  # an encoder error: ffmpeg may still manage
        log.debug("Pillow cannot encode %s (%s); using ffmpeg", probe.path, exc)
        return await fit_image(plan, probe, space, settings=settings, progress=progress)
    return await _write(space, data, plan.container), plan.container, search.encodes
