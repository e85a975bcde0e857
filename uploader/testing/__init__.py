"""A loopback Discord-compatible server for tests: ours, our benchmarks', and our users'.

Start one with ``async with open_fake_discord() as fake:`` (or
``fake = await nursery.start(run_fake_discord)``), point a client at ``fake.api_base`` with
``fake.bot_token``, or at a URL from ``fake.create_webhook()``, then check ``fake.messages`` and
``fake.stats`` (or, from any language, ``GET fake.inspect_url + "/messages"`` and
``"/stats"``). ``fake.inject(Fault(...))`` schedules 429s, 5xx, slow answers and dropped
connections. An asyncio bot (discord.py) gets one on a thread of its own from
``with fake_discord_in_thread() as fake:``. For pytest, enable the ``fake_discord`` and
``fake_discord_thread`` fixtures with ``pytest_plugins = ["uploader.testing.pytest_plugin"]``.
"""

from __future__ import annotations

from ._fake import FakeDiscord as FakeDiscord
from ._fake import discord_com_url as discord_com_url
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
    "FakeDiscord",
    "FakeDiscordThread",
    "FakeStats",
    "Fault",
    "FaultKind",
    "RecordedAttachment",
    "RecordedMessage",
    "RouteName",
    "discord_com_url",
    "fake_discord_in_thread",
    "open_fake_discord",
    "run_fake_discord",
]
