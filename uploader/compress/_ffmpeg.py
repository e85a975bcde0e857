"""Running ffmpeg/ffprobe under trio: killed at once when cancelled, timed out, stderr kept.

Commands (built in ``_commands``) run with ``trio.run_process``; ``-progress`` lines become a
never-decreasing percentage of the whole compression.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio

from ._errors import EncodeTimeoutError, FFmpegFailedError, FFmpegNotFoundError

STDERR_TAIL_BYTES = 4096
GLOBAL_ARGS = ("-nostdin", "-hide_banner", "-loglevel", "error", "-nostats")
PROGRESS_ARGS = ("-progress", "pipe:1")
WRITE_FAILED = ("Error writing trailer", "Error closing file")
"""ffmpeg exits 0 when its output could not be finished (a full disk): its stderr says so."""

_PRESET_SPEED = {
    "ultrafast": 0.5,
    "superfast": 0.7,
    "veryfast": 1.0,
    "faster": 1.5,
    "fast": 2.0,
    "medium": 3.0,
    "slow": 6.0,
    "slower": 12.0,
    "veryslow": 25.0,
}
"""Rough seconds of encoding per second of 720p video on one slow core, per x264 preset."""


def preset_speed(preset: str) -> float:
    """Rough seconds of work per second of 720p video at an x264 preset (veryfast: 1)."""
    return _PRESET_SPEED.get(preset, 3.0)


WIDE_SEARCH_PRESETS = frozenset({"medium"})
"""Presets whose real encodes search motion with x264's uneven multi-hexagon (``umh``, what
``slow`` and slower use) instead of their hexagon, where the bits are scarce
(``WIDE_SEARCH_MAX_BITS_PER_PIXEL``). Measured at equal size on the issue's clips
(``benchmarks/x264_settings.py``, VMAF against the kept settings, both passes): noise 720p at
10 MiB (0.044 bits per pixel) +0.96, swinging 1080p at 10 MiB (0.041) +0.97, zoom 720p at
25 MiB (0.118) +0.10, for 1.12-1.17x the CPU. In pass 2 alone it gained +0.63 on the noise for
the same CPU. The faster presets keep their search: they are chosen to save time."""
WIDE_SEARCH_COST = 1.14
"""A real encode's work with the wider search, against its preset's own."""
WIDE_SEARCH_MAX_BITS_PER_PIXEL = 0.08
"""Above this the wider search is left out: it gained +0.10 there (the zoom at 25 MiB), and
with sampling it took the noise at 25 MiB (0.118) to 1.37x plain two-pass's CPU, over the
issue's 1.3x."""


def motion_search(preset: str, bits_per_pixel: float) -> str | None:
    """The motion search a real encode at ``preset`` and ``bits_per_pixel`` adds (None: the
    preset's own)."""
    wide = preset in WIDE_SEARCH_PRESETS and bits_per_pixel < WIDE_SEARCH_MAX_BITS_PER_PIXEL
    return "umh" if wide else None


def encode_speed(preset: str, bits_per_pixel: float = 0.0) -> float:
    """``preset_speed`` of a real encode at ``preset``, its added search included (by default
    as where bits are scarcest, the most work)."""
    wide = motion_search(preset, bits_per_pixel) is not None
    return preset_speed(preset) * (WIDE_SEARCH_COST if wide else 1.0)


def encode_timeout(duration: float, pixels: int, preset: str) -> float:
    """A generous time limit for one encode pass, proportional to the work.

    Args:
        duration: seconds of media.
        pixels: output width × height (0 for audio).
        preset: the x264 preset.
    """
    per_second = encode_speed(preset) * max(1.0, pixels / (1280 * 720))
    return 60.0 + max(duration, 1.0) * max(per_second, 0.5) * 4


@attrs.frozen
class ToolResult:
    """How a run of ffmpeg/ffprobe ended.

    Attributes:
        returncode: the exit status.
        stdout: everything it wrote to stdout (empty when lines went to a callback).
        stderr_tail: the last few KiB of its stderr, decoded.
    """

    returncode: int
    stdout: bytes
    stderr_tail: str


async def _kill_now(process: trio.Process) -> None:
    process.kill()


ENCODER_NICENESS = 10
"""Encoders yield the CPU to the uploader: a starved uploader idles the network."""


def _in_child() -> None:  # pragma: no cover - runs between fork and exec
    """Lower the encoder's priority (no PR_SET_PDEATHSIG: trio forks from a worker thread,
    whose exit would kill the encoder)."""
    os.nice(ENCODER_NICENESS)


async def run_tool(
    cmd: list[str],
    *,
    path: Path,
    time_limit: float,
    on_stdout_line: Callable[[str], None] | None = None,
) -> ToolResult:
    """Run one ffmpeg/ffprobe command; kill it at once on cancellation or timeout.

    Args:
        cmd: the full command line (program first).
        path: the user's file, named in errors.
        time_limit: seconds before the process is killed and EncodeTimeoutError raised.
        on_stdout_line: called with each stdout line (e.g. ``-progress pipe:1`` output);
            without it stdout is collected and returned.

    Raises:
        FFmpegNotFoundError: the program does not exist or cannot be run.
        EncodeTimeoutError: it ran longer than ``time_limit``.
    """
    if shutil.which(cmd[0]) is None:
        raise FFmpegNotFoundError(path, cmd[0])
    stdout = bytearray()
    stderr = bytearray()

    async def read_stdout(stream: trio.abc.ReceiveStream) -> None:
        pending = b""
        async for chunk in stream:
            if on_stdout_line is None:
                stdout.extend(chunk)
                continue
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                on_stdout_line(line.decode("utf-8", "replace").strip())

    async def read_stderr(stream: trio.abc.ReceiveStream) -> None:
        async for chunk in stream:
            stderr.extend(chunk)
            del stderr[:-STDERR_TAIL_BYTES]

    returncode = -1
    with trio.move_on_after(time_limit) as scope:
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                    deliver_cancel=_kill_now,
                    preexec_fn=_in_child,
                    # Its own session: a Ctrl-C typed at the terminal reaches us, not ffmpeg,
                    # so a bot given time to finish is not left with a killed encode ("ffmpeg
                    # failed"); our cancellation still kills it at once.
                    start_new_session=True,
                )
            )
            assert process.stdout is not None and process.stderr is not None
            nursery.start_soon(read_stdout, process.stdout)
            nursery.start_soon(read_stderr, process.stderr)
        returncode = process.returncode if process.returncode is not None else -1
    if scope.cancelled_caught:
        raise EncodeTimeoutError(path, time_limit)
    return ToolResult(returncode, bytes(stdout), stderr.decode("utf-8", "replace"))


async def run_encode(
    cmd: list[str],
    *,
    path: Path,
    time_limit: float,
    duration: float,
    report: Callable[[float], None] | None,
) -> None:
    """Run one ffmpeg encode, reporting 0..100 of ``duration`` to ``report`` as it goes.

    Raises:
        FFmpegFailedError: ffmpeg exited with an error, or could not finish its output.
        FFmpegNotFoundError, EncodeTimeoutError: as ``run_tool``.
    """
    parser = ProgressParser(duration, report) if report else None
    result = await run_tool(cmd, path=path, time_limit=time_limit, on_stdout_line=parser)
    if result.returncode != 0 or any(s in result.stderr_tail for s in WRITE_FAILED):
        raise FFmpegFailedError(path, result.returncode, result.stderr_tail)


def compile_command(stream: Any, ffmpeg_path: str, *, progress: bool) -> list[str]:
    """Turn an ffmpeg-python output node into a safe command line.

    Adds ``-nostdin``, quiet logging and (when ``progress``) ``-progress pipe:1``.
    """
    args = GLOBAL_ARGS + (PROGRESS_ARGS if progress else ())
    cmd: list[str] = stream.global_args(*args).compile(cmd=ffmpeg_path, overwrite_output=True)
    return cmd


class ProgressParser:
    """Turns ``-progress pipe:1`` lines into a 0..100 percentage of ``duration``."""

    def __init__(self, duration: float, report: Callable[[float], None]) -> None:
        self._duration = duration
        self._report = report

    def __call__(self, line: str) -> None:
        key, _, value = line.partition("=")
        if key == "progress" and value == "end":
            self._report(100.0)
        elif key == "out_time_us" and self._duration > 0:
            try:
                micros = int(value)
            except ValueError:
                return
            percent = micros / (self._duration * 1e6) * 100
            if math.isfinite(percent):
                self._report(min(max(percent, 0.0), 100.0))


class StagedProgress:
    """Maps the percentages of a compression's stages onto 0..100 and never goes backwards.

    Args:
        callback: called with each new, higher percentage (None: progress is not wanted).
    """

    def __init__(self, callback: Callable[[float], None] | None) -> None:
        self._callback = callback
        self._last = -1.0

    def stage(self, low: float, high: float) -> Callable[[float], None]:
        """A callback that maps a stage's 0..100 onto ``low``..``high`` of the whole."""

        def report(percent: float) -> None:
            self.report(low + (high - low) * percent / 100)

        return report

    def report(self, percent: float) -> None:
        """Report ``percent`` of the whole (clamped to 0..100) if it is higher than before."""
        percent = min(max(percent, 0.0), 100.0)
        if self._callback is not None and percent > self._last:
            self._last = percent
            self._callback(percent)
