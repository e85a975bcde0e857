"""The result collector: every file's fate, gathered from the run's events into UploadResult.

The collector is one consumer of the pipeline's event stream (the reporters are the others):
`Collector.take` records each event, and `Collector.result` is built once every event was taken.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import attrs

from ._events import (
    FileAlreadyDelivered,
    FileCompressed,
    FileDelivered,
    FileFailed,
    FileFound,
    FileSkipped,
    StandInsReused,
)
from ._limits import MAX_MESSAGE_CHARS
from ._models import (
    MIB,
    DetectorIssue,
    FileOutcome,
    FileStatus,
    MediaFile,
    RefusedPath,
    SkippedFile,
    UnreadablePath,
    UploadResult,
    format_size,
    printable,
)


def user_path(file: MediaFile) -> Path:
    """The user's file behind a file or its compressed stand-in."""
    return file.original_path if file.original_path is not None else file.path


def without_path(reason: str, path: Path) -> str:
    """A reason fit for a channel: no local folders (they name users), no repeated file name.

    Errors name the file by its full path for the terminal; the summary and the status message
    already start each line with the file's name.
    """
    reason = reason.replace(str(path), path.name)
    for prefix in (f"{path.name}: ", f"{path.name} "):
        if reason.startswith(prefix) and len(reason) > len(prefix):
            return reason[len(prefix) :]
    return reason


def reason_of(exc: BaseException) -> str:
    """An error's first line: what goes next to the file's name."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def failure(
    path: Path,
    reason: str,
    *,
    compression: bool = False,
    uncertain: bool = False,
    stopped: bool = False,
) -> FileFailed:
    """The `FileFailed` event for the user's file ``path``, its reason without local folders."""
    return FileFailed(
        path,
        without_path(reason, path),
        compression=compression,
        uncertain=uncertain,
        stopped=stopped,
    )


@attrs.define
class Collector:
    """Gathers every file's fate from the run's events (see `take`)."""

    order: list[Path] = attrs.Factory(list)
    originals: dict[Path, MediaFile] = attrs.Factory(dict)
    issues: dict[Path, DetectorIssue] = attrs.Factory(dict)
    failed: dict[Path, str] = attrs.Factory(dict)
    uncertain: set[Path] = attrs.Factory(set)
    stand_ins: dict[Path, tuple[MediaFile, ...]] = attrs.Factory(dict)
    delivered: dict[Path, list[FileDelivered]] = attrs.Factory(dict)
    earlier: dict[Path, FileAlreadyDelivered] = attrs.Factory(dict)
    compression_attempts: int = 0
    compression_successes: int = 0
    root: Path | None = None
    """The folder sent: the summary names files relative to it."""

    def unreadable(self) -> int:
        """How many paths the detector could not read (not media files, but failures)."""
        return sum(isinstance(i, UnreadablePath) for i in self.issues.values())

    def delivered_stand_ins(self) -> list[Path]:
        """Compressed stand-ins Discord confirmed: no need to keep them after a failure."""
        return [d.file.path for ds in self.delivered.values() for d in ds if d.file.is_compressed]

    def take(self, event: object) -> None:
        """Record one event of the run (events that say nothing about a file's fate are ignored)."""
        if isinstance(event, FileFound):
            self.order.append(event.file.path)
            self.originals[event.file.path] = event.file
        elif isinstance(event, FileSkipped):
            self.order.append(event.issue.path)
            self.issues[event.issue.path] = event.issue
        elif isinstance(event, FileCompressed):
            self.compression_attempts += 1
            self.compression_successes += 1
            user = user_path(event.file)
            if event.file.original_path is not None:  # one refused part, compressed on its own
                kept = [o for o in self.stand_ins.get(user, ()) if o.path != event.file.path]
                self.stand_ins[user] = (*kept, *event.outputs)
            else:
                self.stand_ins[user] = event.outputs
        elif isinstance(event, FileFailed):
            self.compression_attempts += event.compression
            if event.uncertain:
                self.uncertain.add(event.path)
            self.failed.setdefault(event.path, event.reason)
        elif isinstance(event, FileDelivered):
            self.delivered.setdefault(user_path(event.file), []).append(event)
        elif isinstance(event, FileAlreadyDelivered):
            self.earlier[event.file.path] = event
        elif isinstance(event, StandInsReused):
            self.stand_ins[event.file.path] = event.outputs

    def outcomes(self, stopped: str | None) -> tuple[FileOutcome, ...]:
        """One outcome per reported path, in the detector's order.

        Args:
            stopped: why the run stopped early, for files nothing else was said of.
        """
        result: list[FileOutcome] = []
        for path in self.order:
            issue = self.issues.get(path)
            if issue is not None:
                status = FileStatus.SKIPPED if _deliberate(issue) else FileStatus.FAILED
                result.append(FileOutcome(path, status, issue.reason))
                continue
            original = self.originals[path]
            earlier = self.earlier.get(path)
            if earlier is not None:
                result.append(_delivered_before(earlier))
                continue
            sent = self.delivered.get(path, [])
            expected = self.stand_ins.get(path, (original,))
            if path in self.failed or len(sent) < len(expected):
                reason = self.failed.get(path) or stopped or "not delivered"
                status = FileStatus.UNCERTAIN if path in self.uncertain else FileStatus.FAILED
                result.append(FileOutcome(path, status, reason, size_bytes=original.size_bytes))
                continue
            result.append(
                FileOutcome(
                    path,
                    FileStatus.DELIVERED,
                    message_id=sent[0].message_id,
                    attachments=tuple(d.attachment_id for d in sent),
                    sent_as=tuple(d.file.filename for d in sent),
                    size_bytes=original.size_bytes,
                    sent_bytes=sum(d.file.size_bytes for d in sent),
                )
            )
        return tuple(result)

    def result(
        self,
        *,
        stopped: str | None,
        workdir: Path,
        platform: str,
        batches: int,
        seconds: float,
        upload_seconds: float,
        file_limit_bytes: int,
    ) -> UploadResult:
        """The UploadResult, with the original system's metadata."""
        outcomes = self.outcomes(stopped)
        unreadable = self.unreadable()
        media = [o for o in outcomes if o.status is not FileStatus.SKIPPED]
        if media:
            success = all(o.status is FileStatus.DELIVERED for o in media)
        else:
            success = not any(o.status is FileStatus.FAILED for o in outcomes)
        metadata: dict[str, object] = {
            "platform": platform,
            "total_files": len(media),
            "successful_uploads": sum(o.status is FileStatus.DELIVERED for o in media),
            "already_delivered": sum(o.reason == ALREADY_DELIVERED for o in media),
            "failed_uploads": sum(o.status is not FileStatus.DELIVERED for o in media),
            "skipped_files": len(outcomes) - len(media),
            "compression_attempts": self.compression_attempts,
            "successful_compressions": self.compression_successes,
            "total_size_mb": round(sum(o.size_bytes for o in media) / MIB, 3),
            "batches_processed": batches,
            "processing_time_seconds": round(seconds, 3),
            "upload_time_seconds": round(upload_seconds, 3),
            "file_limit_bytes": file_limit_bytes,
        }
        return UploadResult(
            success=success,
            message=summarize(outcomes, root=self.root, unreadable=unreadable),
            channel_summary=summarize(
                outcomes, root=self.root, unreadable=unreadable, compression_info=False
            ),
            outcomes=outcomes,
            workdir=workdir,
            metadata=metadata,
        )


ALREADY_DELIVERED = "already delivered"
"""The reason a delivered outcome carries when an earlier run delivered the file."""


def _delivered_before(event: FileAlreadyDelivered) -> FileOutcome:
    return FileOutcome(
        event.file.path,
        FileStatus.DELIVERED,
        ALREADY_DELIVERED,
        message_id=event.message_ids[0],
        attachments=event.attachment_ids,
        sent_as=event.sent_as,
        size_bytes=event.file.size_bytes,
        sent_bytes=event.sent_bytes,
    )


def _deliberate(issue: DetectorIssue) -> bool:
    """Skipped on purpose (not media, empty, partial, refused link), not a failure."""
    return isinstance(issue, SkippedFile | RefusedPath)


GROUPED = 3
"""More files than this sharing one failure reason are one line ("2000 files not sent: ...")."""


def shown_path(path: Path, root: Path | None) -> str:
    """``path`` as the summary names it: relative to the folder sent (no local folders)."""
    if root is not None:
        # one spelling for both (the folder may be given relative, files found absolute), and
        # the folder's real path too: the walk finds files under it when it was named by a link
        path = Path(os.path.abspath(path))
        for base in _spellings(Path(root)):
            if path.is_relative_to(base) and path != base:
                return printable(path.relative_to(base))
    return printable(path.name)


@functools.lru_cache(maxsize=16)
def _spellings(root: Path) -> tuple[Path, ...]:
    given, real = Path(os.path.abspath(root)), Path(os.path.realpath(root))
    return (given,) if given == real else (given, real)


def _named(outcome: FileOutcome, root: Path | None) -> str:
    """A failed path as the summary names it; a folder (one that could not be read) ends in /."""
    name = shown_path(outcome.path, root)
    folder = outcome.size_bytes == 0 and outcome.path.is_dir()  # only unread paths have no size
    return f"{name}/" if folder else name


def _heading(delivered: int, media: int, unreadable: int) -> str:
    if not media and not unreadable:
        return "🤷 No media files to upload"
    unread = f"; {unreadable} could not be read" if unreadable else ""
    if media and delivered == media and not unreadable:
        return f"🎉 Upload complete: {delivered}/{media} files uploaded"
    if delivered == 0:
        return f"❌ Nothing uploaded: 0/{media} files{unread}"
    return f"⚠️ Partial upload: {delivered}/{media} files uploaded{unread}"


STOPPED = "upload stopped: "
"""How the reason of a run-wide stop begins (a refused token, a deleted webhook, ...)."""


def _failure_lines(failed: Sequence[FileOutcome], root: Path | None) -> list[str]:
    """A line per failed file, or one line for a reason many files share (a run-wide stop)."""
    counts: dict[tuple[FileStatus, str], int] = {}
    for o in failed:
        counts[o.status, o.reason] = counts.get((o.status, o.reason), 0) + 1
    lines: list[str] = []
    said: set[tuple[FileStatus, str]] = set()
    for o in failed:
        key = (o.status, o.reason)
        mark = "❓" if o.status is FileStatus.UNCERTAIN else "❌"
        run_wide = o.reason.startswith(STOPPED) and counts[key] > 1
        if counts[key] <= GROUPED and not run_wide:
            lines.append(f"{mark} {_named(o, root)}: {printable(o.reason)}")
        elif key not in said:
            said.add(key)
            verb = "may have been posted" if o.status is FileStatus.UNCERTAIN else "not sent"
            lines.append(f"{mark} {counts[key]} files {verb}: {printable(o.reason)}")
    return lines


def summarize(
    outcomes: Sequence[FileOutcome],
    *,
    root: Path | None = None,
    unreadable: int = 0,
    compression_info: bool = True,
) -> str:
    """The closing summary (at most one Discord message long).

    Args:
        outcomes: every file's outcome.
        root: the folder sent; files are named relative to it (two may share a name).
        unreadable: how many of the failed outcomes are paths that could not be read (not
            media files: they are not counted as files to upload).
        compression_info: list what was compressed from what (the channel's summary leaves
            it to the media messages, which say it beside the files).
    """
    media = [o for o in outcomes if o.status is not FileStatus.SKIPPED]
    delivered = [o for o in media if o.status is FileStatus.DELIVERED]
    earlier = sum(o.reason == ALREADY_DELIVERED for o in delivered)
    if media and earlier == len(media):
        lines = [f"✅ Nothing to send: {earlier} files already delivered"]
    else:
        lines = [_heading(len(delivered), len(media) - unreadable, unreadable)]
    if earlier and earlier < len(media):
        lines.append(f"↩️ {earlier} of them already delivered by an earlier run")
    compressed = [o for o in delivered if o.compressed and o.reason != ALREADY_DELIVERED]
    if compressed and compression_info:
        lines.append("ℹ️ Compression info:")
        lines.extend(
            f"🗜️ {printable(', '.join(o.sent_as))} (compressed from {shown_path(o.path, root)},"
            f" {format_size(o.size_bytes)} → {format_size(o.sent_bytes)})"
            for o in compressed
        )
    lines.extend(_failure_lines([o for o in media if o.status is not FileStatus.DELIVERED], root))
    return fit_lines(lines)


def fit_lines(lines: Sequence[str], limit: int = MAX_MESSAGE_CHARS) -> str:
    """Join lines into at most ``limit`` characters, dropping whole lines from the end and
    saying how many ("… and 12 more"), never cutting a line in half."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept = list(lines)
    while kept:
        dropped = len(lines) - len(kept)
        candidate = "\n".join([*kept, f"… and {dropped} more"])
        if len(candidate) <= limit and dropped:
            return candidate
        kept.pop()
    return text[: limit - 1] + "…"
