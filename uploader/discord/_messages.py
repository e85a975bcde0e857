"""What Discord answered a post with: the message and its attachments."""

from __future__ import annotations

import secrets
from typing import Any

import attrs

from ._errors import DiscordError


@attrs.frozen
class SentAttachment:
    """An attachment of a posted message, as Discord reported it.

    Attributes:
        id: the attachment's snowflake.
        filename: its name on Discord.
        size: its size in bytes.
        url: where Discord serves it.
    """

    id: str
    filename: str
    size: int
    url: str


@attrs.frozen
class SentMessage:
    """A posted message.

    Attributes:
        id: the message's snowflake.
        channel_id: the channel (or thread) it is in.
        attachments: its attachments, in the order they were sent.
    """

    id: str
    channel_id: str
    attachments: tuple[SentAttachment, ...]


def sent_message(data: Any, what: str) -> SentMessage:
    """The `SentMessage` in Discord's answer to a post.

    Raises:
        DiscordError: the answer is not a message object (``what`` names the request).
    """
    try:
        attachments = tuple(
            SentAttachment(str(a["id"]), str(a["filename"]), int(a["size"]), str(a["url"]))
            for a in data.get("attachments") or ()
        )
        return SentMessage(str(data["id"]), str(data["channel_id"]), attachments)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise DiscordError(f"{what}: Discord's answer is not a message object") from None


def new_nonce() -> str:
    """A fresh create-message nonce: 24 hex characters (Discord allows 25)."""
    return secrets.token_hex(12)
