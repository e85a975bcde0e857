"""The loopback Discord served from a thread of its own, for asyncio and synchronous tests.

A bot written for asyncio (discord.py, aiohttp, httpx's async client) cannot share trio's
event loop; `fake_discord_in_thread` runs `open_fake_discord` on a trio loop in a daemon
thread and hands back a `FakeDiscordThread` whose methods are safe to call from any thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import trio

from ._fake import FakeDiscord
from ._records import FakeStats, Fault, RecordedMessage
from ._server import open_fake_discord

T = TypeVar("T")
_START_TIMEOUT = 30.0


class FakeDiscordThread:
    """A running `FakeDiscord` on another thread's trio loop; every call crosses over to it.

    Attributes:
        api_base: the API base to give a client (``http://127.0.0.1:PORT/api/v10``).
        base_url: ``http://127.0.0.1:PORT``.
        bot_token: the bot token the bot routes accept.
        bot_user_id: the bot's user id.
        inspect_url: the read-only inspection routes (``/messages``, ``/stats`` below it).
    """

    def __init__(self, fake: FakeDiscord, token: trio.lowlevel.TrioToken) -> None:
        self._fake = fake
        self._token = token
        self.api_base = fake.api_base
        self.base_url = fake.base_url
        self.bot_token = fake.bot_token
        self.bot_user_id = fake.bot_user_id
        self.inspect_url = fake.inspect_url

    def __repr__(self) -> str:
        return f"FakeDiscordThread({self.base_url!r})"

    def call(self, fn: Callable[[FakeDiscord], T]) -> T:
        """Run ``fn(fake)`` on the fake's loop and return what it returns."""
        return trio.from_thread.run_sync(fn, self._fake, trio_token=self._token)

    def create_channel(self, *, premium_tier: int = 0) -> int:
        """`FakeDiscord.create_channel`."""
        return self.call(lambda fake: fake.create_channel(premium_tier=premium_tier))

    def create_thread(self, channel_id: int) -> int:
        """`FakeDiscord.create_thread`."""
        return self.call(lambda fake: fake.create_thread(channel_id))

    def create_webhook(self, *, channel_id: int | None = None) -> str:
        """`FakeDiscord.create_webhook`."""
        return self.call(lambda fake: fake.create_webhook(channel_id=channel_id))

    def inject(self, *faults: Fault) -> None:
        """`FakeDiscord.inject`."""
        self.call(lambda fake: fake.inject(*faults))

    @property
    def messages(self) -> list[RecordedMessage]:
        """`FakeDiscord.messages`."""
        return self.call(lambda fake: fake.messages)

    @property
    def stats(self) -> FakeStats:
        """`FakeDiscord.stats`."""
        return self.call(lambda fake: fake.stats)


@contextmanager
def fake_discord_in_thread(**options: Any) -> Iterator[FakeDiscordThread]:
    """Serve a fake Discord from a daemon thread for as long as the ``with`` block runs.

    Takes the keyword arguments of `open_fake_discord`.

    Raises:
        TimeoutError: the fake did not start within 30 seconds.
    """
    started: queue.Queue[tuple[FakeDiscordThread, trio.Event] | BaseException] = queue.Queue()

    async def serve() -> None:
        stop = trio.Event()
        async with open_fake_discord(**options) as fake:
            started.put((FakeDiscordThread(fake, trio.lowlevel.current_trio_token()), stop))
            await stop.wait()

    def run() -> None:
        try:
            trio.run(serve)
        except BaseException as exc:  # handed to the caller's thread
            started.put(exc)

    thread = threading.Thread(target=run, name="fake-discord", daemon=True)
    thread.start()
    try:
        item = started.get(timeout=_START_TIMEOUT)
    except queue.Empty:
        raise TimeoutError("the fake Discord did not start") from None
    if isinstance(item, BaseException):
        raise item
    served, stop = item
    try:
        yield served
    finally:
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(stop.set, trio_token=served._token)
        thread.join(timeout=_START_TIMEOUT)
