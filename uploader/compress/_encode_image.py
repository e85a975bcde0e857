"""The image encode runner: the best still image under the target in a few predicted encodes.

The source is decoded once: the first run also writes the decoded picture (raw NUT) that every
later encode reads. A PNG source is first re-packed losslessly when the plan expects that it
could fit. Then one run does what can be done without a measurement: on a picture tall enough
it encodes strips of it at a few qualities (predicting the whole picture's size curve), and
for a JPEG source, whose own quantisation table predicts its size (``_jpeg_tables``), it also
encodes the whole picture at the two qualities predicted to fill the budget; one of them often
does, ending the search in that run. Each later encode is aimed where the curve (shifted
through the encodes so far) or the sizes measured so far say the budget is filled
(``_image_search``), shrinking the picture (to even sides) or dropping 4:4:4 chroma when even
the floor quality cannot fit.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from .._settings import Settings
from ._commands import ImageEncoding, image_round_command
from ._errors import CannotFitError
from ._ffmpeg import StagedProgress, encode_timeout, run_encode
from ._image_search import (
    JPEG_SCALE,
    SAMPLE_STRIP_ROWS,
    WEBP_SCALE,
    Encode,
    Keep,
    Measured,
    Model,
    QualityScale,
    SampledCurve,
    Shrink,
    first_levels,
    next_image_step,
    sample_levels,
    sample_rows,
    shrunk_size,
    source_prior,
)
from ._jpeg_tables import HEAD_BYTES, jpeg_qscale
from ._model import EncodePlan
from ._probe import MediaProbe
from ._workspace import Workspace, size_of

MIN_IMAGE_SIDE = 16
"""An image is not shrunk below this many pixels on its short side."""
SMALL_IMAGE_PIXELS = 1_000_000
"""WebP images up to this many pixels get libwebp's slowest, smallest method (6); larger ones
method 4: measured on a 1280x960 picture, 4 is twice as fast for about 4% more bytes."""
_SUBSAMPLED = ("420", "422", "411", "410", "440")


def full_chroma_source(probe: MediaProbe) -> bool:
    """The source has colour at full resolution (RGB, 4:4:4), so a JPEG may keep it."""
    video = probe.video
    fmt = (video.pix_fmt if video else None) or ""
    grey = fmt.startswith(("gray", "ya", "mono"))
    return bool(fmt) and not grey and not any(part in fmt for part in _SUBSAMPLED)


class _ImageEncoder:
    """The encodes of one image: each into a fresh temporary, counted; the first also decodes."""

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
        self.decoded: Path | None = None

    async def encode(self, encoding: ImageEncoding, ext: str) -> tuple[Path, int]:
        """Encode once; returns the temporary file and its size."""
        ((out, size),), _ = await self.run_round([(encoding, ext)], [], ())
        return out, size

    async def run_round(
        self,
        fulls: list[tuple[ImageEncoding, str]],
        samples: list[ImageEncoding],
        rows: tuple[int, ...],
    ) -> tuple[list[tuple[Path, int]], list[int]]:
        """Encode the whole picture once per ``fulls`` (encoding, extension) and the strips at
        ``rows`` once per ``samples``, in one run (which decodes the source for the later runs
        if none did yet).

        Returns:
            (each full encode's temporary file and size, each sample's bytes).
        """
        outs = [(self.space.temp(f".{ext}"), encoding) for encoding, ext in fulls]
        strips = [(self.space.temp(f".{self.plan.container}"), e) for e in samples]
        decoded, decode_to = self._copy()
        cmd = image_round_command(
            self.probe,
            outs,
            strips,
            rows=rows,
            strip_rows=SAMPLE_STRIP_ROWS,
            settings=self.settings,
            decoded=decoded,
            decode_to=decode_to,
        )
        await self._run(cmd, decode_to)
        sizes = [size_of(out) for out, _ in strips]
        for out, _ in strips:
            self.space.discard(out)
        return [(out, size_of(out)) for out, _ in outs], sizes

    def _copy(self) -> tuple[Path | None, Path | None]:
        """(the decoded copy to read, or None; where to write it, when there is none yet)."""
        return self.decoded, self.space.temp(".nut") if self.decoded is None else None

    async def _run(self, cmd: list[str], decode_to: Path | None) -> None:
        await run_encode(
            cmd, path=self.probe.path, time_limit=self.timeout, duration=0, report=None
        )
        self.decoded = self.decoded or decode_to
        self.encodes += 1
        self.progress.report(min(95.0, self.encodes * 25.0))


def _source_qscale(probe: MediaProbe) -> float | None:
    """A JPEG source's own qscale, from its tables (None for other sources or unreadable)."""
    video = probe.video
    if video is None or video.codec_name != "mjpeg":
        return None
    try:
        with probe.path.open("rb") as file:
            head = file.read(HEAD_BYTES)  # bounded: a quick read on the loop
    except OSError:
        return None
    return jpeg_qscale(head)


@attrs.frozen
class _Start:
    """What the search starts from: the first run's whole-picture encodes and the model."""

    measured: list[Measured]
    fitting: dict[Measured, Path]
    prior: Model | None


async def _first_run(
    encoder: _ImageEncoder, scale: QualityScale, full_chroma: bool, effort: int
) -> _Start:
    """One run: a sample of strips (a picture tall enough) and, when the source's own table
    predicts the size curve (a JPEG), whole-picture encodes at the predicted levels.

    Either alone is skipped when it cannot pay: strips of a short picture cost about a whole
    encode; without a prediction a whole encode would be aimed blind.
    """
    plan = encoder.plan
    assert plan.scale is not None
    size: tuple[int, int] = plan.scale
    qscale = _source_qscale(encoder.probe) if plan.codec == "mjpeg" else None
    prior: Model | None = None
    levels: tuple[float, ...] = ()
    rows = sample_rows(size[1])
    if qscale is not None:
        prior = source_prior(scale, qscale, plan.source_bytes)
        levels = first_levels(
            scale, prior, plan.target_bytes, full_chroma=full_chroma, sampled=rows is not None
        )
    around = None if prior is None else prior.aim(plan.target_bytes)
    sampled = () if rows is None else sample_levels(scale, around)
    if not levels and not sampled:
        return _Start([], {}, prior)

    def encoding(level: float) -> ImageEncoding:
        quality = scale.quality(level)
        return ImageEncoding(plan.codec, quality, size, plan.keep_alpha, full_chroma, effort)

    fulls = [(encoding(level), plan.container) for level in levels]
    outs, sizes = await encoder.run_round(fulls, [encoding(x) for x in sampled], rows or ())
    measured: list[Measured] = []
    fitting: dict[Measured, Path] = {}
    for (enc, _), (out, got) in zip(fulls, outs, strict=True):
        done = Measured(scale.level(enc.quality or 0.0), got)
        measured.append(done)
        if got <= plan.target_bytes:
            fitting[done] = out
        else:
            encoder.space.discard(out)
    if sampled and rows is not None:
        share = len(rows) * SAMPLE_STRIP_ROWS / size[1]
        prior = SampledCurve.of(list(zip(sampled, sizes, strict=True)), share)
    return _Start(measured, fitting, prior)


async def _search(encoder: _ImageEncoder, plan: EncodePlan, probe: MediaProbe) -> Path:
    """Encode at predicted qualities (then sizes) until one fills the budget; the best fit."""
    assert plan.scale is not None
    scale = WEBP_SCALE if plan.codec == "libwebp" else JPEG_SCALE
    size = plan.scale
    effort = 6 if size[0] * size[1] <= SMALL_IMAGE_PIXELS else 4
    full_chroma = plan.codec == "mjpeg" and full_chroma_source(probe)
    start = await _first_run(encoder, scale, full_chroma, effort)
    measured, fitting, prior = start.measured, start.fitting, start.prior
    while True:
        step = next_image_step(scale, measured, plan.target_bytes, prior, full_chroma=full_chroma)
        if isinstance(step, Keep):
            kept = fitting.pop(step.kept)
            for path in fitting.values():
                encoder.space.discard(path)
            return kept
        if isinstance(step, Encode):
            quality = scale.quality(step.level)
            encoding = ImageEncoding(
                plan.codec, quality, size, plan.keep_alpha, full_chroma, effort
            )
            out, got = await encoder.encode(encoding, plan.container)
            done = Measured(scale.level(quality), got)
            measured.append(done)
            if got <= plan.target_bytes:
                fitting[done] = out
            else:
                encoder.space.discard(out)
            continue
        # Nothing fits at this size and chroma: start over smaller, or with 4:2:0 chroma.
        if isinstance(step, Shrink):
            smaller = shrunk_size(size, step.side)
            if min(smaller) < MIN_IMAGE_SIDE:
                raise CannotFitError(
                    probe.path,
                    "the image cannot fit even at a tiny size and the lowest quality",
                    None,
                )
            prior = step.model.scaled(smaller[0] * smaller[1] / (size[0] * size[1]))
            size = smaller
        else:
            prior, full_chroma = step.model, False
        measured = []


async def fit_image(
    plan: EncodePlan,
    probe: MediaProbe,
    space: Workspace,
    *,
    settings: Settings,
    progress: StagedProgress,
) -> tuple[Path, str, int]:
    """The best image under the target: a lossless re-pack if the plan says it may fit and it
    does, else the predicted-quality search.

    Returns:
        (the fitting temporary file, its extension, the number of encodes).

    Raises:
        CannotFitError: not even a tiny picture at the lowest quality fits.
    """
    assert plan.scale is not None
    encoder = _ImageEncoder(plan, probe, space, settings, progress)
    if plan.lossless_first:
        out, got = await encoder.encode(ImageEncoding("png", None, plan.scale), "png")
        if got <= plan.target_bytes:
            return out, "png", encoder.encodes
        space.discard(out)
    best = await _search(encoder, plan, probe)
    return best, plan.container, encoder.encodes
