"""The Reporter protocol and the event union every reporter takes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import attrs

from .._models import (
    BatchSent,
    CompressionStarted,
    DetectionDone,
    FileCompressed,
    FileDelivered,
    FileFailed,
    FileFound,
    FileSkipped,
    UploadDone,
)
from ..compress import CompressionProgress

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
    | UploadDone
)
"""Everything the pipeline reports while it runs: the run's one event vocabulary.

The result collector is built from the same events (`FileFound`, `FileSkipped`,
`FileCompressed`, `FileDelivered`, `FileFailed`); `UploadDone` comes last.
"""


class Reporter(Protocol):
    """Something that shows progress: `handle` is called for every event, in order."""

    def handle(self, event: ProgressEvent) -> None:
        """Take one event; must not block."""
        ...

    async def run(self) -> None:
        """Background work (e.g. throttled edits); return soon after `UploadDone`."""
        ...


@attrs.frozen
class _CallbackReporter:
    callback: Callable[[ProgressEvent], None]

    def handle(self, event: ProgressEvent) -> None:
        self.callback(event)

    async def run(self) -> None:
        return None


ProgressArg = Reporter | Callable[[ProgressEvent], None] | Iterable[Reporter] | None


def as_reporters(progress: ProgressArg) -> list[Reporter]:
    if progress is None:
        return []
    if hasattr(progress, "handle"):
        return [progress]  # type: ignore[list-item]
    if callable(progress):
        return [_CallbackReporter(progress)]
    return list(progress)
