"""A stand-in for nirn-proxy's behaviour, in trio, in front of the loopback Discord.

What uploader meets behind nirn-proxy (read from its public source, not copied): every request
on one route waits its turn in one queue shared by all clients, and waits out the bucket when
Discord's last answer said none remain; the body is forwarded once and never re-sent; Discord's
answer comes back whole, headers (rate-limit ones and ``Via``) included; when Discord is slower
than the proxy's timeout it answers ``408`` itself (a plain-text body, no ``Via``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import h11
import httpx
import trio

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _Route:
    """One route's queue: one request at a time, and the bucket's reset when it is spent."""

    def __init__(self) -> None:
        self.lock = trio.Lock()
        self.open_at = 0.0

    def learn(self, headers: httpx.Headers) -> None:
        remaining = headers.get("x-ratelimit-remaining")
        reset_after = headers.get("x-ratelimit-reset-after")
        if remaining == "0" and reset_after is not None:
            self.open_at = trio.current_time() + float(reset_after)


class NirnLike:
    """The stand-in's state: the upstream client, one queue per route, its timeout."""

    def __init__(self, http: httpx.AsyncClient, upstream: str, timeout: float) -> None:
        self.http = http
        self.upstream = upstream
        self.timeout = timeout
        self.routes: dict[tuple[str, str], _Route] = {}

    async def forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Forward one request in its route's turn; return (status, headers, body)."""
        path = target.split("?", 1)[0]
        route = self.routes.setdefault((method, path), _Route())
        async with route.lock:
            await trio.sleep_until(route.open_at)
            sent = [(k, v) for k, v in headers if k.lower() not in {"host", *_HOP_BY_HOP}]
            request = self.http.build_request(
                method, self.upstream + target, headers=sent, content=body
            )
            with trio.move_on_after(self.timeout):
                response = await self.http.send(request)
                route.learn(response.headers)
                kept = [(k, v) for k, v in response.headers.items() if k not in _HOP_BY_HOP]
                return response.status_code, kept, response.content
        return 408, [("Content-Type", "text/plain")], b"context deadline exceeded"

    async def serve(self, stream: trio.SocketStream) -> None:
        """Serve one client connection (keep-alive) until it closes."""
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await _read_request(conn, stream)
                if request is None:
                    return
                status, headers, data = await self.forward(
                    request.method.decode(),
                    request.target.decode(),
                    [(k.decode(), v.decode()) for k, v in request.headers],
                    body,
                )
                head = h11.Response(
                    status_code=status, headers=[*headers, ("Content-Length", str(len(data)))]
                )
                out = (
                    conn.send(head) + conn.send(h11.Data(data=data)) + conn.send(h11.EndOfMessage())
                )
                await stream.send_all(out)
                conn.start_next_cycle()
        except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()


async def _read_request(
    conn: h11.Connection, stream: trio.SocketStream
) -> tuple[h11.Request | None, bytes]:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return request, bytes(body)
        else:
            return None, b""


@asynccontextmanager
async def open_nirn_like(upstream: str, *, request_timeout: float = 15.0) -> AsyncIterator[str]:
    """Serve the stand-in in front of ``upstream`` (the fake's ``base_url``); yield its API base."""
    async with httpx.AsyncClient(timeout=None) as http, trio.open_nursery() as nursery:
        proxy = NirnLike(http, upstream, request_timeout)
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"), proxy.serve, 0
        )
        port = listeners[0].socket.getsockname()[1]
        yield f"http://127.0.0.1:{port}/api/v10"
        nursery.cancel_scope.cancel()
