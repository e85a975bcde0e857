"""`uploader plan DIR`: what would be sent, how, and in how many messages — no network."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .._detect import ScanResult, scan_media
from .._errors import UploaderError
from .._media_check import CHECKS_AT_ONCE, Checked, check_file, needs_check
from .._models import (
    MediaFile,
    MediaType,
    RefusedPath,
    UnreadablePath,
    UploadBatch,
    format_size,
)
from .._settings import Settings
from ..compress import EncodePlan, FFmpegNotFoundError, describe_compression
from ._common import EXIT_OK, add_limit_mb, require_directory, run_trio
from ._grouping import predict
from ._tools import missing_tools, warn_missing_tools

if TYPE_CHECKING:
    from ._common import Subcommands


def register(subcommands: Subcommands) -> None:
    """Add `uploader plan` to the command line."""
    parser = subcommands.add_parser(
        "plan",
        help="show what would be sent and in how many messages (no network)",
        description="Detect media under DIR and show the upload plan without sending anything.",
    )
    parser.add_argument("directory", type=Path, metavar="DIR")
    add_limit_mb(parser, "per-file upload limit in MiB (default: UPLOAD_FILE_LIMIT_MB or 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


@attrs.frozen
class Plan:
    """The facts `uploader plan` prints."""

    directory: Path
    settings: Settings
    scan: ScanResult
    needs_compression: tuple[MediaFile, ...]
    batches: tuple[UploadBatch, ...]
    compression: dict[Path, EncodePlan | str] = attrs.field(factory=dict)
    """Per oversized file: its encode plan, or why it cannot be compressed."""
    exact: bool = True
    """False when the stand-ins' real sizes or encode order could group them otherwise."""
    warnings: dict[Path, str] = attrs.field(factory=dict)
    """Per file the media check let through with a warning (cut short): why."""


async def plan_compression(
    files: tuple[MediaFile, ...], settings: Settings
) -> dict[Path, EncodePlan | str]:
    """Probe and plan each oversized file (no encoding); errors become their one-line reason."""
    plans: dict[Path, EncodePlan | str] = {}
    for f in files:
        try:
            plans[f.path] = await describe_compression(
                f, settings.compression_target_bytes, settings
            )
        except FFmpegNotFoundError as exc:  # how to install it is said once, up front
            plans[f.path] = f"{exc.program!r} is not installed"
        except UploaderError as exc:
            plans[f.path] = str(exc).splitlines()[0]
    return plans


def build_plan(
    directory: Path,
    scan: ScanResult,
    settings: Settings,
    compression: dict[Path, EncodePlan | str] | None = None,
    *,
    tools_missing: bool = False,
    check_seconds: Mapping[Path, float] | None = None,
) -> Plan:
    """Plan the messages as `send` will make them (`predict`); a file that cannot be
    compressed (``compression`` says why) is left out of the messages, and without ffmpeg no
    file over the limit reaches the batcher at all. ``check_seconds``: how long each file's
    media check took (a slow one may outlast `send`'s linger)."""
    compression = compression or {}
    oversized = tuple(f for f in scan.files if f.size_bytes > settings.file_limit_bytes)
    never_sent = frozenset(f.path for f in oversized) if tools_missing else frozenset()
    grouping = predict(
        scan.files, settings, compression, never_sent=never_sent, check_seconds=check_seconds or {}
    )
    return Plan(directory, settings, scan, oversized, grouping.batches, compression, grouping.exact)


def run(args: argparse.Namespace) -> int:
    """`uploader plan`: print the plan; returns the exit code."""
    overrides = {} if args.limit_mb is None else {"upload_file_limit_mb": args.limit_mb}
    settings = Settings.from_env(**overrides)
    directory: Path = args.directory
    require_directory(directory)
    directory = directory.resolve()  # so paths print relative to it however it was named
    warn_missing_tools("plan", settings)
    plan = run_trio(partial(make_plan, directory, settings))
    if args.json:
        json.dump(plan_to_json(plan), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(plan_to_text(plan))
    return EXIT_OK


async def check_media(
    scan: ScanResult, settings: Settings
) -> tuple[ScanResult, dict[Path, float], dict[Path, str]]:
    """The scan with what `send`'s media check would skip moved to the issues, how long
    each file's check took here (`send`'s batcher may stop waiting for a slow one), and the
    warnings `send` would give (a file cut short)."""
    checked: dict[Path, Checked] = {}
    seconds: dict[Path, float] = {}
    limiter = trio.CapacityLimiter(CHECKS_AT_ONCE)

    async def check(file: MediaFile) -> None:
        async with limiter:
            began = trio.current_time()
            checked[file.path] = await check_file(file, settings)
            seconds[file.path] = trio.current_time() - began

    if settings.upload_check_media:
        async with trio.open_nursery() as nursery:
            for f in scan.files:
                if needs_check(f):
                    nursery.start_soon(check, f)
    refused = [c.event for c in checked.values() if not isinstance(c.event, MediaFile)]
    if refused:
        gone = {i.path for i in refused}
        files = tuple(f for f in scan.files if f.path not in gone)
        scan = attrs.evolve(scan, files=files, issues=(*scan.issues, *refused))
    warnings = {path: c.warning for path, c in checked.items() if c.warning is not None}
    return scan, seconds, warnings


async def make_plan(directory: Path, settings: Settings) -> Plan:
    """Scan ``directory`` and plan the messages and each oversized file's encode."""
    scan, seconds, warnings = await check_media(await scan_media(directory, settings), settings)
    oversized = tuple(f for f in scan.files if f.size_bytes > settings.file_limit_bytes)
    compression = await plan_compression(oversized, settings)
    missing = bool(missing_tools(settings))
    plan = build_plan(
        directory, scan, settings, compression, tools_missing=missing, check_seconds=seconds
    )
    return attrs.evolve(plan, warnings=warnings)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _issue_kind(issue: object) -> str:
    if isinstance(issue, RefusedPath):
        return "refused"
    if isinstance(issue, UnreadablePath):
        return "unreadable"
    return "skipped"


def _compression_json(entry: EncodePlan | str | None) -> dict[str, Any]:
    if entry is None:
        return {}
    if isinstance(entry, str):
        return {"compression_error": entry}
    return {"compression_plan": entry.to_json()}


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan as one JSON-ready document (sizes in bytes, paths relative to the directory)."""
    root = plan.directory
    oversized = set(plan.needs_compression)
    s = plan.settings
    return {
        "directory": str(root),
        "limits": {
            "file_limit_bytes": s.file_limit_bytes,
            "compression_target_bytes": s.compression_target_bytes,
            "message_max_bytes": s.batch_max_bytes,
            "message_max_files": s.upload_max_files_per_batch,
        },
        "files": [
            {
                "path": _rel(f.path, root),
                "size_bytes": f.size_bytes,
                "media_type": f.media_type.value,
                "needs_compression": f in oversized,
                **_compression_json(plan.compression.get(f.path)),
                **({"warning": plan.warnings[f.path]} if f.path in plan.warnings else {}),
            }
            for f in plan.scan.files
        ],
        "issues": [
            {"path": _rel(i.path, root), "kind": _issue_kind(i), "reason": i.reason}
            for i in plan.scan.issues
        ],
        "messages": [
            {
                "files": [_rel(f.path, root) for f in b.files],
                "planned_bytes": b.total_bytes,
            }
            for b in plan.batches
        ],
        "summary": {
            "media_files": len(plan.scan.files),
            "total_bytes": plan.scan.total_bytes,
            "needs_compression": len(plan.needs_compression),
            "issues": len(plan.scan.issues),
            "messages": len(plan.batches),
            "messages_exact": plan.exact,
        },
    }


def plan_to_text(plan: Plan) -> str:
    """The plan as lines for a terminal."""
    root = plan.directory
    s = plan.settings
    n = len(plan.scan.files)
    lines = [
        f"{root}: {n} media file{'' if n == 1 else 's'}, {format_size(plan.scan.total_bytes)}",
    ]
    for media_type in MediaType:
        group = [f for f in plan.scan.files if f.media_type is media_type]
        if group:
            total = sum(f.size_bytes for f in group)
            noun = "file" if len(group) == 1 else "files"
            lines.append(f"  {media_type.value:<6} {len(group):>5} {noun:<5}  {format_size(total)}")
    if plan.needs_compression:
        lines.append(
            f"Needs compression (over the {format_size(s.file_limit_bytes)} per-file limit,"
            f" target {format_size(s.compression_target_bytes)}): {len(plan.needs_compression)}"
        )
        for f in plan.needs_compression:
            lines.append(f"  {_rel(f.path, root)}  {format_size(f.size_bytes)}")
            entry = plan.compression.get(f.path)
            if isinstance(entry, str):
                lines.append(f"    cannot compress: {entry}")
            elif entry is not None:
                lines.append(f"    plan: {entry.summary()}")
    for kind in ("skipped", "refused", "unreadable"):
        issues = [i for i in plan.scan.issues if _issue_kind(i) == kind]
        if issues:
            lines.append(f"{kind.capitalize()}: {len(issues)}")
            lines.extend(f"  {_rel(i.path, root)}: {i.reason}" for i in issues)
    if plan.warnings:
        lines.append(f"Warnings: {len(plan.warnings)}")
        lines.extend(f"  {_rel(p, root)}: {w}" for p, w in plan.warnings.items())
    about = "" if plan.exact else "about "
    lines.append(
        f"Messages: {about}{len(plan.batches)} (at most {s.upload_max_files_per_batch} files and"
        f" {format_size(s.batch_max_bytes)} each)"
    )
    if not plan.exact:
        depends = "how long each video or song takes to check"
        if plan.needs_compression:
            depends = f"the compressed files' real sizes, which encode ends first, and {depends}"
        lines.append(f"  (send may group them otherwise: that depends on {depends})")
    compressed = set(plan.needs_compression)
    originals = {f.path for f in compressed}
    for n, batch in enumerate(plan.batches, 1):
        names = ", ".join(
            _rel(f.path, root) + (" (compressed)" if f.path in originals else "")
            for f in batch.files
        )
        alone = ""
        if batch.total_bytes > s.batch_max_bytes:
            alone = f" (alone: over the {format_size(s.batch_max_bytes)} a message carries)"
        lines.append(
            f"  {n}. {len(batch.files)} file{'s' if len(batch.files) != 1 else ''},"
            f" {format_size(batch.total_bytes)}{alone}: {names}"
        )
    return "\n".join(lines) + "\n"
