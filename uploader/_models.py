"""The value objects that flow between the actors: media files, batches and detector reports."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from pathlib import Path

import attrs

MIB = 1024 * 1024
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

    @property
    def size_mb(self) -> float:
        return self.size_bytes / MIB


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
