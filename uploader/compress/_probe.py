"""What a media file holds, read with ffprobe: streams, duration, bitrates, size, alpha, format."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs

from .._mediatypes import media_type_of_suffix, suffixes_of
from .._models import MediaType
from .._settings import Settings
from ._errors import MediaMismatchError, ProbeError
from ._ffmpeg import run_tool

PROBE_TIMEOUT_SECONDS = 30.0

_READS_ELSEWHERE = {"hls", "applehttp", "dash", "concat", "ffconcat", "tee", "sdp", "lavfi"}
_NETWORK = {"http", "rtp", "rtsp", "mpjpeg"}
_NOT_MEDIA = {"ffmetadata", "tty", "data", "bin", "xbin", "idf", "adf"}
UNSAFE_FORMATS = frozenset(_READS_ELSEWHERE | _NETWORK | _NOT_MEDIA)
"""Demuxers that read other files or URLs (playlists, concat lists, filter graphs, network
streams) or are not media at all (metadata, text art, raw data)."""

_IMAGE_FORMATS = frozenset({"image2", "gif", "apng", "webp_pipe", "bmp_pipe", "tiff_pipe"})
_IMAGE_CODECS = frozenset({"png", "mjpeg", "webp", "gif", "bmp", "tiff", "apng", "jpegls"})
_NOT_MEDIA_CODECS = frozenset({"ansi", "bintext", "xbin", "idf", "text"})
_ALPHA_PIX_FMT = re.compile(r"^(rgba|bgra|argb|abgr|ya|yuva|gbrap|pal8)")

VIDEO_EXTENSIONS = suffixes_of(MediaType.VIDEO)
AUDIO_EXTENSIONS = suffixes_of(MediaType.AUDIO)
IMAGE_EXTENSIONS = suffixes_of(MediaType.IMAGE)
"""Views of the one table in ``uploader._mediatypes`` (the compress command reads them)."""


def media_type_for_suffix(path: Path) -> MediaType | None:
    """The media type a file's extension promises, or None for an unknown extension."""
    return media_type_of_suffix(Path(path).suffix)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) and result > 0 else None


def _seconds(value: Any) -> float:
    """A timestamp in seconds (negative allowed: an edit list can start before zero); 0 when
    missing."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return 0.0
    return result if math.isfinite(result) else 0.0


def _rate(value: Any) -> float | None:
    try:
        result = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return float(result) if result > 0 else None


@attrs.frozen
class StreamInfo:
    """One stream of a probed file (the fields that matter for fitting it under a limit).

    Attributes:
        index: the stream's index in the file (``-map 0:index``).
        codec_type: ``video``, ``audio``, ``subtitle``, ``data`` or ``attachment``.
        codec_name: e.g. ``h264``, ``aac``, ``png``.
        bit_rate: bits per second when known.
        width: coded width in pixels (video and images).
        height: coded height in pixels.
        fps: average frame rate.
        rotation: display rotation in degrees (0, 90, 180, 270).
        pix_fmt: pixel format, e.g. ``yuv420p``, ``rgba``.
        channels: audio channels.
        sample_rate: audio samples per second.
        frames: the number of frames when the container says.
        attached_pic: True for cover art (not a real video stream).
        duration: the stream's own duration in seconds when known.
    """

    index: int
    codec_type: str
    codec_name: str
    bit_rate: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int = 0
    pix_fmt: str | None = None
    channels: int | None = None
    sample_rate: int | None = None
    frames: int | None = None
    attached_pic: bool = False
    duration: float | None = None

    @property
    def has_alpha(self) -> bool:
        """True when the pixel format carries transparency (pal8 may, so it counts). A JPEG has
        none: ffmpeg decodes a CMYK or YCCK one (Adobe's) to ``gbrap`` with an opaque alpha."""
        if self.codec_name == "mjpeg":
            return False
        return bool(self.pix_fmt and _ALPHA_PIX_FMT.match(self.pix_fmt))

    @property
    def display_size(self) -> tuple[int, int] | None:
        """(width, height) as shown, after rotation."""
        if not self.width or not self.height:
            return None
        if self.rotation % 180 == 90:
            return (self.height, self.width)
        return (self.width, self.height)


@attrs.frozen
class MediaProbe:
    """What ffprobe found in a file.

    Attributes:
        path: the probed file.
        format_name: ffprobe's format name, e.g. ``mov,mp4,m4a,3gp,3g2,mj2``.
        duration: seconds (0.0 for still images or when unknown).
        size_bytes: the file's size.
        bit_rate: the whole file's bits per second when known.
        streams: every stream, in file order.
        start_time: the first timestamp in seconds (ffmpeg's ``-ss`` counts from it).
    """

    path: Path
    format_name: str
    duration: float
    size_bytes: int
    bit_rate: int | None
    streams: tuple[StreamInfo, ...]
    start_time: float = 0.0

    @property
    def demuxer(self) -> str:
        """The demuxer name to force when encoding (first of ``format_name``)."""
        return self.format_name.split(",")[0]

    @property
    def video(self) -> StreamInfo | None:
        """The main picture stream (cover art excluded), if any."""
        return next(
            (s for s in self.streams if s.codec_type == "video" and not s.attached_pic), None
        )

    @property
    def audio(self) -> StreamInfo | None:
        """The first audio stream, if any."""
        return next((s for s in self.streams if s.codec_type == "audio"), None)

    @property
    def is_image(self) -> bool:
        """True for still or animated images (PNG, JPEG, GIF, WebP...)."""
        video = self.video
        if video is None or self.audio is not None:
            return False
        return (
            self.demuxer in _IMAGE_FORMATS
            or self.demuxer.endswith("_pipe")
            or (video.codec_name in _IMAGE_CODECS and (video.frames or 1) <= 1)
        )

    @property
    def is_animated(self) -> bool:
        """True for an image with more than one frame (an animated GIF, APNG)."""
        video = self.video
        return self.is_image and video is not None and (video.frames or 1) > 1

    @property
    def has_alpha(self) -> bool:
        """True when the picture carries transparency."""
        video = self.video
        return video is not None and video.has_alpha

    @property
    def media_type(self) -> MediaType:
        """What the content is (not what the extension says)."""
        if self.is_image:
            return MediaType.IMAGE
        if self.video is not None:
            return MediaType.VIDEO
        return MediaType.AUDIO

    @property
    def audio_kbps(self) -> float | None:
        """The audio stream's bitrate in kb/s, when known."""
        audio = self.audio
        return audio.bit_rate / 1000 if audio and audio.bit_rate else None

    @property
    def video_kbps(self) -> float | None:
        """The picture stream's bitrate in kb/s: the stream's own, else the file's minus audio."""
        video = self.video
        if video is None:
            return None
        if video.bit_rate:
            return video.bit_rate / 1000
        if self.duration <= 0:
            return None
        total = (self.bit_rate or self.size_bytes * 8 / self.duration) / 1000
        others = sum(
            s.bit_rate / 1000 for s in self.streams if s is not video and s.bit_rate is not None
        )
        return max(total - others, 1.0)


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or ():
        if "rotation" in side:
            return round(float(side["rotation"])) % 360
    return (_int((stream.get("tags") or {}).get("rotate")) or 0) % 360


def parse_probe(path: Path, data: dict[str, Any], size_bytes: int) -> MediaProbe:
    """Build a MediaProbe from ffprobe's JSON (``-show_format -show_streams``).

    Raises:
        ProbeError: the JSON holds no usable media stream or an unsafe format.
    """
    fmt = data.get("format") or {}
    format_name = str(fmt.get("format_name") or "")
    if not format_name:
        raise ProbeError(path, "ffprobe cannot tell what this file is; it is not readable media")
    if set(format_name.split(",")) & UNSAFE_FORMATS:
        raise ProbeError(
            path, f"refusing to read a {format_name!r} file (a playlist or not media at all)"
        )
    streams: list[StreamInfo] = []
    for raw in data.get("streams") or ():
        codec_type = str(raw.get("codec_type") or "")
        if codec_type not in {"video", "audio"}:
            continue
        codec_name = str(raw.get("codec_name") or "")
        if codec_name in _NOT_MEDIA_CODECS or not codec_name:
            continue
        width, height = _int(raw.get("width")), _int(raw.get("height"))
        if codec_type == "video" and not (width and height):
            continue
        streams.append(
            StreamInfo(
                index=int(raw.get("index", len(streams))),
                codec_type=codec_type,
                codec_name=codec_name,
                bit_rate=_int(raw.get("bit_rate")),
                width=width,
                height=height,
                fps=_rate(raw.get("avg_frame_rate")) or _rate(raw.get("r_frame_rate")),
                rotation=_rotation(raw),
                pix_fmt=raw.get("pix_fmt"),
                channels=_int(raw.get("channels")),
                sample_rate=_int(raw.get("sample_rate")),
                frames=_int(raw.get("nb_frames")),
                attached_pic=bool((raw.get("disposition") or {}).get("attached_pic")),
                duration=_float(raw.get("duration")),
            )
        )
    if not any(s.codec_type == "audio" or not s.attached_pic for s in streams):
        raise ProbeError(path, "no audio, video or image stream found; it is not readable media")
    duration = _float(fmt.get("duration")) or 0.0
    probe = MediaProbe(
        path=path,
        format_name=format_name,
        duration=duration,
        size_bytes=size_bytes,
        bit_rate=_int(fmt.get("bit_rate")),
        streams=tuple(streams),
        start_time=_seconds(fmt.get("start_time")),
    )
    if probe.media_type is not MediaType.IMAGE and duration <= 0:
        raise ProbeError(path, "ffprobe found no duration; the file is damaged or incomplete")
    return probe


def ffprobe_command(settings: Settings, path: Path, *args: str) -> list[str]:
    """ffprobe on a local file only (errors alone on stderr), with ``args`` before the path."""
    ffprobe = settings.compression_ffprobe_path
    return [ffprobe, "-v", "error", "-protocol_whitelist", "file", *args, str(path.absolute())]


async def probe_media(path: Path, settings: Settings) -> MediaProbe:
    """Read a media file's streams with ffprobe (cancellable; the process dies with the task).

    Args:
        path: the file to read (local files only: other protocols are refused).
        settings: where ffprobe is (``compression_ffprobe_path``).

    Raises:
        ProbeError: ffprobe cannot read it, or it is a playlist/concat list.
        FFmpegNotFoundError: ffprobe is not installed.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ProbeError(path, f"cannot read the file: {exc.strerror or exc}") from None
    cmd = ffprobe_command(settings, path, "-of", "json", "-show_format", "-show_streams")
    result = await run_tool(cmd, path=path, time_limit=PROBE_TIMEOUT_SECONDS)
    if result.returncode != 0:
        detail = result.stderr_tail.replace(f"{path.absolute()}: ", "").strip().splitlines()
        reason = detail[-1] if detail else f"exit {result.returncode}"
        raise ProbeError(path, f"ffprobe cannot read it ({reason}); is it damaged or not media?")
    try:
        data = json.loads(result.stdout or b"{}")
    except ValueError:
        raise ProbeError(path, "ffprobe gave unreadable output") from None
    return parse_probe(path, data, size)


def check_media_type(probe: MediaProbe, expected: MediaType) -> None:
    """Refuse content that is not the media type its extension promises.

    A video extension may hold audio only (an .mp4 soundtrack); everything else must match.

    Raises:
        MediaMismatchError: e.g. a text file or an image named ``.mp4``.
    """
    actual = probe.media_type
    if actual is expected or (expected is MediaType.VIDEO and actual is MediaType.AUDIO):
        return
    raise MediaMismatchError(
        probe.path,
        f"named as {expected.value} but holds {actual.value} ({probe.format_name}); "
        "rename it with the right extension",
    )
