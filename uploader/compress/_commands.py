"""The ffmpeg command lines of an encode plan (pure: plan and probe in, argv out).

ffmpeg-python is unmaintained and untyped, but it earns its place here: it names streams
(``0:1``), chains filters into ``-filter_complex`` and quotes their arguments, which written
by hand is where command lines go wrong. It only builds argv; nothing here runs anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg

from .._settings import Settings
from ._ffmpeg import compile_command
from ._model import EncodePlan
from ._probe import MediaProbe

_AUDIO_MUXERS = {"m4a": "mp4", "mp3": "mp3", "ogg": "ogg"}


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


def _audio_options(plan: EncodePlan) -> dict[str, Any]:
    assert plan.audio_codec is not None
    options: dict[str, Any] = {"c:a": plan.audio_codec}
    if plan.audio_codec != "copy":
        options["b:a"] = f"{plan.audio_kbps}k"
        options["ac"] = plan.audio_channels or 2
    return options


def video_command(
    plan: EncodePlan,
    probe: MediaProbe,
    out: Path | None,
    *,
    passlog: Path,
    pass_number: int,
    start: float | None,
    settings: Settings,
) -> list[str]:
    """One pass of a two-pass x264 encode: pass 1 to null (``out`` None), pass 2 to MP4.

    Args:
        plan: the video plan (``parts > 1``: one part of ``plan.duration`` seconds).
        probe: the source.
        out: where pass 2 writes.
        passlog: the pass log both passes share.
        pass_number: 1 or 2.
        start: where the part starts in the source (None: the whole file).
        settings: the ffmpeg path and x264 preset.
    """
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
            options.update(_audio_options(plan))
        node = ffmpeg.output(*streams, str(out), f="mp4", movflags="+faststart", **options)
    return compile_command(node, settings.compression_ffmpeg_path, progress=True)


def audio_command(plan: EncodePlan, probe: MediaProbe, out: Path, settings: Settings) -> list[str]:
    """An audio-only encode (or copy) into ``plan.container``."""
    audio = probe.audio
    assert audio is not None
    options = {**_audio_options(plan), "vn": None, "sn": None}
    stream = _input(probe)[str(audio.index)]
    node = ffmpeg.output(stream, str(out), f=_AUDIO_MUXERS[plan.container], **options)
    return compile_command(node, settings.compression_ffmpeg_path, progress=True)


def image_command(
    probe: MediaProbe,
    out: Path,
    *,
    codec: str,
    quality: int | None,
    size: tuple[int, int],
    alpha: bool,
    settings: Settings,
) -> list[str]:
    """One still image: ``png`` (lossless), ``libwebp`` (quality 0-100) or ``mjpeg`` (qscale).

    Args:
        probe: the source.
        out: where the image goes.
        codec: the encoder.
        quality: WebP quality or JPEG qscale (None for PNG).
        size: output (width, height); scaled with lanczos when it differs from the source.
        alpha: keep transparency (WebP).
        settings: the ffmpeg path.
    """
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
