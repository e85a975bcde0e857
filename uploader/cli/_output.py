"""What `uploader send` prints on stdout: the result as text or as one JSON document.

The text names every file that was not delivered or was skipped, by its path, grouped by
reason; a reason many files share (a refused token stops the whole run) is said once, with a
few of its files and how many more, so the output stays short whatever the folder's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .._models import FileOutcome, FileStatus, UploadResult, printable
from .._results import Collector

LISTED = 10
"""At most this many files are listed under one reason (``--json`` lists every file)."""


def _groups(outcomes: Sequence[FileOutcome]) -> dict[tuple[str, str], list[Path]]:
    groups: dict[tuple[str, str], list[Path]] = {}
    for o in outcomes:
        groups.setdefault((o.status.value, o.reason), []).append(o.path)
    return groups


def _group_lines(outcomes: Sequence[FileOutcome]) -> list[str]:
    """``status: path: reason`` per file, or the reason once and the files under it."""
    lines = []
    for (status, reason), paths in _groups(outcomes).items():
        if len(paths) == 1:
            lines.append(f"  {status}: {printable(paths[0])}: {printable(reason)}")
            continue
        lines.append(f"  {status} ({len(paths)} files): {printable(reason)}")
        lines.extend(f"    {printable(path)}" for path in paths[:LISTED])
        if len(paths) > LISTED:
            lines.append(f"    … and {len(paths) - LISTED} more (--json lists every file)")
    return lines


def print_result(result: UploadResult, out: TextIO) -> None:
    """The counts, then every file not delivered and every file skipped, grouped by reason."""
    folders = sum(o.path.is_dir() for o in result.failed)  # an unreadable folder: not a file
    unread = f", {folders} folder{'s' if folders != 1 else ''} not readable" if folders else ""
    out.write(
        f"{result.successful_uploads} delivered, {result.failed_uploads - folders} not delivered,"
        f" {len(result.skipped)} skipped{unread}\n"
    )
    for line in (*_group_lines(result.failed), *_group_lines(result.skipped)):
        out.write(line + "\n")
    if result.workdir is not None and not result.success and _holds_files(result.workdir):
        out.write(f"compressed files not delivered are kept in {result.workdir}\n")
    if result.removed:
        n = len(result.removed)
        out.write(
            f"removed {n} delivered file{'s' if n != 1 else ''}"
            " (UPLOAD_CLEANUP_AFTER_SUCCESS=true)\n"
        )


def _holds_files(folder: Path) -> bool:
    """True when ``folder`` holds a file (somewhere below it)."""
    return any(p.is_file() for p in folder.rglob("*")) if folder.is_dir() else False


def has_media(result: UploadResult) -> bool:
    """True when the folder held anything to send (a file found, or one that failed)."""
    return any(o.status is not FileStatus.SKIPPED for o in result.outcomes)


def result_to_json(result: UploadResult, destination: str) -> dict[str, Any]:
    """The result as one JSON-ready document (no secrets: the destination is by id only)."""
    counts = {s.value: 0 for s in FileStatus}
    for o in result.outcomes:
        counts[o.status.value] += 1
    return {
        "destination": destination,
        "success": result.success and has_media(result),  # as the exit code says
        **counts,
        "messages": result.metadata.get("batches_processed", 0),
        "workdir": None if result.workdir is None else str(result.workdir),
        "files": [
            {
                "path": str(o.path),
                "status": o.status.value,
                "reason": o.reason or None,
                "message_id": o.message_id,
                "attachments": list(o.attachments),
                "sent_as": list(o.sent_as),
                "size_bytes": None if o.status is FileStatus.SKIPPED else o.size_bytes,
                "sent_bytes": o.sent_bytes,
            }
            for o in result.outcomes
        ],
        "removed": [str(path) for path in result.removed],
        "metadata": result.metadata,
        "summary": result.message,
    }


def interrupted_result(collector: Collector) -> UploadResult:
    """What is known when the run was interrupted: what was delivered, what was not yet."""
    outcomes = collector.outcomes("interrupted before it was delivered")
    messages = len({o.message_id for o in outcomes if o.message_id is not None})
    return UploadResult(
        success=False,
        message="interrupted",
        outcomes=outcomes,
        metadata={"batches_processed": messages, "interrupted": True},
    )
