"""The fake gateway's state and script: sessions, dispatches, faults, and what the client sent.

`FakeGateway` plays Discord's side of the gateway for one bot token: HELLO with a chosen
interval, READY with a session id and a resume URL, replay of missed events on RESUME, and the
faults a test asks for (drop the connection, op 7, op 9, refuse the token with 4004, withhold
heartbeat ACKs). Every payload the client sends is recorded as a `GatewayFrame` with its time
(``trio.current_time()``, so MockClock tests see exact timings). Serve it with
`open_fake_gateway` (``uploader.testing._gateway_server``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

FAKE_BOT_TOKEN = "fake-bot-token"
FAKE_BOT_USER_ID = "100000000000000001"
MESSAGE_CONTENT_INTENT = 1 << 15


@attrs.frozen
class GatewayFrame:
    """One payload the client sent.

    Attributes:
        at: when it arrived (``trio.current_time()``).
        connection: which connection (0, 1, ...) it came on.
        op: its opcode.
        data: its ``d``.
    """

    at: float
    connection: int
    op: int
    data: Any = attrs.field(repr=False)


@attrs.define
class _Session:
    id: str
    seq: int = 0
    log: list[dict[str, Any]] = attrs.Factory(list)
    valid: bool = True


@attrs.define(eq=False)
class _Link:
    index: int
    ws: WebSocketConnection
    stream: trio.abc.Stream
    session: _Session | None = None


class FakeGateway:
    """A scriptable Discord gateway for one bot.

    Args:
        token: the token IDENTIFY and RESUME must carry; any other is closed with 4004.
        heartbeat_interval_ms: the interval HELLO announces (changeable between connections).
        ack_heartbeats: answer op 1 with op 11 (set False to make the client see a zombie).
        max_concurrency: the ``session_start_limit.max_concurrency`` handed out.
        privileged_intents: allow the MESSAGE_CONTENT intent; False closes its IDENTIFY with
            4014.
        user_id: the bot's user id, which READY hands out (also the application id).
    """

    def __init__(
        self,
        *,
        token: str = FAKE_BOT_TOKEN,
        heartbeat_interval_ms: int = 41250,
        ack_heartbeats: bool = True,
        max_concurrency: int = 1,
        privileged_intents: bool = True,
        user_id: str = FAKE_BOT_USER_ID,
    ) -> None:
        self._token = token
        self.user_id = user_id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_heartbeats = ack_heartbeats
        self.max_concurrency = max_concurrency
        self.privileged_intents = privileged_intents
        self.port = 0
        self.received: list[GatewayFrame] = []
        self.client_close_codes: list[int | None] = []
        """How each connection ended: its close code (from either side); None when cut."""
        self.connections = 0
        self.paths: list[str] = []
        """The request path of each connection (``/resume`` when the resume URL was used)."""
        self._links: dict[int, _Link] = {}
        self._sessions: dict[str, _Session] = {}
        self._latest_session: _Session | None = None
        self._session_ids = itertools.count(1)
        self._message_ids = itertools.count(500000000000000001)
        self._changed = trio.Event()
        self._outbox, self._outbox_out = trio.open_memory_channel[tuple[str, Any]](math.inf)

    def __repr__(self) -> str:
        return f"<FakeGateway url={self.url!r} connections={self.connections}>"

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL GET /gateway/bot hands out."""
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def resume_url(self) -> str:
        """The ``resume_gateway_url`` READY hands out (a distinct path, so tests can tell)."""
        return f"ws://127.0.0.1:{self.port}/resume"

    def gateway_bot_payload(self) -> dict[str, Any]:
        """The JSON body of GET /gateway/bot."""
        return {
            "url": self.url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 0,
                "max_concurrency": self.max_concurrency,
            },
        }

    def http_transport(self) -> httpx.MockTransport:
        """An httpx transport answering GET ``<any base>/gateway/bot`` for this fake."""

        def answer(request: httpx.Request) -> httpx.Response:
            if not request.url.path.endswith("/gateway/bot"):
                return httpx.Response(404, json={"message": "404: Not Found", "code": 0})
            if request.headers.get("Authorization") != f"Bot {self._token}":
                return httpx.Response(401, json={"message": "401: Unauthorized", "code": 0})
            return httpx.Response(200, json=self.gateway_bot_payload())

        return httpx.MockTransport(answer)

    # -- what the client sent ----------------------------------------------------------------

    def frames(self, op: int) -> list[GatewayFrame]:
        """The recorded payloads with opcode ``op``, in arrival order."""
        return [frame for frame in self.received if frame.op == op]

    @property
    def identifies(self) -> list[GatewayFrame]:
        """Every IDENTIFY (op 2)."""
        return self.frames(2)

    @property
    def resumes(self) -> list[GatewayFrame]:
        """Every RESUME (op 6); ``data`` holds ``session_id`` and ``seq``."""
        return self.frames(6)

    @property
    def heartbeats(self) -> list[GatewayFrame]:
        """Every heartbeat (op 1); ``at`` is when it arrived, ``data`` the sequence sent."""
        return self.frames(1)

    @property
    def live_connections(self) -> int:
        """Connections open now."""
        return len(self._links)

    @property
    def session_id(self) -> str | None:
        """The latest session's id."""
        return self._latest_session.id if self._latest_session else None

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is re-checked after every change."""
        while not predicate():
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- the script --------------------------------------------------------------------------

    async def dispatch(self, name: str, data: Any, *, session_id: str | None = None) -> int:
        """Dispatch an event in one session, or by default in every live session of the token
        (as Discord does for a bot connected twice); return its sequence in the latest session.

        When no connection carries a session, the event waits there for a RESUME to replay it.
        """
        if session_id:
            return await self._dispatch_in(self._sessions[session_id], name, data)
        sessions = [s for s in self._sessions.values() if s.valid]
        if not sessions:
            raise RuntimeError("no session to dispatch in")
        seq = 0
        for session in sessions:
            seq = await self._dispatch_in(session, name, data)
        return seq

    async def _dispatch_in(self, session: _Session, name: str, data: Any) -> int:
        session.seq += 1
        payload = {"op": 0, "t": name, "s": session.seq, "d": data}
        session.log.append(payload)
        for link in list(self._links.values()):
            if link.session is session:
                await self._send(link, payload)
        return session.seq

    def dispatch_soon(self, name: str, data: Any) -> None:
        """Queue a dispatch in the latest session from synchronous code (e.g. the HTTP fake
        reporting a message the bot posted); `pump` sends it. Dropped when there is no session.
        """
        self._outbox.send_nowait((name, data))

    async def pump(self) -> None:
        """Send what `dispatch_soon` queued, until cancelled (the server runs this)."""
        async for name, data in self._outbox_out:
            if self._latest_session is not None:
                await self.dispatch(name, data)

    async def message_create(
        self,
        content: str,
        *,
        channel_id: str = "200000000000000001",
        author_id: str = "300000000000000001",
        guild_id: str | None = "400000000000000001",
        message_id: str | None = None,
    ) -> dict[str, Any]:
        """Dispatch a MESSAGE_CREATE from a user; return the message object."""
        message: dict[str, Any] = {
            "id": message_id or str(next(self._message_ids)),
            "channel_id": channel_id,
            "content": content,
            "author": {"id": author_id, "username": f"user{author_id[-4:]}", "bot": False},
            "attachments": [],
        }
        if guild_id is not None:
            message["guild_id"] = guild_id
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def interaction_create(self, interaction: Mapping[str, Any]) -> None:
        """Dispatch an INTERACTION_CREATE with the given interaction object."""
        await self.dispatch("INTERACTION_CREATE", dict(interaction))

    async def drop(self, connection: int | None = None) -> None:
        """Cut a connection (the latest by default) without a close frame."""
        link = self._link(connection)
        await link.stream.aclose()

    async def request_reconnect(self, connection: int | None = None) -> None:
        """Send op 7: the client should reconnect and resume."""
        await self._send(self._link(connection), {"op": 7, "d": None})

    async def request_heartbeat(self, connection: int | None = None) -> None:
        """Send op 1: the client should beat at once."""
        await self._send(self._link(connection), {"op": 1, "d": None})

    async def invalidate_session(self, *, resumable: bool, connection: int | None = None) -> None:
        """Send op 9 with ``d: resumable``; when not resumable the session is gone."""
        link = self._link(connection)
        if not resumable and link.session is not None:
            link.session.valid = False
        await self._send(link, {"op": 9, "d": resumable})

    async def close(self, code: int, reason: str = "", *, connection: int | None = None) -> None:
        """Close a connection (the latest by default) with ``code``."""
        await self._link(connection).ws.aclose(code=code, reason=reason or None)

    def _link(self, connection: int | None) -> _Link:
        if connection is None:
            if not self._links:
                raise RuntimeError("no live connection")
            return self._links[max(self._links)]
        return self._links[connection]

    # -- serving one connection --------------------------------------------------------------

    async def serve(self, ws: WebSocketConnection, stream: trio.abc.Stream) -> None:
        """Play the gateway on one accepted WebSocket until it closes."""
        link = _Link(self.connections, ws, stream)
        self.connections += 1
        self.paths.append(ws.path or "/")
        self._links[link.index] = link
        self._notify()
        try:
            await self._send(
                link, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
            )
            while True:
                payload = json.loads(await ws.get_message())
                frame = GatewayFrame(
                    trio.current_time(), link.index, int(payload.get("op", -1)), payload.get("d")
                )
                self.received.append(frame)
                self._notify()
                await self._answer(link, frame)
        except ConnectionClosed as exc:
            code = exc.reason.code if exc.reason else None
            self.client_close_codes.append(code)
            if code in (1000, 1001) and link.session is not None:
                link.session.valid = False  # a normal close ends the session, as on Discord
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.client_close_codes.append(None)
        finally:
            del self._links[link.index]
            self._notify()

    async def _answer(self, link: _Link, frame: GatewayFrame) -> None:
        data = frame.data if isinstance(frame.data, Mapping) else {}
        if frame.op == 1 and self.ack_heartbeats:
            await self._send(link, {"op": 11})
        elif frame.op in (2, 6) and data.get("token") != self._token:
            await link.ws.aclose(code=4004, reason="Authentication failed.")
        elif frame.op == 2:
            await self._identify(link, data)
        elif frame.op == 6:
            await self._resume(link, data)

    async def _identify(self, link: _Link, data: Mapping[str, Any]) -> None:
        intents = data.get("intents")
        asks_content = isinstance(intents, int) and bool(intents & MESSAGE_CONTENT_INTENT)
        if asks_content and not self.privileged_intents:
            await link.ws.aclose(code=4014, reason="Disallowed intent(s).")
            return
        session = _Session(f"fake-session-{next(self._session_ids)}")
        self._sessions[session.id] = session
        self._latest_session = session
        link.session = session
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": {"id": self.user_id, "username": "uploader", "bot": True},
                "guilds": [],
                "session_id": session.id,
                "resume_gateway_url": self.resume_url,
                "application": {"id": self.user_id, "flags": 0},
            },
            session_id=session.id,
        )

    async def _resume(self, link: _Link, data: Mapping[str, Any]) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or not session.valid:
            await self._send(link, {"op": 9, "d": False})
            return
        link.session = session
        after = data.get("seq") if isinstance(data.get("seq"), int) else 0
        for payload in list(session.log):
            if payload["s"] > after:
                await self._send(link, payload)
        await self.dispatch("RESUMED", None, session_id=session.id)

    async def _send(self, link: _Link, payload: Mapping[str, Any]) -> None:
        # When the client is gone the session keeps the event for a RESUME.
        with contextlib.suppress(
            ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            await link.ws.send_message(json.dumps(payload))
