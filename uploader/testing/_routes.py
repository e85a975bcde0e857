"""The fake's routing table: which method and path is which route, and each route's bucket."""

from __future__ import annotations

import hashlib
import re
import urllib.parse

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
        channel_id: the channel of a channel route, if any.
        guild_id: the guild of ``get_guild``.
        message_id: the message the route targets: a snowflake (or a webhook's ``@original``).
        webhook_id: the webhook of a webhook route.
        webhook_token: the webhook token in the path (a secret), if any.
        emoji: a reaction route's emoji (percent-decoded), if any.
        user_id: a reaction route's user: ``@me`` or a snowflake, if any.
    """

    name: RouteName
    channel_id: int | None = None
    guild_id: int | None = None
    message_id: str | None = None
    webhook_id: int | None = None
    webhook_token: str | None = attrs.field(default=None, repr=False)
    emoji: str | None = None
    user_id: str | None = None


_Methods = dict[str, RouteName]
_MESSAGE: _Methods = {"GET": "get_message", "PATCH": "edit_message", "DELETE": "delete_message"}


def match_route(method: str, path: str) -> Route | int:
    """The route a request is for, or the HTTP status that refuses it (404 or 405)."""
    match = _PREFIX.match(path)
    if match is None:
        return 404
    found = _lookup(match.group(1).strip("/").split("/"))
    if found is None:
        return 404
    methods, ids = found
    name = methods.get(method)
    if name is None:
        return 405
    return attrs.evolve(ids, name=name)


def _lookup(parts: list[str]) -> tuple[_Methods, Route] | None:
    match parts:
        case ["channels", cid, *rest] if _ok(cid):
            return _channel_lookup(int(cid), rest)
        case ["guilds", gid] if _ok(gid):
            return {"GET": "get_guild"}, Route("get_guild", guild_id=int(gid))
        case ["gateway", "bot"]:
            return {"GET": "get_gateway_bot"}, Route("get_gateway_bot")
        case ["users", "@me"]:
            return {"GET": "get_current_user"}, Route("get_current_user")
        case ["oauth2", "applications", "@me"]:
            return {"GET": "get_application"}, Route("get_application")
        case ["applications", aid, "commands"] if _ok(aid):
            return {"PUT": "bulk_overwrite_commands"}, Route("bulk_overwrite_commands", user_id=aid)
        case ["interactions", iid, token, "callback"] if _ok(iid):
            # the interaction token authenticates it (no bot token), like a webhook's
            return {"POST": "interaction_callback"}, Route(
                "interaction_callback", message_id=iid, webhook_token=token
            )
        case ["webhooks", wid] if _ok(wid):
            return {"GET": "get_webhook"}, Route("get_webhook", webhook_id=int(wid))
        case ["webhooks", wid, token, *rest] if _ok(wid):
            return _webhook_lookup(
                Route("get_webhook", webhook_id=int(wid), webhook_token=token), rest
            )
    return None


def _channel_lookup(channel_id: int, rest: list[str]) -> tuple[_Methods, Route] | None:
    route = Route("get_channel", channel_id=channel_id)
    match rest:
        case []:
            return {"GET": "get_channel"}, route
        case ["typing"]:
            return {"POST": "trigger_typing"}, route
        case ["messages"]:
            return {"GET": "list_messages", "POST": "create_message"}, route
        case ["messages", "pins"]:
            return {"GET": "list_pins"}, route
        case ["messages", mid] if _ok(mid):
            return _MESSAGE, attrs.evolve(route, message_id=mid)
        case ["messages", mid, "reactions"] if _ok(mid):
            return {"DELETE": "clear_reactions"}, attrs.evolve(route, message_id=mid)
        case ["messages", mid, "reactions", emoji] if _ok(mid):
            found = attrs.evolve(route, message_id=mid, emoji=urllib.parse.unquote(emoji))
            return {"GET": "list_reactions", "DELETE": "clear_reactions"}, found
        case ["messages", mid, "reactions", emoji, user] if _ok(mid) and (
            user == "@me" or _ok(user)
        ):
            found = attrs.evolve(
                route, message_id=mid, emoji=urllib.parse.unquote(emoji), user_id=user
            )
            if user == "@me":
                return {"PUT": "add_reaction", "DELETE": "remove_reaction"}, found
            return {"DELETE": "remove_reaction"}, found
    return None


def _webhook_lookup(route: Route, rest: list[str]) -> tuple[_Methods, Route] | None:
    match rest:
        case []:
            return {"GET": "get_webhook", "POST": "execute_webhook"}, route
        case ["messages", mid] if mid == "@original" or _ok(mid):
            return _MESSAGE, attrs.evolve(route, message_id=mid)
    return None


def _ok(segment: str) -> bool:
    return SNOWFLAKE.match(segment) is not None


FAMILIES: dict[RouteName, str] = {
    "create_message": "POST channels/{id}/messages",
    "edit_message": "PATCH channels/{id}/messages/{m}",
    "delete_message": "DELETE channels/{id}/messages/{m}",
    "add_reaction": "channels/{id}/messages/{m}/reactions",
    "remove_reaction": "channels/{id}/messages/{m}/reactions",
    "clear_reactions": "channels/{id}/messages/{m}/reactions",
    "trigger_typing": "POST channels/{id}/typing",
}
"""The channel routes with a bucket of their own (reactions share one); the rest are reads."""


WEBHOOK_WRITES = frozenset({"execute_webhook", "edit_message", "delete_message"})
"""The webhook token routes that share the webhook's bucket (its reads are reads)."""
WEBHOOK_FAMILY = "webhooks/{id}/{token}"


def family_of(route: Route) -> str:
    """The bucket a route counts against, before its major parameter splits it."""
    if route.webhook_token is not None:
        if route.name in WEBHOOK_WRITES:
            return WEBHOOK_FAMILY
        return f"GET webhooks/{{id}}/{{token}} {route.name}"
    return FAMILIES.get(route.name, f"GET {route.name}")


def bucket_of(route: Route) -> str:
    """The ``X-RateLimit-Bucket`` hash of a route (a webhook's writes share one bucket)."""
    return hashlib.md5(family_of(route).encode(), usedforsecurity=False).hexdigest()


def redact(path: str) -> str:
    """A path fit for logs: a webhook's token replaced by ``***``."""
    return re.sub(r"(/(?:webhooks|interactions)/\d+/)[^/]+", r"\1***", path)
