"""The `uploader compress` subcommand: fit one file under a limit, never touching the original."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

from .._models import MIB, MediaFile, MediaType
from .._settings import X264_PRESETS, Settings, mib_to_bytes
from ._compress import CompressOutcome, compress_with_details
from ._probe import media_type_for_suffix, probe_media


def _positive_mb(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of MiB, not {raw!r}") from None
    if not 0 < value <= 1024 * 1024:
        raise argparse.ArgumentTypeError(f"expected a size above 0 MiB, not {raw!r}")
    return value


def register(sub: Any) -> None:
    """Add ``uploader compress`` to the `uploader` parser."""
    parser = sub.add_parser(
        "compress",
        help="compress one file to fit under a size limit",
        description="Compress FILE so it fits under the limit at the best quality the bytes "
        "allow. FILE is only read; the result goes to OUT (default: the current directory).",
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="the media file to compress")
    parser.add_argument(
        "--limit-mb",
        metavar="N",
        type=_positive_mb,
        help="the size limit in MiB (default: the per-file limit, UPLOAD_FILE_LIMIT_MB)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        type=Path,
        help="where to put the result: a file name, or a directory (required for parts)",
    )
    parser.add_argument(
        "--split",
        "--split-long",
        dest="split_long",
        action="store_true",
        help="split a video too long to fit into parts that each fit",
    )
    parser.add_argument("--preset", choices=X264_PRESETS, help="the x264 preset")
    parser.set_defaults(func=run_compress_command)


class _ProgressLine:
    """Prints progress on stderr: a live line on a terminal, every 25% otherwise."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tty = sys.stderr.isatty()
        self._shown = -1

    def __call__(self, percent: float) -> None:
        step = int(percent) if self._tty else int(percent // 25) * 25
        if step <= self._shown:
            return
        self._shown = step
        end = "" if self._tty else "\n"
        prefix = "\r" if self._tty else ""
        print(f"{prefix}compressing {self._name}: {step:3d}%", end=end, file=sys.stderr)
        sys.stderr.flush()

    def done(self) -> None:
        if self._tty and self._shown >= 0:
            print(file=sys.stderr)


def _destinations(outputs: tuple[MediaFile, ...], out: Path | None, source: Path) -> list[Path]:
    from ..cli import UsageError

    if out is None:
        out = Path.cwd()
    if len(outputs) > 1 or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        targets = [out / f.path.name for f in outputs]
        taken = [t for t in targets if t.exists()]
        if taken:
            raise UsageError(f"{taken[0]} already exists; choose another place with -o")
    else:
        if not out.parent.is_dir():
            raise UsageError(f"{out.parent} is not a directory")
        targets = [out]
    for target in targets:
        if target.exists() and target.resolve() == source.resolve():
            raise UsageError(f"{target} is the original file; choose another place with -o")
    return targets


async def _compress(
    file: MediaFile, target: int, settings: Settings, workdir: Path, progress: _ProgressLine
) -> CompressOutcome:
    return await compress_with_details(
        file, target, settings=settings, workdir=workdir, on_progress=progress
    )


async def _media_type(path: Path, settings: Settings) -> MediaType:
    return (await probe_media(path, settings)).media_type


def run_compress_command(args: argparse.Namespace) -> int:
    """Run ``uploader compress``; errors a user can act on are raised as UploaderError."""
    from ..cli import UsageError

    source: Path = args.file
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    overrides: dict[str, Any] = {}
    if args.split_long:
        overrides["compression_split_long"] = True
    if args.preset:
        overrides["compression_ffmpeg_preset"] = args.preset
    settings = Settings.from_env(**overrides)
    target = settings.compression_target_bytes
    if args.limit_mb is not None:
        target = mib_to_bytes(args.limit_mb)
    size = source.stat().st_size
    media_type = media_type_for_suffix(source) or trio.run(_media_type, source, settings)
    file = MediaFile(source, size, media_type)
    progress = _ProgressLine(source.name)
    with tempfile.TemporaryDirectory(prefix="uploader-compress-") as tmp:
        try:
            outcome = trio.run(_compress, file, target, settings, Path(tmp), progress)
        finally:
            progress.done()
        destinations = _destinations(outcome.outputs, args.output, source)
        for output, destination in zip(outcome.outputs, destinations, strict=True):
            shutil.move(output.path, destination)
            encodes = f"{outcome.attempts} encode{'s' if outcome.attempts != 1 else ''}"
            print(
                f"{source}: {size / MIB:.2f} MiB → {destination}: {output.size_bytes / MIB:.2f} "
                f"MiB ({output.size_bytes / target:.1%} of the {target / MIB:.2f} MiB limit, "
                f"{encodes})"
            )
    return 0
