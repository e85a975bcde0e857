"""What users ask the bot: text commands, the slash commands, and the request they make.

Text: ``<prefix>upload <url> [<url> ...]`` (alias ``download``) and ``<prefix>status``, with the
original system's ``BOT_COMMAND_PREFIX``. Slash: ``/upload url:`` and ``/status``, registered at
start, answered with a deferred response and delivered through the interaction's follow-up
webhook. Pure parsing: a `Request` says who asked what, where to answer, and for interactions
the follow-up token (kept out of reprs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

MAX_LINKS = 10
"""Links one request may carry."""

UPLOAD_WORDS = frozenset({"upload", "download"})
STATUS_WORD = "status"

SLASH_COMMANDS: tuple[dict[str, Any], ...] = (
    {
        "name": "upload",
        "type": 1,
        "description": "Download a media link and post it here, compressed to fit",
        "options": [
            {
                "type": 3,
                "name": "url",
                "description": "An http(s) link to the media",
                "required": True,
            }
        ],
    },
    {"name": "status", "type": 1, "description": "What the bot is working on"},
)
"""The application commands the bot registers (bulk overwrite)."""

DEFERRED_RESPONSE: dict[str, Any] = {"type": 5}
"""Interaction callback: "thinking...", answered later through the follow-up webhook."""


@attrs.frozen
class UploadCommand:
    """Fetch these links and post their media."""

    urls: tuple[str, ...]


@attrs.frozen
class StatusCommand:
    """Say what is running and waiting."""


@attrs.frozen
class CommandError:
    """A command the bot recognised but cannot run; ``message`` is the reply."""

    message: str


Command = UploadCommand | StatusCommand


@attrs.frozen
class Interaction:
    """Where an interaction's answer goes.

    Attributes:
        id: the interaction's id (for the callback).
        application_id: the application (for the follow-up webhook).
        token: the interaction token (a 15-minute webhook secret; not in the repr).
    """

    id: str
    application_id: str
    token: str = attrs.field(repr=False)

    @property
    def callback_path(self) -> str:
        """POST here with `DEFERRED_RESPONSE`."""
        return f"/interactions/{self.id}/{self.token}/callback"

    @property
    def followup_path(self) -> str:
        """POST follow-up messages here (a webhook: no bot token)."""
        return f"/webhooks/{self.application_id}/{self.token}"


@attrs.frozen
class Request:
    """One user's command, and where to answer.

    Attributes:
        command: what was asked (or why it cannot be run).
        user_id: who asked.
        message_id: the message (or interaction) id: with ``user_id`` it names the folder.
        channel_id: where to post.
        guild_id: the guild, None in DMs.
        interaction: set for slash commands: answer through its follow-up webhook.
    """

    command: Command | CommandError
    user_id: str
    message_id: str
    channel_id: str
    guild_id: str | None = None
    interaction: Interaction | None = None


def parse_command(content: str, prefix: str) -> Command | CommandError | None:
    """The command in a message's text; None when the text is not one of ours."""
    if not content.startswith(prefix):
        return None
    words = content[len(prefix) :].split()
    if not words:
        return None
    word, args = words[0].lower(), words[1:]
    if word == STATUS_WORD:
        return StatusCommand()
    if word not in UPLOAD_WORDS:
        return None
    urls = tuple(arg.removeprefix("<").removesuffix(">") for arg in args)
    if not urls:
        return CommandError(f"Usage: `{prefix}{word} <link> [<link> ...]`")
    if len(urls) > MAX_LINKS:
        return CommandError(f"At most {MAX_LINKS} links per request; you sent {len(urls)}.")
    return UploadCommand(urls)


def request_from_message(
    message: Mapping[str, Any], prefix: str, bot_user_id: str | None
) -> Request | None:
    """The request in a MESSAGE_CREATE, or None (not a command; from a bot or from us)."""
    author = message.get("author")
    if not isinstance(author, Mapping) or author.get("bot") or author.get("id") == bot_user_id:
        return None
    content = message.get("content")
    command = parse_command(content, prefix) if isinstance(content, str) else None
    ids = _ids(author.get("id"), message.get("id"), message.get("channel_id"))
    if command is None or ids is None:
        return None
    guild = message.get("guild_id")
    return Request(command, *ids, guild_id=str(guild) if guild else None)


def request_from_interaction(interaction: Mapping[str, Any]) -> Request | None:
    """The request in an INTERACTION_CREATE for one of `SLASH_COMMANDS`, or None."""
    data = interaction.get("data")
    if interaction.get("type") != 2 or not isinstance(data, Mapping):
        return None
    member = interaction.get("member")
    user = member.get("user") if isinstance(member, Mapping) else interaction.get("user")
    user_id = user.get("id") if isinstance(user, Mapping) else None
    ids = _ids(user_id, interaction.get("id"), interaction.get("channel_id"))
    token, app = interaction.get("token"), interaction.get("application_id")
    if ids is None or not isinstance(token, str) or not isinstance(app, str | int):
        return None
    command: Command | CommandError
    if data.get("name") == STATUS_WORD:
        command = StatusCommand()
    elif data.get("name") == "upload":
        url = _option(data, "url").strip()
        command = UploadCommand((url,)) if url else CommandError("No link given.")
    else:
        return None
    guild = interaction.get("guild_id")
    where = Interaction(ids[1], str(app), token)
    return Request(command, *ids, guild_id=str(guild) if guild else None, interaction=where)


def _option(data: Mapping[str, Any], name: str) -> str:
    for option in data.get("options") or ():
        if isinstance(option, Mapping) and option.get("name") == name:
            value = option.get("value")
            return value if isinstance(value, str) else ""
    return ""


def _ids(*values: object) -> tuple[str, str, str] | None:
    """Snowflakes as strings, or None when one is missing or not a snowflake."""
    out = [str(v) for v in values if isinstance(v, str | int) and str(v).isdigit()]
    return (out[0], out[1], out[2]) if len(out) == 3 else None
