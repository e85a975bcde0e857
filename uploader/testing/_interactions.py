"""Slash commands and users in the fake: command registration, interaction callbacks, user posts.

The routes here take a small JSON body (any JSON value, a list for the bulk overwrite), read by
a `JsonReader` whose ``answer`` decides the response:

- ``PUT /applications/{bot id}/commands``: the bulk overwrite; the world keeps the commands.
- ``POST /interactions/{id}/{token}/callback``: type 5 (deferred) records the "thinking"
  original response, type 4 records it with its content; 204 either way. The follow-up
  webhook ``/webhooks/{bot id}/{token}`` (and its ``messages/@original``) are the webhook
  routes, authenticated by the interaction token (`World.webhook_for`).
- ``POST /_fake/channels/{id}/messages`` ``{"content", "author_id"}``: a user posts (fake-only,
  no auth, not counted); the message is recorded with its author and, with a fake gateway
  attached, dispatched as MESSAGE_CREATE like every recorded message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._forms import MAX_FIELD_BYTES, TOO_LARGE
from ._limits import to_ns
from ._records import RecordedMessage
from ._responses import Response, error, json_response, no_content, problem_response
from ._routes import Route
from ._world import FakeInteraction, World

LOADING_FLAG = 1 << 7
"""The flag of a deferred response's "thinking..." message."""
DEFAULT_USER_ID = "300000000000000001"
"""The user a fake post or slash command comes from unless told."""
_USER_POST = re.compile(r"/_fake/channels/(\d{1,20})/messages/?\Z")
_BAD_JSON = error(400, 50109, "The request body contains invalid JSON.")


class JsonReader:
    """Collects a small JSON body, then answers it with ``answer(value, now)``.

    Args:
        answer: builds the response from the decoded body and ``trio.current_time()``.
    """

    def __init__(self, answer: Callable[[Any, float], Response]) -> None:
        self._answer = answer
        self._body = bytearray()
        self._too_large = False

    def feed(self, data: bytes) -> None:
        """Take the next chunk of the body."""
        if len(self._body) + len(data) > MAX_FIELD_BYTES:
            self._too_large = True
        elif not self._too_large:
            self._body += data

    def respond(self, now: float) -> Response:
        """The answer to the whole body."""
        if self._too_large:
            return problem_response(TOO_LARGE)
        try:
            value = json.loads(bytes(self._body)) if self._body else None
        except (ValueError, UnicodeDecodeError):
            return _BAD_JSON
        return self._answer(value, now)


def json_route_reader(world: World, route: Route) -> JsonReader | None:
    """The reader of a slash-command route, or None for any other route."""
    if route.name == "bulk_overwrite_commands":
        return JsonReader(lambda body, now: _bulk_overwrite(world, route, body, now))
    if route.name == "interaction_callback":
        interaction = world.interactions[route.webhook_token or ""]
        return JsonReader(lambda body, now: _callback(world, interaction, body, now))
    return None


def user_post_reader(world: World, method: str, target: str) -> JsonReader | Response | None:
    """The reader of a user post to ``/_fake/channels/{id}/messages``; an error response when
    the request is for that route but wrong; None when it is for another route."""
    found = _USER_POST.match(urlsplit(target).path)
    if found is None:
        return None
    if method != "POST":
        return attrs.evolve(error(405, 0, "405: Method Not Allowed"), counted=False)
    channel_id = int(found.group(1))
    if channel_id not in world.channels:
        return attrs.evolve(error(404, 10003, "Unknown Channel"), counted=False)

    def answer(body: Any, now: float) -> Response:
        content = body.get("content") if isinstance(body, dict) else None
        author = body.get("author_id", DEFAULT_USER_ID) if isinstance(body, dict) else None
        if not isinstance(content, str) or not content or not str(author).isdigit():
            problem = error(400, 50035, 'Expected {"content": "...", "author_id": "<digits>"}')
            return attrs.evolve(problem, counted=False)
        message = post_as_user(world, channel_id, content, str(author), now)
        return attrs.evolve(json_response(200, {"id": message.id}), counted=False)

    return JsonReader(answer)


def post_as_user(
    world: World, channel_id: int, content: str, author_id: str, now: float
) -> RecordedMessage:
    """Record a user's message in a channel (the world's hook dispatches it)."""
    message = RecordedMessage(
        id=str(world.clock.snowflake(to_ns(now))),
        channel_id=channel_id,
        webhook_id=None,
        content=content,
        nonce=None,
        attachments=(),
        created_at=now,
        author_id=author_id,
    )
    world.log.record(message)
    return message


def interaction_json(
    world: World, interaction: FakeInteraction, name: str, options: dict[str, str]
) -> dict[str, Any]:
    """The INTERACTION_CREATE object of a slash command (type 2) run in a guild channel."""
    channel = world.channels[interaction.channel_id]
    user = {"id": interaction.user_id, "username": f"user{interaction.user_id[-4:]}"}
    return {
        "id": str(interaction.id),
        "application_id": str(world.bot_user_id),
        "type": 2,
        "token": interaction.token,
        "version": 1,
        "channel_id": str(channel.id),
        "guild_id": str(channel.guild_id),
        "member": {"user": user, "roles": []},
        "data": {
            "id": _command_id(world, name),
            "name": name,
            "type": 1,
            "options": [{"type": 3, "name": k, "value": v} for k, v in options.items()],
        },
    }


def _command_id(world: World, name: str) -> str:
    for command in world.commands:
        if command.get("name") == name:
            return str(command["id"])
    return "0"


def _bulk_overwrite(world: World, route: Route, body: Any, now: float) -> Response:
    if route.user_id != str(world.bot_user_id):
        return error(404, 10002, "Unknown Application")
    if not isinstance(body, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in body
    ):
        return error(400, 50035, "Invalid Form Body")
    world.commands = [
        {
            **command,
            "id": str(world.clock.snowflake(to_ns(now))),
            "application_id": str(world.bot_user_id),
            "version": "1",
        }
        for command in body
    ]
    return json_response(200, world.commands)


def _callback(world: World, interaction: FakeInteraction, body: Any, now: float) -> Response:
    kind = body.get("type") if isinstance(body, dict) else None
    if interaction.callbacks:
        return error(400, 40060, "Interaction has already been acknowledged.")
    if kind not in (4, 5):
        return error(400, 50035, "Invalid Form Body")
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    content = data.get("content") if kind == 4 else ""
    interaction.callbacks.append(body)
    message = RecordedMessage(
        id=str(world.clock.snowflake(to_ns(now))),
        channel_id=interaction.channel_id,
        webhook_id=str(world.bot_user_id),
        content=content if isinstance(content, str) else "",
        nonce=None,
        attachments=(),
        created_at=now,
        flags=LOADING_FLAG if kind == 5 else 0,
    )
    interaction.original_id = message.id
    world.log.record(message)
    return no_content()
