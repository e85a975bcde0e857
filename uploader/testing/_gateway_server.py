"""Serving the fake gateway: `run_fake_gateway` (nursery style) and `open_fake_gateway`.

A ``trio.serve_tcp`` listener on 127.0.0.1 whose connections are upgraded to WebSockets with
``trio_websocket.wrap_server_stream``; owning the TCP stream lets the fake drop a connection
without a close frame, as a broken network does.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict, Unpack

import trio
from trio_websocket import ConnectionClosed, HandshakeError, wrap_server_stream

from .._errors import single_error
from ._gateway import FAKE_BOT_TOKEN, FAKE_BOT_USER_ID, FakeGateway


async def run_fake_gateway(
    *,
    token: str = FAKE_BOT_TOKEN,
    heartbeat_interval_ms: int = 41250,
    ack_heartbeats: bool = True,
    max_concurrency: int = 1,
    privileged_intents: bool = True,
    user_id: str = FAKE_BOT_USER_ID,
    port: int = 0,
    task_status: trio.TaskStatus[FakeGateway] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve a `FakeGateway` on 127.0.0.1 until cancelled (``await nursery.start(...)``).

    Args: as `FakeGateway`, plus ``port`` (0 picks a free one) and the start protocol.
    """
    fake = FakeGateway(
        token=token,
        heartbeat_interval_ms=heartbeat_interval_ms,
        ack_heartbeats=ack_heartbeats,
        max_concurrency=max_concurrency,
        privileged_intents=privileged_intents,
        user_id=user_id,
    )
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"),
            functools.partial(_serve_stream, fake),
            port,
        )
        fake.port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(fake.pump)
        task_status.started(fake)


async def _serve_stream(fake: FakeGateway, stream: trio.SocketStream) -> None:
    async with stream, trio.open_nursery() as nursery:
        try:
            request = await wrap_server_stream(nursery, stream, max_message_size=16 * 1024 * 1024)
            ws = await request.accept()
        except (HandshakeError, ConnectionClosed, trio.BrokenResourceError):
            nursery.cancel_scope.cancel()
            return
        await fake.serve(ws, stream)
        nursery.cancel_scope.cancel()


class FakeGatewayOptions(TypedDict, total=False):
    """The keyword arguments `open_fake_gateway` passes on to `run_fake_gateway`."""

    token: str
    heartbeat_interval_ms: int
    ack_heartbeats: bool
    max_concurrency: int
    privileged_intents: bool
    user_id: str
    port: int


@asynccontextmanager
async def open_fake_gateway(**options: Unpack[FakeGatewayOptions]) -> AsyncIterator[FakeGateway]:
    """Run a fake gateway for the duration of an ``async with`` block (same arguments)."""
    with single_error():
        async with trio.open_nursery() as nursery:
            fake: FakeGateway = await nursery.start(functools.partial(run_fake_gateway, **options))
            try:
                yield fake
            finally:
                nursery.cancel_scope.cancel()
