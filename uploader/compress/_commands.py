"""The ffmpeg command lines of an encode plan (pure: plan and probe in, argv out).

ffmpeg-python is unmaintained and untyped, but it earns its place here: it names streams
(``0:1``), chains filters into ``-filter_complex`` and quotes their arguments, which written
by hand is where command lines go wrong. It only builds argv; nothing here runs anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import ffmpeg

from .._settings import Settings
from ._effort import preset_of
from ._ffmpeg import compile_command, motion_search
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


PSY_RD = "0.0:0.0"
"""x264's psychovisual rate-distortion off (default 1.0:0.0). Measured at equal size
(``benchmarks/x264_settings.py``, VMAF mean / 5th percentile against the defaults): zoom 480p
at 2 MiB +0.26 / -1.25, noise 480p at 3 MiB +5.22 / +4.10, swinging 1080p at 10 MiB +2.14 /
+2.28, calm 720p at 8 MiB +0.93 / +1.21. Adaptive quantisation modes 2 and 3 lost 4-4.6 on the
noise; psy-trellis 0.15 lost on both hard clips."""
QCOMP = 0.5
"""x264's quantiser compression (default 0.6): a little flatter, so busy scenes keep more of
the bits. With ``KEYFRAME_SECONDS`` it measured +0.55 VMAF (5th percentile +1.9) on the zoom
480p at 2 MiB and +0.24 (+3.1) on the noise 480p at 3 MiB at equal size and CPU."""
KEYFRAME_SECONDS = 10.0
"""The longest gap between keyframes (x264's default is 250 frames, 8.3 s at 30 fps): fewer
costly keyframes in a short clip, while a seek still decodes at most this much. 20 s gained
another 0.4 VMAF on the noise and nothing on the zoom; not worth slower seeking."""


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
        "preset": preset_of(settings),
        "b:v": f"{plan.video_kbps}k",
        "psy-rd": PSY_RD,
        "qcomp": QCOMP,
        "g": round(KEYFRAME_SECONDS * min(plan.fps or video.fps or 25.0, 60.0)),
        "pass": pass_number,
        "passlogfile": str(passlog),
        "pix_fmt": "yuv420p",
        # The same frames in both passes whatever the muxer (null vs mp4) would pick by default.
        "fps_mode": "cfr",
        "map_metadata": -1,
        "map_chapters": -1,
    }
    search = motion_search(options["preset"], plan.bits_per_pixel)
    if search is not None:  # both passes: pass 1's statistics then match pass 2's search
        options["motion-est"] = search
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


def _segments(probe: MediaProbe, starts: tuple[float, ...], seconds: float, fps: float) -> Any:
    """The source's video in the segments ``starts`` (each ``seconds`` long) at ``fps``, joined."""
    video = probe.video
    assert video is not None
    parts = [
        _input(probe, start=start, duration=seconds)[str(video.index)]
        .filter("fps", fps=round(fps, 3))
        .filter("setsar", 1)
        for start in starts
    ]
    return ffmpeg.concat(*parts, v=1, a=0) if len(parts) > 1 else parts[0]


def sample_command(
    probe: MediaProbe,
    outs: list[tuple[Path, tuple[tuple[int, int], float]]],
    *,
    video_kbps: int,
    starts: tuple[float, ...],
    seconds: float,
    preset: str,
    settings: Settings,
) -> list[str]:
    """Encode the joined segments once per (output, frame) at ``video_kbps``, decoding once.

    One-pass ABR over the joined segments shares the bits among them by their complexity, as
    the real two-pass encode shares them over the whole clip. Each frame's fps must not exceed
    the first's (the segments are cut at the first's).
    """
    source_fps = outs[0][1][1]
    joined = _segments(probe, starts, seconds, source_fps).split()
    options: dict[str, Any] = {"c:v": "libx264", "preset": preset, "b:v": f"{video_kbps}k"}
    options.update({"pix_fmt": "yuv420p", "an": None, "sn": None, "map_metadata": -1})
    nodes = []
    for i, (out, ((width, height), fps)) in enumerate(outs):
        picture = joined[i]
        if fps < source_fps:
            picture = picture.filter("fps", fps=round(fps, 3))
        picture = picture.filter("scale", width, height).filter("setsar", 1)
        nodes.append(ffmpeg.output(picture, str(out), f="matroska", **options))
    return compile_command(
        ffmpeg.merge_outputs(*nodes), settings.compression_ffmpeg_path, progress=False
    )


SCORE_ARGS = ("-nostdin", "-hide_banner", "-nostats", "-loglevel", "error")


def score_command(
    probe: MediaProbe,
    samples: list[tuple[Path, tuple[tuple[int, int], float], Path]],
    reference: tuple[tuple[int, int], float],
    *,
    metric: str,
    starts: tuple[float, ...],
    seconds: float,
    settings: Settings,
) -> list[str]:
    """Score each (sample, its frame, its log) against the same joined segments of the source,
    decoded once, all at ``reference`` (the source's upright size and fps), with ffmpeg's
    ``psnr`` (frame metadata), ``ssim`` (per-frame stats) or ``libvmaf`` (JSON) filter writing
    to the log.

    Every stream gets timestamps from its frame numbers, so that no rounding in the sample's
    container can pair a frame with its neighbour.
    """
    (width, height), fps = reference

    def prepared(stream: Any, rate: float) -> Any:
        stream = stream.filter("setpts", f"N/({round(rate, 3)}*TB)")
        stream = stream.filter("scale", width, height, flags="bicubic")
        stream = stream.filter("fps", fps=round(fps, 3)).filter("format", "yuv420p")
        return stream.filter("setsar", 1)

    source = prepared(_segments(probe, starts, seconds, fps), fps).split()
    nodes = []
    for i, (sample, frame, log) in enumerate(samples):
        distorted = ffmpeg.input(str(sample.absolute()), protocol_whitelist="file", f="matroska")
        pair = [prepared(distorted["0"], frame[1]), source[i]]
        if metric == "vmaf":
            scored = ffmpeg.filter(pair, "libvmaf", log_path=str(log), log_fmt="json")
        elif metric == "ssim":
            scored = ffmpeg.filter(pair, "ssim", stats_file=str(log))
        else:  # psnr: per-frame errors as frame metadata, printed to the log
            scored = ffmpeg.filter(pair, "psnr").filter("metadata", mode="print", file=str(log))
        nodes.append(ffmpeg.output(scored, "-", f="null"))
    node = ffmpeg.merge_outputs(*nodes)
    cmd: list[str] = node.global_args(*SCORE_ARGS).compile(cmd=settings.compression_ffmpeg_path)
    return cmd


def audio_command(plan: EncodePlan, probe: MediaProbe, out: Path, settings: Settings) -> list[str]:
    """An audio-only encode (or copy) into ``plan.container``."""
    audio = probe.audio
    assert audio is not None
    options = {**_audio_options(plan), "vn": None, "sn": None}
    stream = _input(probe)[str(audio.index)]
    node = ffmpeg.output(stream, str(out), f=_AUDIO_MUXERS[plan.container], **options)
    return compile_command(node, settings.compression_ffmpeg_path, progress=True)


DEFAULT_INTRA_MATRIX = (
    *(8, 16, 19, 22, 26, 27, 29, 34),
    *(16, 16, 22, 24, 27, 29, 34, 37),
    *(19, 22, 26, 27, 29, 34, 34, 38),
    *(22, 22, 26, 27, 29, 34, 37, 40),
    *(22, 26, 27, 29, 32, 35, 40, 48),
    *(26, 27, 29, 32, 35, 40, 48, 58),
    *(26, 27, 29, 34, 38, 46, 56, 69),
    *(27, 29, 35, 38, 46, 56, 69, 83),
)
"""ffmpeg's default MJPEG quantiser matrix (raster order), which it scales by the qscale."""


def jpeg_matrix(qscale: float) -> str:
    """An ``-intra_matrix`` that acts like a fractional ``qscale`` (with ``-q:v 8``).

    ffmpeg's MJPEG encoder quantises with ``matrix * qscale / 8`` for an integer qscale, so
    qscale 2 to 3 is a 50% step; scaling the matrix itself gives every step in between.
    """
    return ",".join(str(min(255, max(1, round(v * qscale / 8)))) for v in DEFAULT_INTRA_MATRIX)


@attrs.frozen
class ImageEncoding:
    """One still-image encode's settings.

    Attributes:
        codec: ``png`` (lossless), ``libwebp`` or ``mjpeg``.
        quality: WebP quality (0-100) or JPEG qscale (1-31, fractional; lower is better);
            None for PNG.
        size: output (width, height); scaled with lanczos when it differs from the source.
        alpha: keep transparency (WebP).
        full_chroma: 4:4:4 chroma (JPEG).
        effort: WebP ``compression_level`` (0 fastest - 6 smallest).
    """

    codec: str
    quality: float | None
    size: tuple[int, int]
    alpha: bool = False
    full_chroma: bool = False
    effort: int = 4


def _image_options(encoding: ImageEncoding) -> dict[str, Any]:
    options: dict[str, Any] = {"frames:v": 1, "map_metadata": -1}
    if encoding.codec == "png":
        options.update({"c:v": "png", "compression_level": 9, "pred": "mixed"})
        options.update({"f": "image2", "update": 1})
    elif encoding.codec == "libwebp":
        options.update({"c:v": "libwebp", "quality": encoding.quality, "lossless": 0})
        options["compression_level"] = encoding.effort
        options.update({"f": "webp", "pix_fmt": "yuva420p" if encoding.alpha else "yuv420p"})
    else:
        assert encoding.quality is not None
        options.update({"c:v": "mjpeg", "q:v": 8, "intra_matrix": jpeg_matrix(encoding.quality)})
        options["pix_fmt"] = "yuvj444p" if encoding.full_chroma else "yuvj420p"
        options.update({"f": "image2", "update": 1})
    return options


DECODED_PIX_FMTS = frozenset(
    {"yuvj420p", "yuvj422p", "yuvj444p", "yuv420p", "yuv422p", "yuv444p", "gray", "rgb24"}
)
"""Source pixel formats the decoded copy keeps as they are (others become rgb24 or rgba)."""


def decoded_pix_fmt(probe: MediaProbe) -> str:
    """The pixel format of an image's decoded copy: the source's, or rgba/rgb24."""
    video = probe.video
    assert video is not None
    if video.has_alpha:
        return "rgba"
    return video.pix_fmt if video.pix_fmt in DECODED_PIX_FMTS else "rgb24"


def _image_source(probe: MediaProbe, decoded: Path | None) -> Any:
    """The picture: the decoded copy (raw NUT, full range restored) if any, else the source."""
    video = probe.video
    assert video is not None
    if decoded is None:
        return _input(probe)[str(video.index)]
    picture = ffmpeg.input(str(decoded.absolute()), protocol_whitelist="file", f="nut")["0"]
    if decoded_pix_fmt(probe).startswith("yuvj"):
        # NUT stores yuvj* as yuv* of unknown range; read as limited, the encoder's conversion
        # back to full range would stretch every level (and move the size off the samples').
        picture = picture.filter("setparams", range="pc")
    return picture


def _with_decoded_copy(
    probe: MediaProbe, picture: Any, decode_to: Path | None
) -> tuple[Any, list[Any]]:
    """The picture, and the output writing it decoded to ``decode_to`` (raw NUT) if given."""
    if decode_to is None:
        return picture, []
    split = picture.split()
    raw = {"c:v": "rawvideo", "pix_fmt": decoded_pix_fmt(probe), "frames:v": 1}
    return split[0], [ffmpeg.output(split[1], str(decode_to), f="nut", map_metadata=-1, **raw)]


def _sized(probe: MediaProbe, picture: Any, size: tuple[int, int]) -> Any:
    video = probe.video
    assert video is not None
    if size != video.display_size:
        return picture.filter("scale", size[0], size[1], flags="lanczos")
    return picture


def image_round_command(
    probe: MediaProbe,
    fulls: list[tuple[Path, ImageEncoding]],
    samples: list[tuple[Path, ImageEncoding]],
    *,
    settings: Settings,
    rows: tuple[int, ...] = (),
    strip_rows: int = 0,
    decoded: Path | None = None,
    decode_to: Path | None = None,
) -> list[str]:
    """One run of still-image encodes of the picture decoded once, all at one size.

    Args:
        probe: the source.
        fulls: (output, encoding) of the whole picture.
        samples: (output, encoding) of strips of it (``strip_rows`` high, starting at
            ``rows``, joined top to bottom), a sample of its size.
        settings: the ffmpeg path.
        decoded: read this decoded copy (raw NUT) instead of decoding the source again.
        decode_to: also write the decoded source here (raw NUT, for the later runs).
    """
    size = (fulls or samples)[0][1].size
    picture, outputs = _with_decoded_copy(probe, _image_source(probe, decoded), decode_to)
    picture = _sized(probe, picture, size)
    branches = len(fulls) + (1 if samples else 0)
    split = picture.split() if branches > 1 else None
    for i, (out, encoding) in enumerate(fulls):
        branch = split[i] if split is not None else picture
        outputs.append(ffmpeg.output(branch, str(out), **_image_options(encoding)))
    if samples:
        whole = split[len(fulls)].split() if split is not None else picture.split()
        strips = [
            whole[i].filter("crop", size[0], strip_rows, 0, top) for i, top in enumerate(rows)
        ]
        joined = ffmpeg.filter(strips, "vstack", inputs=len(strips)).split()
        for i, (out, encoding) in enumerate(samples):
            outputs.append(ffmpeg.output(joined[i], str(out), **_image_options(encoding)))
    node = ffmpeg.merge_outputs(*outputs) if len(outputs) > 1 else outputs[0]
    return compile_command(node, settings.compression_ffmpeg_path, progress=False)


def image_command(
    probe: MediaProbe,
    out: Path,
    encoding: ImageEncoding,
    *,
    settings: Settings,
    decoded: Path | None = None,
    decode_to: Path | None = None,
) -> list[str]:
    """One still-image encode, from the source or from its decoded copy (see
    ``image_round_command``)."""
    return image_round_command(
        probe, [(out, encoding)], [], settings=settings, decoded=decoded, decode_to=decode_to
    )
