"""What an encode plan says: the codecs, bitrates, size and parts one file is encoded with."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import attrs

from .._models import MIB, MediaType


@attrs.frozen
class AudioRung:
    """One step of an audio ladder: kb/s and channels."""

    kbps: int
    channels: int


_CODEC_NAMES = {
    "libx264": "H.264",
    "aac": "AAC",
    "libmp3lame": "MP3",
    "libopus": "Opus",
    "copy": "copied",
    "png": "PNG",
    "libwebp": "WebP",
    "mjpeg": "JPEG",
}


@attrs.frozen
class EncodePlan:
    """How one file will be encoded to fit (for a split video: each part).

    Attributes:
        kind: what the output is (an animated GIF becomes VIDEO).
        codec: the main encoder (``libx264``, ``aac``, ``libmp3lame``, ``libopus``, ``png``,
            ``libwebp``, ``mjpeg``).
        container: output extension without the dot (``mp4``, ``m4a``, ``webp``...).
        target_bytes: no output may be larger.
        budget_bytes: bytes the streams may take: target minus margin and container overhead.
        overhead_bytes: the modelled container overhead.
        duration: seconds of media in each output.
        video_kbps: video bitrate (0 without video).
        audio_codec: ``aac``/``libopus``/``libmp3lame``, ``copy``, or None without audio.
        audio_kbps: audio bitrate (for ``copy``: the source's, rounded up).
        audio_channels: output channels (None without audio or when copied).
        scale: output (width, height), even for video; None to keep.
        fps: output frame rate, None to keep.
        passes: 2 for video (two-pass x264), 1 for audio, 0 for image searches.
        parts: how many consecutive parts the video is split into (1: not split).
        lossless_first: for images, try a lossless PNG re-pack before ``codec``.
        keep_alpha: for images, the output keeps transparency.
        source_path: the planned file.
        source_bytes: its size.
        source_video_kbps: the source's video bitrate (0 when unknown or absent).
        source_audio_kbps: the source's audio bitrate (0 when unknown or absent).
    """

    kind: MediaType
    codec: str
    container: str
    target_bytes: int
    budget_bytes: int
    overhead_bytes: int
    duration: float
    video_kbps: int = 0
    audio_codec: str | None = None
    audio_kbps: int = 0
    audio_channels: int | None = None
    scale: tuple[int, int] | None = None
    fps: float | None = None
    passes: int = 1
    parts: int = 1
    lossless_first: bool = False
    keep_alpha: bool = False
    source_path: Path | None = None
    source_bytes: int = 0
    source_video_kbps: int = 0
    source_audio_kbps: int = 0

    @property
    def bits_per_pixel(self) -> float:
        """The video's bits per output pixel and frame (30 fps when the rate is kept)."""
        if self.scale is None or not self.video_kbps:
            return 0.0
        return self.video_kbps * 1000 / (self.scale[0] * self.scale[1] * (self.fps or 30.0))

    @property
    def planned_bytes(self) -> int:
        """The bytes one output should take by this plan (streams plus container overhead)."""
        if self.kind is MediaType.IMAGE:
            return self.target_bytes
        stream_bits = (self.video_kbps + self.audio_kbps) * 1000 * self.duration
        return math.ceil(stream_bits / 8) + self.overhead_bytes

    def with_video_kbps(self, kbps: int) -> EncodePlan:
        """The same plan at another video bitrate (for a corrective re-encode)."""
        return attrs.evolve(self, video_kbps=kbps)

    def with_audio(self, rung: AudioRung) -> EncodePlan:
        """The same plan with another audio rung (re-encoding, not copying)."""
        codec = self.codec if self.kind is MediaType.AUDIO else "aac"
        audio_codec = codec if self.audio_codec == "copy" else self.audio_codec
        return attrs.evolve(
            self, audio_codec=audio_codec, audio_kbps=rung.kbps, audio_channels=rung.channels
        )

    def summary(self) -> str:
        """One line for ``uploader plan``, e.g. ``mp4: H.264 850 kb/s 2-pass, 640x360...``."""
        name = self.source_path.name if self.source_path else "file"
        head = f"{name} ({self.source_bytes / MIB:.2f} MiB) → {self.container}"
        limit = f"≤ {self.target_bytes / MIB:.2f} MiB"
        if self.kind is MediaType.IMAGE:
            steps = "lossless PNG, then " if self.lossless_first else ""
            alpha = " with alpha" if self.keep_alpha else ""
            codec = _CODEC_NAMES.get(self.codec, self.codec)
            return f"{head}: {steps}{codec}{alpha} by quality search, downscaled if needed, {limit}"
        parts = []
        if self.video_kbps:
            size = f"{self.scale[0]}x{self.scale[1]}" if self.scale else "source size"
            fps = f" @ {self.fps:g} fps" if self.fps else ""
            parts.append(f"H.264 {self.video_kbps} kb/s {self.passes}-pass, {size}{fps}")
        if self.audio_codec == "copy":
            parts.append(f"audio copied ({self.audio_kbps} kb/s)")
        elif self.audio_codec:
            channels = {1: " mono", 2: " stereo"}.get(self.audio_channels or 0, "")
            parts.append(f"{_CODEC_NAMES.get(self.audio_codec)} {self.audio_kbps} kb/s{channels}")
        split = f" in {self.parts} parts of {self.duration:.1f} s" if self.parts > 1 else ""
        planned = f"≈ {self.planned_bytes / MIB:.2f} MiB"
        return f"{head}{split}: {', '.join(parts)}; {planned} {limit}"

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON-ready values (paths as strings, enums as their values)."""
        data = attrs.asdict(self, recurse=False)
        data["kind"] = self.kind.value
        data["source_path"] = str(self.source_path) if self.source_path else None
        data["scale"] = list(self.scale) if self.scale else None
        data["planned_bytes"] = self.planned_bytes
        return data
