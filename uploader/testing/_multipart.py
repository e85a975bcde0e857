"""A streaming multipart/form-data parser: bytes in, part heads and body chunks out.

It holds at most one chunk plus a delimiter's length of lookahead, so a part's bytes can be hashed
as they arrive. Parameters follow RFC 7578: quoted strings with backslash escapes, and
``filename*`` (RFC 8187) when present. Part names are taken literally (no percent-decoding).

Why not ``python-multipart``: its parameter parser drops ``filename*``, rewrites backslashed
filenames and decodes headers as Latin-1, and its ``finalize`` does not notice a body cut before
the closing boundary; adapting it to that strictness would take as much code as this parser.
"""

from __future__ import annotations

import enum
import urllib.parse

import attrs

MAX_HEAD_BYTES = 16 * 1024
"""The largest header block a part may have."""


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@attrs.frozen
class PartStart:
    """A part begins.

    Attributes:
        name: the ``name`` parameter of its Content-Disposition, or None.
        filename: its ``filename`` (``filename*`` wins), or None when it is a plain field.
        content_type: its Content-Type header, or None.
    """

    name: str | None
    filename: str | None
    content_type: str | None


@attrs.frozen
class PartData:
    """Some of the current part's bytes."""

    data: bytes


@attrs.frozen
class PartEnd:
    """The current part is complete."""


MultipartEvent = PartStart | PartData | PartEnd


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a header value like ``form-data; name="a"; filename="b.mp4"``.

    Args:
        value: the header value.

    Returns:
        The leading token (lower-cased) and the parameters (names lower-cased; quoted strings
        unquoted, ``name*`` values decoded and stored under ``name*``).

    Raises:
        MultipartError: an unterminated quoted string.
    """
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t;":
            i += 1
        start = i
        while i < n and rest[i] not in "=;":
            i += 1
        key = rest[start:i].strip().lower()
        if i >= n or rest[i] == ";":
            if key:
                params[key] = ""
            continue
        i += 1  # '='
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise MultipartError("unterminated quoted string in a header parameter")
                ch = rest[i]
                if ch == "\\" and i + 1 < n:
                    chars.append(rest[i + 1])
                    i += 2
                elif ch == '"':
                    i += 1
                    break
                else:
                    chars.append(ch)
                    i += 1
            val = "".join(chars)
        else:
            start = i
            while i < n and rest[i] != ";":
                i += 1
            val = rest[start:i].strip()
        if key.endswith("*"):
            val = _decode_ext_value(val)
        params[key] = val
    return head.strip().lower(), params


def _decode_ext_value(value: str) -> str:
    charset, sep, rest = value.partition("'")
    _language, sep2, encoded = rest.partition("'")
    if not (sep and sep2):
        raise MultipartError("malformed extended header parameter")
    try:
        return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError) as exc:
        raise MultipartError(f"undecodable extended header parameter: {exc}") from exc


def boundary_from_content_type(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type.

    Raises:
        MultipartError: not multipart/form-data, or no valid boundary.
    """
    kind, params = parse_header_params(content_type)
    if kind != "multipart/form-data":
        raise MultipartError(f"expected multipart/form-data, got {kind or 'nothing'}")
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 70 or not boundary.isascii():
        raise MultipartError("missing or invalid multipart boundary")
    return boundary.encode("ascii")


class _State(enum.Enum):
    PREAMBLE = enum.auto()
    AFTER_DELIMITER = enum.auto()
    HEAD = enum.auto()
    BODY = enum.auto()
    EPILOGUE = enum.auto()


class MultipartParser:
    """Feed it the body in chunks of any size; it returns the events each chunk completes.

    Args:
        boundary: the boundary from the Content-Type header.
    """

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        # A leading CRLF lets the first delimiter match like every later one.
        self._buf = bytearray(b"\r\n")
        self._state = _State.PREAMBLE

    @property
    def complete(self) -> bool:
        """Whether the closing delimiter has been seen."""
        return self._state is _State.EPILOGUE

    def feed(self, data: bytes) -> list[MultipartEvent]:
        """Parse more of the body.

        Raises:
            MultipartError: the body is malformed.
        """
        if self._state is _State.EPILOGUE:
            return []
        self._buf += data
        events: list[MultipartEvent] = []
        while self._step(events):
            pass
        return events

    def close(self) -> None:
        """Declare the body finished.

        Raises:
            MultipartError: the closing delimiter never came.
        """
        if self._state is not _State.EPILOGUE:
            raise MultipartError("multipart body ended before its closing boundary")

    def _step(self, events: list[MultipartEvent]) -> bool:
        buf, delim = self._buf, self._delimiter
        if self._state is _State.PREAMBLE:
            idx = buf.find(delim)
            if idx < 0:
                del buf[: max(0, len(buf) - len(delim) + 1)]
                return False
            del buf[: idx + len(delim)]
            self._state = _State.AFTER_DELIMITER
            return True
        if self._state is _State.AFTER_DELIMITER:
            if len(buf) < 2:
                return False
            if buf.startswith(b"--"):
                self._state = _State.EPILOGUE
                buf.clear()
                return False
            idx = buf.find(b"\r\n")
            if idx < 0:
                if len(buf) > 256:
                    raise MultipartError("garbage after a multipart boundary")
                return False
            if buf[:idx].strip(b" \t"):
                raise MultipartError("garbage after a multipart boundary")
            del buf[: idx + 2]
            self._state = _State.HEAD
            return True
        if self._state is _State.HEAD:
            if buf.startswith(b"\r\n"):
                head_bytes = b""
                del buf[:2]
            else:
                idx = buf.find(b"\r\n\r\n")
                if idx < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise MultipartError("a part's headers are too long")
                    return False
                head_bytes = bytes(buf[:idx])
                del buf[: idx + 4]
            events.append(_parse_head(head_bytes))
            self._state = _State.BODY
            return True
        if self._state is _State.BODY:
            idx = buf.find(delim)
            if idx >= 0:
                if idx:
                    events.append(PartData(bytes(buf[:idx])))
                events.append(PartEnd())
                del buf[: idx + len(delim)]
                self._state = _State.AFTER_DELIMITER
                return True
            safe = len(buf) - len(delim) + 1
            if safe > 0:
                events.append(PartData(bytes(buf[:safe])))
                del buf[:safe]
            return False
        return False  # pragma: no cover - EPILOGUE returns early in feed


def _parse_head(head: bytes) -> PartStart:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MultipartError("a part's headers are not UTF-8") from exc
    disposition: str | None = None
    content_type: str | None = None
    for line in text.split("\r\n") if text else []:
        key, sep, value = line.partition(":")
        if not sep:
            raise MultipartError(f"malformed part header line {line[:40]!r}")
        key = key.strip().lower()
        if key == "content-disposition":
            disposition = value.strip()
        elif key == "content-type":
            content_type = value.strip()
    if disposition is None:
        return PartStart(name=None, filename=None, content_type=content_type)
    kind, params = parse_header_params(disposition)
    if kind != "form-data":
        raise MultipartError(f"part disposition must be form-data, not {kind!r}")
    filename = params.get("filename*", params.get("filename"))
    return PartStart(name=params.get("name"), filename=filename, content_type=content_type)
