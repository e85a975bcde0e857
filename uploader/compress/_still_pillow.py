"""Pillow's side of a still-image fit: open and decode once, sample, resize, encode to bytes.

Everything here runs in a worker thread and touches only memory (never the workdir), so a
cancelled search may abandon a thread mid-encode without leaving a file behind. ``open_still``
answers None for what this path leaves to ffmpeg: a format Pillow cannot read, an animation,
a picture over Pillow's decompression-bomb limit, and pixel modes it cannot convert without
changing the picture (CMYK, 16-bit and float).

The picture is turned upright by its EXIF orientation (all eight, mirrors included) and the
EXIF block is then dropped (as the ffmpeg path drops all metadata: no camera or GPS data is
uploaded); an ICC colour profile is kept in the output, so a wide-gamut photo shows its colours.
"""

from __future__ import annotations

import io
from pathlib import Path

import attrs
from PIL import Image, ImageOps, JpegImagePlugin

from ._commands import DEFAULT_INTRA_MATRIX

SUPPORTED_MODES = frozenset({"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa"})
"""Pixel modes converted to L, RGB or RGBA without loss of what shows."""
SAMPLE_STRIPS = 8
"""A sample is this many full-width strips spread down the picture, stacked."""
SAMPLE_SHARE = 0.15
"""...taking together about this share of its rows (a sample costs about this much of an
encode and predicts the whole picture's size within a few percent on most pictures)."""


@attrs.frozen
class Decoded:
    """A still picture decoded once, upright, in the mode its output is encoded from.

    Attributes:
        image: the picture (L, RGB or RGBA).
        icc: its ICC colour profile, if any (kept in every output).
        full_chroma: the source has colour at full resolution (a 4:4:4 JPEG, or RGB).
    """

    image: Image.Image
    icc: bytes | None
    full_chroma: bool


@attrs.frozen
class StillEncoding:
    """One in-memory encode's settings.

    Attributes:
        codec: ``jpeg``, ``webp`` or ``png`` (lossless: a re-pack).
        quality: 0-100, higher is better (for a lossless WebP: the effort; for a JPEG see
            ``jpeg_table``; unused for PNG).
        full_chroma: JPEG 4:4:4 (else 4:2:0).
        method: libwebp's method (0 fastest - 6 smallest).
        lossless: a lossless WebP, exact (colours under transparent pixels kept too).
    """

    codec: str
    quality: float
    full_chroma: bool = False
    method: int = 4
    lossless: bool = False


def open_still(path: Path, keep_alpha: bool) -> Decoded | None:
    """Decode the still picture at ``path`` (None: leave it to ffmpeg).

    Raises:
        OSError: the file cannot be read or decoded (the caller falls back to ffmpeg).
    """
    with Image.open(path) as source:
        width, height = source.size
        if getattr(source, "n_frames", 1) > 1 or source.mode not in SUPPORTED_MODES:
            return None
        if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
            return None  # Pillow's decompression-bomb limit: decoding it would warn or refuse
        icc = source.info.get("icc_profile") or None
        full_chroma = source.mode != "L"
        if isinstance(source, JpegImagePlugin.JpegImageFile):
            full_chroma = full_chroma and _same_sampling(source)
        upright = ImageOps.exif_transpose(source)
        upright.load()
    image = _converted(upright, keep_alpha)
    return Decoded(image, icc if isinstance(icc, bytes) else None, full_chroma)


def _converted(image: Image.Image, keep_alpha: bool) -> Image.Image:
    """The picture as L or RGB (or RGBA when its transparency is kept)."""
    alpha = "A" in image.getbands() or "transparency" in image.info
    if keep_alpha and alpha:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("1", "LA", "La") and not keep_alpha:
        return image.convert("L")
    return image.convert("RGB")


def _same_sampling(source: Image.Image) -> bool:
    """Every component of the JPEG is sampled alike (4:4:4, whatever factors it states)."""
    layers = getattr(source, "layer", None) or []
    return len({(h, v) for _, h, v, _ in layers}) == 1


def sample_of(image: Image.Image) -> tuple[Image.Image, float] | None:
    """Strips spread down ``image`` stacked into one smaller picture, and its share of the
    rows (None for a picture too short to sample usefully)."""
    rows = max(16, round(image.height * SAMPLE_SHARE / SAMPLE_STRIPS) // 16 * 16)
    if rows * SAMPLE_STRIPS * 2 > image.height:
        return None
    sample = Image.new(image.mode, (image.width, rows * SAMPLE_STRIPS))
    gap = (image.height - rows) / (SAMPLE_STRIPS - 1)
    for i in range(SAMPLE_STRIPS):
        top = round(i * gap)
        sample.paste(image.crop((0, top, image.width, top + rows)), (0, i * rows))
    return sample, rows * SAMPLE_STRIPS / image.height


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled to ``size`` (Lanczos)."""
    return image.resize(size, Image.Resampling.LANCZOS)


def jpeg_qscale_of(quality: float) -> float:
    """The ffmpeg MJPEG qscale a JPEG ``quality`` stands for: 90 is qscale 1, and every 12
    below it doubles the quantiser steps."""
    return float(2 ** ((90 - quality) / 12))


def jpeg_table(quality: float) -> list[int]:
    """The quantisation table (raster order) of a JPEG ``quality``: ffmpeg's default matrix
    scaled by its qscale, as the ffmpeg path encodes (its DC entry fixed, as ffmpeg writes it).

    libjpeg's own tables (quality 0-100) quantise fine detail and colour far more coarsely:
    on the benchmark's photos they scored 0.05-0.08 lower SSIM at the same size.
    """
    qscale = jpeg_qscale_of(quality)
    table = [min(255, max(1, round(v * qscale / 8))) for v in DEFAULT_INTRA_MATRIX]
    table[0] = 8
    return table


def encode_still(image: Image.Image, encoding: StillEncoding, icc: bytes | None) -> bytes:
    """One encode of ``image`` into memory."""
    out = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    if encoding.codec == "jpeg":
        tables = [jpeg_table(encoding.quality)] * 2
        jpeg = {"qtables": tables, "subsampling": 0 if encoding.full_chroma else 2}
        try:
            image.save(out, "JPEG", optimize=True, **jpeg, **extra)
        except OSError:
            # Optimised tables are written in one piece into a buffer Pillow sizes at about
            # two bytes per pixel; a noisy picture at a high quality can need more
            # ("Suspension not allowed here"). Written as it goes, it always fits.
            out = io.BytesIO()
            image.save(out, "JPEG", **jpeg, **extra)
    elif encoding.codec == "png":
        image.save(out, "PNG", optimize=True, **extra)
    else:
        image.save(
            out,
            "WEBP",
            quality=encoding.quality,
            method=encoding.method,
            lossless=encoding.lossless,
            exact=encoding.lossless,
            **extra,
        )
    return out.getvalue()
