"""The streamed multipart/form-data body of an upload: exact length up front, 64 KiB reads.

Discord takes files as ``multipart/form-data``: one ``payload_json`` part with the JSON fields and
one ``files[n]`` part per attachment (brackets never percent-escaped). httpx's own ``files=``
reads sync file objects on the event-loop thread, so the body is produced here instead: an async
generator that reads each file through ``trio.wrap_file`` in 64 KiB chunks, handed to httpx as
``content=`` with the boundary ``Content-Type`` and an exact ``Content-Length``.

A `MultipartBody` is built once per attempt (`build_multipart` stats the files) and each
`MultipartBody.stream` call opens fresh file handles, so a retry never replays a half-read file.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import trio

from .._models import MediaFile
from ._errors import FileChangedError

CHUNK_SIZE = 64 * 1024
"""How many bytes one read takes from a file; the most of a file held in memory at once."""


class AsyncReadable(Protocol):
    """The part of `trio.wrap_file`'s result the body reads from."""

    async def read(self, size: int = -1, /) -> bytes: ...

    async def aclose(self) -> None: ...


Opener = Callable[[Path], Awaitable[AsyncReadable]]
"""Opens a file for reading; tests swap it to watch how the body reads."""


async def open_for_upload(path: Path) -> AsyncReadable:
    """Open ``path`` for binary reading through a trio worker thread."""
    return await trio.open_file(path, "rb")


_UNKEPT = re.compile(r"[^a-z0-9._-]")


def discord_key(name: str) -> str:
    """A name as Discord may keep it, at worst: spaces become ``_``, other characters go, and
    case is not relied on. Two names with one key could arrive as one name."""
    return _UNKEPT.sub("", name.replace(" ", "_").lower())


def attachment_names(names: Sequence[str]) -> tuple[str, ...]:
    """The names to give one message's attachments, distinct even as Discord keeps them.

    The first file of a name keeps it; a later one becomes ``clip (2).mp4``, ``clip (3).mp4``...
    (Discord keeps that as ``clip_2.mp4``), the extension unchanged. Pure; same input, same names.
    """
    taken: set[str] = set()
    chosen: list[str] = []
    for name in names:
        stem, dot, ext = name.rpartition(".")
        if not (dot and stem and ext):
            stem, ext = name, ""
        candidate, n = name, 1
        while discord_key(candidate) in taken:
            n += 1
            candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        taken.add(discord_key(candidate))
        chosen.append(candidate)
    return tuple(chosen)


def _quote_header_value(value: str) -> bytes:
    # Browsers' (WHATWG) form encoding: escape the quote and line breaks, send the rest as UTF-8.
    escaped = value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    return escaped.encode("utf-8")


@attrs.frozen
class _FilePart:
    path: Path
    filename: str
    size: int
    head: bytes


@attrs.define
class MultipartBody:
    """One attempt's request body: its headers and a generator of its bytes.

    Attributes:
        boundary: the multipart boundary (random per body).
        content_length: the exact number of bytes `stream` yields.
        fully_sent: True once the consumer asked for more after the last byte, i.e. the whole
            body was handed to the connection. While False the server cannot hold a complete
            request, which is what makes a webhook retry safe.
    """

    boundary: str
    content_length: int
    _prefix: bytes
    _files: tuple[_FilePart, ...]
    _closing: bytes
    _opener: Opener
    fully_sent: bool = False

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header value, with the boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def headers(self) -> dict[str, str]:
        """``Content-Type`` and ``Content-Length`` for the request."""
        return {"Content-Type": self.content_type, "Content-Length": str(self.content_length)}

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the body, opening every file afresh and reading it in `CHUNK_SIZE` chunks.

        Raises:
            FileChangedError: a file is shorter or longer than when the body was built.
        """
        self.fully_sent = False
        yield self._prefix
        for part in self._files:
            yield part.head
            handle = await self._opener(part.path)
            try:
                remaining = part.size
                while remaining > 0:
                    chunk = await handle.read(min(CHUNK_SIZE, remaining))
                    if not chunk:
                        raise FileChangedError(part.filename, part.size, part.size - remaining)
                    remaining -= len(chunk)
                    yield chunk
                if await handle.read(1):
                    raise FileChangedError(part.filename, part.size, None)
            finally:
                with trio.CancelScope(shield=True):
                    await handle.aclose()
            yield b"\r\n"
        yield self._closing
        self.fully_sent = True


async def build_multipart(
    payload: Mapping[str, Any],
    files: Sequence[MediaFile],
    *,
    boundary: str | None = None,
    opener: Opener = open_for_upload,
) -> MultipartBody:
    """Lay out the body for ``payload`` (the JSON fields) and ``files`` (parts ``files[0..n]``).

    Every file is stat'ed now, so the ``Content-Length`` is exact; `MultipartBody.stream` fails
    if a file's size changes afterwards. The caller puts the ``attachments`` list in ``payload``.

    Args:
        payload: the JSON fields (``content``, ``attachments``, ``nonce``, ...).
        files: the attachments, in placeholder-id order.
        boundary: a fixed boundary (tests); a random one by default.
        opener: how to open a file for reading (tests).

    Raises:
        FileChangedError: a file's size on disk differs from its `MediaFile.size_bytes`.
        OSError: a file cannot be stat'ed.
    """
    boundary = boundary or secrets.token_hex(16)
    dash = b"--" + boundary.encode("ascii")
    payload_bytes = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    prefix = (
        dash
        + b'\r\nContent-Disposition: form-data; name="payload_json"\r\n'
        + b"Content-Type: application/json\r\n\r\n"
        + payload_bytes
        + b"\r\n"
    )
    parts = []
    length = len(prefix)
    names = attachment_names([f.filename for f in files])
    for index, (media, name) in enumerate(zip(files, names, strict=True)):
        size = (await trio.Path(media.path).stat()).st_size
        if size != media.size_bytes:
            raise FileChangedError(media.filename, media.size_bytes, size)
        head = (
            dash
            + f'\r\nContent-Disposition: form-data; name="files[{index}]"; filename="'.encode()
            + _quote_header_value(name)
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(_FilePart(media.path, name, size, head))
        length += len(head) + size + 2
    closing = dash + b"--\r\n"
    length += len(closing)
    return MultipartBody(boundary, length, prefix, tuple(parts), closing, opener)
