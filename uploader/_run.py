"""The state one upload run's actors share: why it stopped, the per-file limit, the counters.

The pipeline owns one `Run` per upload and hands it to the actors that need it. Actors read and
change the run only through it (never through each other's fields): the uploader lowers the
limit after a 413 and the router and the uploader read it; whoever meets an error after which
nothing can be delivered calls `Run.stop`, which also cancels compression.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio

from ._limits import DEFAULT_FILE_LIMIT
from ._models import MediaFile
from ._settings import Settings


@attrs.define
class Run:
    """One upload run's shared state (mutable; one trio thread, so no locks).

    Attributes:
        settings: the run's settings; ``settings.file_limit_bytes`` is the current per-file
            limit (lowered by `learn_limit`).
        compression: the cancel scope the compressor pool runs in; `stop` cancels it.
        started: ``trio.current_time()`` when the run began.
        stopped: why sending stopped, once it has (then every later file fails with it).
        messages_sent: messages with attachments Discord created.
        upload_seconds: time the uploader spent delivering batches.
        limit_source: asks the destination's upload limit (`settle_limit` calls it once).
        parts: user's files whose compression made several parts, and those parts: a refused
            part is compressed on its own, so a part already delivered is never sent again.
    """

    settings: Settings
    limit_source: Callable[[], Awaitable[int | None]] | None = None
    compression: trio.CancelScope = attrs.Factory(trio.CancelScope)
    started: float = attrs.Factory(trio.current_time)
    stopped: str | None = None
    messages_sent: int = 0
    upload_seconds: float = 0.0
    parts: dict[Path, tuple[MediaFile, ...]] = attrs.Factory(dict)

    @property
    def file_limit_bytes(self) -> int:
        """The per-file limit now: no larger file is sent."""
        return self.settings.file_limit_bytes

    @property
    def compression_target_bytes(self) -> int:
        """The size a file compressed from now on must not exceed."""
        return self.settings.compression_target_bytes

    async def settle_limit(self) -> None:
        """Learn the destination's upload limit, once, before the first file is routed.

        A boosted server allows more than the default: no need to compress for less. (A
        lower limit the user chose on purpose is kept.)
        """
        source, self.limit_source = self.limit_source, None
        if source is None:
            return
        learnt = await source()
        if learnt is not None and learnt > max(self.file_limit_bytes, DEFAULT_FILE_LIMIT):
            self.settings = self.settings.with_file_limit_bytes(learnt)

    def learn_limit(self, limit: int) -> bool:
        """Lower the per-file limit to ``limit`` (never raise it); True if it changed."""
        if limit >= self.file_limit_bytes:
            return False
        self.settings = self.settings.with_file_limit_bytes(limit)
        return True

    def stop(self, reason: str) -> None:
        """Nothing more can be delivered: remember why (the first reason) and stop compressing."""
        if self.stopped is None:
            self.stopped = reason
        self.compression.cancel()

    def note_compressed(self, original: Path, outputs: tuple[MediaFile, ...]) -> None:
        """Remember the parts of a user's file that was split (or a part compressed again)."""
        if len(outputs) > 1 or original in self.parts:
            self.parts[original] = outputs

    def count_message(self) -> int:
        """Count one created message; returns its number (1 for the first)."""
        self.messages_sent += 1
        return self.messages_sent
