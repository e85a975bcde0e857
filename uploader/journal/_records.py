"""The journal's records: what one line holds, and its exact JSON form (version 1).

Every record is one line of ASCII JSON (``ensure_ascii``, so a file name's newline, quote or
undecodable byte is escaped and never breaks a line). `encode` and `decode` are exact inverses;
`decode` refuses anything that is not a whole, well-typed record of a version it knows.
No record holds a secret: a destination is named by its id and its API host only.
"""

from __future__ import annotations

import enum
import hashlib
import json
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from ..discord import Channel, Webhook

SCHEMA_VERSION = 1
"""The version every record carries as ``"v"``; a reader refuses versions it does not know."""

T = TypeVar("T")


class RecordError(ValueError):
    """A line is not a valid journal record (the message says why, without the line)."""


@attrs.frozen
class DestinationKey:
    """A destination named without its secrets: kind, snowflake, thread and API host.

    Attributes:
        kind: ``"webhook"``, ``"channel"``, or a caller's own word for another destination.
        id: the webhook's or channel's snowflake (never a token, never a URL).
        host: the API's host (with its port when it has one), e.g. ``discord.com``.
        thread_id: the thread a webhook posts into, if any.
    """

    kind: str
    id: str
    host: str
    thread_id: str | None = None

    def __str__(self) -> str:
        thread = "" if self.thread_id is None else f" (thread {self.thread_id})"
        return f"{self.kind} {self.id}{thread} on {self.host}"


def api_host(url: str) -> str:
    """The host (and port) of a URL; any user name or password in it is dropped."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    return host if parts.port is None else f"{host}:{parts.port}"


def destination_key(target: Webhook | Channel, api_base: str | None = None) -> DestinationKey:
    """The secret-free identity of a Webhook or Channel.

    Args:
        target: where the run posts.
        api_base: the API base requests go to; for a webhook, its own URL's base by default.
    """
    if isinstance(target, Webhook):
        thread = target.effective_thread_id
        return DestinationKey(
            "webhook",
            target.webhook_id,
            api_host(api_base or target.prefix),
            None if thread is None else str(thread),
        )
    return DestinationKey("channel", str(target.channel_id), api_host(api_base or "discord.com"))


@attrs.frozen
class Fingerprint:
    """The content of a user's file when it was recorded."""

    size: int
    mtime_ns: int
    sha256: str


@attrs.frozen
class StandIn:
    """A compressed stand-in that carried (part of) a user's file.

    Attributes:
        path: where it is (absolute; in the working folder, outside the user's folder).
        size: its size in bytes.
        sha256: its content's hash.
        part: its index among the parts of one compression (0 for a single stand-in).
        parts: how many parts that compression made.
        set_id: names that compression (see `Compressed.set_id`).
    """

    path: str
    size: int
    sha256: str
    part: int = 0
    parts: int = 1
    set_id: str = ""


@attrs.frozen
class Entry:
    """One attachment of a batch: a user's file, sent as itself or as one of its stand-ins.

    Attributes:
        path: the user's file, relative to the folder, with ``/`` separators.
        media_type: ``video``, ``audio`` or ``image``.
        source: the user's file's content at the time.
        stand_in: the stand-in uploaded in its place, if it was compressed.
    """

    path: str
    media_type: str
    source: Fingerprint
    stand_in: StandIn | None = None

    @property
    def sent_as(self) -> str:
        """The attachment's file name."""
        return (self.stand_in.path if self.stand_in else self.path).rsplit("/", 1)[-1]

    @property
    def sent_bytes(self) -> int:
        return self.stand_in.size if self.stand_in else self.source.size


@attrs.frozen
class Part:
    """One output of a compression, as written in the working folder."""

    path: str
    size: int
    sha256: str


def set_id_of(parts: tuple[Part, ...]) -> str:
    """A compression's name: a short hash of its outputs' hashes, in order."""
    return hashlib.sha256("\n".join(p.sha256 for p in parts).encode()).hexdigest()[:16]


@attrs.frozen
class RunHeader:
    """The first record a run writes: which folder, which destination, when."""

    run: str
    at: float
    folder: str
    destination: DestinationKey
    version: str


@attrs.frozen
class Compressed:
    """A user's file was compressed into these parts (written once the stand-ins exist)."""

    run: str
    path: str
    source: Fingerprint
    parts: tuple[Part, ...]

    @property
    def set_id(self) -> str:
        return set_id_of(self.parts)


@attrs.frozen
class Intent:
    """A batch about to be sent: written and fsync'd before the request.

    Attributes:
        run: the run that sent it.
        batch: the batch's id, unique in the journal.
        at: when (Unix seconds): a bot nonce deduplicates only for a few minutes after it.
        nonce: the create-message nonce on the bot path; None on the webhook path.
        entries: the attachments, in the order they are sent.
    """

    run: str
    batch: str
    at: float
    nonce: str | None
    entries: tuple[Entry, ...]


class Status(enum.Enum):
    """What became of a batch."""

    DELIVERED = "delivered"
    FAILED = "failed"
    """Provably not posted."""
    UNCERTAIN = "uncertain"
    """May or may not be in the channel."""


@attrs.frozen
class Outcome:
    """What became of a batch, written when the request is over.

    Attributes:
        batch: the intent's batch id.
        status: delivered, failed or uncertain.
        message_id: the message that holds it, when delivered.
        attachments: per entry of the intent, the attachment id Discord confirmed, or None.
        reason: why it failed or is uncertain.
    """

    batch: str
    status: Status
    message_id: str | None = None
    attachments: tuple[str | None, ...] = ()
    reason: str = ""


Record = RunHeader | Compressed | Intent | Outcome


# --- encoding ---------------------------------------------------------------------------------


def _fingerprint(f: Fingerprint) -> dict[str, Any]:
    return {"size": f.size, "mtime_ns": f.mtime_ns, "sha256": f.sha256}


def _stand_in(s: StandIn) -> dict[str, Any]:
    return attrs.asdict(s)


def _entry(e: Entry) -> dict[str, Any]:
    return {
        "path": e.path,
        "media": e.media_type,
        "source": _fingerprint(e.source),
        "stand_in": None if e.stand_in is None else _stand_in(e.stand_in),
    }


def _as_json(record: Record) -> dict[str, Any]:
    if isinstance(record, RunHeader):
        return {
            "type": "run",
            "run": record.run,
            "at": record.at,
            "folder": record.folder,
            "destination": attrs.asdict(record.destination),
            "version": record.version,
        }
    if isinstance(record, Compressed):
        return {
            "type": "compressed",
            "run": record.run,
            "path": record.path,
            "source": _fingerprint(record.source),
            "parts": [attrs.asdict(p) for p in record.parts],
        }
    if isinstance(record, Intent):
        return {
            "type": "intent",
            "run": record.run,
            "batch": record.batch,
            "at": record.at,
            "nonce": record.nonce,
            "entries": [_entry(e) for e in record.entries],
        }
    return {
        "type": "outcome",
        "batch": record.batch,
        "status": record.status.value,
        "message_id": record.message_id,
        "attachments": list(record.attachments),
        "reason": record.reason,
    }


def encode(record: Record) -> bytes:
    """One record as one line of ASCII JSON, ending in ``\\n``."""
    body = {"v": SCHEMA_VERSION, **_as_json(record)}
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.encode("ascii") + b"\n"


# --- decoding ---------------------------------------------------------------------------------


def _get(d: Mapping[str, Any], key: str, kind: type[T] | tuple[type, ...]) -> T:
    value = d.get(key)
    # bool is an int in Python: never accept it where a number is meant
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RecordError(f"field {key!r} is missing or of the wrong type")
    return value  # type: ignore[return-value]


def _opt(d: Mapping[str, Any], key: str, kind: type[T]) -> T | None:
    return None if d.get(key) is None else _get(d, key, kind)


def _size(d: Mapping[str, Any], key: str) -> int:
    value = _get(d, key, int)
    if value < 0:
        raise RecordError(f"field {key!r} is negative")
    return value


def _obj(d: Mapping[str, Any], key: str) -> dict[str, Any]:
    return _get(d, key, dict)


def _list(d: Mapping[str, Any], key: str, item: Callable[[Any], T]) -> tuple[T, ...]:
    return tuple(item(x) for x in _get(d, key, list))


def _fingerprint_of(d: dict[str, Any]) -> Fingerprint:
    return Fingerprint(_size(d, "size"), _get(d, "mtime_ns", int), _get(d, "sha256", str))


def _stand_in_of(d: dict[str, Any]) -> StandIn:
    part, parts = _size(d, "part"), _size(d, "parts")
    if not 0 <= part < parts:
        raise RecordError("a stand-in's part is out of range")
    return StandIn(
        _get(d, "path", str),
        _size(d, "size"),
        _get(d, "sha256", str),
        part,
        parts,
        _get(d, "set_id", str),
    )


def _entry_of(x: Any) -> Entry:
    d = _dict(x)
    stand_in = d.get("stand_in")
    return Entry(
        _get(d, "path", str),
        _get(d, "media", str),
        _fingerprint_of(_obj(d, "source")),
        None if stand_in is None else _stand_in_of(_dict(stand_in)),
    )


def _part_of(x: Any) -> Part:
    d = _dict(x)
    return Part(_get(d, "path", str), _size(d, "size"), _get(d, "sha256", str))


def _dict(x: Any) -> dict[str, Any]:
    if not isinstance(x, dict):
        raise RecordError("an object was expected")
    return x


def _attachment(x: Any) -> str | None:
    if x is not None and not isinstance(x, str):
        raise RecordError("an attachment id must be a string or null")
    return x


def _number(d: Mapping[str, Any], key: str) -> float:
    return float(_get(d, key, (int, float)))


def _decode(d: dict[str, Any]) -> Record:
    kind = d.get("type")
    if kind == "run":
        dest = _obj(d, "destination")
        key = DestinationKey(
            _get(dest, "kind", str),
            _get(dest, "id", str),
            _get(dest, "host", str),
            _opt(dest, "thread_id", str),
        )
        return RunHeader(
            _get(d, "run", str),
            _number(d, "at"),
            _get(d, "folder", str),
            key,
            _get(d, "version", str),
        )
    if kind == "compressed":
        parts = _list(d, "parts", _part_of)
        if not parts:
            raise RecordError("a compression without parts")
        source = _fingerprint_of(_obj(d, "source"))
        return Compressed(_get(d, "run", str), _get(d, "path", str), source, parts)
    if kind == "intent":
        entries = _list(d, "entries", _entry_of)
        if not entries:
            raise RecordError("a batch without files")
        return Intent(
            _get(d, "run", str),
            _get(d, "batch", str),
            _number(d, "at"),
            _opt(d, "nonce", str),
            entries,
        )
    if kind == "outcome":
        try:
            status = Status(d.get("status"))
        except ValueError:
            raise RecordError("unknown outcome status") from None
        return Outcome(
            _get(d, "batch", str),
            status,
            _opt(d, "message_id", str),
            _list(d, "attachments", _attachment),
            _get(d, "reason", str),
        )
    raise RecordError("unknown record type")


def decode(line: bytes) -> Record:
    """The record one line holds (without its ``\\n``).

    Raises:
        RecordError: not JSON, not a record, a field missing or mistyped, or another version.
    """
    try:
        data = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise RecordError("not a JSON line") from None
    d = _dict(data)
    version = d.get("v")
    if version != SCHEMA_VERSION:
        raise RecordError(f"record version {version!r}; this uploader reads {SCHEMA_VERSION}")
    return _decode(d)
