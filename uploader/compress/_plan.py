"""The encode planner (pure): from a probe and a byte budget to codec, bitrates, size and fps.

Everything here is arithmetic on bytes; nothing runs ffmpeg. The planner never raises a
bitrate above the source's, steps resolution and fps down a ladder as the bits per pixel fall,
takes audio from a ladder (or copies it when it already fits), and models the container's
overhead. When even the lowest rung is below the quality floor it raises CannotFitError with
the smallest limit that would work, or (with ``compression_split_long``) plans parts.
"""

from __future__ import annotations

import math

import attrs

from .._models import MIB, MediaType
from .._settings import Settings
from ._errors import SPLIT_HINT, CannotFitError
from ._frames import MAX_FPS, frame_candidates, pick_frame
from ._model import AudioRung, EncodePlan
from ._probe import MediaProbe

MARGIN = 0.03
"""Share of the target kept back for rate-control error (the output is measured anyway)."""

SHORT_CLIP_MARGIN = 0.02
"""Extra margin for clips under a minute: two-pass x264 misses more on fewer frames."""


def _margin(duration: float) -> float:
    return MARGIN + SHORT_CLIP_MARGIN * max(0.0, 1.0 - duration / 60.0)


VIDEO_FLOOR_KBPS = 80
"""Below this video bitrate (or the source's, if lower) the result is not worth sending."""

SPLIT_PART_MIN_VIDEO_KBPS = 400
"""When splitting, each part gets at least this video bitrate (or the source's, if lower)."""

AUDIO_SHARE_DIVISOR = 6
"""A video's audio takes at most about 1/6 of its bitrate (never less than the lowest rung)."""


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


def _video_share_kbps(total_kbps: float, has_audio: bool) -> float:
    """A lower bound on the kb/s the audio ladder leaves for video; never falls as the total grows.

    The audio ladder takes at most a sixth of the total (never under the lowest rung nor over
    the highest); the exact rung would make the video bitrate dip by a few kb/s at each step.
    """
    if not has_audio:
        return total_kbps
    lowest, highest = VIDEO_AUDIO_LADDER[-1].kbps, VIDEO_AUDIO_LADDER[0].kbps
    return total_kbps - min(max(total_kbps / AUDIO_SHARE_DIVISOR, lowest), highest)


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


def _source_fps(probe: MediaProbe) -> float:
    video = probe.video
    assert video is not None
    return min(video.fps or 25.0, MAX_FPS)


def _video_budget(probe: MediaProbe, target_bytes: int, duration: float) -> tuple[int, int]:
    """(stream bytes, container overhead) of one MP4 output of ``duration`` seconds."""
    audio = probe.audio
    overhead = container_overhead(
        "mp4",
        duration,
        video_fps=_source_fps(probe),
        audio_rate=max(audio.sample_rate or 48000, 48000) if audio else None,
    )
    return math.floor(target_bytes * (1 - _margin(duration))) - overhead, overhead


def _plan_video(
    probe: MediaProbe, target_bytes: int, *, duration: float, parts: int = 1
) -> EncodePlan | None:
    """The video plan for one output of ``duration`` seconds, or None below the quality floor."""
    video = probe.video
    assert video is not None and video.display_size is not None
    width, height = video.display_size
    source_fps = _source_fps(probe)
    audio = probe.audio
    budget, overhead = _video_budget(probe, target_bytes, duration)
    if budget <= 0:
        return None
    total_kbps = budget * 8 / duration / 1000
    audio_codec, audio_kbps, channels = _video_audio(probe, total_kbps)
    source_kbps = _source_video_kbps(probe)
    available = total_kbps - audio_kbps
    video_kbps = math.floor(min(available, source_kbps))
    if video_kbps < min(VIDEO_FLOOR_KBPS, math.floor(source_kbps)) or video_kbps < 1:
        return None
    candidates = frame_candidates(width, height, source_fps)
    size, fps = pick_frame(
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


REPACK_MIN_SHARE = 0.6
"""A PNG is re-packed losslessly first only when the target is at least this share of it: the
re-pack (zlib level 9, mixed filters) of an already compressed PNG rarely saves more than a
third (a 2400x2400 transparent photo: 16.4 to 12 MiB), and costs about two lossy encodes."""


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
        lossless_first=video.codec_name == "png"
        and target_bytes >= REPACK_MIN_SHARE * probe.size_bytes,
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
    """The fewest equal parts (at least 2) that each reach the split quality, or None.

    The split quality is ``SPLIT_PART_MIN_VIDEO_KBPS`` of video (or the source's, if lower)
    plus the lowest audio rung, in the budget ``_plan_video`` would give each part. None when
    even parts of a second cannot reach it.
    """
    wanted = min(SPLIT_PART_MIN_VIDEO_KBPS, _source_video_kbps(probe))
    wanted += VIDEO_AUDIO_LADDER[-1].kbps if probe.audio else 0

    def reaches(parts: int) -> bool:
        duration = probe.duration / parts
        budget, _ = _video_budget(probe, target_bytes, duration)
        return budget * 8 / duration / 1000 >= wanted

    low, high = 1, max(2, math.ceil(probe.duration))  # ``high`` parts last a second at most
    if not reaches(high):
        return None
    while low + 1 < high:  # the fewest parts that reach it lie in (low, high]
        mid = (low + high) // 2
        if reaches(mid):
            high = mid
        else:
            low = mid
    return high


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
    splittable = probe.video is not None and not probe.is_image
    if settings.compression_split_long and splittable:
        parts = _parts_needed(probe, budget_bytes)
        if parts is not None:
            for count in range(parts, parts + 20):
                part = _plan_video(
                    probe, budget_bytes, duration=probe.duration / count, parts=count
                )
                if part is not None:
                    return part
        raise CannotFitError(path, f"{length} cannot be split into parts under the limit", smallest)
    reason = f"{length} is too long to fit {budget_bytes / MIB:.2f} MiB at an acceptable quality"
    raise CannotFitError(path, f"{reason} {SPLIT_HINT}" if splittable else reason, smallest)
