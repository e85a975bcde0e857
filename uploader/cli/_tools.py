"""The external tools a command needs (ffmpeg, ffprobe): checked once, up front, said once."""

from __future__ import annotations

import shutil
import sys

from .._settings import Settings

INSTALL_HINT = (
    "install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg) or set"
    " COMPRESSION_FFMPEG_PATH / COMPRESSION_FFPROBE_PATH"
)


def missing_tools(settings: Settings) -> list[str]:
    """The programs of ``settings`` (ffmpeg, ffprobe) that cannot be found or run."""
    programs = (settings.compression_ffmpeg_path, settings.compression_ffprobe_path)
    return [program for program in programs if shutil.which(program) is None]


def describe_missing(missing: list[str]) -> str:
    """``'ffmpeg' and 'ffprobe' are not installed`` or the singular, with the install hint."""
    names = " and ".join(repr(m) for m in missing)
    verb = "is" if len(missing) == 1 else "are"
    return f"{names} {verb} not installed: {INSTALL_HINT}"


def warn_missing_tools(command: str, settings: Settings) -> bool:
    """Warn once on stderr when a tool is missing (files over the limit cannot be compressed or
    checked); True when everything is there."""
    missing = missing_tools(settings)
    if missing:
        print(
            f"uploader {command}: warning: {describe_missing(missing)};"
            " files over the limit cannot be compressed",
            file=sys.stderr,
            flush=True,
        )
    return not missing
