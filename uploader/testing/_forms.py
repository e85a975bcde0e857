"""Reading a request body as Discord does: ``payload_json`` plus ``files[n]`` parts, or JSON.

JSON and url-encoded bodies (fields, or a ``payload_json`` field) are read too.

File parts are hashed as they stream in, their bytes kept only up to ``keep_bytes``; oversize
bodies and files are counted to the end (so the client can finish sending and read the 413) but
no longer parsed.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from typing import Any

import attrs

from .._limits import MAX_ATTACHMENTS
from ._multipart import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from_content_type,
    parse_header_params,
)
from ._schemas import field_error

MAX_FIELD_BYTES = 1024 * 1024
"""The largest non-file part (``payload_json``) or JSON body the fake holds in memory."""

_FILES_NAME = re.compile(r"files\[(\d{1,9})\]\Z")


@attrs.frozen
class Problem:
    """A request the fake refuses: an HTTP status and a Discord error body.

    Attributes:
        status: the HTTP status.
        code: Discord's JSON error code (0 for plain HTTP errors).
        message: Discord's message for that code.
        errors: the ``errors`` object of a 50035, else None.
    """

    status: int
    code: int
    message: str
    errors: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


TOO_LARGE = Problem(413, 40005, "Request entity too large")
TOO_MANY_ATTACHMENTS = Problem(
    400, 30015, f"Maximum number of attachments in a message reached ({MAX_ATTACHMENTS})"
)


def invalid_form(errors: dict[str, Any]) -> Problem:
    """A 400/50035 with the given ``errors`` object."""
    return Problem(400, 50035, "Invalid Form Body", errors)


@attrs.frozen
class UploadedFile:
    """A ``files[n]`` part, reduced to what the fake keeps.

    Attributes:
        index: ``n``, the attachment placeholder id it answers.
        filename: the part's filename, if any.
        content_type: the part's Content-Type, if any.
        size: its length in bytes.
        sha256: the SHA-256 of its bytes, hex.
        data: its bytes, if it was no larger than the reader's ``keep_bytes``.
    """

    index: int
    filename: str | None
    content_type: str | None
    size: int
    sha256: str
    data: bytes | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen
class Form:
    """A body that parsed: the JSON payload and the uploaded files in body order."""

    payload: dict[str, Any]
    files: tuple[UploadedFile, ...]


class FormReader:
    """Consumes one request body chunk by chunk, then tells what it held.

    Args:
        content_type: the request's Content-Type header, or None.
        file_limit: the largest file accepted, in bytes.
        request_limit: the largest body accepted, in bytes.
        keep_bytes: keep the bytes of files up to this size (0: keep none).
    """

    def __init__(
        self,
        content_type: str | None,
        *,
        file_limit: int,
        request_limit: int,
        keep_bytes: int = 0,
    ) -> None:
        self._file_limit = file_limit
        self._keep_bytes = keep_bytes
        self._file_data: bytearray | None = None
        self._request_limit = request_limit
        self.received = 0
        self._too_large = False
        self._problem: Problem | None = None
        self._parser: MultipartParser | None = None
        self._json: bytearray | None = None
        self._urlencoded = False
        self._payload_json: bytearray | None = None
        self._files: list[UploadedFile] = []
        self._seen_indexes: set[int] = set()
        # the part being read: a field buffer, or a file's hash and size
        self._field: bytearray | None = None
        self._file: tuple[PartStart, int, Any] | None = None  # head, index, hash
        self._file_size = 0
        kind = parse_header_params(content_type)[0] if content_type else ""
        if kind == "multipart/form-data":
            try:
                self._parser = MultipartParser(boundary_from_content_type(content_type or ""))
            except MultipartError as exc:
                self._problem = _malformed(str(exc))
        elif kind in ("application/json", "application/x-www-form-urlencoded") or not kind:
            self._json = bytearray()
            self._urlencoded = kind == "application/x-www-form-urlencoded"
        else:
            self._problem = invalid_form(
                field_error("_", "CONTENT_TYPE_INVALID", f"Expected JSON or form data, not {kind}")
            )

    def refuse_as_too_large(self) -> None:
        """Stop parsing and answer 413 (e.g. the Content-Length alone is over the limit)."""
        self._too_large = True

    def feed(self, data: bytes) -> None:
        """Take the next chunk of the body."""
        self.received += len(data)
        if self.received > self._request_limit:
            self._too_large = True
        if self._stopped():
            return
        if self._json is not None:
            self._json += data
            if len(self._json) > MAX_FIELD_BYTES:
                self._too_large = True
            return
        assert self._parser is not None
        try:
            for event in self._parser.feed(data):
                self._on_event(event)
                if self._stopped():
                    return
        except MultipartError as exc:
            self._problem = _malformed(str(exc))

    def _stopped(self) -> bool:
        return self._too_large or self._problem is not None

    def _on_event(self, event: PartStart | PartData | PartEnd) -> None:
        if isinstance(event, PartStart):
            self._start_part(event)
        elif isinstance(event, PartData):
            if self._file is not None:
                self._file_size += len(event.data)
                if self._file_size > self._file_limit:
                    self._too_large = True
                else:
                    self._file[2].update(event.data)
                if self._file_data is not None:
                    self._file_data += event.data
                    if len(self._file_data) > self._keep_bytes:
                        self._file_data = None
            elif self._field is not None:
                self._field += event.data
                if len(self._field) > MAX_FIELD_BYTES:
                    self._too_large = True
        else:
            if self._file is not None:
                head, index, digest = self._file
                data = bytes(self._file_data) if self._file_data is not None else None
                self._files.append(
                    UploadedFile(
                        index,
                        head.filename,
                        head.content_type,
                        self._file_size,
                        digest.hexdigest(),
                        data,
                    )
                )
            self._file = None
            self._field = None

    def _start_part(self, head: PartStart) -> None:
        name = head.name
        if name is None:
            self._problem = _malformed("a part has no Content-Disposition name")
            return
        lowered = name.lower()
        if "%5b" in lowered or "%5d" in lowered:
            # Discord reads part names literally: an escaped bracket is not files[n].
            self._problem = invalid_form(
                field_error(name, "BASE_TYPE_INVALID", "Percent-escaped brackets in a part name")
            )
            return
        if name == "payload_json":
            if self._payload_json is not None:
                self._problem = _malformed("payload_json appears twice")
                return
            self._payload_json = self._field = bytearray()
            return
        match = _FILES_NAME.match(name)
        if match is None:
            if head.filename is not None:
                self._problem = invalid_form(
                    field_error(name, "BASE_TYPE_INVALID", "File parts must be named files[n]")
                )
                return
            self._field = bytearray()  # another form field: read and ignored
            return
        index = int(match.group(1))
        if index in self._seen_indexes:
            self._problem = invalid_form(
                field_error(name, "BASE_TYPE_INVALID", "This file part appears twice")
            )
            return
        self._seen_indexes.add(index)
        if len(self._seen_indexes) > MAX_ATTACHMENTS:
            self._problem = TOO_MANY_ATTACHMENTS
            return
        self._file = (head, index, hashlib.sha256())
        self._file_size = 0
        self._file_data = bytearray() if self._keep_bytes > 0 else None

    def finish(self) -> Form | Problem:
        """The body's payload and files, or the problem that rejects the request."""
        if self._too_large:
            return TOO_LARGE
        if self._problem is not None:
            return self._problem
        if self._parser is not None:
            try:
                self._parser.close()
            except MultipartError as exc:
                return _malformed(str(exc))
            raw = self._payload_json
        elif self._urlencoded and self._json is not None:
            fields = dict(urllib.parse.parse_qsl(self._json.decode("utf-8", "replace")))
            if "payload_json" not in fields:
                return Form(dict(fields), ())
            raw = bytearray(fields["payload_json"].encode())
        else:
            raw = self._json
        payload: Any = {}
        if raw:
            try:
                payload = json.loads(bytes(raw))
            except (ValueError, UnicodeDecodeError):
                return Problem(400, 50109, "The request body contains invalid JSON.")
        if not isinstance(payload, dict):
            return Problem(400, 50109, "The request body contains invalid JSON.")
        return Form(payload, tuple(self._files))


def _malformed(detail: str) -> Problem:
    return invalid_form(field_error("_", "BASE_TYPE_INVALID", f"Malformed form body: {detail}"))
