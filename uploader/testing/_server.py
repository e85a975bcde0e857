"""The loopback Discord: an h11 server on trio that records messages and plays Discord's limits.

One `FakeDiscord` owns all state (guilds, channels, webhooks, messages, rate-limit windows,
faults); each connection task parses HTTP/1.1 with h11 and asks it to answer. Time is
``trio.current_time()``, so tests under ``MockClock`` see exact rate-limit timing.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import http
import json
import logging
import mimetypes
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import attrs
import h11
import trio

from .._limits import BOOSTED_FILE_LIMITS, MAX_MESSAGE_CHARS, MIB
from ._forms import TOO_LARGE, Form, FormReader, Problem, UploadedFile, invalid_form
from ._limits import NS, FixedWindows, WindowState, ceil_ms, ceil_seconds, to_ns
from ._records import (
    FakeStats,
    Fault,
    RecordedAttachment,
    RecordedMessage,
    RouteName,
)
from ._schemas import (
    MESSAGE_CREATE,
    MESSAGE_EDIT,
    WEBHOOK_EXECUTE,
    WEBHOOK_MESSAGE_EDIT,
    field_error,
    validate,
)

log = logging.getLogger("uploader.testing")

DISCORD_EPOCH_MS = 1_420_070_400_000
NONCE_WINDOW_SECONDS = 300.0
"""How long ``enforce_nonce`` remembers a nonce (Discord says "a few minutes")."""
FORM_OVERHEAD_BYTES = 1 * MIB
"""A boosted guild's request limit is at least its file limit plus this much form overhead."""
READ_LIMIT = (50, 1.0)
"""The bucket of the GET routes (only when ``channel_limit`` is set)."""

_CHUNK = 64 * 1024
_PACED_CHUNK = 16 * 1024
_PREFIX = re.compile(r"/api(?:/v\d+)?(/.*)\Z")
_SNOWFLAKE = re.compile(r"(0|[1-9][0-9]{0,19})\Z")
_BOT_ROUTES = frozenset({"create_message", "get_channel", "get_guild", "get_gateway_bot"})
_BAN_BODY = b"error code: 1015"
_HTML_ERRORS = {
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    524: "A Timeout Occurred",
}

Header = tuple[str, str]


@attrs.frozen
class _Guild:
    id: int
    premium_tier: int


@attrs.frozen
class _Channel:
    id: int
    guild_id: int


@attrs.frozen
class _Webhook:
    id: int
    token: str
    channel_id: int


@attrs.frozen
class _Route:
    name: RouteName
    channel_id: int | None = None
    guild_id: int | None = None
    message_id: str | None = None
    webhook_id: int | None = None
    webhook_token: str | None = None


@attrs.frozen
class _Response:
    status: int
    body: bytes = b""
    headers: tuple[Header, ...] = ()
    scope: str | None = None  # a 429's scope, for the stats and the invalid-request count


@attrs.frozen
class _Admission:
    """A request that passed auth, lookups and rate limits."""

    channel: _Channel | None
    webhook: _Webhook | None
    bucket_headers: tuple[Header, ...]


@attrs.define
class _ActiveFault:
    fault: Fault
    seen: int = 0
    hits: int = 0


_VIA: Header = ("Via", "1.1 google")
_JSON: Header = ("Content-Type", "application/json")


def _json_response(
    status: int, body: object, headers: tuple[Header, ...] = (), scope: str | None = None
) -> _Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    return _Response(status, data, (*headers, _JSON, _VIA), scope)


def _problem_response(problem: Problem, headers: tuple[Header, ...] = ()) -> _Response:
    return _json_response(problem.status, problem.body(), headers)


def _error(status: int, code: int, message: str, headers: tuple[Header, ...] = ()) -> _Response:
    return _json_response(status, {"message": message, "code": code}, headers)


def _http_error(status: int) -> _Response:
    phrase = http.HTTPStatus(status).phrase
    return _error(status, 0, f"{status}: {phrase}")


def _match_route(method: str, path: str) -> _Route | _Response:
    match = _PREFIX.match(path)
    if match is None:
        return _http_error(404)
    parts = match.group(1).strip("/").split("/")
    found: tuple[str, _Route] | None = None
    ids_ok = True

    def sf(text: str) -> int:
        nonlocal ids_ok
        if _SNOWFLAKE.match(text) is None:
            ids_ok = False
            return 0
        return int(text)

    match parts:
        case ["channels", cid, "messages"]:
            found = ("POST", _Route("create_message", channel_id=sf(cid)))
        case ["channels", cid, "messages", mid]:
            found = ("PATCH", _Route("edit_message", channel_id=sf(cid), message_id=mid))
        case ["channels", cid]:
            found = ("GET", _Route("get_channel", channel_id=sf(cid)))
        case ["guilds", gid]:
            found = ("GET", _Route("get_guild", guild_id=sf(gid)))
        case ["gateway", "bot"]:
            found = ("GET", _Route("get_gateway_bot"))
        case ["webhooks", wid, token]:
            found = ("POST", _Route("execute_webhook", webhook_id=sf(wid), webhook_token=token))
        case ["webhooks", wid, token, "messages", mid]:
            found = (
                "PATCH",
                _Route("edit_message", webhook_id=sf(wid), webhook_token=token, message_id=mid),
            )
    if found is None or not ids_ok:
        return _http_error(404)
    if method != found[0]:
        return _http_error(405)
    return found[1]


def _bucket_hash(template: str) -> str:
    return hashlib.md5(template.encode(), usedforsecurity=False).hexdigest()


class FakeDiscord:
    """A running loopback Discord; get one from `open_fake_discord` or `run_fake_discord`.

    Read ``messages`` and ``stats`` to check what a client did; ``create_channel``,
    ``create_webhook`` and ``inject`` set the scene.
    """

    def __init__(
        self,
        *,
        file_limit_bytes: int,
        request_limit_bytes: int,
        webhook_limit: tuple[int, float] | None,
        channel_limit: tuple[int, float] | None,
        global_limit: int | None,
        ban_after_invalid: int | None,
        bandwidth_bytes_per_second: float | None,
        validate: bool,
        on_message: Callable[[RecordedMessage], None] | None,
    ) -> None:
        if file_limit_bytes < 1 or request_limit_bytes < 1:
            raise ValueError("file_limit_bytes and request_limit_bytes must be positive")
        if bandwidth_bytes_per_second is not None and bandwidth_bytes_per_second <= 0:
            raise ValueError("bandwidth_bytes_per_second must be positive (or None)")
        self.file_limit_bytes = file_limit_bytes
        self.request_limit_bytes = request_limit_bytes
        self.bandwidth_bytes_per_second = bandwidth_bytes_per_second
        self._validate = validate
        self._on_message = on_message
        self._ban_after = ban_after_invalid
        self._banned = False
        self.bot_token = "fake." + secrets.token_urlsafe(24)
        self.port = 0
        self._wall_start = time.time()
        self._trio_start_ns = to_ns(trio.current_time())
        self._last_id = 0
        self._bot_user_id = self._snowflake()

        self._global = FixedWindows(global_limit, 1.0) if global_limit is not None else None
        self._channel = FixedWindows(*channel_limit) if channel_limit is not None else None
        self._edit = FixedWindows(*channel_limit) if channel_limit is not None else None
        self._webhook = FixedWindows(*webhook_limit) if webhook_limit is not None else None
        self._read = FixedWindows(*READ_LIMIT) if channel_limit is not None else None

        self._guilds: dict[int, _Guild] = {}
        self._channels: dict[int, _Channel] = {}
        self._webhooks: dict[int, _Webhook] = {}
        self._messages: list[RecordedMessage] = []
        self._message_index: dict[str, int] = {}
        self._raw_nonces: dict[str, int | str] = {}
        self._edited_ns: dict[str, int] = {}
        self._nonces: dict[tuple[int, str], tuple[str, int]] = {}
        self._faults: list[_ActiveFault] = []
        self._message_recorded = trio.Event()

        self._requests = 0
        self._by_status: dict[int, int] = {}
        self._by_scope: dict[str, int] = {}
        self._invalid = 0
        self._link_free = 0.0

    # ----------------------------------------------------------------- the scene

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """The API base to give a client: ``http://127.0.0.1:PORT/api/v10``."""
        return f"{self.base_url}/api/v10"

    def create_channel(self, *, premium_tier: int = 0) -> int:
        """Create a text channel in a new guild and return its id.

        Args:
            premium_tier: the guild's boost tier, 0 to 3. Tiers 0 and 1 get
                ``file_limit_bytes``; tier 2 at least 50 MiB, tier 3 at least 100 MiB.
        """
        if premium_tier not in (0, 1, 2, 3):
            raise ValueError(f"premium_tier must be 0 to 3, not {premium_tier}")
        guild = _Guild(self._snowflake(), premium_tier)
        channel = _Channel(self._snowflake(), guild.id)
        self._guilds[guild.id] = guild
        self._channels[channel.id] = channel
        return channel.id

    def create_webhook(self, *, channel_id: int | None = None) -> str:
        """Create a webhook and return its full URL (a secret, for a real Discord).

        Args:
            channel_id: the channel it posts into; None creates a new channel.

        Raises:
            KeyError: ``channel_id`` is not a channel of this fake.
        """
        if channel_id is None:
            channel_id = self.create_channel()
        if channel_id not in self._channels:
            raise KeyError(f"no channel {channel_id} in this fake Discord")
        webhook = _Webhook(self._snowflake(), secrets.token_urlsafe(48), channel_id)
        self._webhooks[webhook.id] = webhook
        return f"{self.base_url}/api/webhooks/{webhook.id}/{webhook.token}"

    def guild_id_of(self, channel_id: int) -> int:
        """The guild a channel belongs to."""
        return self._channels[channel_id].guild_id

    def file_limit_of(self, channel_id: int) -> int:
        """The largest attachment the channel accepts, in bytes (its guild's tier decides)."""
        tier = self._guilds[self.guild_id_of(channel_id)].premium_tier
        return max(self.file_limit_bytes, BOOSTED_FILE_LIMITS.get(tier, 0))

    def request_limit_of(self, channel_id: int) -> int:
        """The largest request body the channel accepts, in bytes."""
        file_limit = self.file_limit_of(channel_id)
        if file_limit == self.file_limit_bytes:
            return self.request_limit_bytes
        return max(self.request_limit_bytes, file_limit + FORM_OVERHEAD_BYTES)

    def inject(self, *faults: Fault) -> None:
        """Add faults to the schedule; they hit matching requests in injection order."""
        self._faults.extend(_ActiveFault(fault) for fault in faults)

    @property
    def pending_faults(self) -> tuple[Fault, ...]:
        """The injected faults that still have hits left."""
        return tuple(active.fault for active in self._faults)

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    @property
    def banned(self) -> bool:
        """Whether ban mode is on (every request gets Cloudflare's HTML 429)."""
        return self._banned

    # ---------------------------------------------------------------- the record

    @property
    def messages(self) -> list[RecordedMessage]:
        """Every created message in creation order, each in its latest (edited) state."""
        return list(self._messages)

    async def wait_for_messages(self, count: int) -> list[RecordedMessage]:
        """Wait until at least ``count`` messages were recorded; return them all."""
        while len(self._messages) < count:
            await self._message_recorded.wait()
        return self.messages

    @property
    def stats(self) -> FakeStats:
        """A snapshot of the request counters."""
        return FakeStats(
            requests=self._requests,
            responses_by_status=dict(self._by_status),
            rate_limited_by_scope=dict(self._by_scope),
            invalid_requests=self._invalid,
        )

    # ------------------------------------------------------------------- helpers

    def _now_ns(self) -> int:
        return to_ns(trio.current_time())

    def _epoch(self, ns: int) -> float:
        return self._wall_start + (ns - self._trio_start_ns) / NS

    def _snowflake(self) -> int:
        ms = int(self._epoch(self._now_ns()) * 1000) - DISCORD_EPOCH_MS
        self._last_id = max(self._last_id + 1, ms << 22)
        return self._last_id

    def _iso(self, ns: int) -> str:
        moment = datetime.datetime.fromtimestamp(self._epoch(ns), tz=datetime.UTC)
        return moment.isoformat()

    def _bucket_headers(self, bucket: str, state: WindowState) -> tuple[Header, ...]:
        reset = self._epoch(state.reset_ns)
        return (
            ("X-RateLimit-Limit", str(state.limit)),
            ("X-RateLimit-Remaining", str(state.remaining)),
            ("X-RateLimit-Reset", f"{reset:.3f}"),
            ("X-RateLimit-Reset-After", f"{ceil_ms(state.reset_after_ns) / 1000:.3f}"),
            ("X-RateLimit-Bucket", bucket),
        )

    def _rate_limited(
        self,
        scope: Literal["user", "global", "shared"],
        retry_after_ns: int,
        bucket_headers: tuple[Header, ...] = (),
    ) -> _Response:
        retry_after = ceil_ms(retry_after_ns) / 1000
        headers: tuple[Header, ...] = (
            *bucket_headers,
            ("Retry-After", str(ceil_seconds(retry_after_ns))),
            ("X-RateLimit-Scope", scope),
        )
        if scope == "global":
            headers = (*headers, ("X-RateLimit-Global", "true"))
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": scope == "global",
            "code": 0,
        }
        return _json_response(429, body, headers, scope=scope)

    def _take_fault(self, route: RouteName) -> Fault | None:
        chosen: _ActiveFault | None = None
        for active in self._faults:
            if active.fault.route not in (None, route):
                continue
            active.seen += 1
            if chosen is None and active.seen > active.fault.after:
                chosen = active
        if chosen is None:
            return None
        chosen.hits += 1
        if chosen.hits >= chosen.fault.times:
            self._faults.remove(chosen)
        return chosen.fault

    def _bucket_for(
        self, route: _Route, channel: _Channel | None, webhook: _Webhook | None
    ) -> tuple[FixedWindows | None, object, str]:
        if webhook is not None:
            return self._webhook, (webhook.id, webhook.token), _bucket_hash("webhooks/{id}/{token}")
        if route.name == "create_message":
            return self._channel, route.channel_id, _bucket_hash("POST channels/{id}/messages")
        if route.name == "edit_message":
            return self._edit, route.channel_id, _bucket_hash("PATCH channels/{id}/messages/{m}")
        major = route.channel_id or route.guild_id
        return self._read, (route.name, major), _bucket_hash(f"GET {route.name}")

    # ---------------------------------------------------- admission (head only)

    def _admit(
        self, route: _Route, headers: dict[str, str], fault: Fault | None, now_ns: int
    ) -> _Admission | _Response:
        webhook: _Webhook | None = None
        channel: _Channel | None = None
        if route.name in _BOT_ROUTES or route.webhook_id is None:
            if headers.get("authorization") != f"Bot {self.bot_token}":
                return _error(401, 0, "401: Unauthorized")
            if self._global is not None:
                state = self._global.take(self.bot_token, now_ns)
                if not state.allowed:
                    return self._rate_limited("global", state.reset_after_ns)
        else:
            webhook = self._webhooks.get(route.webhook_id)
            if webhook is None:
                return _error(404, 10015, "Unknown Webhook")
            if not secrets.compare_digest(webhook.token, route.webhook_token or ""):
                return _error(401, 50027, "Invalid Webhook Token")
            channel = self._channels[webhook.channel_id]
        if route.channel_id is not None:
            channel = self._channels.get(route.channel_id)
            if channel is None:
                return _error(404, 10003, "Unknown Channel")
        if route.guild_id is not None and route.guild_id not in self._guilds:
            return _error(404, 10004, "Unknown Guild")

        limiter, key, bucket = self._bucket_for(route, channel, webhook)
        if fault is not None and fault.kind.startswith("rate_limit_"):
            retry_ns = to_ns(fault.retry_after)
            scope: Literal["user", "global", "shared"]
            if fault.kind == "rate_limit_global":
                return self._rate_limited("global", retry_ns)
            scope = "shared" if fault.kind == "rate_limit_shared" else "user"
            shown: tuple[Header, ...] = ()
            if limiter is not None:
                state = limiter.peek(key, now_ns)
                if scope == "user":
                    state = attrs.evolve(
                        state, remaining=0, reset_ns=now_ns + retry_ns, reset_after_ns=retry_ns
                    )
                shown = self._bucket_headers(bucket, state)
            return self._rate_limited(scope, retry_ns, shown)
        if fault is not None and fault.kind == "status":
            return self._fault_status(fault.status)
        if limiter is None:
            return _Admission(channel, webhook, ())
        state = limiter.take(key, now_ns)
        shown = self._bucket_headers(bucket, state)
        if not state.allowed:
            return self._rate_limited("user", state.reset_after_ns, shown)
        return _Admission(channel, webhook, shown)

    @staticmethod
    def _fault_status(status: int) -> _Response:
        if status == 500:
            return _error(500, 0, "500: Internal Server Error")
        # Discord's edge answers the others with an HTML page, not JSON.
        phrase = _HTML_ERRORS[status]
        page = f"<html><head><title>{status} {phrase}</title></head><body>{phrase}</body></html>"
        return _Response(status, page.encode(), (("Content-Type", "text/html"), _VIA))

    # ------------------------------------------------------- processing (body read)

    def _answer(
        self,
        route: _Route,
        admission: _Admission,
        form: Form | Problem | None,
        query: dict[str, str],
    ) -> _Response:
        shown = admission.bucket_headers
        if route.name == "get_channel":
            assert admission.channel is not None
            return _json_response(200, self._channel_json(admission.channel), shown)
        if route.name == "get_guild":
            assert route.guild_id is not None
            return _json_response(200, self._guild_json(self._guilds[route.guild_id]), shown)
        if route.name == "get_gateway_bot":
            body = {
                "url": f"ws://127.0.0.1:{self.port}/gateway",
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
            return _json_response(200, body, shown)
        assert form is not None
        if isinstance(form, Problem):
            return _problem_response(form, shown)
        try:
            if route.name == "edit_message":
                return self._edit_message(route, admission, form)
            return self._create_message(route, admission, form, query)
        except _Refusal as refusal:
            return _problem_response(refusal.problem, shown)

    def _check_payload(self, schema: str, payload: dict[str, Any]) -> None:
        if self._validate:
            errors = validate(schema, payload)
            if errors is not None:
                raise _Refusal(invalid_form(errors))
        content = payload.get("content")
        if content is not None and not isinstance(content, str):
            raise _Refusal(invalid_form(field_error("content", "BASE_TYPE_STRING", "Not a string")))
        if isinstance(content, str) and len(content) > MAX_MESSAGE_CHARS:
            message = f"Must be {MAX_MESSAGE_CHARS} or fewer in length."
            raise _Refusal(invalid_form(field_error("content", "BASE_TYPE_MAX_LENGTH", message)))
        entries = payload.get("attachments")
        if entries is not None and not isinstance(entries, list):
            raise _Refusal(invalid_form(field_error("attachments", "BASE_TYPE_LIST", "Not a list")))

    def _attachments(
        self,
        entries: list[Any] | None,
        files: tuple[UploadedFile, ...],
        existing: tuple[RecordedAttachment, ...],
    ) -> tuple[RecordedAttachment, ...]:
        by_index = {f.index: f for f in files}
        used: set[int] = set()
        out: list[RecordedAttachment] = []

        def new(upload: UploadedFile, entry: dict[str, Any]) -> RecordedAttachment:
            used.add(upload.index)
            filename = entry.get("filename") or upload.filename or "unknown"
            return RecordedAttachment(
                id=str(self._snowflake()),
                filename=str(filename),
                size=upload.size,
                sha256=upload.sha256,
                content_type=upload.content_type,
                description=entry.get("description"),
            )

        if entries is None:
            out.extend(existing)
        else:
            kept = {a.id: a for a in existing}
            for i, entry in enumerate(entries):
                raw = entry.get("id") if isinstance(entry, dict) else None
                if isinstance(raw, bool) or not isinstance(raw, int | str):
                    raise _Refusal(
                        invalid_form(
                            field_error(f"attachments.{i}.id", "BASE_TYPE_REQUIRED", "Required")
                        )
                    )
                assert isinstance(entry, dict)
                index = int(raw) if str(raw).isdigit() else -1
                if index in by_index and index not in used:
                    out.append(new(by_index[index], entry))
                elif str(raw) in kept:
                    out.append(kept[str(raw)])
                else:
                    message = f"Unknown attachment {str(raw)[:20]!r}: no files[n] part matches"
                    raise _Refusal(
                        invalid_form(
                            field_error(f"attachments.{i}.id", "ATTACHMENT_NOT_FOUND", message)
                        )
                    )
        out.extend(new(f, {}) for f in files if f.index not in used)
        if len(out) > 10:
            raise _Refusal(
                Problem(400, 30015, "Maximum number of attachments in a message reached (10)")
            )
        return tuple(out)

    @staticmethod
    def _is_empty(payload: dict[str, Any], content: str, attachments: tuple[Any, ...]) -> bool:
        extras = ("embeds", "sticker_ids", "components", "poll")
        return not content.strip() and not attachments and not any(payload.get(k) for k in extras)

    def _create_message(
        self, route: _Route, admission: _Admission, form: Form, query: dict[str, str]
    ) -> _Response:
        payload = form.payload
        webhook = admission.webhook
        channel = admission.channel
        assert channel is not None
        self._check_payload(MESSAGE_CREATE if webhook is None else WEBHOOK_EXECUTE, payload)
        content: str = payload.get("content") or ""
        attachments = self._attachments(payload.get("attachments"), form.files, ())
        if self._is_empty(payload, content, attachments):
            raise _Refusal(Problem(400, 50006, "Cannot send an empty message"))
        now_ns = self._now_ns()
        thread_id: int | None = None
        nonce = payload.get("nonce")
        if webhook is None:
            if nonce is not None and payload.get("enforce_nonce"):
                earlier = self._nonces.get((self._bot_user_id, str(nonce)))
                if earlier is not None and now_ns - earlier[1] < to_ns(NONCE_WINDOW_SECONDS):
                    existing = self._messages[self._message_index[earlier[0]]]
                    return _json_response(
                        200, self._message_json(existing), admission.bucket_headers
                    )
        else:
            nonce = None  # execute-webhook has no nonce
            raw_thread = query.get("thread_id")
            if raw_thread is not None:
                if _SNOWFLAKE.match(raw_thread) is None:
                    problem = field_error("thread_id", "NUMBER_TYPE_COERCE", "Not a snowflake")
                    raise _Refusal(invalid_form(problem))
                thread_id = int(raw_thread)
        message = RecordedMessage(
            id=str(self._snowflake()),
            channel_id=channel.id,
            webhook_id=str(webhook.id) if webhook is not None else None,
            content=content,
            nonce=str(nonce) if nonce is not None else None,
            attachments=attachments,
            thread_id=thread_id,
            created_at=trio.current_time(),
        )
        self._record(message)
        if nonce is not None and isinstance(nonce, int | str):
            self._raw_nonces[message.id] = nonce
            self._nonces[(self._bot_user_id, str(nonce))] = (message.id, now_ns)
        if webhook is not None and query.get("wait", "").lower() not in ("true", "1"):
            return _Response(204, b"", (*admission.bucket_headers, _VIA))
        return _json_response(200, self._message_json(message), admission.bucket_headers)

    def _record(self, message: RecordedMessage) -> None:
        self._message_index[message.id] = len(self._messages)
        self._messages.append(message)
        self._message_recorded.set()
        self._message_recorded = trio.Event()
        if self._on_message is not None:
            self._on_message(message)

    def _edit_message(self, route: _Route, admission: _Admission, form: Form) -> _Response:
        index = self._message_index.get(route.message_id or "")
        message = self._messages[index] if index is not None else None
        webhook = admission.webhook
        if message is None or (webhook is not None and message.webhook_id != str(webhook.id)):
            raise _Refusal(Problem(404, 10008, "Unknown Message"))
        if webhook is None and message.channel_id != route.channel_id:
            raise _Refusal(Problem(404, 10008, "Unknown Message"))
        if webhook is None and message.webhook_id is not None:
            raise _Refusal(Problem(403, 50005, "Cannot edit a message authored by another user"))
        payload = form.payload
        self._check_payload(MESSAGE_EDIT if webhook is None else WEBHOOK_MESSAGE_EDIT, payload)
        content = message.content
        if "content" in payload:
            content = payload.get("content") or ""
        attachments = self._attachments(payload.get("attachments"), form.files, message.attachments)
        if self._is_empty(payload, content, attachments):
            raise _Refusal(Problem(400, 50006, "Cannot send an empty message"))
        edited = attrs.evolve(
            message, content=content, attachments=attachments, edits=message.edits + 1
        )
        assert index is not None
        self._messages[index] = edited
        self._edited_ns[edited.id] = self._now_ns()
        return _json_response(200, self._message_json(edited), admission.bucket_headers)

    # ----------------------------------------------------------- response shapes

    def _message_json(self, message: RecordedMessage) -> dict[str, Any]:
        created_ns = to_ns(message.created_at)
        edited = self._edited_ns.get(message.id)
        channel_id = message.thread_id if message.thread_id is not None else message.channel_id
        if message.webhook_id is None:
            author: dict[str, Any] = {
                "id": str(self._bot_user_id),
                "username": "fake-bot",
                "discriminator": "0000",
                "avatar": None,
                "global_name": None,
                "public_flags": 0,
                "flags": 0,
                "primary_guild": None,
                "bot": True,
            }
        else:
            author = {
                "id": message.webhook_id,
                "username": "Fake Webhook",
                "discriminator": "0000",
                "avatar": None,
                "global_name": None,
                "public_flags": 0,
                "flags": 0,
                "primary_guild": None,
                "bot": True,
            }
        body: dict[str, Any] = {
            "type": 0,
            "content": message.content,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                self._attachment_json(channel_id, attachment) for attachment in message.attachments
            ],
            "embeds": [],
            "timestamp": self._iso(created_ns),
            "edited_timestamp": self._iso(edited) if edited is not None else None,
            "flags": 0,
            "components": [],
            "id": message.id,
            "channel_id": str(channel_id),
            "author": author,
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
        }
        if message.webhook_id is not None:
            body["webhook_id"] = message.webhook_id
        if message.id in self._raw_nonces:
            body["nonce"] = self._raw_nonces[message.id]
        return body

    def _attachment_json(self, channel_id: int, attachment: RecordedAttachment) -> dict[str, Any]:
        content_type = (
            attachment.content_type
            or mimetypes.guess_type(attachment.filename)[0]
            or "application/octet-stream"
        )
        path = f"attachments/{channel_id}/{attachment.id}/{attachment.filename}"
        body: dict[str, Any] = {
            "id": attachment.id,
            "filename": attachment.filename,
            "size": attachment.size,
            "url": f"{self.base_url}/cdn/{path}",
            "proxy_url": f"{self.base_url}/media/{path}",
            "content_type": content_type,
        }
        if attachment.description is not None:
            body["description"] = attachment.description
        return body

    @staticmethod
    def _channel_json(channel: _Channel) -> dict[str, Any]:
        return {
            "id": str(channel.id),
            "type": 0,
            "flags": 0,
            "guild_id": str(channel.guild_id),
            "name": f"fake-{channel.id}",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
        }

    def _guild_json(self, guild: _Guild) -> dict[str, Any]:
        return {
            "id": str(guild.id),
            "name": f"fake-guild-{guild.id}",
            "icon": None,
            "owner_id": str(self._bot_user_id),
            "features": [],
            "premium_tier": guild.premium_tier,
            "premium_subscription_count": (0, 2, 7, 14)[guild.premium_tier],
            "preferred_locale": "en-US",
            "nsfw": False,
            "nsfw_level": 0,
            "roles": [],
            "emojis": [],
            "stickers": [],
        }

    # ------------------------------------------------------------------ HTTP/1.1

    async def serve_connection(self, stream: trio.SocketStream) -> None:
        """Serve one TCP connection until it closes (keep-alive across requests)."""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while True:
                event = await self._next_event(conn, stream, paced=False)
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed, or EOF between requests
                if not await self._handle(conn, stream, event):
                    return
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                status = exc.error_status_hint
                body = f"{status}: {http.HTTPStatus(status).phrase}"
                with trio.move_on_after(1):
                    await self._send(conn, stream, _error(status, 0, body))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    async def _next_event(
        self, conn: h11.Connection, stream: trio.SocketStream, *, paced: bool
    ) -> Any:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if conn.they_are_waiting_for_100_continue:
                go_on = h11.InformationalResponse(status_code=100, headers=[])
                await stream.send_all(conn.send(go_on) or b"")
            size = _PACED_CHUNK if paced and self.bandwidth_bytes_per_second else _CHUNK
            data = await stream.receive_some(size)
            if paced:
                await self._pace(len(data))
            conn.receive_data(data)

    async def _pace(self, size: int) -> None:
        """Hold the reader so that all connections together read at the bandwidth cap."""
        rate = self.bandwidth_bytes_per_second
        if rate is None or size == 0:
            return
        self._link_free = max(self._link_free, trio.current_time()) + size / rate
        await trio.sleep_until(self._link_free)

    async def _read_body(
        self, conn: h11.Connection, stream: trio.SocketStream, sink: Callable[[bytes], None] | None
    ) -> None:
        while True:
            event = await self._next_event(conn, stream, paced=True)
            if isinstance(event, h11.Data):
                if sink is not None:
                    sink(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return
            else:  # pragma: no cover - h11 yields only Data/EndOfMessage here
                raise h11.RemoteProtocolError("unexpected event in a request body")

    async def _handle(
        self, conn: h11.Connection, stream: trio.SocketStream, request: h11.Request
    ) -> bool:
        """Answer one request; False when the connection must close."""
        self._requests += 1
        method = request.method.decode("ascii", "replace")
        target = urlsplit(request.target.decode("ascii", "replace"))
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
        query = dict(parse_qsl(target.query))
        log.debug("%s %s", method, _redact(target.path))

        if self._banned:
            return await self._drain_and_send(conn, stream, self._ban_response())
        route = _match_route(method, target.path)
        if isinstance(route, _Response):
            return await self._drain_and_send(conn, stream, route)
        fault = self._take_fault(route.name)
        if fault is not None and fault.kind == "drop_before_body":
            return False
        admission = self._admit(route, headers, fault, self._now_ns())
        if isinstance(admission, _Response):
            return await self._drain_and_send(conn, stream, admission)

        form: Form | Problem | None = None
        if route.name in ("create_message", "execute_webhook", "edit_message"):
            assert admission.channel is not None
            reader = FormReader(
                headers.get("content-type"),
                file_limit=self.file_limit_of(admission.channel.id),
                request_limit=self.request_limit_of(admission.channel.id),
            )
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > self.request_limit_of(admission.channel.id):
                reader.refuse_as_too_large()
            await self._read_body(conn, stream, reader.feed)
            form = reader.finish()
        else:
            await self._read_body(conn, stream, None)
        if fault is not None and fault.kind == "slow":
            await trio.sleep(fault.delay)
        response = self._answer(route, admission, form, query)
        if form is TOO_LARGE:
            log.debug("413: body of a %s was over the limit", route.name)
        if fault is not None and fault.kind == "drop_after_body":
            return False
        await self._send(conn, stream, response)
        return True

    def _ban_response(self) -> _Response:
        return _Response(429, _BAN_BODY, (("Content-Type", "text/html"),), scope="ban")

    async def _drain_and_send(
        self, conn: h11.Connection, stream: trio.SocketStream, response: _Response
    ) -> bool:
        # Read the body the client is sending anyway, so it reaches the point of reading our
        # answer instead of failing on a reset connection.
        await self._read_body(conn, stream, None)
        await self._send(conn, stream, response)
        return True

    def _count(self, response: _Response) -> None:
        status = response.status
        self._by_status[status] = self._by_status.get(status, 0) + 1
        if response.scope is not None:
            self._by_scope[response.scope] = self._by_scope.get(response.scope, 0) + 1
        invalid = status in (401, 403) or (
            status == 429 and response.scope not in ("shared", "ban")
        )
        if invalid:
            self._invalid += 1
            if self._ban_after is not None and self._invalid >= self._ban_after:
                self._banned = True

    async def _send(
        self, conn: h11.Connection, stream: trio.SocketStream, response: _Response
    ) -> None:
        self._count(response)
        headers = list(response.headers)
        if response.status != 204:
            headers.append(("Content-Length", str(len(response.body))))
        try:
            reason = http.HTTPStatus(response.status).phrase
        except ValueError:
            reason = _HTML_ERRORS.get(response.status, "")
        out = conn.send(
            h11.Response(status_code=response.status, headers=headers, reason=reason.encode())
        )
        if response.body:
            out = (out or b"") + (conn.send(h11.Data(data=response.body)) or b"")
        out = (out or b"") + (conn.send(h11.EndOfMessage()) or b"")
        await stream.send_all(out)


class _Refusal(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _redact(path: str) -> str:
    """A path fit for logs: a webhook's token replaced by ``***``."""
    return re.sub(r"(/webhooks/\d+/)[^/]+", r"\1***", path)


async def run_fake_discord(
    *,
    file_limit_bytes: int = 10 * MIB,
    request_limit_bytes: int = 25 * MIB,
    webhook_limit: tuple[int, float] | None = (5, 2.0),
    channel_limit: tuple[int, float] | None = (5, 5.0),
    global_limit: int | None = 50,
    ban_after_invalid: int | None = None,
    bandwidth_bytes_per_second: float | None = None,
    validate: bool = True,
    port: int = 0,
    on_message: Callable[[RecordedMessage], None] | None = None,
    task_status: trio.TaskStatus[FakeDiscord] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve a fake Discord on 127.0.0.1 until cancelled (``await nursery.start(...)``).

    Args:
        file_limit_bytes: the per-attachment limit of tier 0 and 1 guilds.
        request_limit_bytes: the per-request body limit.
        webhook_limit: (requests, seconds) per webhook, shared by execute and edit; None: off.
        channel_limit: (requests, seconds) of create-message per channel (and, separately, of
            edit-message per channel); None turns these and the GET routes' limit off.
        global_limit: requests per second per bot token; None: off.
        ban_after_invalid: after this many 401/403/non-shared-429 answers, answer everything
            with Cloudflare's HTML 429 ("error code: 1015"); None: never.
        bandwidth_bytes_per_second: cap on how fast request bodies are read, shared by all
            connections; None: unlimited.
        validate: check JSON payloads against Discord's OpenAPI request schemas.
        port: the TCP port; 0 picks a free one.
        on_message: called with each newly recorded message.
        task_status: the nursery start protocol; ``started`` gets the `FakeDiscord`.
    """
    fake = FakeDiscord(
        file_limit_bytes=file_limit_bytes,
        request_limit_bytes=request_limit_bytes,
        webhook_limit=webhook_limit,
        channel_limit=channel_limit,
        global_limit=global_limit,
        ban_after_invalid=ban_after_invalid,
        bandwidth_bytes_per_second=bandwidth_bytes_per_second,
        validate=validate,
        on_message=on_message,
    )
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"), fake.serve_connection, port
        )
        fake.port = listeners[0].socket.getsockname()[1]
        task_status.started(fake)


@asynccontextmanager
async def open_fake_discord(
    *,
    file_limit_bytes: int = 10 * MIB,
    request_limit_bytes: int = 25 * MIB,
    webhook_limit: tuple[int, float] | None = (5, 2.0),
    channel_limit: tuple[int, float] | None = (5, 5.0),
    global_limit: int | None = 50,
    ban_after_invalid: int | None = None,
    bandwidth_bytes_per_second: float | None = None,
    validate: bool = True,
    port: int = 0,
    on_message: Callable[[RecordedMessage], None] | None = None,
) -> AsyncIterator[FakeDiscord]:
    """Run a fake Discord for the duration of an ``async with`` block.

    Takes the same arguments as `run_fake_discord`. An error raised in the block comes out
    as itself, not wrapped in an ExceptionGroup.
    """
    try:
        async with trio.open_nursery() as nursery:
            start = functools.partial(
                run_fake_discord,
                file_limit_bytes=file_limit_bytes,
                request_limit_bytes=request_limit_bytes,
                webhook_limit=webhook_limit,
                channel_limit=channel_limit,
                global_limit=global_limit,
                ban_after_invalid=ban_after_invalid,
                bandwidth_bytes_per_second=bandwidth_bytes_per_second,
                validate=validate,
                port=port,
                on_message=on_message,
            )
            fake: FakeDiscord = await nursery.start(start)
            try:
                yield fake
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        error: BaseException = group
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        if error is group:
            raise
        raise error from error.__cause__
