"""A loopback Discord-compatible server for tests: ours, our benchmarks', and our users'.

Start one with ``async with open_fake_discord() as fake:`` (or
``fake = await nursery.start(run_fake_discord)``), point a client at ``fake.api_base`` with
``fake.bot_token``, or at a URL from ``fake.create_webhook()``, then check ``fake.messages`` and
``fake.stats`` (or, from any language, ``GET fake.inspect_url + "/messages"`` and
``"/stats"``). ``fake.inject(Fault(...))`` schedules 429s, 5xx, slow answers and dropped
connections. An asyncio bot (discord.py) gets one on a thread of its own from
``with fake_discord_in_thread() as fake:``. For pytest, enable the ``fake_discord`` and
``fake_discord_thread`` fixtures with ``pytest_plugins = ["uploader.testing.pytest_plugin"]``.

Bot mode: ``open_fake_discord(gateway=True)`` also serves a `FakeGateway` (``fake.gateway``)
that GET /gateway/bot hands out and that sees every message recorded; a user's message is
``fake.post_as_user(channel_id, "!upload <link>")`` (or ``POST fake.user_post_url(channel_id)``
with ``{"content": ...}``), a slash command ``await fake.run_slash_command(channel_id,
"upload", {"url": link})``. `open_fake_gateway` serves a scriptable gateway on its own;
`open_file_server` serves a folder on loopback, links for the bot to download.
"""

from __future__ import annotations

from ._fake import FakeDiscord as FakeDiscord
from ._fake import discord_com_url as discord_com_url
from ._file_server import FileServer as FileServer
from ._file_server import open_file_server as open_file_server
from ._file_server import run_file_server as run_file_server
from ._gateway import FAKE_BOT_TOKEN as FAKE_BOT_TOKEN
from ._gateway import FAKE_BOT_USER_ID as FAKE_BOT_USER_ID
from ._gateway import FakeGateway as FakeGateway
from ._gateway import GatewayFrame as GatewayFrame
from ._gateway_server import open_fake_gateway as open_fake_gateway
from ._gateway_server import run_fake_gateway as run_fake_gateway
from ._records import FakeStats as FakeStats
from ._records import Fault as Fault
from ._records import FaultKind as FaultKind
from ._records import RecordedAttachment as RecordedAttachment
from ._records import RecordedMessage as RecordedMessage
from ._records import RouteName as RouteName
from ._server import open_fake_discord as open_fake_discord
from ._server import run_fake_discord as run_fake_discord
from ._threaded import FakeDiscordThread as FakeDiscordThread
from ._threaded import fake_discord_in_thread as fake_discord_in_thread

__all__ = [
    "FAKE_BOT_TOKEN",
    "FAKE_BOT_USER_ID",
    "FakeDiscord",
    "FakeDiscordThread",
    "FakeGateway",
    "FakeStats",
    "Fault",
    "FaultKind",
    "FileServer",
    "GatewayFrame",
    "RecordedAttachment",
    "RecordedMessage",
    "RouteName",
    "discord_com_url",
    "fake_discord_in_thread",
    "open_fake_discord",
    "open_fake_gateway",
    "open_file_server",
    "run_fake_discord",
    "run_fake_gateway",
    "run_file_server",
]
