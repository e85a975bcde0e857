"""A loopback file server for bot tests and the bot demo: links a bot can download.

``async with open_file_server(folder) as server:`` serves ``folder``'s files on 127.0.0.1 at
``server.url(name)``, each with the content type its suffix says (HTML for ``.html``), plus
``/redirect?to=<url>`` (a 302 to any URL, for redirect checks). ``stall_after`` bytes makes it
stop sending mid-file until cancelled, for tests of interrupted downloads.
"""

from __future__ import annotations

import contextlib
import functools
import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import attrs
import h11
import trio

from .._errors import single_error


@attrs.define
class FileServer:
    """A running file server.

    Attributes:
        folder: the files it serves.
        port: its TCP port on 127.0.0.1.
        stall_after: stop sending a file after this many bytes (and hang), or None.
        requests: the paths asked for, in order.
        stalled: set once a download hung at ``stall_after``.
    """

    folder: Path
    port: int = 0
    stall_after: int | None = None
    requests: list[str] = attrs.Factory(list)
    stalled: trio.Event = attrs.Factory(trio.Event)

    def url(self, name: str) -> str:
        """The link to a file (or any path) on this server."""
        return f"http://127.0.0.1:{self.port}/{name.lstrip('/')}"

    async def serve(self, stream: trio.SocketStream) -> None:
        """Answer one GET on ``stream`` (no keep-alive); a client that hangs up is no error."""
        async with stream:
            with contextlib.suppress(
                trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError
            ):
                await self._answer(stream, h11.Connection(h11.SERVER))

    async def _answer(self, stream: trio.SocketStream, conn: h11.Connection) -> None:
        request = await _next_request(conn, stream)
        if request is None:
            return
        target = urlsplit(request.target.decode("ascii", "replace"))
        self.requests.append(target.path)
        if target.path == "/redirect":
            to = parse_qs(target.query).get("to", [""])[0]
            await _send(conn, stream, 302, [("Location", to)], b"")
            return
        path = self.folder / unquote(target.path).lstrip("/")
        if not path.resolve().is_relative_to(self.folder.resolve()) or not path.is_file():
            await _send(conn, stream, 404, [("Content-Type", "text/plain")], b"not found")
            return
        # Read on the loop, not in a worker thread: tests run this server under an autojump
        # MockClock, which jumps while a thread works and would fire the client's read timeout.
        body = path.read_bytes()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = [("Content-Type", kind), ("Content-Length", str(len(body)))]
        if self.stall_after is not None and len(body) > self.stall_after:
            await _send_head(conn, stream, 200, headers)
            await stream.send_all(conn.send(h11.Data(data=body[: self.stall_after])) or b"")
            self.stalled.set()
            await trio.sleep_forever()
        await _send(conn, stream, 200, headers, body)


async def _next_request(conn: h11.Connection, stream: trio.SocketStream) -> h11.Request | None:
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Request):
            return event
        if event is not h11.NEED_DATA:
            return None
        data = await stream.receive_some(65536)
        conn.receive_data(data)
        if not data:
            return None


async def _send_head(
    conn: h11.Connection, stream: trio.SocketStream, status: int, headers: list[tuple[str, str]]
) -> None:
    head = h11.Response(status_code=status, headers=[*headers, ("Connection", "close")])
    await stream.send_all(conn.send(head) or b"")


async def _send(
    conn: h11.Connection,
    stream: trio.SocketStream,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    if not any(name == "Content-Length" for name, _ in headers):
        headers = [*headers, ("Content-Length", str(len(body)))]
    await _send_head(conn, stream, status, headers)
    out = (conn.send(h11.Data(data=body)) or b"") if body else b""
    await stream.send_all(out + (conn.send(h11.EndOfMessage()) or b""))


async def run_file_server(
    folder: Path,
    *,
    stall_after: int | None = None,
    task_status: trio.TaskStatus[FileServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``folder`` on 127.0.0.1 until cancelled (``await nursery.start(...)``)."""
    server = FileServer(Path(folder), stall_after=stall_after)
    async with trio.open_nursery() as nursery:
        serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
        listeners = await nursery.start(serve, server.serve, 0)
        server.port = listeners[0].socket.getsockname()[1]
        task_status.started(server)


@asynccontextmanager
async def open_file_server(
    folder: Path, *, stall_after: int | None = None
) -> AsyncIterator[FileServer]:
    """Run a `FileServer` for the block."""
    with single_error():
        async with trio.open_nursery() as nursery:
            start = functools.partial(run_file_server, folder, stall_after=stall_after)
            server: FileServer = await nursery.start(start)
            try:
                yield server
            finally:
                nursery.cancel_scope.cancel()
