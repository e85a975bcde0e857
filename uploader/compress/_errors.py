"""The errors compression raises: each names the file and says what to do, in one line."""

from __future__ import annotations

from pathlib import Path

from .._errors import UploaderError
from .._models import MIB

SPLIT_SETTING = "COMPRESSION_SPLIT_LONG=true"
SPLIT_FLAG = "--split"
SPLIT_HINT = f"(set {SPLIT_SETTING} or pass {SPLIT_FLAG} to send it in parts)"
"""How a CannotFitError tells the user to split a video too long to fit."""


def _with_split_flag(reason: str) -> str:
    """Name the ``--split`` flag (of `uploader send` and `uploader compress`) with the setting."""
    if SPLIT_SETTING not in reason or SPLIT_FLAG in reason:
        return reason
    if f"set {SPLIT_SETTING}" in reason:
        return reason.replace(f"set {SPLIT_SETTING}", f"set {SPLIT_SETTING} or pass {SPLIT_FLAG}")
    return reason.replace(SPLIT_SETTING, f"{SPLIT_SETTING} (or {SPLIT_FLAG})")


def _mib(size: int) -> str:
    return f"{size / MIB:.2f} MiB"


class CompressionError(UploaderError):
    """A file could not be compressed to fit.

    Args:
        path: the user's file.
        reason: what went wrong, as one line a user can act on.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ProbeError(CompressionError):
    """ffprobe cannot read the file (corrupt, truncated, or not media at all)."""


class MediaMismatchError(CompressionError):
    """The file's content is not the kind of media its extension says (e.g. text named .mp4)."""


class CannotFitError(CompressionError):
    """The file cannot fit the limit at an acceptable quality.

    Args:
        path: the user's file.
        reason: why.
        smallest_limit_bytes: the smallest limit that would work (None when no limit would).
    """

    def __init__(self, path: Path, reason: str, smallest_limit_bytes: int | None) -> None:
        self.smallest_limit_bytes = smallest_limit_bytes
        reason = _with_split_flag(reason)
        if smallest_limit_bytes is not None:
            reason = f"{reason}; a limit of at least {_mib(smallest_limit_bytes)} would work"
        super().__init__(path, reason)


class FFmpegNotFoundError(CompressionError):
    """ffmpeg or ffprobe is not installed (or not where the settings say)."""

    def __init__(self, path: Path, program: str) -> None:
        self.program = program
        super().__init__(
            path,
            f"cannot run {program!r}: install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg) "
            "or set COMPRESSION_FFMPEG_PATH / COMPRESSION_FFPROBE_PATH",
        )


class FFmpegFailedError(CompressionError):
    """ffmpeg exited with an error; the message carries the end of its stderr."""

    def __init__(self, path: Path, returncode: int, stderr_tail: str) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        detail = " | ".join(line for line in stderr_tail.splitlines() if line.strip())[-400:]
        super().__init__(path, f"ffmpeg failed (exit {returncode}): {detail or 'no output'}")


class EncodeTimeoutError(CompressionError):
    """An encode took longer than its duration-proportional time limit."""

    def __init__(self, path: Path, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        super().__init__(
            path,
            f"encoding took longer than {timeout_seconds:.0f} s and was stopped; "
            "try a faster COMPRESSION_FFMPEG_PRESET",
        )
