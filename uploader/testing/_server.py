"""Serving the loopback Discord: `run_fake_discord` (nursery style) and `open_fake_discord`.

Each serves a `FakeDiscord` on 127.0.0.1 with ``trio.serve_tcp``. Time is
``trio.current_time()``, so tests under ``MockClock`` see exact rate-limit timing.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from .._limits import DEFAULT_FILE_LIMIT, DEFAULT_REQUEST_LIMIT
from ._fake import FakeDiscord
from ._gateway_server import run_fake_gateway
from ._records import RecordedMessage


async def run_fake_discord(
    *,
    file_limit_bytes: int = DEFAULT_FILE_LIMIT,
    request_limit_bytes: int = DEFAULT_REQUEST_LIMIT,
    webhook_limit: tuple[int, float] | None = (5, 2.0),
    channel_limit: tuple[int, float] | None = (5, 5.0),
    global_limit: int | None = 50,
    ban_after_invalid: int | None = None,
    bandwidth_bytes_per_second: float | None = None,
    validate: bool = True,
    port: int = 0,
    on_message: Callable[[RecordedMessage], None] | None = None,
    gateway: bool = False,
    task_status: trio.TaskStatus[FakeDiscord] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve a fake Discord on 127.0.0.1 until cancelled (``await nursery.start(...)``).

    Args:
        file_limit_bytes: the per-attachment limit of tier 0 and 1 guilds.
        request_limit_bytes: the per-request body limit.
        webhook_limit: (requests, seconds) per webhook, shared by execute, edit and delete;
            None: off.
        channel_limit: (requests, seconds) of create-message per channel (and, separately, of
            edit-message per channel); None turns these and the GET routes' limit off.
        global_limit: requests per second per bot token; None: off.
        ban_after_invalid: after this many 401/403/non-shared-429 answers, answer everything
            with Cloudflare's HTML 429 ("error code: 1015"); None: never.
        bandwidth_bytes_per_second: cap on how fast request bodies are read, shared by all
            connections; None: unlimited.
        validate: check JSON payloads against Discord's OpenAPI request schemas.
        port: the TCP port; 0 picks a free one.
        on_message: called with each newly recorded message.
        gateway: also serve a `FakeGateway` for the bot token (``fake.gateway``), handed out
            by GET /gateway/bot and shown every message recorded here.
        task_status: the nursery start protocol; ``started`` gets the `FakeDiscord`.
    """
    fake = FakeDiscord(
        file_limit_bytes=file_limit_bytes,
        request_limit_bytes=request_limit_bytes,
        webhook_limit=webhook_limit,
        channel_limit=channel_limit,
        global_limit=global_limit,
        ban_after_invalid=ban_after_invalid,
        bandwidth_bytes_per_second=bandwidth_bytes_per_second,
        validate=validate,
        on_message=on_message,
    )
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
    *,
    file_limit_bytes: int = DEFAULT_FILE_LIMIT,
    request_limit_bytes: int = DEFAULT_REQUEST_LIMIT,
    webhook_limit: tuple[int, float] | None = (5, 2.0),
    channel_limit: tuple[int, float] | None = (5, 5.0),
    global_limit: int | None = 50,
    ban_after_invalid: int | None = None,
    bandwidth_bytes_per_second: float | None = None,
    validate: bool = True,
    port: int = 0,
    on_message: Callable[[RecordedMessage], None] | None = None,
    gateway: bool = False,
) -> AsyncIterator[FakeDiscord]:
    """Run a fake Discord for the duration of an ``async with`` block.

    Takes the same arguments as `run_fake_discord`. An error raised in the block comes out
    as itself, not wrapped in an ExceptionGroup.
    """
    try:
        async with trio.open_nursery() as nursery:
            start = functools.partial(
                run_fake_discord,
                file_limit_bytes=file_limit_bytes,
                request_limit_bytes=request_limit_bytes,
                webhook_limit=webhook_limit,
                channel_limit=channel_limit,
                global_limit=global_limit,
                ban_after_invalid=ban_after_invalid,
                bandwidth_bytes_per_second=bandwidth_bytes_per_second,
                validate=validate,
                port=port,
                on_message=on_message,
                gateway=gateway,
            )
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
