"""The media check: every video and audio file is probed before it is routed, a few at a time.

A file whose name promises video or audio but that ffprobe cannot read (a text file named
``.mp4``, a download cut before its index) is skipped with one line, not posted as a video;
one whose packets end well before the duration its container states (cut after its header)
goes on, with a warning. Images are not probed (the detector's checks suffice). The check keeps
the detector's order and runs at most ``CHECKS_AT_ONCE`` ffprobes at a time; without ffprobe
(said once up front by the command line) files pass unchecked.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import trio

from ._events import MediaWarning, ProgressEvent
from ._models import DetectorEvent, MediaFile, MediaType, SkippedFile
from ._settings import Settings
from .compress import EncodeTimeoutError, FFmpegNotFoundError
from .compress._errors import CompressionError
from .compress._ffmpeg import run_tool
from .compress._probe import check_media_type, probe_media

CHECKS_AT_ONCE = 4
"""ffprobe processes running at once (each reads little: headers, then packet timestamps)."""
SHORT_BY = 0.9
"""Packets ending before this share of the stated duration mean the file was cut short."""
CHECK_SECONDS = 30.0


@attrs.frozen
class Checked:
    """The check's verdict: the event to route on, and a warning to show, if any."""

    event: DetectorEvent
    warning: str | None = None


def cut_short(stated: float, decoded: float) -> str | None:
    """The warning for a file whose packets end at ``decoded`` s of a ``stated`` s container."""
    if stated <= 0 or decoded >= stated * SHORT_BY:
        return None
    return f"only {decoded:.1f} s of its {stated:.1f} s can be played (cut short?)"


def packets_command(path: Path, ffprobe: str) -> list[str]:
    """The ffprobe command listing the first stream's packet times (local files only)."""
    return [
        ffprobe,
        *("-v", "error", "-protocol_whitelist", "file", "-select_streams", "0"),
        *("-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0"),
        str(path.absolute()),
    ]


async def last_packet_time(path: Path, settings: Settings) -> float | None:
    """When the file's last packet ends, from packet timestamps (no decoding)."""
    cmd = packets_command(path, settings.compression_ffprobe_path)
    result = await run_tool(cmd, path=path, time_limit=CHECK_SECONDS)
    end: float | None = None
    for line in (result.stdout or b"").decode(errors="replace").splitlines():
        fields = [f for f in line.split(",") if f and f != "N/A"]
        try:
            times = [float(f) for f in fields]
        except ValueError:
            continue
        if times:
            end = max(end or 0.0, sum(times) if len(times) == 2 else times[0])
    return end


async def check_file(file: MediaFile, settings: Settings) -> Checked:
    """Probe one video or audio file: skip what is not media, warn when it was cut short."""
    try:
        probe = await probe_media(file.path, settings)
        check_media_type(probe, file.media_type)
        decoded = await last_packet_time(file.path, settings)
    except FFmpegNotFoundError:
        return Checked(file)  # said once, up front
    except EncodeTimeoutError:
        # A slow disk or a busy machine proves nothing about the file: send it unchecked.
        return Checked(file, "could not be checked in time; it is sent as it is")
    except CompressionError as exc:
        reason = exc.reason.split(";")[0]  # without "is it damaged or not media?": it is said
        return Checked(SkippedFile(file.path, f"not playable media: {reason}"))
    warning = None if decoded is None else cut_short(probe.duration, decoded)
    return Checked(file, None if warning is None else f"{warning}; it is sent as it is")


def needs_check(event: DetectorEvent) -> bool:
    """Video and audio files are probed; images and the detector's own reports are not."""
    return isinstance(event, MediaFile) and event.media_type is not MediaType.IMAGE


@attrs.define
class _Slot:
    event: DetectorEvent
    done: trio.Event = attrs.Factory(trio.Event)
    result: Checked | None = None

    async def fill(self, settings: Settings, limiter: trio.CapacityLimiter) -> None:
        assert isinstance(self.event, MediaFile)
        async with limiter:
            self.result = await check_file(self.event, settings)
        self.done.set()


async def run_media_check(
    detected: trio.MemoryReceiveChannel[DetectorEvent],
    checked: trio.MemorySendChannel[DetectorEvent],
    events: trio.MemorySendChannel[ProgressEvent],
    settings: Settings,
) -> None:
    """Pass the detector's events on in order, each video and audio file checked; owns its ends."""
    limiter = trio.CapacityLimiter(CHECKS_AT_ONCE)
    slots_send, slots_recv = trio.open_memory_channel[_Slot](CHECKS_AT_ONCE)
    async with detected, checked, events, trio.open_nursery() as nursery:
        nursery.start_soon(_emit, slots_recv, checked, events)
        async with slots_send:
            async for event in detected:
                slot = _Slot(event)
                if settings.upload_check_media and needs_check(event):
                    nursery.start_soon(slot.fill, settings, limiter)
                else:
                    slot.result = Checked(event)
                    slot.done.set()
                await slots_send.send(slot)


async def _emit(
    slots: trio.MemoryReceiveChannel[_Slot],
    checked: trio.MemorySendChannel[DetectorEvent],
    events: trio.MemorySendChannel[ProgressEvent],
) -> None:
    async with slots:
        async for slot in slots:
            await slot.done.wait()
            assert slot.result is not None
            if slot.result.warning is not None:
                await events.send(MediaWarning(slot.event.path, slot.result.warning))
            await checked.send(slot.result.event)
