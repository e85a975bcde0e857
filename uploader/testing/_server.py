"""Serving the loopback Discord: `run_fake_discord` (nursery style) and `open_fake_discord`.

Each serves a `FakeDiscord` on 127.0.0.1 with ``trio.serve_tcp``. Time is
``trio.current_time()``, so tests under ``MockClock`` see exact rate-limit timing.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypedDict, Unpack

import trio

from .._limits import DEFAULT_FILE_LIMIT, DEFAULT_REQUEST_LIMIT
from ._fake import FakeDiscord
from ._gateway_server import run_fake_gateway
from ._records import RecordedMessage


class FakeOptions(TypedDict, total=False):
    """What a loopback Discord is like; every key is optional (the defaults are Discord's).

    Keys:
        file_limit_bytes: the per-attachment limit of tier 0 and 1 guilds (10 MiB).
        request_limit_bytes: the per-request body limit (25 MiB).
        webhook_limit: (requests, seconds) per webhook, shared by execute, edit and delete;
            None: off. Default (5, 2.0).
        channel_limit: (requests, seconds) of create-message per channel (and, separately, of
            edit-message per channel); None turns these and the GET routes' limit off.
            Default (5, 5.0).
        global_limit: requests per second per bot token; None: off. Default 50.
        ban_after_invalid: after this many 401/403/non-shared-429 answers, answer everything
            with Cloudflare's HTML 429 ("error code: 1015"); None (the default): never.
        bandwidth_bytes_per_second: cap on how fast request bodies are read, shared by all
            connections; None (the default): unlimited.
        validate: check JSON payloads against Discord's OpenAPI request schemas (True).
        on_message: called with each newly recorded message.
    """

    file_limit_bytes: int
    request_limit_bytes: int
    webhook_limit: tuple[int, float] | None
    channel_limit: tuple[int, float] | None
    global_limit: int | None
    ban_after_invalid: int | None
    bandwidth_bytes_per_second: float | None
    validate: bool
    on_message: Callable[[RecordedMessage], None] | None


DEFAULTS: FakeOptions = {
    "file_limit_bytes": DEFAULT_FILE_LIMIT,
    "request_limit_bytes": DEFAULT_REQUEST_LIMIT,
    "webhook_limit": (5, 2.0),
    "channel_limit": (5, 5.0),
    "global_limit": 50,
    "ban_after_invalid": None,
    "bandwidth_bytes_per_second": None,
    "validate": True,
    "on_message": None,
}


async def run_fake_discord(
    *,
    port: int = 0,
    gateway: bool = False,
    task_status: trio.TaskStatus[FakeDiscord] = trio.TASK_STATUS_IGNORED,
    **options: Unpack[FakeOptions],
) -> None:
    """Serve a fake Discord on 127.0.0.1 until cancelled (``await nursery.start(...)``).

    Args:
        port: the TCP port; 0 picks a free one.
        gateway: also serve a `FakeGateway` for the bot token (``fake.gateway``), handed out
            by GET /gateway/bot and shown every message recorded here.
        task_status: the nursery start protocol; ``started`` gets the `FakeDiscord`.
        **options: what the fake is like (`FakeOptions`: limits, rate limits, validation).
    """
    settled: FakeOptions = {**DEFAULTS, **options}
    fake = FakeDiscord(**settled)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"), fake.serve_connection, port
        )
        fake.port = listeners[0].socket.getsockname()[1]
        if gateway:
            fake.attach_gateway(
                await nursery.start(
                    functools.partial(
                        run_fake_gateway, token=fake.bot_token, user_id=str(fake.bot_user_id)
                    )
                )
            )
        task_status.started(fake)


@asynccontextmanager
async def open_fake_discord(
    *, port: int = 0, gateway: bool = False, **options: Unpack[FakeOptions]
) -> AsyncIterator[FakeDiscord]:
    """Run a fake Discord for the duration of an ``async with`` block.

    Takes the same arguments as `run_fake_discord`. An error raised in the block comes out
    as itself, not wrapped in an ExceptionGroup.
    """
    try:
        async with trio.open_nursery() as nursery:
            start = functools.partial(run_fake_discord, port=port, gateway=gateway, **options)
            fake: FakeDiscord = await nursery.start(start)
            try:
                yield fake
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        error: BaseException = group
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        if error is group:
            raise
        raise error from error.__cause__
