"""The fake's CDN: attachments' content types, their kept bytes, and the routes serving them.

An attachment's ``url`` (``/cdn/attachments/{channel}/{id}/{name}``) and ``proxy_url``
(``/media/...``) serve the uploaded bytes with the type Discord derives from the filename.
The fake keeps the bytes of files up to `KEEP_FILE_BYTES` each and `KEEP_TOTAL_BYTES` in
all; past either it keeps only the size and SHA-256, and the URL answers a 404 that says so.
"""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import unquote, urlsplit

import attrs

from .._limits import MIB
from ._responses import VIA, Response, error

KEEP_FILE_BYTES = 8 * MIB
"""The largest attachment whose bytes the fake keeps (and serves)."""
KEEP_TOTAL_BYTES = 256 * MIB
"""The most attachment bytes the fake keeps in all; later files keep only size and hash."""

_MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/x-wav",
    ".txt": "text/plain",
    ".json": "application/json",
    ".zip": "application/zip",
}
"""Discord's types for common media, fixed here so the answer does not depend on the host's
``mime.types``; other names go to `mimetypes`, and unknown ones to ``application/octet-stream``."""

_CDN_PATH = re.compile(r"/(?:cdn|media)/attachments/(\d{1,20})/(\d{1,20})/([^/]+)\Z")


def content_type_of(filename: str) -> str:
    """The content type Discord gives an attachment of this name (text with its charset)."""
    suffix = "." + filename.rpartition(".")[2].lower() if "." in filename else ""
    found = _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(filename, strict=False)[0]
    found = found or "application/octet-stream"
    return f"{found}; charset=utf-8" if found.startswith("text/") else found


@attrs.define
class AttachmentStore:
    """Every attachment's filename, and the bytes of those within the caps, by id."""

    names: dict[str, str] = attrs.Factory(dict)
    kept: dict[str, bytes] = attrs.Factory(dict)
    total: int = 0

    def keep(self, attachment_id: str, filename: str, data: bytes | None) -> None:
        """Note an attachment; keep its bytes if they were read and fit the caps."""
        self.names[attachment_id] = filename
        if data is None or len(data) > KEEP_FILE_BYTES:
            return
        if self.total + len(data) > KEEP_TOTAL_BYTES:
            return
        self.kept[attachment_id] = data
        self.total += len(data)


def is_cdn(target: str) -> bool:
    """Whether a request target is for an attachment URL."""
    return urlsplit(target).path.startswith(("/cdn/", "/media/"))


def serve_attachment(store: AttachmentStore, method: str, target: str) -> Response:
    """Answer a GET (or HEAD) of an attachment URL (never counted in the stats)."""
    found = _CDN_PATH.match(urlsplit(target).path)
    if found is None or store.names.get(found[2]) != unquote(found[3]):
        return attrs.evolve(error(404, 0, "404: Not Found"), counted=False)
    if method not in ("GET", "HEAD"):
        return attrs.evolve(error(405, 0, "405: Method Not Allowed"), counted=False)
    data = store.kept.get(found[2])
    if data is None:
        message = (
            f"The fake keeps the bytes of attachments up to {KEEP_FILE_BYTES // MIB} MiB each "
            f"({KEEP_TOTAL_BYTES // MIB} MiB in all); this one kept only its size and sha256 "
            "(see /_fake/messages)."
        )
        return attrs.evolve(error(404, 0, message), counted=False)
    headers = (("Content-Type", content_type_of(store.names[found[2]])), VIA)
    return Response(200, data, headers, counted=False)
