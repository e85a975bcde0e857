"""The fake's HTTP/1.1 connection loop: h11 over a trio stream, asking a `DiscordApp`.

It owns what happens on the wire: keep-alive, draining a refused request's body, dropping a
connection before or after the body, the slow fault's wait, and pacing body reads to a
bandwidth cap shared by all connections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h11
import trio

from ._app import DiscordApp, Drop, RequestHead
from ._responses import Response, http_error

_CHUNK = 64 * 1024
_PACED_CHUNK = 16 * 1024


class Pacer:
    """A shared link: holds readers so that together they read at ``rate`` bytes a second.

    Args:
        rate: the cap in bytes per second, or None for no cap.
    """

    def __init__(self, rate: float | None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("bandwidth_bytes_per_second must be positive (or None)")
        self.rate = rate
        self._link_free = 0.0

    async def pace(self, size: int) -> None:
        """Wait until ``size`` more bytes fit through the link."""
        if self.rate is None or size == 0:
            return
        self._link_free = max(self._link_free, trio.current_time()) + size / self.rate
        await trio.sleep_until(self._link_free)


class _Connection:
    def __init__(self, stream: trio.SocketStream, app: DiscordApp, pacer: Pacer) -> None:
        self.stream = stream
        self.app = app
        self.pacer = pacer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        self.head_only = False  # the request being answered is a HEAD: headers, no body

    async def serve(self) -> None:
        conn = self.conn
        try:
            while True:
                event = await self._next_event(paced=False)
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed, or EOF between requests
                if not await self._handle(event):
                    return
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                with trio.move_on_after(1):
                    await self._send(http_error(exc.error_status_hint))
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
            pass  # the client went away, or this connection cannot go on: close it, serve others
        finally:
            await self.stream.aclose()

    async def _handle(self, request: h11.Request) -> bool:
        """Answer one request; False when the connection must close."""
        head = RequestHead(
            method=request.method.decode("ascii", "replace"),
            target=request.target.decode("ascii", "replace"),
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers},
        )
        self.head_only = head.method == "HEAD"
        step = self.app.receive(head, trio.current_time())
        if isinstance(step, Drop):
            return False
        if isinstance(step, Response):
            # Read the body the client is sending anyway, so it reaches the point of reading
            # our answer instead of failing on a reset connection.
            await self._read_body(None)
            await self._send(step)
            return True
        await self._read_body(step.sink)
        if step.delay:
            await trio.sleep(step.delay)
        response = self.app.respond(step, trio.current_time())
        if step.drop_after:
            return False
        await self._send(response)
        return True

    async def _next_event(self, *, paced: bool) -> Any:
        conn = self.conn
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if conn.they_are_waiting_for_100_continue:
                go_on = h11.InformationalResponse(status_code=100, headers=[])
                await self.stream.send_all(conn.send(go_on) or b"")
            size = _PACED_CHUNK if paced and self.pacer.rate else _CHUNK
            data = await self.stream.receive_some(size)
            if paced:
                await self.pacer.pace(len(data))
            conn.receive_data(data)

    async def _read_body(self, sink: Callable[[bytes], None] | None) -> None:
        while True:
            event = await self._next_event(paced=True)
            if isinstance(event, h11.Data):
                if sink is not None:
                    sink(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return
            else:  # pragma: no cover - h11 yields only Data/EndOfMessage here
                raise h11.RemoteProtocolError("unexpected event in a request body")

    async def _send(self, response: Response) -> None:
        self.app.count(response)
        conn = self.conn
        headers = list(response.headers)
        if response.status != 204:
            headers.append(("Content-Length", str(len(response.body))))
        head = h11.Response(
            status_code=response.status, headers=headers, reason=response.reason.encode()
        )
        out = conn.send(head) or b""
        if response.body and not self.head_only:
            out += conn.send(h11.Data(data=response.body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
        await self.stream.send_all(out)


async def serve_connection(stream: trio.SocketStream, app: DiscordApp, pacer: Pacer) -> None:
    """Serve one TCP connection until it closes (keep-alive across requests)."""
    await _Connection(stream, app, pacer).serve()
