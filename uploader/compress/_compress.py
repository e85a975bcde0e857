"""compress_to_fit: probe, plan, encode, measure, keep; the entry of the compress package.

The original file is only ever read. Every output is written under a temporary name in the
workdir and renamed to ``<stem>.compressed.<ext>`` (or ``<stem>.part1of3.mp4``) once it was
measured under the limit; on any error or cancellation the temporaries, pass logs and reserved
names are removed (see ``Workspace``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import attrs

from .._models import MediaFile, MediaType
from .._settings import Settings
from ._effort import with_preset
from ._encode_av import encode_audio, encode_video
from ._errors import CompressionError, ProbeError
from ._ffmpeg import StagedProgress
from ._model import EncodePlan
from ._plan import plan_encode
from ._probe import MediaProbe, check_media_type, probe_media
from ._reencode import still_over
from ._sample import SampleResult, plan_samples, sample_frames, with_frame
from ._still_check import HEAD_BYTES, TAIL_BYTES, still_is_whole
from ._still_image import fit_still
from ._workspace import Workspace, size_of

ProgressCallback = Callable[[float], None]


@attrs.frozen
class CompressOutcome:
    """What a compression produced and how many encodes the hardest output needed.

    Attributes:
        outputs: the stand-in, or the consecutive parts.
        attempts: encodes of the output that took most (for images: qualities tried),
            including an upward re-encode of a video that fit but left its budget underused.
        plan: the plan (the first encode's bitrates; a video's size and fps as sampling chose).
        first_fit: every output's first encode was already under the limit (for images: the
            first quality tried fit).
        sampling: what sampling a video's candidate frames measured (None when not sampled).
        preset: the x264 preset a video was encoded with (configured or chosen per clip).
    """

    outputs: tuple[MediaFile, ...]
    attempts: int
    plan: EncodePlan
    first_fit: bool = True
    sampling: SampleResult | None = None
    preset: str | None = None


@attrs.frozen
class _Encoded:
    """The kept outputs (final names), how their encodes went, and the plan they followed."""

    finals: list[Path]
    attempts: int
    first_fit: bool
    plan: EncodePlan
    sampling: SampleResult | None = None
    preset: str | None = None


async def _choose_frame(
    plan: EncodePlan,
    probe: MediaProbe,
    space: Workspace,
    settings: Settings,
    progress: StagedProgress,
) -> tuple[EncodePlan, SampleResult | None, float]:
    """The plan at the size and fps sampling found best (or as planned when not worth it).

    Returns:
        (the plan, what sampling measured or None, the progress share sampling took).
    """
    sample = await plan_samples(plan, probe, settings)
    if sample is None:
        return plan, None, 0.0
    share = 100 * sample.cost_share / (1 + sample.cost_share)
    report = progress.stage(0, share)
    result = await sample_frames(plan, probe, sample, space, settings=settings, report=report)
    return with_frame(plan, result.chosen), result, share


def part_number(i: int, n: int) -> str:
    """Part ``i`` of ``n``, zero-padded so the parts sort in order (``01`` … ``12``)."""
    return f"{i:0{len(str(n))}d}"


def _final_names(plan: EncodePlan, ext: str) -> Callable[[str], list[str]]:
    """The final names of a plan's outputs, from the stem: a stand-in, or numbered parts."""
    n = plan.parts
    if n > 1:
        return lambda stem: [f"{stem}.part{part_number(i, n)}of{n}.{ext}" for i in range(1, n + 1)]
    return lambda stem: [f"{stem}.compressed.{ext}"]


async def _encode_video_parts(
    plan: EncodePlan,
    probe: MediaProbe,
    space: Workspace,
    settings: Settings,
    progress: StagedProgress,
    begin: float,
) -> tuple[list[Path], int, bool]:
    """Encode the video (or each of its ``plan.parts`` consecutive parts) into temporaries,
    reporting progress from ``begin`` to 100.

    Returns:
        (the temporaries in order, the most encodes one needed, whether every first encode fit).
    """
    n = plan.parts
    temps = [space.temp(f".{plan.container}") for _ in range(n)]
    attempts, first_fit = 0, True
    for i, temp in enumerate(temps):
        used, fit = await encode_video(
            plan,
            probe,
            temp,
            space,
            start=i * plan.duration if n > 1 else None,
            settings=settings,
            progress=progress,
            low=begin + (100 - begin) * i / n,
            high=begin + (100 - begin) * (i + 1) / n,
        )
        attempts, first_fit = max(attempts, used), first_fit and fit
    return temps, attempts, first_fit


async def _encode(
    plan: EncodePlan,
    probe: MediaProbe,
    space: Workspace,
    settings: Settings,
    progress: StagedProgress,
) -> _Encoded:
    """Run the plan (an image search, a video or its parts, or audio); keep the outputs."""
    ext = plan.container
    sampling = None
    if plan.kind is MediaType.IMAGE:
        temp, ext, attempts = await fit_still(
            plan, probe, space, settings=settings, progress=progress
        )
        temps, first_fit = [temp], attempts == 1
    elif plan.kind is MediaType.VIDEO:
        settings = with_preset(settings, plan, os.cpu_count() or 1)
        plan, sampling, begin = await _choose_frame(plan, probe, space, settings, progress)
        temps, attempts, first_fit = await _encode_video_parts(
            plan, probe, space, settings, progress, begin
        )
    else:
        temp = space.temp(f".{ext}")
        report = progress.stage(0, 100)
        attempts = await encode_audio(plan, probe, temp, settings=settings, report=report)
        temps, first_fit = [temp], attempts == 1
    finals = space.keep(temps, _final_names(plan, ext))
    preset = settings.compression_ffmpeg_preset if plan.kind is MediaType.VIDEO else None
    return _Encoded(finals, attempts, first_fit, plan, sampling, preset)


async def _output(
    final: Path,
    source: MediaFile,
    kind: MediaType,
    encoded: _Encoded,
    target_bytes: int,
    settings: Settings,
) -> MediaFile:
    """A kept output as a MediaFile, once it reads back as media under the target."""
    size = size_of(final)
    if size > target_bytes:  # pragma: no cover - every encode was measured already
        raise still_over(source.path, size, target_bytes, encoded.attempts)
    if kind is MediaType.IMAGE:
        _check_still(final, size)
    else:
        await probe_media(final, settings)  # the output must read back as media
    return MediaFile(final, size, kind, original_path=source.path)


def _check_still(final: Path, size: int) -> None:
    """A still image must be framed whole (ffprobe would cost as much as its encode)."""
    with final.open("rb") as file:  # a few bytes: read on the loop
        head = file.read(HEAD_BYTES)
        file.seek(max(0, size - TAIL_BYTES))
        tail = file.read(TAIL_BYTES)
    if not still_is_whole(final.suffix[1:], head, tail, size):
        raise ProbeError(final, "the encoded image is incomplete (its file ends early)")


async def compress_with_details(
    file: MediaFile,
    target_bytes: int,
    *,
    settings: Settings,
    workdir: Path,
    on_progress: ProgressCallback | None = None,
) -> CompressOutcome:
    """Like ``compress_to_fit`` but also says how many encodes it took and the plan."""
    workdir = Path(workdir)
    if target_bytes <= 0:
        raise CompressionError(file.path, f"the target size must be positive, not {target_bytes}")
    probe = await probe_media(file.path, settings)
    check_media_type(probe, file.media_type)
    plan = plan_encode(probe, target_bytes, settings)
    progress = StagedProgress(on_progress)
    space = Workspace(workdir, file.path)
    try:
        encoded = await _encode(plan, probe, space, settings, progress)
        outputs = [
            await _output(final, file, plan.kind, encoded, target_bytes, settings)
            for final in encoded.finals
        ]
        space.remove_temps()
    except OSError as exc:  # the workdir is missing, full or read-only
        space.remove_all()
        raise CompressionError(
            file.path, f"cannot write the result in {workdir}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        space.remove_all()
        raise
    progress.report(100.0)
    return CompressOutcome(
        tuple(outputs),
        encoded.attempts,
        encoded.plan,
        encoded.first_fit,
        encoded.sampling,
        encoded.preset,
    )


async def compress_to_fit(
    file: MediaFile,
    target_bytes: int,
    *,
    settings: Settings,
    workdir: Path,
    on_progress: ProgressCallback | None = None,
) -> tuple[MediaFile, ...]:
    """Compress ``file`` so every output is at most ``target_bytes`` on disk.

    Args:
        file: the user's file (only read, never modified).
        target_bytes: the limit each output must not exceed.
        settings: ffmpeg paths, x264 preset, ``compression_split_long``.
        workdir: the only directory written to: ``<stem>.compressed.<ext>`` or, for a split
            video, ``<stem>.part1of3.mp4``...
        on_progress: called with 0..100 as encoding advances (never decreasing).

    Returns:
        One stand-in, or the consecutive parts; each with ``original_path=file.path``.

    Raises:
        ProbeError: ffprobe cannot read the file.
        MediaMismatchError: the content is not what the extension says.
        CannotFitError: it cannot fit at an acceptable quality (with the smallest limit).
        FFmpegNotFoundError, FFmpegFailedError, EncodeTimeoutError: ffmpeg trouble.
        CompressionError: still over the limit after the corrective re-encodes.
    """
    outcome = await compress_with_details(
        file, target_bytes, settings=settings, workdir=workdir, on_progress=on_progress
    )
    return outcome.outputs


async def describe_compression(
    file: MediaFile, target_bytes: int, settings: Settings
) -> EncodePlan:
    """Probe and plan without encoding (for ``uploader plan``).

    Raises:
        ProbeError, MediaMismatchError, CannotFitError, FFmpegNotFoundError: as
            ``compress_to_fit`` would.
    """
    probe = await probe_media(file.path, settings)
    check_media_type(probe, file.media_type)
    return plan_encode(probe, target_bytes, settings)
