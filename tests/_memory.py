"""An in-memory Destination for pipeline tests, and the small settings they run with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import trio
import trio.lowlevel

from tests._files import sha256_file
from uploader import MediaFile, Settings
from uploader.discord import FileTooLargeError, SentAttachment, SentMessage


@attrs.define
class MemoryDestination:
    """Records every message; optional limit (413 above it) and a gate to stall uploads."""

    limit: int | None = None
    fatal: BaseException | None = None
    gate: trio.Event | None = None
    messages: list[tuple[str, list[tuple[str, int, str]]]] = attrs.Factory(list)
    texts: dict[str, str] = attrs.Factory(dict)

    async def send_files(
        self, files: Sequence[MediaFile], *, content: str, nonce: str | None = None
    ) -> SentMessage:
        if self.gate is not None:
            await self.gate.wait()
        await trio.lowlevel.checkpoint()
        if self.fatal is not None:
            raise self.fatal
        if self.limit is not None and any(f.size_bytes > self.limit for f in files):
            raise FileTooLargeError(files, limit_bytes=self.limit)
        record = [(f.filename, f.path.stat().st_size, sha256_file(f.path)) for f in files]
        self.messages.append((content, record))
        mid = str(len(self.messages))
        attachments = tuple(
            SentAttachment(id=f"{mid}-{i}", filename=name, size=size, url="")
            for i, (name, size, _) in enumerate(record)
        )
        return SentMessage(id=mid, channel_id="1", attachments=attachments)

    async def send_message(self, content: str) -> str:
        mid = f"s{len(self.texts)}"
        self.texts[mid] = content
        return mid

    async def edit_message(self, message_id: str, content: str) -> None:
        self.texts[message_id] = content

    async def upload_limit(self) -> int | None:
        return None

    @property
    def received(self) -> list[tuple[str, int, str]]:
        return [a for _, atts in self.messages for a in atts]


def small_settings(tmp_path: Path, **kw: object) -> Settings:
    base: dict[str, object] = {
        "upload_file_limit_mb": 0.25,
        "compression_max_concurrent": 2,
        "compression_ffmpeg_preset": "ultrafast",
        "upload_linger_seconds": 0.05,
        "upload_enable_progress_updates": False,  # tests of the status message turn it on
        "upload_check_media": False,  # random bytes stand in for media here (no ffprobe)
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]
