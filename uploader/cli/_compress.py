"""`uploader compress FILE`: fit one file under a limit, never touching the original."""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .._errors import UploaderError
from .._media_check import cut_short, last_packet_time
from .._models import MIB, MediaFile, MediaType
from .._settings import X264_PRESETS, Settings, mib_to_bytes
from ..compress import (
    CompressionError,
    compress_with_details,
    media_type_for_suffix,
    plan_encode,
    probe_media,
)
from ..compress._compress import part_number
from ..compress._probe import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, check_media_type
from ._common import EXIT_OK, UsageError, add_limit_mb, require_file, run_trio

if TYPE_CHECKING:
    from ._common import Subcommands

_SAME_FORMAT = (
    frozenset({".jpg", ".jpeg"}),
    frozenset({".tif", ".tiff"}),
    frozenset({".mpg", ".mpeg"}),
    frozenset({".mp4", ".m4v"}),
    frozenset({".ogg", ".oga"}),
)
"""Extensions that name the same format: a result in one may be written under another."""
_ALSO_ACCEPTED = {".m4a": frozenset({".mp4"}), ".opus": frozenset({".ogg", ".oga"})}
"""Wider names one format may also take (audio-only MP4 is a valid .mp4, Ogg Opus an .ogg)."""
_MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS | IMAGE_EXTENSIONS


def register(subcommands: Subcommands) -> None:
    """Add `uploader compress` to the command line."""
    parser = subcommands.add_parser(
        "compress",
        help="compress one file to fit under a size limit",
        description="Compress FILE so it fits under the limit at the best quality the bytes "
        "allow. FILE is only read; the result goes to OUT (default: the current directory, as "
        "NAME.compressed.EXT). A FILE already within the limit is copied there unchanged. The "
        "result's format can differ from FILE's (an animated GIF becomes MP4, a transparent PNG "
        "WebP): when OUT's extension does not match it, the result is written beside OUT with "
        "the right extension (-o out.gif gives out.mp4), the result line says so, and an "
        "existing file of that name is never replaced. Ctrl-C or SIGTERM stops ffmpeg, removes "
        "the temporary files and exits 130.",
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="the media file to compress")
    add_limit_mb(
        parser, "the size limit in MiB (default: the per-file limit, UPLOAD_FILE_LIMIT_MB)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        type=Path,
        help="where to put the result: a file name (its extension corrected to the result's "
        "format if needed), or a directory (required for parts)",
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


def _accepted_suffixes(produced: str) -> frozenset[str]:
    produced = produced.lower()
    same = next((group for group in _SAME_FORMAT if produced in group), frozenset({produced}))
    return same | _ALSO_ACCEPTED.get(produced, frozenset())


def _named_for(out: Path, produced: str) -> Path:
    """OUT, or OUT with the extension of the format actually produced (``produced``)."""
    suffix = out.suffix.lower()
    if not produced or suffix in _accepted_suffixes(produced):  # no extension: format unknown
        return out
    if suffix in _MEDIA_EXTENSIONS:
        return out.with_suffix(produced)
    return out.with_name(out.name + produced)  # `-o result` or `-o take.2`: add, don't replace


def _rename_note(asked: Path, written: Path) -> str:
    """Why the result is not at OUT (empty when it is)."""
    if asked == written:
        return ""
    fmt = written.suffix[1:].upper()
    if asked.suffix.lower() in _MEDIA_EXTENSIONS:
        return f"named {written.suffix}, not {asked.suffix}: the result is {fmt}"
    return f"{written.suffix} added: the result is {fmt}"


def _check_output(out: Path | None, source: Path) -> None:
    """Refuse an OUT that cannot work before spending time on encoding."""
    if out is None or out.is_dir():
        return
    if out.exists() and os.path.samefile(out, source):
        raise UsageError(f"{out} is the original file; choose another place with -o")
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent} is not a directory")


def _destinations(names: list[str], out: Path | None, source: Path) -> list[tuple[Path, str]]:
    """Where each result goes (``names`` are the results' file names), with a note if renamed."""
    if out is None:
        out = Path.cwd()
    if len(names) > 1 and not out.is_dir() and out.suffix:
        # `-o tiny.mp4 --split`: the parts go next to it, named after it (not into a folder)
        placed = [
            (out.with_name(f"{out.stem}.part{part_number(i, len(names))}{Path(name).suffix}"), "")
            for i, name in enumerate(names, 1)
        ]
    elif len(names) > 1 or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        placed = [(out / name, "") for name in names]
    else:
        if not out.parent.is_dir():
            raise UsageError(f"{out.parent} is not a directory")
        target = _named_for(out, Path(names[0]).suffix)
        if target != out and (target.exists() or target.is_symlink()):
            raise UsageError(
                f"{target} already exists (the result is {target.suffix[1:].upper()}, so it "
                f"cannot be named {out.name}); choose another place with -o"
            )
        placed = [(target, _rename_note(out, target))]
    for target, _ in placed:
        if target.exists() and os.path.samefile(target, source):
            raise UsageError(f"{target} is the original file; choose another place with -o")
    taken = [target for target, _ in placed if target.exists() or target.is_symlink()]
    if taken:  # never replaced silently, whether or not the extension was corrected
        raise UsageError(f"{taken[0]} already exists; choose another place with -o")
    return placed


def _place(src: Path, dest: Path, *, move: bool) -> None:
    """Put ``src``'s bytes at ``dest``: ``dest`` is left either untouched or complete."""
    if move:
        try:
            os.replace(src, dest)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # another file system: copy instead
                raise
    partial_name = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.partial")
    try:
        fd = os.open(partial_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(src, "rb") as reader, os.fdopen(fd, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1024 * 1024)
        os.replace(partial_name, dest)
    except BaseException:
        partial_name.unlink(missing_ok=True)
        raise


async def _deliver(source: Path, src: Path, dest: Path, *, move: bool) -> None:
    try:
        await trio.to_thread.run_sync(partial(_place, src, dest, move=move))
    except OSError as exc:
        raise CompressionError(source, f"cannot write {dest}: {exc.strerror or exc}") from exc


def _mib(size: float) -> str:
    return f"{size / MIB:.2f} MiB"


async def _copy_as_is(
    source: Path, size: int, target: int, out: Path | None, settings: Settings
) -> None:
    """FILE already fits: check it is the media it claims to be, then copy it unchanged."""
    probe = await probe_media(source, settings)  # ffprobe only: refuse what is not media
    expected = media_type_for_suffix(source)
    if expected is not None:
        check_media_type(probe, expected)
    default_name = f"{source.stem}.compressed{source.suffix}"
    ((dest, note),) = _destinations([default_name], out, source)
    await _deliver(source, source, dest, move=False)
    print(
        f"{source}: {_mib(size)} already fits the {_mib(target)} limit; copied unchanged to "
        f"{dest}" + (f" ({note})" if note else "")
    )


async def _warn_if_cut_short(source: Path, stated: float, settings: Settings) -> None:
    """Say so when the source's packets end well before its stated duration (cut short)."""
    try:
        decoded = await last_packet_time(source, settings)
    except UploaderError:
        return  # the check is a courtesy; the encode says what is wrong, if anything
    warning = None if decoded is None else cut_short(stated, decoded)
    if warning is not None:
        print(
            f"uploader compress: warning: {source}: {warning}; the result holds only that",
            file=sys.stderr,
        )


async def _compress(
    source: Path, size: int, target: int, out: Path | None, settings: Settings
) -> None:
    probe = await probe_media(source, settings)
    expected = media_type_for_suffix(source)
    if expected is not None:
        check_media_type(probe, expected)
    if probe.media_type is not MediaType.IMAGE:
        await _warn_if_cut_short(source, probe.duration, settings)
    plan = plan_encode(probe, target, settings)  # pure: a file that cannot fit fails now
    # refuse a taken name now, not after minutes of encoding
    names = [f"{source.stem}.compressed.{plan.container}"]
    if plan.parts > 1:
        n = plan.parts
        names = [f"{source.stem}.part{part_number(i, n)}.{plan.container}" for i in range(1, n + 1)]
    _destinations(names, out, source)
    file = MediaFile(source, size, expected or probe.media_type)
    progress = _ProgressLine(source.name)
    workdir = Path(tempfile.mkdtemp(prefix="uploader-compress-"))
    try:
        try:
            outcome = await compress_with_details(
                file, target, settings=settings, workdir=workdir, on_progress=progress
            )
        finally:
            progress.done()
        names = [output.path.name for output in outcome.outputs]
        encodes = f"{outcome.attempts} encode{'s' if outcome.attempts != 1 else ''}"
        for output, (dest, note) in zip(
            outcome.outputs, _destinations(names, out, source), strict=True
        ):
            await _deliver(source, output.path, dest, move=True)
            print(
                f"{source}: {_mib(size)} → {dest}: {_mib(output.size_bytes)} "
                f"({output.size_bytes / target:.1%} of the {_mib(target)} limit, {encodes}"
                + (f"; {note})" if note else ")")
            )
    finally:
        # Also on Ctrl-C/SIGTERM: ffmpeg is dead by now (cancelled), its partial files go too.
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(partial(shutil.rmtree, workdir, ignore_errors=True))


def run_compress_command(args: argparse.Namespace) -> int:
    """Run ``uploader compress``; errors a user can act on are raised as UploaderError."""
    source: Path = args.file
    require_file(source)
    overrides: dict[str, Any] = {}
    if args.split_long:
        overrides["compression_split_long"] = True
    if args.preset:
        overrides["compression_ffmpeg_preset"] = args.preset
    settings = Settings.from_env(**overrides)
    target = settings.compression_target_bytes
    if args.limit_mb is not None:
        target = mib_to_bytes(args.limit_mb)
    out: Path | None = args.output
    _check_output(out, source)
    size = source.stat().st_size
    job = _copy_as_is if size <= target else _compress

    async def run() -> UploaderError | None:
        # Carried out of run_trio, whose nursery would wrap it in an ExceptionGroup.
        try:
            await job(source, size, target, out, settings)
        except UploaderError as exc:
            return exc
        return None

    error = run_trio(run)
    if error is not None:
        raise error
    return EXIT_OK
