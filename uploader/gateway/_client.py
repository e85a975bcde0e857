"""The gateway client: connect, stay connected, hand events out; `run_gateway`, `open_gateway`.

`run_gateway` fetches the gateway URL, then loops: connect, let `run_connection` drive the
connection, decide from its `Ending` whether to resume or identify afresh (or stop for good on
4004 and 4010 to 4014), back off, connect again. Dispatches reach the caller through
`Gateway.events`, in order and once each, across reconnects.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import random as _random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypedDict, Unpack

import httpx
import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from .._errors import single_error
from .._http_words import http_failure
from .._settings import DEFAULT_API_BASE
from ._connection import DROPPED, Link, run_connection
from ._errors import GatewayUnavailableError
from ._http import fetch_gateway_info
from ._limits import IdentifyLimiter
from ._models import BOT_INTENTS, GatewayEvent, GatewayInfo
from ._protocol import (
    SESSION_KEEPING_CLOSE_CODE,
    check_reconnect,
    connect_url,
    invalid_session_delay,
    reconnect_delay,
)
from ._session import Ending, EndKind, GatewaySession

logger = logging.getLogger("uploader.gateway")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CONNECT_TIMEOUT = 30.0
CLOSE_TIMEOUT = 5.0
ATTEMPTS_BEFORE_READY = 6
"""Connections in a row that may fail before the first READY before `run_gateway` gives up
(later, after a session worked, it keeps trying: Discord outages end)."""


class Gateway:
    """A running gateway session; `run_gateway` and `open_gateway` hand one out once ready.

    Attributes:
        events: every dispatch (READY, RESUMED, MESSAGE_CREATE, ...) in order, once each. The
            buffer is unbounded so a slow reader never delays heartbeats; read it steadily.
        info: the answer of GET /gateway/bot.
    """

    def __init__(
        self,
        events: trio.MemoryReceiveChannel[GatewayEvent],
        info: GatewayInfo,
        session: GatewaySession,
    ) -> None:
        self.events = events
        self.info = info
        self._session = session
        self._link: Link | None = None
        self._connected = trio.Event()

    def __repr__(self) -> str:
        state = "connected" if self._link is not None else "reconnecting"
        return f"<Gateway {state} shard={self._session.shard!r}>"

    @property
    def session_id(self) -> str | None:
        """The current session's id (None between a lost session and the next READY)."""
        return self._session.session_id

    @property
    def sequence(self) -> int | None:
        """The last sequence number received."""
        return self._session.seq

    @property
    def latency(self) -> float | None:
        """Seconds between the last heartbeat and its ACK."""
        heartbeat = self._session.heartbeat
        return heartbeat.latency if heartbeat is not None else None

    async def send(self, payload: Mapping[str, Any]) -> None:
        """Send a payload (e.g. op 3 presence update), within the connection's send limit.

        Waits for a connection when there is none; a payload cut off by a dropped connection
        is sent again on the next one.
        """
        while True:
            await self._connected.wait()
            link = self._link
            if link is None:
                continue
            try:
                await link.send(payload)
                return
            except (ConnectionClosed, trio.ClosedResourceError):
                self._lost(link)

    def _up(self, link: Link) -> None:
        self._link = link
        self._connected.set()

    def _lost(self, link: Link | None = None) -> None:
        if link is not None and link is not self._link:
            return
        self._link = None
        if self._connected.is_set():
            self._connected = trio.Event()


async def run_gateway(
    token: str,
    *,
    intents: int = BOT_INTENTS,
    http: httpx.AsyncClient | None = None,
    api_base: str = DEFAULT_API_BASE,
    shard: tuple[int, int] | None = None,
    identify_limiter: IdentifyLimiter | None = None,
    random: Callable[[], float] = _random.random,
    task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keep a gateway session up until cancelled (``gw = await nursery.start(run_gateway, ...)``).

    ``started`` fires on the first READY, so a refused token raises from ``nursery.start``.

    Args:
        token: the bot token (never logged or shown).
        intents: what to subscribe to; `BOT_INTENTS` by default.
        http: the client for GET /gateway/bot (kept open); by default one is opened here.
        api_base: Discord's API base, e.g. a fake's ``api_base``.
        shard: ``(shard_id, shard_count)``; None for one unsharded connection.
        identify_limiter: shared by all shards of a bot; by default one from this gateway's
            ``session_start_limit``.
        random: a uniform [0, 1) source for heartbeat and backoff jitter.
        task_status: the nursery start protocol.

    Raises:
        GatewayClosedError: Discord closed with 4004 or 4010 to 4014.
        GatewayUnavailableError: GET /gateway/bot failed, or no session could be started in
            `ATTEMPTS_BEFORE_READY` connections.
    """
    async with AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=30.0))
        info = await fetch_gateway_info(http, token, api_base=api_base)
    limiter = identify_limiter or IdentifyLimiter(info.session_start_limit)
    session = GatewaySession(token, intents, shard)
    send_events, receive_events = trio.open_memory_channel[GatewayEvent](math.inf)
    gateway = Gateway(receive_events, info, session)
    runner = _Runner(gateway, session, limiter, send_events, random, task_status)
    async with send_events:
        await runner.run()


class GatewayOptions(TypedDict, total=False):
    """The keyword arguments `open_gateway` passes on to `run_gateway`."""

    intents: int
    http: httpx.AsyncClient | None
    api_base: str
    shard: tuple[int, int] | None
    identify_limiter: IdentifyLimiter | None
    random: Callable[[], float]


@asynccontextmanager
async def open_gateway(token: str, **options: Unpack[GatewayOptions]) -> AsyncIterator[Gateway]:
    """``async with open_gateway(token) as gw:`` runs `run_gateway` for the block (same args).

    Raises:
        GatewayClosedError: Discord closed with 4004 or 4010 to 4014 (before or during the
            block; the block is cancelled).
        GatewayUnavailableError: GET /gateway/bot failed, or no session could be started.
    """
    with single_error():
        async with trio.open_nursery() as nursery:
            gateway: Gateway = await nursery.start(functools.partial(run_gateway, token, **options))
            try:
                yield gateway
            finally:
                nursery.cancel_scope.cancel()


class _Runner:
    """The reconnect loop of one `Gateway`, and the hooks its connections call."""

    def __init__(
        self,
        gateway: Gateway,
        session: GatewaySession,
        limiter: IdentifyLimiter,
        events: trio.MemorySendChannel[GatewayEvent],
        random: Callable[[], float],
        task_status: trio.TaskStatus[Gateway],
    ) -> None:
        self._gateway = gateway
        self._session = session
        self._limiter = limiter
        self._events = events
        self._random = random
        self._task_status = task_status
        self._started = False
        self._was_ready = False

    async def run(self) -> None:
        failures = 0
        while True:
            self._was_ready = False
            ending = await self._connect_once()
            if ending.kind is EndKind.CLOSED:
                check_reconnect(ending.code)
            failures = 0 if self._was_ready else failures + 1
            if not self._started and failures >= ATTEMPTS_BEFORE_READY:
                raise GatewayUnavailableError(
                    f"no gateway session after {failures} attempts ({ending.kind.value}, "
                    f"code {ending.code})"
                )
            if ending.kind is EndKind.RECONNECT_REQUESTED:
                delay = 0.0
            elif ending.kind is EndKind.INVALID_SESSION:
                delay = invalid_session_delay(self._random)
            else:
                delay = reconnect_delay(failures, self._random)
            how = "resuming" if ending.resume else "identifying"
            logger.info(
                "gateway: %s (code %s); %s in %.1f s", ending.kind.value, ending.code, how, delay
            )
            await trio.sleep(delay)

    async def _connect_once(self) -> Ending:
        session = self._session
        base = session.resume_url if session.resumable and session.resume_url else None
        url = connect_url(base or self._gateway.info.url)
        try:
            async with open_websocket_url(
                url,
                max_message_size=MAX_MESSAGE_BYTES,
                connect_timeout=CONNECT_TIMEOUT,
                disconnect_timeout=CLOSE_TIMEOUT,
            ) as ws:
                ending = await run_connection(ws, session, self, random=self._random)
                self._gateway._lost()
                if ending.kind is not EndKind.CLOSED:
                    with trio.move_on_after(CLOSE_TIMEOUT):
                        await ws.aclose(code=SESSION_KEEPING_CLOSE_CODE)
                return ending
        except (OSError, HandshakeError, ConnectionClosed) as exc:
            self._gateway._lost()
            logger.warning("gateway: cannot connect: %s", http_failure(exc))
            return session.closed(DROPPED)

    # -- ConnectionHooks ---------------------------------------------------------------------

    def deliver(self, event: GatewayEvent) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            self._events.send_nowait(event)  # fails only when nobody listens any more
        logger.debug("gateway: %s seq=%s", event.name, event.seq)

    def ready(self, link: Link) -> None:
        self._was_ready = True
        self._gateway._up(link)
        if not self._started:
            self._started = True
            self._task_status.started(self._gateway)

    async def identify_turn(self) -> None:
        shard_id = self._session.shard[0] if self._session.shard else 0
        await self._limiter.wait_turn(shard_id)
