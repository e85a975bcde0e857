"""One WebSocket connection: HELLO, IDENTIFY or RESUME, heartbeats, and the read loop.

`run_connection` drives an open `trio_websocket` connection with a `GatewaySession` until the
connection ends and returns the `Ending`; every decision comes from the session. `Link` is the
connection's send path through its `SendWindow`. Nothing here logs a payload (IDENTIFY and
RESUME carry the token).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ._limits import SendWindow
from ._models import GatewayEvent
from ._protocol import Op
from ._session import Ending, GatewaySession

logger = logging.getLogger("uploader.gateway")

HELLO_TIMEOUT = 30.0
"""Seconds to wait for HELLO after connecting before giving the connection up."""

DROPPED = 1006
"""The close code of a connection that ended without a close frame."""


class ConnectionHooks(Protocol):
    """What a connection needs from the gateway that owns it."""

    def deliver(self, event: GatewayEvent) -> None:
        """Hand a dispatch to the caller (must not block)."""

    def ready(self, link: Link) -> None:
        """The session is ready on this connection (READY or RESUMED arrived)."""

    async def identify_turn(self) -> None:
        """Wait until this shard may identify."""


class Link:
    """A connection's send path: JSON over the socket, inside the send window.

    Args:
        ws: the open connection.
        window: the connection's `SendWindow`.
    """

    def __init__(self, ws: WebSocketConnection, window: SendWindow) -> None:
        self._ws = ws
        self._window = window
        self._lock = trio.Lock()

    def __repr__(self) -> str:
        return "<Link>"

    async def send(self, payload: Mapping[str, Any], *, priority: bool = False) -> None:
        """Send ``payload``, waiting for the window; priority sends skip the queue of others.

        Raises:
            trio_websocket.ConnectionClosed: the connection closed.
        """
        if priority:
            await self._send(payload, priority=True)
            return
        async with self._lock:
            await self._send(payload, priority=False)

    async def _send(self, payload: Mapping[str, Any], *, priority: bool) -> None:
        while True:  # re-checked: a priority send may take the slot meanwhile
            delay = self._window.wait_time(trio.current_time(), priority=priority)
            if delay <= 0:
                break
            await trio.sleep(delay)
        self._window.record(trio.current_time())
        await self._ws.send_message(json.dumps(payload, separators=(",", ":")))


async def receive_payload(ws: WebSocketConnection) -> Mapping[str, Any] | None:
    """The next payload as a JSON object; None for a frame that is not one."""
    message = await ws.get_message()
    try:
        payload = json.loads(message)
    except ValueError:
        return None
    return payload if isinstance(payload, Mapping) else None


async def run_connection(
    ws: WebSocketConnection,
    session: GatewaySession,
    hooks: ConnectionHooks,
    *,
    random: Callable[[], float],
) -> Ending:
    """Run one connection until it ends; return why (the caller closes it if still open)."""
    return await _Connection(ws, session, hooks, random).run()


class _Connection:
    def __init__(
        self,
        ws: WebSocketConnection,
        session: GatewaySession,
        hooks: ConnectionHooks,
        random: Callable[[], float],
    ) -> None:
        self._ws = ws
        self._session = session
        self._hooks = hooks
        self._random = random
        self._link = Link(ws, SendWindow())
        self._ending: Ending | None = None
        self._scope = trio.CancelScope()

    def _end(self, ending: Ending) -> None:
        if self._ending is None:
            self._ending = ending
        self._scope.cancel()

    def _closed(self, exc: ConnectionClosed) -> None:
        code = exc.reason.code if exc.reason is not None else DROPPED
        self._end(self._session.closed(code))

    async def run(self) -> Ending:
        with self._scope:
            try:
                opening = await self._hello()
            except ConnectionClosed as exc:
                self._closed(exc)
            else:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._beat)
                    nursery.start_soon(self._read)
                    await self._open(opening)
        return self._ending or self._session.closed(DROPPED)

    async def _hello(self) -> dict[str, Any]:
        """Wait for HELLO; return the IDENTIFY or RESUME to answer it with."""
        with trio.move_on_after(HELLO_TIMEOUT):
            while True:
                payload = await receive_payload(self._ws)
                if payload is None or payload.get("op") != Op.HELLO:
                    continue
                data = payload.get("d")
                interval = data.get("heartbeat_interval") if isinstance(data, Mapping) else None
                if isinstance(interval, int | float) and math.isfinite(interval) and interval > 0:
                    now = trio.current_time()
                    return self._session.hello(interval / 1000.0, now, self._random())
        logger.warning("gateway: no HELLO within %.0f s", HELLO_TIMEOUT)
        raise ConnectionClosed(None)

    async def _open(self, opening: dict[str, Any]) -> None:
        try:
            if opening["op"] == Op.IDENTIFY:
                await self._hooks.identify_turn()
            await self._link.send(opening, priority=True)
        except ConnectionClosed as exc:
            self._closed(exc)

    async def _beat(self) -> None:
        heartbeat = self._session.heartbeat
        assert heartbeat is not None
        try:
            while True:
                await trio.sleep_until(heartbeat.due)
                beat = self._session.beat(trio.current_time())
                if isinstance(beat, Ending):
                    logger.warning("gateway: %s; reconnecting", beat.kind.value)
                    self._end(beat)
                    return
                await self._link.send(beat, priority=True)
        except ConnectionClosed as exc:
            self._closed(exc)

    async def _read(self) -> None:
        try:
            while True:
                payload = await receive_payload(self._ws)
                if payload is None:
                    continue
                reaction = self._session.receive(payload, trio.current_time())
                for answer in reaction.send:
                    await self._link.send(answer, priority=True)
                if reaction.event is not None:
                    self._hooks.deliver(reaction.event)
                if reaction.ready:
                    self._hooks.ready(self._link)
                if reaction.end is not None:
                    logger.info("gateway: %s", reaction.end.kind.value)
                    self._end(reaction.end)
                    return
        except ConnectionClosed as exc:
            self._closed(exc)
