"""What the gateway hands out: events, the answer of GET /gateway/bot, intents."""

from __future__ import annotations

import enum
from typing import Any

import attrs


class Intents(enum.IntFlag):
    """The gateway intents `uploader` knows by name (Discord defines more)."""

    GUILDS = 1 << 0
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15


BOT_INTENTS = (
    Intents.GUILDS | Intents.GUILD_MESSAGES | Intents.DIRECT_MESSAGES | Intents.MESSAGE_CONTENT
)
"""What a command bot needs: messages in guilds and DMs, with their text (MESSAGE_CONTENT is
privileged: enable it for the bot in the developer portal)."""


@attrs.frozen
class GatewayEvent:
    """One dispatch (op 0) from Discord.

    Attributes:
        name: the event name, e.g. ``MESSAGE_CREATE``, ``READY``, ``RESUMED``.
        data: its ``d`` object as decoded JSON.
        seq: its sequence number.
    """

    name: str
    data: Any = attrs.field(repr=False)
    seq: int | None = None


@attrs.frozen
class SessionStartLimit:
    """How many fresh sessions (identifies) the bot may still start, and how fast.

    Attributes:
        total: sessions allowed per reset period.
        remaining: sessions left in this period.
        reset_after: seconds until ``remaining`` is back to ``total``.
        max_concurrency: identify buckets; shard ``i`` identifies in bucket
            ``i % max_concurrency``, one identify per bucket every 5 seconds.
    """

    total: int = 1000
    remaining: int = 1000
    reset_after: float = 0.0
    max_concurrency: int = 1


@attrs.frozen
class GatewayInfo:
    """The answer of GET /gateway/bot.

    Attributes:
        url: the WebSocket URL to connect to (without query).
        shards: the shard count Discord recommends.
        session_start_limit: the identify budget.
    """

    url: str
    shards: int = 1
    session_start_limit: SessionStartLimit = SessionStartLimit()
