"""The errors compression raises: each names the file and says what to do, in one line."""

from __future__ import annotations

from pathlib import Path

from .._errors import UploaderError
from .._models import MIB

SPLIT_HINT = "(set COMPRESSION_SPLIT_LONG=true or pass --split to send it in parts)"
"""How the error for a video too long to fit names both ways to split it: the setting, and the
flag of `uploader send` and `uploader compress`."""


NO_SPACE = "No space left on device"
FREE_SPACE = "free some space, or give `uploader send` a --workdir on another disk"


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
        if NO_SPACE in stderr_tail:
            super().__init__(path, f"{NO_SPACE.lower()} for the compressed file; {FREE_SPACE}")
            return
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
