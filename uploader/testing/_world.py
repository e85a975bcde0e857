"""The fake's world: its clock and snowflakes, guilds, channels, webhooks and message record.

Plain state, no I/O: time comes in as ``trio.current_time()`` seconds from the caller.
"""

from __future__ import annotations

import datetime
import secrets
import time
from collections.abc import Callable
from typing import Any

import attrs

from .._limits import BOOSTED_FILE_LIMITS, MIB
from ._cdn import AttachmentStore
from ._limits import NS, to_ns
from ._records import RecordedMessage

DISCORD_EPOCH_MS = 1_420_070_400_000
FORM_OVERHEAD_BYTES = 1 * MIB
"""A boosted guild's request limit is at least its file limit plus this much form overhead."""


@attrs.frozen
class Guild:
    """A guild: its id and boost tier."""

    id: int
    premium_tier: int


@attrs.frozen
class Channel:
    """A text channel of a guild, or a thread in one (``parent_id`` is then its channel)."""

    id: int
    guild_id: int
    parent_id: int | None = None


@attrs.frozen
class Webhook:
    """A webhook posting into a channel."""

    id: int
    token: str = attrs.field(repr=False)
    channel_id: int


@attrs.define(eq=False)
class FakeInteraction:
    """A slash command a user ran: its token is the follow-up webhook's token.

    Attributes:
        id: the interaction's snowflake.
        token: the interaction token (a secret).
        channel_id: where it was run.
        user_id: who ran it.
        original_id: the deferred (or immediate) response message, once the callback made it.
        callbacks: the callback bodies the bot sent, in order.
    """

    id: int
    token: str = attrs.field(repr=False)
    channel_id: int
    user_id: str
    original_id: str | None = None
    callbacks: list[Any] = attrs.Factory(list)


class Clock:
    """Maps trio time onto the wall clock (for timestamps) and mints snowflakes.

    Args:
        now: ``trio.current_time()`` at creation; it maps to the wall clock's now.
    """

    def __init__(self, now: float) -> None:
        self._wall_start = time.time()
        self._trio_start_ns = to_ns(now)
        self._last_id = 0

    def epoch(self, ns: int) -> float:
        """Unix time of a trio time in nanoseconds."""
        return self._wall_start + (ns - self._trio_start_ns) / NS

    def iso(self, ns: int) -> str:
        """ISO 8601 timestamp of a trio time in nanoseconds."""
        return datetime.datetime.fromtimestamp(self.epoch(ns), tz=datetime.UTC).isoformat()

    @staticmethod
    def iso_of(snowflake: int) -> str:
        """ISO 8601 timestamp of the time in a snowflake."""
        ms = (snowflake >> 22) + DISCORD_EPOCH_MS
        return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).isoformat()

    def snowflake(self, now_ns: int) -> int:
        """A new id, increasing, with ``now`` in its timestamp bits."""
        ms = int(self.epoch(now_ns) * 1000) - DISCORD_EPOCH_MS
        self._last_id = max(self._last_id + 1, ms << 22)
        return self._last_id


class MessageLog:
    """Every created message (latest state), plus what their JSON and nonces need.

    Args:
        on_record: called with each newly recorded message.
    """

    def __init__(self, on_record: Callable[[RecordedMessage], None] | None) -> None:
        self.messages: list[RecordedMessage] = []
        self._index: dict[str, int] = {}
        self.raw_nonces: dict[str, int | str] = {}
        """A message's nonce as the request sent it (JSON int or string)."""
        self.edited_ns: dict[str, int] = {}
        """When a message was last edited."""
        self._nonces: dict[tuple[int, str], tuple[str, int]] = {}
        self._on_record = on_record
        self.on_update: Callable[[RecordedMessage], None] | None = None
        """Called with a message's new state after each edit, reaction or delete."""

    def record(self, message: RecordedMessage) -> None:
        """Append a new message."""
        self._index[message.id] = len(self.messages)
        self.messages.append(message)
        if self._on_record is not None:
            self._on_record(message)

    def get(self, message_id: str) -> RecordedMessage | None:
        """The message with this id, if any."""
        index = self._index.get(message_id)
        return self.messages[index] if index is not None else None

    def remember_nonce(self, author: int, message_id: str, nonce: int | str, now_ns: int) -> None:
        """Note the nonce a new message was created with (for its JSON and ``enforce_nonce``)."""
        self.raw_nonces[message_id] = nonce
        self._nonces[(author, str(nonce))] = (message_id, now_ns)

    def by_nonce(self, author: int, nonce: str) -> tuple[RecordedMessage, int] | None:
        """The author's latest message created with this nonce, and when it was created."""
        found = self._nonces.get((author, nonce))
        if found is None:
            return None
        return self.messages[self._index[found[0]]], found[1]

    def replace(self, message: RecordedMessage, edited_ns: int | None = None) -> None:
        """Store a message's new state in place of its earlier one (an edit gives its time)."""
        self.messages[self._index[message.id]] = message
        if edited_ns is not None:
            self.edited_ns[message.id] = edited_ns
        if self.on_update is not None:
            self.on_update(message)

    def live(self, message_id: str) -> RecordedMessage | None:
        """The message with this id unless it was deleted."""
        message = self.get(message_id)
        return message if message is not None and not message.deleted else None

    def in_channel(self, channel_id: int) -> list[RecordedMessage]:
        """The live messages shown in a channel or thread, newest first."""
        return [
            m
            for m in reversed(self.messages)
            if not m.deleted
            and (m.thread_id if m.thread_id is not None else m.channel_id) == channel_id
        ]


class World:
    """Guilds, channels, webhooks, the message log, the bot's identity and the size limits.

    Args:
        file_limit_bytes: the per-attachment limit of tier 0 and 1 guilds.
        request_limit_bytes: the per-request body limit.
        on_record: called with each newly recorded message.
        now: ``trio.current_time()`` at creation.
    """

    def __init__(
        self,
        *,
        file_limit_bytes: int,
        request_limit_bytes: int,
        on_record: Callable[[RecordedMessage], None] | None,
        now: float,
    ) -> None:
        if file_limit_bytes < 1 or request_limit_bytes < 1:
            raise ValueError("file_limit_bytes and request_limit_bytes must be positive")
        self.file_limit_bytes = file_limit_bytes
        self.request_limit_bytes = request_limit_bytes
        self.clock = Clock(now)
        self.log = MessageLog(on_record)
        self.attachments = AttachmentStore()
        """The attachments' names and kept bytes, which their URLs serve."""
        self.bot_token = "fake." + secrets.token_urlsafe(24)
        self.bot_user_id = self.clock.snowflake(to_ns(now))
        self.port = 0
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.interactions: dict[str, FakeInteraction] = {}
        """By token: each one's follow-up webhook is ``/webhooks/<bot user id>/<token>``."""
        self.commands: list[dict[str, Any]] = []
        """The application commands the bot registered (its last bulk overwrite)."""
        self.gateway_payload: dict[str, Any] | None = None
        """The answer of ``GET /gateway/bot`` when a fake gateway runs alongside."""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def create_channel(self, premium_tier: int, now: float) -> int:
        """Create a text channel in a new guild of this boost tier; return its id."""
        if premium_tier not in (0, 1, 2, 3):
            raise ValueError(f"premium_tier must be 0 to 3, not {premium_tier}")
        guild = Guild(self.clock.snowflake(to_ns(now)), premium_tier)
        channel = Channel(self.clock.snowflake(to_ns(now)), guild.id)
        self.guilds[guild.id] = guild
        self.channels[channel.id] = channel
        return channel.id

    def create_thread(self, channel_id: int, now: float) -> int:
        """Create a thread in an existing text channel; return its id."""
        parent = self.channels.get(channel_id)
        if parent is None or parent.parent_id is not None:
            raise KeyError(f"no text channel {channel_id} in this fake Discord")
        thread = Channel(self.clock.snowflake(to_ns(now)), parent.guild_id, parent.id)
        self.channels[thread.id] = thread
        return thread.id

    def create_webhook(self, channel_id: int, now: float) -> Webhook:
        """Create a webhook posting into an existing channel."""
        channel = self.channels.get(channel_id)
        if channel is None or channel.parent_id is not None:
            raise KeyError(f"no text channel {channel_id} in this fake Discord")
        webhook = Webhook(self.clock.snowflake(to_ns(now)), secrets.token_urlsafe(48), channel_id)
        self.webhooks[webhook.id] = webhook
        return webhook

    def webhook_for(self, webhook_id: int, token: str | None) -> Webhook | None:
        """The webhook with this id; an interaction's follow-up webhook when the id is the
        bot's (the application's) and the token an interaction's."""
        webhook = self.webhooks.get(webhook_id)
        if webhook is None and token is not None and webhook_id == self.bot_user_id:
            interaction = self.interactions.get(token)
            if interaction is not None:
                return Webhook(webhook_id, token, interaction.channel_id)
        return webhook

    def open_interaction(self, channel_id: int, user_id: str, now: float) -> FakeInteraction:
        """A new interaction of ``user_id`` in a text channel.

        Raises:
            KeyError: no such channel.
        """
        if channel_id not in self.channels:
            raise KeyError(f"no channel {channel_id} in this fake Discord")
        interaction = FakeInteraction(
            self.clock.snowflake(to_ns(now)), secrets.token_urlsafe(64), channel_id, user_id
        )
        self.interactions[interaction.token] = interaction
        return interaction

    def file_limit_of(self, channel_id: int) -> int:
        """The largest attachment the channel accepts, in bytes (its guild's tier decides)."""
        tier = self.guilds[self.channels[channel_id].guild_id].premium_tier
        return max(self.file_limit_bytes, BOOSTED_FILE_LIMITS.get(tier, 0))

    def request_limit_of(self, channel_id: int) -> int:
        """The largest request body the channel accepts, in bytes."""
        file_limit = self.file_limit_of(channel_id)
        if file_limit == self.file_limit_bytes:
            return self.request_limit_bytes
        return max(self.request_limit_bytes, file_limit + FORM_OVERHEAD_BYTES)
