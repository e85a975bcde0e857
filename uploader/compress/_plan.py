"""The encode planner (pure): from a probe and a byte budget to codec, bitrates, size and fps.

Everything here is arithmetic on bytes; nothing runs ffmpeg. The planner never raises a
bitrate above the source's, steps resolution and fps down a ladder as the bits per pixel fall,
takes audio from a ladder (or copies it when it already fits), and models the container's
overhead. When even the lowest rung is below the quality floor it raises CannotFitError with
the smallest limit that would work, or (with ``compression_split_long``) plans parts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import attrs

from .._models import MIB, MediaType
from .._settings import Settings
from ._errors import CannotFitError
from ._probe import MediaProbe

MARGIN = 0.03
"""Share of the target kept back for rate-control error (the output is measured anyway)."""

SHORT_CLIP_MARGIN = 0.02
"""Extra margin for clips under a minute: two-pass x264 misses more on fewer frames."""


def _margin(duration: float) -> float:
    return MARGIN + SHORT_CLIP_MARGIN * max(0.0, 1.0 - duration / 60.0)


HEIGHT_LADDER = (2160, 1440, 1080, 720, 540, 480, 360, 240)
"""Output heights (of the short side), best first."""

BPP_REFERENCE_PIXELS = 640 * 360
BPP_AT_REFERENCE = 0.038
BPP_PIXEL_EXPONENT = 0.15
BPP_BOUNDS = (0.02, 0.05)
"""Video bits per pixel per frame below which the next lower rung looks better.

The threshold is where the quality of the two rungs crosses (the "convex hull" of per-title
encoding: every encode scored at the source's size, the smaller one upscaled, as a viewer sees
it). Small frames need more bits per pixel than large ones for the same picture (each pixel
carries more of the scene; streaming ladders likewise grow bitrate slower than pixel count),
so the threshold falls slowly with the frame's pixel count:
``0.038 * (pixels / 640x360) ** -0.15`` within ``BPP_BOUNDS``: 0.043 at 240p, 0.038 at 360p,
0.035 at 480p, 0.031 at 720p, 0.027 at 1080p. Measured with ffmpeg 5.1 (two-pass x264
veryfast, 6 s clips, SSIM at the source size), the crossover of a calm test pattern lies
between 0.015 and 0.025 at 720p and between 0.025 and 0.035 at 480p and 360p (1080p still wins
at 0.015); that of a detailed zooming fractal between 0.035 and 0.05 at all three. The
thresholds sit between the two, where a wrong guess costs least either way (under 0.01 SSIM).
The old flat 0.05 sent a calm 10-minute 360p clip at 25 MiB to 240p (SSIM 0.949, not 0.970).
"""

MAX_FPS = 60.0
STARVED_FPS = (30.0, 24.0, 15.0)
"""Frame rates tried, at the lowest resolution, when even that is starved of bits.

The same bits-per-pixel thresholds decide: measured at 240p (SSIM against the 30 fps source),
15 fps beat 24 and 30 fps at 50-95 kb/s and tied with them at 130 kb/s (0.042 at 30 fps).
"""

VIDEO_FLOOR_KBPS = 80
"""Below this video bitrate (or the source's, if lower) the result is not worth sending."""

SPLIT_PART_MIN_VIDEO_KBPS = 400
"""When splitting, each part gets at least this video bitrate (or the source's, if lower)."""

AUDIO_SHARE_DIVISOR = 6
"""A video's audio takes at most about 1/6 of its bitrate (never less than the lowest rung)."""


@attrs.frozen
class AudioRung:
    """One step of an audio ladder: kb/s and channels."""

    kbps: int
    channels: int


VIDEO_AUDIO_LADDER = (
    AudioRung(128, 2),
    AudioRung(96, 2),
    AudioRung(64, 2),
    AudioRung(48, 1),
    AudioRung(32, 1),
)
AUDIO_ONLY_MAX_KBPS = 320
AUDIO_MONO_BELOW_KBPS = 56
AUDIO_ONLY_LADDER = (
    AudioRung(320, 2),
    AudioRung(256, 2),
    AudioRung(224, 2),
    AudioRung(192, 2),
    AudioRung(160, 2),
    AudioRung(128, 2),
    AudioRung(112, 2),
    AudioRung(96, 2),
    AudioRung(80, 2),
    AudioRung(64, 2),
    AudioRung(56, 1),
    AudioRung(48, 1),
    AudioRung(40, 1),
    AudioRung(32, 1),
)

_AUDIO_FORMATS = {
    # source codec -> (encoder, container, codecs that container can copy)
    "mp3": ("libmp3lame", "mp3", frozenset({"mp3"})),
    "opus": ("libopus", "ogg", frozenset({"opus", "vorbis"})),
    "vorbis": ("libopus", "ogg", frozenset({"opus", "vorbis"})),
}
_DEFAULT_AUDIO_FORMAT = ("aac", "m4a", frozenset({"aac"}))

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


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def container_overhead(
    container: str, duration: float, *, video_fps: float | None, audio_rate: int | None
) -> int:
    """Bytes a container adds around the streams, growing with frames and duration.

    MP4/M4A keep per-sample tables: measured with ffmpeg 5.1, about 12 bytes per video frame
    (size, B-frame composition offset) and 4 per AAC frame, plus about 7 bytes per sample for
    chunk tables when audio and video are interleaved. Ogg adds page headers and lacing (about
    100 bytes a second); MP3 only tags and a Xing header.

    Args:
        container: output extension (``mp4``, ``m4a``, ``ogg``, ``mp3``).
        duration: seconds.
        video_fps: output frame rate, None without video.
        audio_rate: audio sample rate, None without audio.
    """
    fixed = 4096
    if container in {"mp4", "m4a"}:
        fixed = 1536
        video_frames = math.ceil(duration * video_fps) if video_fps else 0
        audio_frames = math.ceil(duration * audio_rate / 1024) if audio_rate else 0
        if video_frames and audio_frames:  # interleaved: chunk tables for every few samples
            return fixed + 20 * video_frames + 12 * audio_frames
        return fixed + 13 * video_frames + 5 * audio_frames
    if container == "ogg":
        return fixed + math.ceil(100 * duration)
    return fixed


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


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _frame_candidates(width: int, height: int, fps: float) -> list[tuple[tuple[int, int], float]]:
    """Output (size, fps) pairs from best to worst: the height ladder, then lower fps."""
    short = min(width, height)
    rungs = [short] + [r for r in HEIGHT_LADDER if r < short]
    sizes = []
    for rung in rungs:
        factor = rung / short
        size = (_even(width * factor), _even(height * factor))
        if size not in sizes:
            sizes.append(size)
    candidates = [(size, fps) for size in sizes]
    candidates += [(sizes[-1], low) for low in STARVED_FPS if low < fps]
    return candidates


def min_bits_per_pixel(width: int, height: int) -> float:
    """The video bits per pixel per frame a ``width`` x ``height`` frame needs to be kept.

    Falls as frames grow (see ``BPP_AT_REFERENCE``), fixed per size, so the rung chosen can only
    rise with the budget.
    """
    pixels = max(width * height, 1)
    value = BPP_AT_REFERENCE * math.pow(pixels / BPP_REFERENCE_PIXELS, -BPP_PIXEL_EXPONENT)
    return min(max(value, BPP_BOUNDS[0]), BPP_BOUNDS[1])


def _video_share_kbps(total_kbps: float, has_audio: bool) -> float:
    """A lower bound on the kb/s the audio ladder leaves for video; never falls as the total grows.

    The audio ladder takes at most a sixth of the total (never under the lowest rung nor over
    the highest); the exact rung would make the video bitrate dip by a few kb/s at each step.
    """
    if not has_audio:
        return total_kbps
    lowest, highest = VIDEO_AUDIO_LADDER[-1].kbps, VIDEO_AUDIO_LADDER[0].kbps
    return total_kbps - min(max(total_kbps / AUDIO_SHARE_DIVISOR, lowest), highest)


def _pick_frame(
    candidates: list[tuple[tuple[int, int], float]], video_kbps: float, source_kbps: float
) -> tuple[tuple[int, int], float]:
    """The first (best) candidate whose bits per pixel reach its threshold, else the last.

    The source's own size and fps are kept whenever the budget covers the source's bitrate: the
    plan then re-encodes at that bitrate, which the source shows is enough at that size.
    """
    if video_kbps >= source_kbps:
        return candidates[0]
    for size, fps in candidates:
        if video_kbps * 1000 / (size[0] * size[1] * fps) >= min_bits_per_pixel(*size):
            return size, fps
    return candidates[-1]


def _video_audio(probe: MediaProbe, total_kbps: float) -> tuple[str | None, int, int | None]:
    """(codec, kb/s, channels) of a video's audio: from the ladder, or copied when it fits."""
    audio = probe.audio
    if audio is None:
        return None, 0, None
    rung = next(
        (r for r in VIDEO_AUDIO_LADDER if r.kbps * AUDIO_SHARE_DIVISOR <= total_kbps),
        VIDEO_AUDIO_LADDER[-1],
    )
    source = probe.audio_kbps
    if source is not None:
        if audio.codec_name == "aac" and source <= rung.kbps:
            return "copy", math.ceil(source), None
        # Never above the source's bitrate: the highest rung not above it (or the lowest).
        rung = next(
            (r for r in VIDEO_AUDIO_LADDER if r.kbps <= min(rung.kbps, source)),
            VIDEO_AUDIO_LADDER[-1],
        )
    return "aac", rung.kbps, min(rung.channels, audio.channels or rung.channels)


def _source_video_kbps(probe: MediaProbe) -> float:
    kbps = probe.video_kbps
    return kbps if kbps is not None else math.inf


def _plan_video(
    probe: MediaProbe, target_bytes: int, *, duration: float, parts: int = 1
) -> EncodePlan | None:
    """The video plan for one output of ``duration`` seconds, or None below the quality floor."""
    video = probe.video
    assert video is not None and video.display_size is not None
    width, height = video.display_size
    source_fps = min(video.fps or 25.0, MAX_FPS)
    audio = probe.audio
    overhead = container_overhead(
        "mp4",
        duration,
        video_fps=source_fps,
        audio_rate=max(audio.sample_rate or 48000, 48000) if audio else None,
    )
    budget = math.floor(target_bytes * (1 - _margin(duration))) - overhead
    if budget <= 0:
        return None
    total_kbps = budget * 8 / duration / 1000
    audio_codec, audio_kbps, channels = _video_audio(probe, total_kbps)
    source_kbps = _source_video_kbps(probe)
    available = total_kbps - audio_kbps
    video_kbps = math.floor(min(available, source_kbps))
    if video_kbps < min(VIDEO_FLOOR_KBPS, math.floor(source_kbps)) or video_kbps < 1:
        return None
    candidates = _frame_candidates(width, height, source_fps)
    size, fps = _pick_frame(
        candidates, _video_share_kbps(total_kbps, audio is not None), source_kbps
    )
    return EncodePlan(
        kind=MediaType.VIDEO,
        codec="libx264",
        container="mp4",
        target_bytes=target_bytes,
        budget_bytes=budget,
        overhead_bytes=overhead,
        duration=duration,
        video_kbps=video_kbps,
        audio_codec=audio_codec,
        audio_kbps=audio_kbps,
        audio_channels=channels,
        scale=size,
        fps=fps,
        passes=2,
        parts=parts,
        source_path=probe.path,
        source_bytes=probe.size_bytes,
        source_video_kbps=0 if math.isinf(source_kbps) else math.ceil(source_kbps),
        source_audio_kbps=math.ceil(probe.audio_kbps or 0),
    )


def _plan_audio(probe: MediaProbe, target_bytes: int) -> EncodePlan | None:
    """The audio-only plan, or None when even the lowest rung does not fit."""
    audio = probe.audio
    assert audio is not None
    codec, container, copyable = _AUDIO_FORMATS.get(audio.codec_name, _DEFAULT_AUDIO_FORMAT)
    duration = probe.duration
    overhead = container_overhead(
        container, duration, video_fps=None, audio_rate=max(audio.sample_rate or 48000, 48000)
    )
    budget = math.floor(target_bytes * (1 - MARGIN)) - overhead
    total_kbps = budget * 8 / duration / 1000
    source = probe.audio_kbps
    base = EncodePlan(
        kind=MediaType.AUDIO,
        codec=codec,
        container=container,
        target_bytes=target_bytes,
        budget_bytes=budget,
        overhead_bytes=overhead,
        duration=duration,
        passes=1,
        source_path=probe.path,
        source_bytes=probe.size_bytes,
        source_audio_kbps=math.ceil(source or 0),
    )
    if source is not None and audio.codec_name in copyable and math.ceil(source) <= total_kbps:
        return attrs.evolve(base, audio_codec="copy", audio_kbps=math.ceil(source))
    cap = min(total_kbps, source if source is not None else math.inf)
    rung = next((r for r in AUDIO_ONLY_LADDER if r.kbps <= cap), None)
    if rung is not None and codec != "libmp3lame":
        # AAC and Opus take any bitrate: use the budget to the kilobit, not just a rung.
        kbps = math.floor(min(cap, AUDIO_ONLY_MAX_KBPS))
        rung = AudioRung(kbps, 1 if kbps < AUDIO_MONO_BELOW_KBPS else 2)
    if rung is None:
        lowest = AUDIO_ONLY_LADDER[-1]
        if source is None or lowest.kbps > total_kbps:
            return None
        rung = lowest  # the source is below the lowest rung and the lowest rung fits
    channels = min(rung.channels, audio.channels or rung.channels)
    return attrs.evolve(base, audio_codec=codec, audio_kbps=rung.kbps, audio_channels=channels)


def _plan_image(probe: MediaProbe, target_bytes: int) -> EncodePlan:
    video = probe.video
    assert video is not None
    alpha = video.has_alpha
    codec, container = ("libwebp", "webp") if alpha else ("mjpeg", "jpg")
    return EncodePlan(
        kind=MediaType.IMAGE,
        codec=codec,
        container=container,
        target_bytes=target_bytes,
        budget_bytes=target_bytes,
        overhead_bytes=0,
        duration=0.0,
        scale=video.display_size,
        passes=0,
        lossless_first=video.codec_name == "png",
        keep_alpha=alpha,
        source_path=probe.path,
        source_bytes=probe.size_bytes,
    )


def _plan_av(probe: MediaProbe, target_bytes: int) -> EncodePlan | None:
    if probe.video is not None:
        return _plan_video(probe, target_bytes, duration=probe.duration)
    return _plan_audio(probe, target_bytes)


def smallest_fitting_limit(probe: MediaProbe) -> int | None:
    """The smallest limit (bytes) at which ``probe`` fits in one file at the quality floor.

    None when no limit would do (never expected; a guard against endless searching).
    """
    duration = probe.duration
    floor = min(VIDEO_FLOOR_KBPS, _source_video_kbps(probe)) if probe.video else 0
    audio = VIDEO_AUDIO_LADDER[-1].kbps if probe.audio else 0
    fps = min((probe.video.fps or 25.0) if probe.video else 0.0, MAX_FPS) or None
    overhead = container_overhead("mp4", duration, video_fps=fps, audio_rate=96000)
    high = math.ceil(((floor + audio) * 125 * duration + overhead) / (1 - MARGIN))
    for _ in range(100):
        if _plan_av(probe, high) is not None:
            break
        high = math.ceil(high * 1.05) + 1
    else:  # pragma: no cover
        return None
    low = high // 2  # the estimate is within a few percent: half never fits
    while low + 1 < high:  # smallest fitting limit in (low, high]
        mid = (low + high) // 2
        if _plan_av(probe, mid) is None:
            low = mid
        else:
            high = mid
    return high


def _parts_needed(probe: MediaProbe, target_bytes: int) -> int | None:
    """How many equal parts make each part reach the split quality, or None if none can."""
    per_part_kbps = min(SPLIT_PART_MIN_VIDEO_KBPS, _source_video_kbps(probe))
    audio = VIDEO_AUDIO_LADDER[-1].kbps if probe.audio else 0
    video = probe.video
    assert video is not None
    fps = min(video.fps or 25.0, MAX_FPS)
    # Overhead per second at the source fps and 96 kHz audio (an upper bound).
    overhead_per_second = 21 * fps + (13 * 96000 / 1024 if probe.audio else 0)
    usable = math.floor(target_bytes * (1 - MARGIN)) - 4096 - 8192
    per_second = (per_part_kbps + audio) * 125 + overhead_per_second
    if usable <= 0:
        return None
    longest = usable / per_second
    if longest < 1.0:
        return None
    return max(2, math.ceil(probe.duration / longest))


def plan_encode(probe: MediaProbe, budget_bytes: int, settings: Settings) -> EncodePlan:
    """Plan how to fit a probed file into ``budget_bytes`` (pure: no I/O).

    Args:
        probe: what the file holds (from ``probe_media``).
        budget_bytes: the limit no output may exceed.
        settings: ``compression_split_long`` allows splitting a video too long to fit.

    Returns:
        The plan; for a split video, the plan of each of ``plan.parts`` equal parts.

    Raises:
        CannotFitError: the file cannot fit at an acceptable quality (with the smallest limit
            that would work), and splitting is off or impossible.
    """
    path = probe.path
    if probe.media_type is MediaType.IMAGE and not probe.is_animated:
        return _plan_image(probe, budget_bytes)
    plan = _plan_av(probe, budget_bytes)
    if plan is not None:
        return plan
    smallest = smallest_fitting_limit(probe)
    length = f"{probe.duration:.0f} s of {probe.media_type.value}"
    if settings.compression_split_long and probe.video is not None and not probe.is_image:
        parts = _parts_needed(probe, budget_bytes)
        if parts is not None:
            for count in range(parts, parts + 20):
                part = _plan_video(
                    probe, budget_bytes, duration=probe.duration / count, parts=count
                )
                if part is not None:
                    return part
        raise CannotFitError(path, f"{length} cannot be split into parts under the limit", smallest)
    raise CannotFitError(
        path,
        f"{length} is too long to fit {budget_bytes / MIB:.2f} MiB at an acceptable quality "
        "(set COMPRESSION_SPLIT_LONG=true to send it in parts)"
        if probe.video is not None and not probe.is_image
        else f"{length} is too long to fit {budget_bytes / MIB:.2f} MiB at an acceptable quality",
        smallest,
    )
