"""The fake's routing table: which method and path is which route, and each route's bucket."""

from __future__ import annotations

import hashlib
import re

import attrs

from ._records import RouteName

_PREFIX = re.compile(r"/api(?:/v\d+)?(/.*)\Z")
SNOWFLAKE = re.compile(r"(0|[1-9][0-9]{0,19})\Z")
"""A snowflake as a path segment or query value: a decimal of at most 20 digits."""


@attrs.frozen
class Route:
    """A matched route and the ids its path carries.

    Attributes:
        name: the route, as fault filters name it.
        channel_id: the channel of a bot route, if any.
        guild_id: the guild of ``get_guild``.
        message_id: the message an edit targets (not checked as a snowflake).
        webhook_id: the webhook of a webhook route.
        webhook_token: the webhook token in the path (a secret).
    """

    name: RouteName
    channel_id: int | None = None
    guild_id: int | None = None
    message_id: str | None = None
    webhook_id: int | None = None
    webhook_token: str | None = attrs.field(default=None, repr=False)


def match_route(method: str, path: str) -> Route | int:
    """The route a request is for, or the HTTP status that refuses it (404 or 405)."""
    match = _PREFIX.match(path)
    if match is None:
        return 404
    found = _lookup(match.group(1).strip("/").split("/"))
    if found is None:
        return 404
    if method != found[0]:
        return 405
    return found[1]


def _lookup(parts: list[str]) -> tuple[str, Route] | None:
    match parts:
        case ["channels", cid, "messages"] if _ok(cid):
            return "POST", Route("create_message", channel_id=int(cid))
        case ["channels", cid, "messages", mid] if _ok(cid):
            return "PATCH", Route("edit_message", channel_id=int(cid), message_id=mid)
        case ["channels", cid] if _ok(cid):
            return "GET", Route("get_channel", channel_id=int(cid))
        case ["guilds", gid] if _ok(gid):
            return "GET", Route("get_guild", guild_id=int(gid))
        case ["gateway", "bot"]:
            return "GET", Route("get_gateway_bot")
        case ["webhooks", wid, token] if _ok(wid):
            return "POST", Route("execute_webhook", webhook_id=int(wid), webhook_token=token)
        case ["webhooks", wid, token, "messages", mid] if _ok(wid):
            route = Route("edit_message", webhook_id=int(wid), webhook_token=token, message_id=mid)
            return "PATCH", route
    return None


def _ok(segment: str) -> bool:
    return SNOWFLAKE.match(segment) is not None


def bucket_of(route: Route) -> str:
    """The ``X-RateLimit-Bucket`` hash of a route (webhook routes share one bucket)."""
    if route.webhook_id is not None:
        template = "webhooks/{id}/{token}"
    elif route.name == "create_message":
        template = "POST channels/{id}/messages"
    elif route.name == "edit_message":
        template = "PATCH channels/{id}/messages/{m}"
    else:
        template = f"GET {route.name}"
    return hashlib.md5(template.encode(), usedforsecurity=False).hexdigest()


def redact(path: str) -> str:
    """A path fit for logs: a webhook's token replaced by ``***``."""
    return re.sub(r"(/webhooks/\d+/)[^/]+", r"\1***", path)
