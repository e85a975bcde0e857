"""The image encode runner: the best still image under the target in a few predicted encodes.

The source is decoded once: the first run also writes the decoded picture (raw NUT) that every
later encode reads. A PNG source is first re-packed losslessly when the plan expects that it
could fit. Then, on a picture tall enough, one run encodes strips of it at a few qualities,
predicting the whole picture's size curve; each lossy encode is aimed where that curve (shifted
through the encodes so far) or the sizes measured so far say the budget is filled
(``_image_search``), shrinking the picture (to even sides) or dropping 4:4:4 chroma when even
the floor quality cannot fit.
"""

from __future__ import annotations

from pathlib import Path

from .._settings import Settings
from ._commands import ImageEncoding, image_command, image_sample_command
from ._errors import CannotFitError
from ._ffmpeg import StagedProgress, encode_timeout, run_encode
from ._image_search import (
    JPEG_SAMPLES,
    JPEG_SCALE,
    SAMPLE_STRIP_ROWS,
    WEBP_SAMPLES,
    WEBP_SCALE,
    Encode,
    Keep,
    Measured,
    Model,
    QualityScale,
    SampledCurve,
    Shrink,
    next_image_step,
    sample_rows,
    shrunk_size,
)
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
        out = self.space.temp(f".{ext}")
        decoded, decode_to = self._copy()
        cmd = image_command(
            self.probe,
            out,
            encoding,
            settings=self.settings,
            decoded=decoded,
            decode_to=decode_to,
        )
        await self._run(cmd, decode_to)
        return out, size_of(out)

    async def sample(self, encodings: list[ImageEncoding], rows: tuple[int, ...]) -> list[int]:
        """Encode the strips at ``rows`` once per encoding, in one run (which decodes the source
        for the later encodes if none did yet); returns each sample's bytes."""
        outs = [(self.space.temp(f".{self.plan.container}"), e) for e in encodings]
        decoded, decode_to = self._copy()
        cmd = image_sample_command(
            self.probe,
            outs,
            rows=rows,
            strip_rows=SAMPLE_STRIP_ROWS,
            settings=self.settings,
            decoded=decoded,
            decode_to=decode_to,
        )
        await self._run(cmd, decode_to)
        sizes = [size_of(out) for out, _ in outs]
        for out, _ in outs:
            self.space.discard(out)
        return sizes

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


async def _sampled_curve(
    encoder: _ImageEncoder, plan: EncodePlan, scale: QualityScale, full_chroma: bool, effort: int
) -> SampledCurve | None:
    """The size curve predicted from one encode of strips of the picture at a few qualities
    (None: the picture is too small for a sample to cost less than an encode)."""
    assert plan.scale is not None
    rows = sample_rows(plan.scale[1])
    if rows is None:
        return None
    qualities = JPEG_SAMPLES if plan.codec == "mjpeg" else WEBP_SAMPLES
    encodings = [
        ImageEncoding(plan.codec, q, plan.scale, plan.keep_alpha, full_chroma, effort)
        for q in qualities
    ]
    sizes = await encoder.sample(encodings, rows)
    share = len(rows) * SAMPLE_STRIP_ROWS / plan.scale[1]
    points = [(scale.level(q), size) for q, size in zip(qualities, sizes, strict=True)]
    return SampledCurve.of(points, share)


async def _search(encoder: _ImageEncoder, plan: EncodePlan, probe: MediaProbe) -> Path:
    """Encode at predicted qualities (then sizes) until one fills the budget; the best fit."""
    assert plan.scale is not None
    scale = WEBP_SCALE if plan.codec == "libwebp" else JPEG_SCALE
    size = plan.scale
    effort = 6 if size[0] * size[1] <= SMALL_IMAGE_PIXELS else 4
    full_chroma = plan.codec == "mjpeg" and full_chroma_source(probe)
    measured: list[Measured] = []
    fitting: dict[Measured, Path] = {}
    prior: Model | None = await _sampled_curve(encoder, plan, scale, full_chroma, effort)
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
