"""The answers of the routes without a message form: reads, deletes, reactions, typing, identity.

Each takes an admitted request (its body read and ignored) and answers from the world,
updating it for a delete or a reaction.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import attrs

from ._admission import Admission
from ._forms import Problem
from ._messages import Refusal, find_message, refuse
from ._records import RecordedMessage, RouteName
from ._responses import Response, json_response, no_content, problem_response
from ._routes import SNOWFLAKE, Route
from ._shapes import (
    application_json,
    channel_json,
    gateway_bot_json,
    guild_json,
    message_json,
    reaction_user_json,
    user_json,
    webhook_json,
)
from ._world import World

_Answer = Callable[[World, Route, Admission, dict[str, str]], Response]
UNKNOWN_EMOJI = Problem(400, 10014, "Unknown Emoji")
_CUSTOM_EMOJI = re.compile(r"[A-Za-z0-9_]{1,32}:(0|[1-9][0-9]{0,19})\Z")
_EMOJI_PARTS = frozenset({"So", "Sk", "Mn", "Me", "Cf"})
"""Symbols, and the marks and format characters (ZWJ, variation selectors, tags) joining them."""
_KEYCAP_BASES = frozenset("#*0123456789\u00a9\u00ae\u203c\u2049")


def answer_resource(
    world: World, route: Route, admission: Admission, query: dict[str, str]
) -> Response:
    """Answer an admitted request to any route but create, execute and edit."""
    try:
        return _ANSWERS[route.name](world, route, admission, query)
    except Refusal as refusal:
        return problem_response(refusal.problem, admission.bucket_headers)


def _get_channel(world: World, route: Route, admission: Admission, _: dict[str, str]) -> Response:
    assert admission.channel is not None
    return json_response(200, channel_json(world, admission.channel), admission.bucket_headers)


def _get_guild(world: World, route: Route, admission: Admission, _: dict[str, str]) -> Response:
    assert route.guild_id is not None
    guild = guild_json(world.guilds[route.guild_id], world.bot_user_id)
    return json_response(200, guild, admission.bucket_headers)


def _get_gateway_bot(world: World, _: Route, admission: Admission, __: dict[str, str]) -> Response:
    return json_response(200, gateway_bot_json(world), admission.bucket_headers)


def _get_user(world: World, _: Route, admission: Admission, __: dict[str, str]) -> Response:
    return json_response(200, user_json(world), admission.bucket_headers)


def _get_application(world: World, _: Route, admission: Admission, __: dict[str, str]) -> Response:
    return json_response(200, application_json(world), admission.bucket_headers)


def _get_webhook(world: World, _: Route, admission: Admission, __: dict[str, str]) -> Response:
    assert admission.webhook is not None
    body = webhook_json(world, admission.webhook, with_token=True)
    return json_response(200, body, admission.bucket_headers)


def _typing(world: World, _: Route, admission: Admission, __: dict[str, str]) -> Response:
    return no_content(admission.bucket_headers)


def _get_message(world: World, route: Route, admission: Admission, q: dict[str, str]) -> Response:
    message = find_message(world, route, admission, q)
    return json_response(200, message_json(world, message), admission.bucket_headers)


def _delete_message(
    world: World, route: Route, admission: Admission, query: dict[str, str]
) -> Response:
    message = find_message(world, route, admission, query)
    world.log.replace(attrs.evolve(message, deleted=True))
    return no_content(admission.bucket_headers)


def _list_messages(
    world: World, route: Route, admission: Admission, query: dict[str, str]
) -> Response:
    """Up to ``limit`` (1 to 100, default 50) messages, newest first, around or beside an id."""
    assert route.channel_id is not None
    limit = _limit(query)
    before, after, around = (_snowflake_param(query, k) for k in ("before", "after", "around"))
    shown = world.log.in_channel(route.channel_id)  # newest first
    if around is not None:
        older = [m for m in shown if int(m.id) <= around][: (limit + 1) // 2]
        newer = [m for m in shown if int(m.id) > around][-(limit // 2) :] if limit > 1 else []
        shown = newer + older
    elif before is not None:
        shown = [m for m in shown if int(m.id) < before][:limit]
    elif after is not None:
        shown = [m for m in shown if int(m.id) > after][-limit:]
    else:
        shown = shown[:limit]
    body = [message_json(world, m) for m in shown]
    return json_response(200, body, admission.bucket_headers)


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return 50
    if not raw.isdigit():
        raise refuse("limit", "NUMBER_TYPE_COERCE", f"Value {raw[:20]!r} is not int.")
    value = int(raw)
    if not 1 <= value <= 100:
        code = "NUMBER_TYPE_MIN" if value < 1 else "NUMBER_TYPE_MAX"
        raise refuse("limit", code, "Int value should be between 1 and 100.")
    return value


def _snowflake_param(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if SNOWFLAKE.match(raw) is None:
        raise refuse(name, "NUMBER_TYPE_COERCE", f"Value {raw[:20]!r} is not snowflake.")
    return int(raw)


def is_emoji(text: str) -> bool:
    """Whether a reaction route's emoji has a form Discord knows: a custom ``name:id``, or a
    unicode emoji (symbols with their joiners, selectors, skin tones and keycaps)."""
    if _CUSTOM_EMOJI.match(text) is not None:
        return True
    if not text or len(text) > 32:
        return False
    kinds = [unicodedata.category(c) for c in text]
    if not all(k in _EMOJI_PARTS or c in _KEYCAP_BASES for c, k in zip(text, kinds, strict=True)):
        return False
    return any(k in ("So", "Me") for k in kinds)


def _react(world: World, route: Route, admission: Admission, query: dict[str, str]) -> Response:
    """Add, remove or clear the bot's reactions (the fake's only reacting user)."""
    emoji = route.emoji
    if emoji is not None and not is_emoji(emoji):
        raise Refusal(UNKNOWN_EMOJI)
    message = find_message(world, route, admission, query)
    mine = route.user_id in (None, "@me", str(world.bot_user_id))
    if route.name == "add_reaction":
        assert emoji is not None
        reactions = message.reactions if emoji in message.reactions else (*message.reactions, emoji)
    elif emoji is None:
        reactions = ()
    else:
        gone = emoji if mine or route.name == "clear_reactions" else None
        reactions = tuple(e for e in message.reactions if e != gone)
    _store(world, message, reactions)
    return no_content(admission.bucket_headers)


def _store(world: World, message: RecordedMessage, reactions: tuple[str, ...]) -> None:
    if reactions != message.reactions:
        world.log.replace(attrs.evolve(message, reactions=reactions))


def _list_reactions(
    world: World, route: Route, admission: Admission, query: dict[str, str]
) -> Response:
    if route.emoji is not None and not is_emoji(route.emoji):
        raise Refusal(UNKNOWN_EMOJI)
    message = find_message(world, route, admission, query)
    users = [reaction_user_json(world)] if route.emoji in message.reactions else []
    return json_response(200, users, admission.bucket_headers)


def _list_pins(world: World, _: Route, admission: Admission, __: dict[str, str]) -> Response:
    """The channel's pins: none (nothing pins a message in the fake), in Discord's shape."""
    return json_response(200, {"items": [], "has_more": False}, admission.bucket_headers)


_ANSWERS: dict[RouteName, _Answer] = {
    "get_channel": _get_channel,
    "get_guild": _get_guild,
    "get_gateway_bot": _get_gateway_bot,
    "get_current_user": _get_user,
    "get_application": _get_application,
    "get_webhook": _get_webhook,
    "trigger_typing": _typing,
    "get_message": _get_message,
    "delete_message": _delete_message,
    "list_messages": _list_messages,
    "list_pins": _list_pins,
    "add_reaction": _react,
    "remove_reaction": _react,
    "clear_reactions": _react,
    "list_reactions": _list_reactions,
}
