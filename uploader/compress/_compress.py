"""compress_to_fit: probe, plan, encode, measure, correct; outputs only in the workdir.

The original file is only ever read. Every output is written under a temporary name in the
workdir and renamed to ``<stem>.compressed.<ext>`` (or ``<stem>.part1of3.mp4``) once it was
measured under the limit; on any error or cancellation the temporaries, pass logs and reserved
names are removed.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import ffmpeg

from .._models import MIB, MediaFile, MediaType
from .._settings import Settings
from ._errors import CannotFitError, CompressionError, FFmpegFailedError
from ._ffmpeg import ProgressParser, compile_command, encode_timeout, run_tool
from ._plan import (
    AUDIO_MONO_BELOW_KBPS,
    AUDIO_ONLY_LADDER,
    AudioRung,
    EncodePlan,
    plan_encode,
)
from ._probe import MediaProbe, check_media_type, probe_media

MAX_ENCODES = 3
"""The first encode plus at most two corrective re-encodes."""
CORRECTION = 0.94
"""A re-encode aims at ``(target / actual) * CORRECTION`` of the previous bitrate."""
UNDERFILL = 0.90
"""A video output under this share of its target may be re-encoded once at a higher bitrate."""
RAISE_CORRECTION = 0.97
"""An upward re-encode aims at this share of the predicted bitrate (a miss wastes an encode)."""
MAX_RAISE = 1.5
"""An upward re-encode raises the video bitrate by at most this factor."""
RAISE_MAX_BITS_PER_PIXEL = 0.2
"""No upward re-encode past this video density (bits per pixel per frame): the picture is as
good as it gets, and x264 often cannot even spend the bits (a calm 720p clip planned at 0.7
bits per pixel stays at 70% of its target however high the bitrate)."""

WEBP_QUALITIES = (100, 95, 90, 85, 78, 70, 60, 50, 40)
JPEG_QSCALES = (2, 3, 4, 6, 8, 11, 15)
MIN_IMAGE_SIDE = 16

ProgressCallback = Callable[[float], None]


@attrs.frozen
class CompressOutcome:
    """What a compression produced and how many encodes the hardest output needed.

    Attributes:
        outputs: the stand-in, or the consecutive parts.
        attempts: encodes of the output that took most (for images: qualities tried),
            including an upward re-encode of a video that fit but left its budget underused.
        plan: the plan (the first encode's bitrates).
        first_fit: every output's first encode was already under the limit (for images: the
            first quality tried fit).
    """

    outputs: tuple[MediaFile, ...]
    attempts: int
    plan: EncodePlan
    first_fit: bool = True


class _Progress:
    """Maps stage-local percentages onto 0..100 and never goes backwards."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._last = -1.0

    def stage(self, low: float, high: float) -> ProgressCallback:
        def report(percent: float) -> None:
            self.report(low + (high - low) * percent / 100)

        return report

    def report(self, percent: float) -> None:
        percent = min(max(percent, 0.0), 100.0)
        if self._callback is not None and percent > self._last:
            self._last = percent
            self._callback(percent)


class _Workspace:
    """The files one compression creates in the workdir, removed unless kept."""

    def __init__(self, workdir: Path, source: Path) -> None:
        self.workdir = workdir
        self.stem = source.stem
        self._temps: list[Path] = []
        self._reserved: list[Path] = []

    def temp(self, suffix: str) -> Path:
        """A fresh name; it and anything starting with it (pass logs) is removed at the end."""
        path = self.workdir / f".uploader-{secrets.token_hex(6)}{suffix}"
        self._temps.append(path)
        return path

    def reserve(self, names: Callable[[str], list[str]]) -> list[Path]:
        """Claim final names (``names(stem)``), adding ``-2``, ``-3``... to the stem if taken."""
        for n in range(1, 1000):
            stem = self.stem if n == 1 else f"{self.stem}-{n}"
            claimed: list[Path] = []
            try:
                for name in names(stem):
                    path = self.workdir / name
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                    claimed.append(path)
            except FileExistsError:
                for path in claimed:
                    path.unlink(missing_ok=True)
                continue
            self._reserved.extend(claimed)
            return claimed
        raise CompressionError(self.workdir, "cannot find a free output name")  # pragma: no cover

    @staticmethod
    def discard(path: Path) -> None:
        path.unlink(missing_ok=True)

    def remove_temps(self) -> None:
        for temp in self._temps:
            for leftover in temp.parent.glob(temp.name + "*"):
                leftover.unlink(missing_ok=True)

    def remove_all(self) -> None:
        self.remove_temps()
        for path in self._reserved:
            path.unlink(missing_ok=True)


def _input(probe: MediaProbe, *, start: float | None = None, duration: float | None = None) -> Any:
    """The input node: local files only, with the demuxer ffprobe detected forced."""
    options: dict[str, Any] = {"protocol_whitelist": "file", "f": probe.demuxer}
    if probe.demuxer == "image2":
        options["pattern_type"] = "none"
    if start is not None:
        options["ss"] = f"{start:.3f}"
    if duration is not None:
        options["t"] = f"{duration:.3f}"
    return ffmpeg.input(str(probe.path.absolute()), **options)


def _video_command(
    plan: EncodePlan,
    probe: MediaProbe,
    out: Path | None,
    *,
    passlog: Path,
    pass_number: int,
    start: float | None,
    settings: Settings,
) -> list[str]:
    video = probe.video
    assert video is not None and plan.scale is not None
    inp = _input(probe, start=start, duration=plan.duration if plan.parts > 1 else None)
    picture = inp[str(video.index)]
    if plan.fps:
        picture = picture.filter("fps", fps=round(plan.fps, 3))
    picture = picture.filter("scale", plan.scale[0], plan.scale[1]).filter("setsar", 1)
    options: dict[str, Any] = {
        "c:v": "libx264",
        "preset": settings.compression_ffmpeg_preset,
        "b:v": f"{plan.video_kbps}k",
        "pass": pass_number,
        "passlogfile": str(passlog),
        "pix_fmt": "yuv420p",
        # The same frames in both passes whatever the muxer (null vs mp4) would pick by default.
        "fps_mode": "cfr",
        "map_metadata": -1,
        "map_chapters": -1,
    }
    if pass_number == 1:
        node = ffmpeg.output(picture, "-", f="null", an=None, **options)
    else:
        assert out is not None
        streams = [picture]
        audio = probe.audio
        if audio is not None and plan.audio_codec is not None:
            streams.append(inp[str(audio.index)])
            options["c:a"] = plan.audio_codec
            if plan.audio_codec != "copy":
                options["b:a"] = f"{plan.audio_kbps}k"
                options["ac"] = plan.audio_channels or 2
        node = ffmpeg.output(*streams, str(out), f="mp4", movflags="+faststart", **options)
    return compile_command(node, settings.compression_ffmpeg_path, progress=True)


_AUDIO_MUXERS = {"m4a": "mp4", "mp3": "mp3", "ogg": "ogg"}


def _audio_command(plan: EncodePlan, probe: MediaProbe, out: Path, settings: Settings) -> list[str]:
    audio = probe.audio
    assert audio is not None and plan.audio_codec is not None
    options: dict[str, Any] = {"c:a": plan.audio_codec, "vn": None, "sn": None}
    if plan.audio_codec != "copy":
        options["b:a"] = f"{plan.audio_kbps}k"
        options["ac"] = plan.audio_channels or 2
    stream = _input(probe)[str(audio.index)]
    node = ffmpeg.output(stream, str(out), f=_AUDIO_MUXERS[plan.container], **options)
    return compile_command(node, settings.compression_ffmpeg_path, progress=True)


def _image_command(
    probe: MediaProbe, out: Path, *, codec: str, quality: int | None, size: tuple[int, int],
    alpha: bool, settings: Settings,
) -> list[str]:  # fmt: skip
    video = probe.video
    assert video is not None
    picture = _input(probe)[str(video.index)]
    if size != video.display_size:
        picture = picture.filter("scale", size[0], size[1], flags="lanczos")
    options: dict[str, Any] = {"frames:v": 1, "map_metadata": -1}
    if codec == "png":
        options.update({"c:v": "png", "compression_level": 9, "pred": "mixed"})
        options.update({"f": "image2", "update": 1})
    elif codec == "libwebp":
        options.update({"c:v": "libwebp", "quality": quality, "lossless": 0, "f": "webp"})
        options.update({"compression_level": 6, "pix_fmt": "yuva420p" if alpha else "yuv420p"})
    else:
        options.update({"c:v": "mjpeg", "q:v": quality, "pix_fmt": "yuvj420p"})
        options.update({"f": "image2", "update": 1})
    node = ffmpeg.output(picture, str(out), **options)
    return compile_command(node, settings.compression_ffmpeg_path, progress=False)


async def _run_ffmpeg(
    cmd: list[str], *, path: Path, time_limit: float, duration: float,
    report: ProgressCallback | None,
) -> None:  # fmt: skip
    parser = ProgressParser(duration, report) if report else None
    result = await run_tool(cmd, path=path, time_limit=time_limit, on_stdout_line=parser)
    if result.returncode != 0:
        raise FFmpegFailedError(path, result.returncode, result.stderr_tail)


def _size(path: Path) -> int:
    return path.stat().st_size


def _over(path: Path, size: int, target: int, encodes: int) -> CompressionError:
    return CompressionError(
        path,
        f"still {size / MIB:.2f} MiB after {encodes} encodes, over the "
        f"{target / MIB:.2f} MiB limit; try a lower limit margin or a faster preset",
    )


def _raised_kbps(plan: EncodePlan, measured: list[tuple[int, int]]) -> int | None:
    """The video bitrate of one upward re-encode, or None when it is not worth the risk.

    Only for an output that fit but used under ``UNDERFILL`` of its target, planned below the
    source's video bitrate. Each measured encode (kb/s, bytes) predicts the bitrate at which
    the video would fill the plan's budget, never the whole target (audio and container as
    planned, video bytes in proportion to the bitrate); the lowest prediction is taken,
    ``RAISE_CORRECTION`` below it, and never above the source's bitrate or ``MAX_RAISE`` times
    the current one, nor to ``RAISE_MAX_BITS_PER_PIXEL``. The output is measured anyway: a
    miss only costs the encode.
    """
    size = measured[-1][1]
    if size >= UNDERFILL * plan.target_bytes or plan.scale is None:
        return None
    pixels_per_second = plan.scale[0] * plan.scale[1] * (plan.fps or 30.0)
    ceiling = min(plan.source_video_kbps or math.inf,
                  RAISE_MAX_BITS_PER_PIXEL * pixels_per_second / 1000)  # fmt: skip
    if plan.video_kbps >= ceiling:
        return None
    others = plan.planned_bytes - plan.video_kbps * 125 * plan.duration  # audio + container
    aim = min(plan.budget_bytes + plan.overhead_bytes, plan.target_bytes) - others
    predictions = [kbps * aim / (got - others) for kbps, got in measured if got > others]
    if len(predictions) < len(measured) or aim <= 0:
        return None
    kbps = math.floor(min(min(predictions) * RAISE_CORRECTION, ceiling,
                          plan.video_kbps * MAX_RAISE))  # fmt: skip
    return kbps if kbps > plan.video_kbps else None


async def _encode_video(
    plan: EncodePlan, probe: MediaProbe, out: Path, space: _Workspace, *,
    start: float | None, settings: Settings, progress: _Progress, low: float, high: float,
) -> tuple[int, bool]:  # fmt: skip
    """Two-pass encode one output into ``out``; re-encode (pass 2) while over the target.

    An output that fits but leaves over a tenth of its target unused (see ``_raised_kbps``) is
    re-encoded once at a higher bitrate into a separate file, which replaces ``out`` only if it
    is measured under the target too; otherwise the first fitting output stays.

    Returns:
        (encodes run, whether the first encode fit).
    """
    path = probe.path
    assert plan.scale is not None
    passlog = space.temp(".passlog")
    timeout = encode_timeout(plan.duration, plan.scale[0] * plan.scale[1],
                             settings.compression_ffmpeg_preset)  # fmt: skip
    first = _video_command(plan, probe, None, passlog=passlog, pass_number=1, start=start,
                           settings=settings)  # fmt: skip
    split = low + (high - low) * 0.35
    await _run_ffmpeg(first, path=path, time_limit=timeout, duration=plan.duration,
                      report=progress.stage(low, split))  # fmt: skip
    measured: list[tuple[int, int]] = []  # (video kb/s, output bytes) of every encode
    raising = False
    for encodes in range(1, MAX_ENCODES + 1):
        attempt = space.temp(".mp4") if raising else out
        second = _video_command(plan, probe, attempt, passlog=passlog, pass_number=2,
                                start=start, settings=settings)  # fmt: skip
        await _run_ffmpeg(second, path=path, time_limit=timeout, duration=plan.duration,
                          report=progress.stage(split, high))  # fmt: skip
        size = _size(attempt)
        measured.append((plan.video_kbps, size))
        first_fit = measured[0][1] <= plan.target_bytes
        if raising:  # ``out`` already holds an output that fits
            if size <= plan.target_bytes:
                os.replace(attempt, out)
            else:
                space.discard(attempt)
            return encodes, first_fit
        if size <= plan.target_bytes:
            raised = _raised_kbps(plan, measured) if encodes < MAX_ENCODES else None
            if raised is None:
                return encodes, first_fit
            raising = True
            plan = plan.with_video_kbps(raised)
            continue
        if encodes == MAX_ENCODES:
            raise _over(path, size, plan.target_bytes, encodes)
        kbps = math.floor(plan.video_kbps * plan.target_bytes / size * CORRECTION)
        if kbps < 1:
            raise _over(path, size, plan.target_bytes, encodes)
        plan = plan.with_video_kbps(kbps)
    raise AssertionError("unreachable")  # pragma: no cover


async def _encode_audio(
    plan: EncodePlan, probe: MediaProbe, out: Path, *, settings: Settings, progress: _Progress
) -> int:
    path = probe.path
    timeout = encode_timeout(plan.duration, 0, settings.compression_ffmpeg_preset)
    for encodes in range(1, MAX_ENCODES + 1):
        cmd = _audio_command(plan, probe, out, settings)
        await _run_ffmpeg(cmd, path=path, time_limit=timeout, duration=plan.duration,
                          report=progress.stage(0, 100))  # fmt: skip
        size = _size(out)
        if size <= plan.target_bytes:
            return encodes
        wanted = plan.audio_kbps * plan.target_bytes / size * CORRECTION
        rung = next((r for r in AUDIO_ONLY_LADDER if r.kbps <= wanted), None)
        if rung is not None and plan.codec != "libmp3lame":
            kbps = math.floor(wanted)
            rung = AudioRung(kbps, 1 if kbps < AUDIO_MONO_BELOW_KBPS else 2)
        if encodes == MAX_ENCODES or rung is None:
            raise _over(path, size, plan.target_bytes, encodes)
        plan = plan.with_audio(rung)
    raise AssertionError("unreachable")  # pragma: no cover


async def _fit_image(
    plan: EncodePlan, probe: MediaProbe, space: _Workspace, *, settings: Settings,
    progress: _Progress,
) -> tuple[Path, str, int]:  # fmt: skip
    """Search quality (then size) for the best image under the target.

    Returns:
        (the fitting temporary file, its extension, the number of encodes).
    """
    path = probe.path
    target = plan.target_bytes
    assert plan.scale is not None
    timeout = encode_timeout(1.0, plan.scale[0] * plan.scale[1], "medium")
    encodes = 0

    async def encode(codec: str, quality: int | None, size: tuple[int, int], ext: str) -> Path:
        nonlocal encodes
        out = space.temp(f".{ext}")
        cmd = _image_command(probe, out, codec=codec, quality=quality, size=size,
                             alpha=plan.keep_alpha, settings=settings)  # fmt: skip
        await _run_ffmpeg(cmd, path=path, time_limit=timeout, duration=0, report=None)
        encodes += 1
        progress.report(min(95.0, encodes * 12.0))
        return out

    if plan.lossless_first:
        out = await encode("png", None, plan.scale, "png")
        if _size(out) <= target:
            return out, "png", encodes
        space.discard(out)
    qualities: tuple[int, ...] = WEBP_QUALITIES if plan.codec == "libwebp" else JPEG_QSCALES
    width, height = plan.scale
    while True:
        best: Path | None = None
        lo, hi = 0, len(qualities)
        smallest = 0
        while lo < hi:  # find the best quality (lowest index) that fits
            mid = (lo + hi) // 2
            out = await encode(plan.codec, qualities[mid], (width, height), plan.container)
            size = _size(out)
            if size <= target:
                if best is not None:
                    space.discard(best)
                best, hi = out, mid
            else:
                smallest = size
                space.discard(out)
                lo = mid + 1
        if best is not None:
            return best, plan.container, encodes
        # Even the lowest quality is too big: shrink by about the missing share.
        factor = min(0.85, max(0.25, math.sqrt(target / max(smallest, 1)) * 0.9))
        width, height = max(1, round(width * factor)), max(1, round(height * factor))
        if min(width, height) < MIN_IMAGE_SIDE:
            raise CannotFitError(
                path, "the image cannot fit even at a tiny size and the lowest quality", None
            )


async def compress_with_details(
    file: MediaFile, target_bytes: int, *, settings: Settings, workdir: Path,
    on_progress: ProgressCallback | None = None,
) -> CompressOutcome:  # fmt: skip
    """Like ``compress_to_fit`` but also says how many encodes it took and the plan."""
    workdir = Path(workdir)
    if target_bytes <= 0:
        raise CompressionError(file.path, f"the target size must be positive, not {target_bytes}")
    probe = await probe_media(file.path, settings)
    check_media_type(probe, file.media_type)
    plan = plan_encode(probe, target_bytes, settings)
    progress = _Progress(on_progress)
    space = _Workspace(workdir, file.path)
    try:
        attempts = 0
        first_fit = True
        finals: list[Path]
        if plan.kind is MediaType.IMAGE:
            temp, ext, attempts = await _fit_image(plan, probe, space, settings=settings,
                                                   progress=progress)  # fmt: skip
            first_fit = attempts == 1
            finals = space.reserve(lambda stem: [f"{stem}.compressed.{ext}"])
            os.replace(temp, finals[0])
        elif plan.parts > 1:
            n = plan.parts
            finals = space.reserve(
                lambda stem: [f"{stem}.part{i}of{n}.{plan.container}" for i in range(1, n + 1)]
            )
            temps = [space.temp(f".{plan.container}") for _ in range(n)]
            for i, temp in enumerate(temps):
                used, fit = await _encode_video(
                    plan, probe, temp, space, start=i * plan.duration, settings=settings,
                    progress=progress, low=100 * i / n, high=100 * (i + 1) / n,
                )  # fmt: skip
                attempts, first_fit = max(attempts, used), first_fit and fit
            for temp, final in zip(temps, finals, strict=True):
                os.replace(temp, final)
        else:
            temp = space.temp(f".{plan.container}")
            if plan.kind is MediaType.VIDEO:
                attempts, first_fit = await _encode_video(
                    plan, probe, temp, space, start=None, settings=settings, progress=progress,
                    low=0, high=100,
                )  # fmt: skip
            else:
                attempts = await _encode_audio(plan, probe, temp, settings=settings,
                                               progress=progress)  # fmt: skip
                first_fit = attempts == 1
            finals = space.reserve(lambda stem: [f"{stem}.compressed.{plan.container}"])
            os.replace(temp, finals[0])
        outputs = []
        for final in finals:
            size = _size(final)
            if size > target_bytes:  # pragma: no cover - every encode was measured already
                raise _over(file.path, size, target_bytes, attempts)
            await probe_media(final, settings)  # the output must read back as media
            outputs.append(MediaFile(final, size, plan.kind, original_path=file.path))
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
    return CompressOutcome(tuple(outputs), attempts, plan, first_fit)


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
