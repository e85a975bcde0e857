"""`FakeDiscord`: the handle users hold on a running loopback Discord.

A thin facade: it sets the scene in the world, schedules faults, reads the record and the
ledger, and serves connections with the h11 loop over the `DiscordApp`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import trio

from ._admission import RateLimits
from ._app import DiscordApp
from ._connection import Pacer, serve_connection
from ._faults import FaultSchedule
from ._gateway import FakeGateway
from ._inspection import PREFIX
from ._interactions import DEFAULT_USER_ID, interaction_json, post_as_user
from ._ledger import Ledger
from ._records import FakeStats, Fault, RecordedMessage
from ._shapes import message_json
from ._world import World


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
        self._world = World(
            file_limit_bytes=file_limit_bytes,
            request_limit_bytes=request_limit_bytes,
            on_record=self._recorded,
            now=trio.current_time(),
        )
        self._pacer = Pacer(bandwidth_bytes_per_second)
        self._on_message = on_message
        self.on_update: Callable[[RecordedMessage], None] | None = None
        """Called with a message each time it is edited or deleted (e.g. to log it)."""
        self.gateway: FakeGateway | None = None
        """The fake gateway serving alongside (``gateway=True``); None otherwise."""
        self._world.log.on_update = self._updated
        self._message_recorded = trio.Event()
        self._faults = FaultSchedule()
        self._ledger = Ledger(ban_after_invalid)
        limits = RateLimits(
            webhook_limit=webhook_limit, channel_limit=channel_limit, global_limit=global_limit
        )
        self._app = DiscordApp(
            self._world, limits, self._faults, self._ledger, check_schema=validate
        )

    # ----------------------------------------------------------------- the scene

    @property
    def file_limit_bytes(self) -> int:
        """The per-attachment limit of tier 0 and 1 guilds."""
        return self._world.file_limit_bytes

    @property
    def request_limit_bytes(self) -> int:
        """The per-request body limit (boosted guilds may take more)."""
        return self._world.request_limit_bytes

    @property
    def bandwidth_bytes_per_second(self) -> float | None:
        """The cap on how fast request bodies are read, or None."""
        return self._pacer.rate

    @property
    def bot_token(self) -> str:
        """The bot token the bot routes accept."""
        return self._world.bot_token

    @property
    def bot_user_id(self) -> int:
        """The bot's user id (``GET /users/@me``), the author of its messages."""
        return self._world.bot_user_id

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return self._world.port

    @port.setter
    def port(self, value: int) -> None:
        self._world.port = value

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self._world.base_url

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
        return self._world.create_channel(premium_tier, trio.current_time())

    def create_thread(self, channel_id: int) -> int:
        """Create a thread in a text channel and return its id (a webhook's ``thread_id``).

        Raises:
            KeyError: ``channel_id`` is not a text channel of this fake.
        """
        return self._world.create_thread(channel_id, trio.current_time())

    def create_webhook(self, *, channel_id: int | None = None) -> str:
        """Create a webhook and return its full URL (a secret, for a real Discord).

        Args:
            channel_id: the channel it posts into; None creates a new channel.

        Raises:
            KeyError: ``channel_id`` is not a text channel of this fake.
        """
        if channel_id is None:
            channel_id = self.create_channel()
        webhook = self._world.create_webhook(channel_id, trio.current_time())
        return f"{self.base_url}/api/webhooks/{webhook.id}/{webhook.token}"

    @property
    def inspect_url(self) -> str:
        """``http://127.0.0.1:PORT/_fake``: the read-only ``/messages`` and ``/stats`` routes."""
        return f"{self.base_url}{PREFIX}"

    def guild_id_of(self, channel_id: int) -> int:
        """The guild a channel belongs to."""
        return self._world.channels[channel_id].guild_id

    def file_limit_of(self, channel_id: int) -> int:
        """The largest attachment the channel accepts, in bytes (its guild's tier decides)."""
        return self._world.file_limit_of(channel_id)

    def request_limit_of(self, channel_id: int) -> int:
        """The largest request body the channel accepts, in bytes."""
        return self._world.request_limit_of(channel_id)

    def inject(self, *faults: Fault) -> None:
        """Add faults to the schedule; they hit matching requests in injection order."""
        self._faults.inject(faults)

    @property
    def pending_faults(self) -> tuple[Fault, ...]:
        """The injected faults that still have hits left."""
        return self._faults.pending

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    @property
    def banned(self) -> bool:
        """Whether ban mode is on (every request gets Cloudflare's HTML 429)."""
        return self._ledger.banned

    # ---------------------------------------------------------------- the record

    @property
    def messages(self) -> list[RecordedMessage]:
        """Every created message in creation order, each in its latest (edited) state."""
        return list(self._world.log.messages)

    async def wait_for_messages(self, count: int) -> list[RecordedMessage]:
        """Wait until at least ``count`` messages were recorded; return them all."""
        while len(self._world.log.messages) < count:
            await self._message_recorded.wait()
        return self.messages

    @property
    def stats(self) -> FakeStats:
        """A snapshot of the request counters."""
        return self._ledger.snapshot()

    def _recorded(self, message: RecordedMessage) -> None:
        self._message_recorded.set()
        self._message_recorded = trio.Event()
        if self._on_message is not None:
            self._on_message(message)
        self._dispatch("MESSAGE_CREATE", message)

    def _updated(self, message: RecordedMessage) -> None:
        if self.on_update is not None:
            self.on_update(message)
        self._dispatch("MESSAGE_DELETE" if message.deleted else "MESSAGE_UPDATE", message)

    def _dispatch(self, name: str, message: RecordedMessage) -> None:
        if self.gateway is None:
            return
        data = message_json(self._world, message)
        data["guild_id"] = str(self.guild_id_of(message.channel_id))
        if name == "MESSAGE_DELETE":
            data = {k: data[k] for k in ("id", "channel_id", "guild_id")}
        self.gateway.dispatch_soon(name, data)

    # ----------------------------------------------------------- bot mode (gateway)

    def attach_gateway(self, gateway: FakeGateway) -> None:
        """Serve ``gateway``'s URL from GET /gateway/bot and show it every recorded message."""
        self.gateway = gateway
        self._world.gateway_payload = gateway.gateway_bot_payload()

    def user_post_url(self, channel_id: int) -> str:
        """Where to POST ``{"content": ..., "author_id": ...}`` to post as a user."""
        return f"{self.inspect_url}/channels/{channel_id}/messages"

    def post_as_user(
        self, channel_id: int, content: str, *, author_id: str = DEFAULT_USER_ID
    ) -> RecordedMessage:
        """Post a user's message: recorded, and dispatched as MESSAGE_CREATE to the gateway.

        Raises:
            KeyError: no such channel.
        """
        if channel_id not in self._world.channels:
            raise KeyError(f"no channel {channel_id} in this fake Discord")
        return post_as_user(self._world, channel_id, content, author_id, trio.current_time())

    async def run_slash_command(
        self,
        channel_id: int,
        name: str,
        options: dict[str, str] | None = None,
        *,
        user_id: str = DEFAULT_USER_ID,
    ) -> dict[str, Any]:
        """A user runs ``/name`` in a channel: dispatch its INTERACTION_CREATE; return it.

        Its follow-up webhook is ``<api base>/webhooks/<bot user id>/<token>``.

        Raises:
            RuntimeError: no gateway runs alongside.
        """
        if self.gateway is None:
            raise RuntimeError("no fake gateway: open the fake with gateway=True")
        interaction = self._world.open_interaction(channel_id, user_id, trio.current_time())
        body = interaction_json(self._world, interaction, name, options or {})
        await self.gateway.interaction_create(body)
        return body

    def interaction_callbacks(self, interaction_id: str) -> list[Any]:
        """The callback bodies the bot sent for an interaction, in order."""
        for interaction in self._world.interactions.values():
            if str(interaction.id) == interaction_id:
                return list(interaction.callbacks)
        return []

    @property
    def commands(self) -> list[dict[str, Any]]:
        """The application commands the bot registered (its last bulk overwrite)."""
        return list(self._world.commands)

    # ------------------------------------------------------------------- serving

    async def serve_connection(self, stream: trio.SocketStream) -> None:
        """Serve one TCP connection until it closes (keep-alive across requests)."""
        await serve_connection(stream, self._app, self._pacer)


def discord_com_url(webhook_url: str) -> str:
    """The discord.com form of a fake's webhook URL, for clients that accept no other.

    discord.py's ``Webhook.from_url`` takes only ``https://discord.com/api/webhooks/ID/TOKEN``;
    give it this, and point the library at the fake with
    ``discord.http.Route.BASE = fake.api_base``.

    Raises:
        ValueError: not a webhook URL.
    """
    found = re.search(r"/api(?:/v\d+)?/webhooks/(\d+)/([^/?#]+)", webhook_url)
    if found is None:
        raise ValueError("not a webhook URL")
    return f"https://discord.com/api/webhooks/{found[1]}/{found[2]}"
