"""The Reporter protocol; every reporter takes the run's events (`ProgressEvent`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import attrs

from .._events import ProgressEvent as ProgressEvent


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
