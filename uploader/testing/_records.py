"""The fake's value objects: injected faults, recorded messages and attachments, request stats."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ._responses import EDGE_ERROR_PHRASES

FaultKind = Literal[
    "rate_limit_user",
    "rate_limit_global",
    "rate_limit_shared",
    "status",
    "status_after_body",
    "slow",
    "drop_before_body",
    "drop_after_body",
]
"""What an injected fault does to the request it hits."""

RouteName = Literal[
    "create_message",
    "execute_webhook",
    "edit_message",
    "get_message",
    "delete_message",
    "list_messages",
    "list_pins",
    "add_reaction",
    "remove_reaction",
    "list_reactions",
    "clear_reactions",
    "trigger_typing",
    "get_channel",
    "get_guild",
    "get_webhook",
    "get_current_user",
    "get_application",
    "get_gateway_bot",
    "bulk_overwrite_commands",
    "interaction_callback",
]
"""The fake's routes, as fault filters name them.

``edit_message``, ``get_message`` and ``delete_message`` cover the bot's and the webhook's
route alike; ``get_webhook`` covers the lookup with and without the token.
"""

_FAULT_KINDS = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]
_ROUTES = frozenset(RouteName.__args__)  # type: ignore[attr-defined]
FAULT_STATUSES = frozenset({500, *EDGE_ERROR_PHRASES})
"""The statuses a ``status`` fault can answer with: the fake's own 500, or an edge error page."""


def _check_kind(_: object, __: attrs.Attribute[str], value: str) -> None:
    if value not in _FAULT_KINDS:
        raise ValueError(f"unknown fault kind {value!r}; expected one of {sorted(_FAULT_KINDS)}")


def _check_route(_: object, __: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and value not in _ROUTES:
        raise ValueError(f"unknown route {value!r}; expected one of {sorted(_ROUTES)} or None")


def _check_status(_: object, __: attrs.Attribute[int], value: int) -> None:
    if value not in FAULT_STATUSES:
        raise ValueError(f"status must be one of {sorted(FAULT_STATUSES)}, not {value}")


@attrs.frozen
class Fault:
    """A fault to inject into the next matching requests.

    Faults are checked in the order they were injected; a request meets at most one fault.

    Attributes:
        kind: what happens. ``rate_limit_user``/``_global``/``_shared``: a 429 of that scope
            (the shared one shows the bucket's real remaining count); ``status``: an error
            response with ``status`` (nothing is recorded); ``status_after_body``: handle and
            record the request, then answer ``status`` instead of the message; ``slow``: wait
            ``delay`` seconds, then handle the request normally; ``drop_before_body``: close
            the connection once the request head arrived (nothing is recorded);
            ``drop_after_body``: handle and record the request, then close the connection
            without answering (the lost-response case).
        route: the route the fault applies to, or None for any route.
        times: how many matching requests the fault hits.
        after: how many matching requests to let through before the first hit.
        retry_after: the 429's ``retry_after`` in seconds (rate-limit kinds); a user 429's is
            raised to the reset of the bucket's window when requests were counted in it.
        status: the status code of a ``status`` or ``status_after_body`` fault: 500, 502, 503,
            504 or 524 (a 503 carries Discord's front-end text: ``reset reason: overflow``
            before the request is handled, ``connection termination`` after).
        delay: seconds a ``slow`` fault waits before answering.
    """

    kind: FaultKind = attrs.field(validator=_check_kind)
    route: RouteName | None = attrs.field(default=None, validator=_check_route)
    times: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    after: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    retry_after: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    status: int = attrs.field(default=500, validator=_check_status)
    delay: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))


@attrs.frozen
class RecordedAttachment:
    """One attachment the fake received, as a size and a hash (its URL serves small ones' bytes).

    Attributes:
        id: the attachment's snowflake.
        filename: the attachment's name (from ``payload_json.attachments`` or the part).
        size: the number of bytes received.
        sha256: the SHA-256 of those bytes, lowercase hex.
        content_type: the type Discord derives from the filename (``video/mp4``...).
        description: the attachment's description from ``payload_json``, if any.
    """

    id: str
    filename: str
    size: int
    sha256: str
    content_type: str | None = None
    description: str | None = None


@attrs.frozen
class RecordedMessage:
    """One message the fake created; replaced by an updated copy when the message is edited.

    Attributes:
        id: the message's snowflake.
        channel_id: the channel it was posted in (for a webhook, the webhook's channel).
        webhook_id: the webhook that posted it, or None for a bot message.
        content: the latest content (after any edits).
        nonce: the nonce the create request carried, as a string, or None.
        attachments: the attachments, in placeholder order.
        thread_id: the ``thread_id`` a webhook posted into, or None.
        edits: how many times the message was edited.
        created_at: ``trio.current_time()`` when it was recorded.
        embeds: the embeds, as the latest create or edit sent them (nulls dropped).
        reply_to: the id of the message it replies to, or None.
        reactions: the emoji the bot reacted with, in order.
        deleted: whether it was deleted (it stays in the record).
        flags: the message flags the create kept (suppress embeds or notifications...).
        tts: whether it was sent as text-to-speech.
        author_id: the user who posted it through the fake's user route, or None for the
            bot's (or a webhook's) own message.
        username: a webhook message's ``username`` override, if any.
        avatar_url: a webhook message's ``avatar_url`` override, if any.
    """

    id: str
    channel_id: int
    webhook_id: str | None
    content: str
    nonce: str | None
    attachments: tuple[RecordedAttachment, ...]
    thread_id: int | None = None
    edits: int = 0
    created_at: float = 0.0
    embeds: tuple[dict[str, Any], ...] = ()
    reply_to: str | None = None
    reactions: tuple[str, ...] = ()
    deleted: bool = False
    flags: int = 0
    tts: bool = False
    author_id: str | None = None
    username: str | None = None
    avatar_url: str | None = None


@attrs.frozen
class FakeStats:
    """A snapshot of what the fake has answered so far.

    Attributes:
        requests: requests whose head arrived (dropped ones included).
        responses_by_status: responses sent, by HTTP status.
        rate_limited_by_scope: 429s by scope: ``user``, ``global``, ``shared``, and ``ban``.
        invalid_requests: responses that count towards Cloudflare's ban: 401, 403, and 429
            other than shared-scope (ban answers themselves excluded).
        injected_429s: 429s that injected faults asked for, of any scope.
        client_caused_429s: 429s the client earned by exceeding a bucket or the global limit
            (a well-behaved client causes none). Ban answers count as neither.
        requests_by_route: requests that matched a route, by `RouteName`.
    """

    requests: int
    responses_by_status: dict[int, int]
    rate_limited_by_scope: dict[str, int]
    invalid_requests: int
    injected_429s: int = 0
    client_caused_429s: int = 0
    requests_by_route: dict[str, int] = attrs.field(factory=dict)
