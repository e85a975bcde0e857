"""The run's one event vocabulary: what every actor announces, on one channel.

The pipeline's fan-out hands each event to the result collector (`_results.Collector`) and then
to the reporters (`uploader.progress`). The collector builds the result from `FileFound`,
`FileSkipped`, `FileCompressed`, `FileDelivered` and `FileFailed`; the reporters show all of
them. `UploadDone` is the reporters' last event, sent once the result is built.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from ._models import DetectorIssue, MediaFile, UnreadablePath, UploadBatch, UploadResult
from .compress._pool import CompressionProgress


@attrs.frozen
class FileFound:
    """The detector found a media file."""

    file: MediaFile


@attrs.frozen
class DetectionDone:
    """The detector finished: how many media files, how many bytes."""

    files: int
    total_bytes: int


@attrs.frozen
class CompressionStarted:
    """A file over the limit went to the compressor."""

    file: MediaFile
    target_bytes: int


@attrs.frozen
class FileCompressed:
    """A file now fits: its stand-in(s) in the working directory."""

    file: MediaFile
    outputs: tuple[MediaFile, ...]


@attrs.frozen
class BatchSent:
    """A message with attachments was created."""

    batch: UploadBatch
    message_id: str
    number: int


@attrs.frozen
class FileSkipped:
    """The detector passed over a path: skipped on purpose, refused, or unreadable.

    Attributes:
        issue: what the detector reported (an `UnreadablePath` counts as a failure).
    """

    issue: DetectorIssue

    @property
    def failed(self) -> bool:
        """True when the path was meant to be sent (unreadable), not skipped on purpose."""
        return isinstance(self.issue, UnreadablePath)


@attrs.frozen
class FileDelivered:
    """Discord confirmed a file (or a compressed stand-in) as an attachment of a message.

    Attributes:
        file: what was sent (a stand-in's ``original_path`` names the user's file).
        message_id: the message that carries it.
        attachment_id: its attachment in that message.
    """

    file: MediaFile
    message_id: str
    attachment_id: str


@attrs.frozen
class FileFailed:
    """A file of the user's will not be delivered (or may have been: ``uncertain``), and why.

    Attributes:
        path: the user's file.
        reason: why, without local folders (fit for a channel).
        compression: the failure was its compression's.
        uncertain: the message holding it may have been posted (a lost answer).
        stopped: not tried: the run had stopped, for a reason every file shares (a refused
            token, a deleted webhook...); reporters say such a reason once, not per file.
    """

    path: Path
    reason: str
    compression: bool = False
    uncertain: bool = False
    stopped: bool = False


@attrs.frozen
class LimitLowered:
    """Discord refused a file as too large: the server's per-file limit is below the run's.

    Attributes:
        limit_bytes: the limit from now on (the one Discord stated, or a safe guess).
        previous_bytes: the limit the run had.
        stated: Discord's answer stated the limit (else ``limit_bytes`` is a guess below it).
    """

    limit_bytes: int
    previous_bytes: int
    stated: bool = False


@attrs.frozen
class MediaWarning:
    """A file goes on, but something about it deserves a word (e.g. it was cut short).

    Attributes:
        path: the user's file.
        message: what is wrong with it, without its name.
    """

    path: Path
    message: str


@attrs.frozen
class FileAlreadyDelivered:
    """The run's journal shows this file in the channel already: it is not sent again.

    Attributes:
        file: the user's file.
        message_ids: the message of each attachment that carries it (its parts, in order).
        attachment_ids: those attachments.
        sent_as: their file names.
        sent_bytes: their bytes in all.
    """

    file: MediaFile
    message_ids: tuple[str, ...]
    attachment_ids: tuple[str, ...]
    sent_as: tuple[str, ...]
    sent_bytes: int


@attrs.frozen
class StandInsReused:
    """A compression recorded by an earlier run is sent instead of encoding again.

    Attributes:
        file: the user's file.
        outputs: every stand-in of that compression (parts delivered before included).
    """

    file: MediaFile
    outputs: tuple[MediaFile, ...]


@attrs.frozen
class JournalNotice:
    """Something about the run's journal the user should read once (e.g. a cut-short record)."""

    text: str


@attrs.frozen
class DiscordUnavailable:
    """A request failed for a reason that may pass (a 5xx, a lost connection): retrying soon.

    Attributes:
        retry_in: seconds until the next attempt.
        reason: what failed (e.g. ``"HTTP 503"``), without secrets.
    """

    retry_in: float
    reason: str


@attrs.frozen
class UploadDone:
    """The run is over."""

    result: UploadResult


ProgressEvent = (
    FileFound
    | FileSkipped
    | DetectionDone
    | CompressionStarted
    | CompressionProgress
    | FileCompressed
    | BatchSent
    | FileDelivered
    | FileFailed
    | LimitLowered
    | MediaWarning
    | FileAlreadyDelivered
    | StandInsReused
    | JournalNotice
    | DiscordUnavailable
    | UploadDone
)
"""Every event of a run, in the order actors may send them (`UploadDone` always last)."""
