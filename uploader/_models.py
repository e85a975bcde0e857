"""The value objects that flow between the actors: media files, batches and detector reports."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from pathlib import Path

import attrs

from ._limits import MIB as MIB

"""One mebibyte. Every size in this package is in bytes; MiB only at the edges (settings, text)."""


class MediaType(enum.Enum):
    """What kind of media a file holds, decided from its extension."""

    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"


@attrs.frozen
class MediaFile:
    """A media file ready to be uploaded.

    Attributes:
        path: where the bytes are.
        size_bytes: the file's size in bytes.
        media_type: video, audio or image.
        original_path: for a compressed stand-in, the user's file it replaces; else None.
        filename: the name the attachment gets (derived from ``path``).
    """

    path: Path = attrs.field(converter=Path)
    size_bytes: int = attrs.field(validator=attrs.validators.ge(0))
    media_type: MediaType
    original_path: Path | None = attrs.field(
        default=None, converter=attrs.converters.optional(Path)
    )

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def is_compressed(self) -> bool:
        return self.original_path is not None


def _sum_sizes(files: tuple[MediaFile, ...]) -> int:
    return sum(f.size_bytes for f in files)


def _as_files(files: Iterable[MediaFile]) -> tuple[MediaFile, ...]:
    return tuple(files)


@attrs.frozen
class UploadBatch:
    """The files that go into one Discord message.

    Attributes:
        files: the files, in input order (at most 10).
        total_bytes: the sum of their sizes.
        oversized: True when this is a single file larger than the per-message byte budget,
            put alone in its batch (it needs compression or a larger limit).
    """

    files: tuple[MediaFile, ...] = attrs.field(converter=_as_files)
    total_bytes: int = attrs.field()
    oversized: bool = False

    @total_bytes.default
    def _total_bytes_default(self) -> int:
        return _sum_sizes(self.files)

    @property
    def total_size_mb(self) -> float:
        return self.total_bytes / MIB


@attrs.frozen
class SkippedFile:
    """A file the detector saw but will not upload (empty, partial download, not media)."""

    path: Path
    reason: str


@attrs.frozen
class RefusedPath:
    """A path the detector refuses to follow (a symlink out of the directory, or a loop)."""

    path: Path
    reason: str


@attrs.frozen
class UnreadablePath:
    """A file or directory the detector could not read; the walk went on without it."""

    path: Path
    reason: str


DetectorIssue = SkippedFile | RefusedPath | UnreadablePath
"""Everything the detector reports that is not a MediaFile."""

DetectorEvent = MediaFile | DetectorIssue
"""What the detector sends on its channel."""


def format_size(size_bytes: int) -> str:
    """A size for people: ``512 B``, ``12.5 KiB``, ``9.8 MiB``, ``2.0 GiB``."""
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{size_bytes} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: object) -> str:
    """``text`` with control characters escaped as Python writes them (``\\n``, ``\\x1b``).

    A file name may hold a newline, a carriage return or a terminal escape: shown as it is it
    would split its line in two, or rewrite the terminal. Everything else is left as it is.
    """
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


# --- outcomes -------------------------------------------------------------------------------


class FileStatus(enum.Enum):
    """What became of one file of the user's."""

    DELIVERED = "delivered"
    SKIPPED = "skipped"
    """Deliberately not sent: not media, empty, a partial download, a refused symlink."""
    FAILED = "failed"
    """Meant to be sent but was not (unreadable, could not fit, Discord refused it...)."""
    UNCERTAIN = "uncertain"
    """A webhook post whose answer was lost: it may be in the channel; it was not re-posted."""


@attrs.frozen
class FileOutcome:
    """The fate of one file under the directory.

    Attributes:
        path: the user's file.
        status: delivered, skipped or failed.
        reason: why it was skipped or failed ("" when delivered).
        message_id: the Discord message that carries it, when delivered.
        attachments: the attachment ids it arrived as (several for a split video).
        sent_as: the file names it was uploaded under (a compressed stand-in's name differs).
        size_bytes: the size of the user's file.
        sent_bytes: the bytes uploaded for it (smaller when compressed).
    """

    path: Path
    status: FileStatus
    reason: str = ""
    message_id: str | None = None
    attachments: tuple[str, ...] = ()
    sent_as: tuple[str, ...] = ()
    size_bytes: int = 0
    sent_bytes: int = 0

    @property
    def compressed(self) -> bool:
        return self.status is FileStatus.DELIVERED and self.sent_bytes != self.size_bytes


@attrs.frozen
class UploadResult:
    """What an upload run did, file by file.

    Attributes:
        success: True only when every media file was delivered.
        message: the closing summary (the terminal and ``--json`` show it).
        outcomes: one per file the detector reported, in the detector's order.
        workdir: where compressed files are kept (None once cleaned up).
        metadata: the original system's figures (platform, totals, compression attempts and
            successes, batches, processing and upload seconds).
        removed: the user's files deleted after delivery (UPLOAD_CLEANUP_AFTER_SUCCESS).
        channel_summary: the closing summary as the channel's status message shows it: without
            the compression details the media messages already carry beside their files
            (``message`` unless given).
    """

    success: bool
    message: str
    outcomes: tuple[FileOutcome, ...]
    workdir: Path | None = None
    metadata: dict[str, object] = attrs.field(factory=dict)
    removed: tuple[Path, ...] = ()
    channel_summary: str = attrs.field(
        default=attrs.Factory(lambda self: self.message, takes_self=True)
    )

    @property
    def delivered(self) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status is FileStatus.DELIVERED)

    @property
    def failed(self) -> tuple[FileOutcome, ...]:
        """Files not (known to be) delivered: failed or uncertain."""
        return tuple(
            o for o in self.outcomes if o.status in (FileStatus.FAILED, FileStatus.UNCERTAIN)
        )

    @property
    def skipped(self) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status is FileStatus.SKIPPED)

    @property
    def successful_uploads(self) -> int:
        return len(self.delivered)

    @property
    def failed_uploads(self) -> int:
        return len(self.failed)

    @property
    def error(self) -> str | None:
        failed = self.failed
        return None if not failed else f"{failed[0].path.name}: {failed[0].reason}"
