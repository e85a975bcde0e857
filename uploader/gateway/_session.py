"""The gateway session as a state machine: what to answer each payload, when to beat.

`GatewaySession` outlives connections: it keeps the session id, the resume URL and the last
sequence number, decides whether a new connection identifies or resumes, and turns each received
payload into a `Reaction` (payloads to send, an event to hand out, or the end of the connection).
`Heartbeat` is one connection's schedule and zombie check. Time is passed in; nothing here does
I/O, so every decision is testable without a socket.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from ._models import GatewayEvent
from ._protocol import (
    Op,
    heartbeat_payload,
    identify_payload,
    resume_payload,
    session_survives,
)


class EndKind(enum.Enum):
    """Why a connection ended."""

    RECONNECT_REQUESTED = "Discord asked for a reconnect (op 7)"
    INVALID_SESSION = "Discord invalidated the session (op 9)"
    ZOMBIE = "no heartbeat ACK before the next beat"
    CLOSED = "the connection closed"


@attrs.frozen
class Ending:
    """The end of one connection.

    Attributes:
        kind: why it ended.
        resume: whether the next connection should resume the session.
        code: the close code, for `EndKind.CLOSED` (1006 when the connection dropped).
    """

    kind: EndKind
    resume: bool
    code: int | None = None


@attrs.frozen
class Reaction:
    """What to do after one received payload.

    Attributes:
        send: payloads to send at once (in order).
        event: a dispatch to hand to the caller.
        ready: the session is (again) ready: READY or RESUMED arrived.
        end: the connection must end now.
    """

    send: tuple[dict[str, Any], ...] = ()
    event: GatewayEvent | None = None
    ready: bool = False
    end: Ending | None = None


class Heartbeat:
    """One connection's heartbeat schedule: the first beat jittered, then every interval.

    Args:
        interval: seconds between beats, from HELLO.
        now: the time HELLO arrived.
        jitter: a uniform [0, 1) draw; the first beat is due at ``now + interval * jitter``.
    """

    def __init__(self, interval: float, now: float, jitter: float) -> None:
        self.interval = interval
        self.due = now + interval * jitter
        self.awaiting_ack = False
        self.sent_at: float | None = None
        self.latency: float | None = None

    def beat(self, now: float) -> bool:
        """Record a scheduled beat at ``now`` and schedule the next one.

        Returns:
            False when the previous beat was never acknowledged (a zombie connection): the
            caller must close it instead of beating.
        """
        if self.awaiting_ack:
            return False
        self.awaiting_ack = True
        self.sent_at = now
        self.due = now + self.interval
        return True

    def ack(self, now: float) -> None:
        """Record an op 11."""
        self.awaiting_ack = False
        if self.sent_at is not None:
            self.latency = now - self.sent_at


class GatewaySession:
    """The session across connections: identify or resume, sequence tracking, reactions.

    Args:
        token: the bot token (kept private, never in the repr).
        intents: the intents to identify with.
        shard: ``(shard_id, shard_count)``, or None for an unsharded bot.
    """

    def __init__(self, token: str, intents: int, shard: tuple[int, int] | None = None) -> None:
        self._token = token
        self.intents = intents
        self.shard = shard
        self.session_id: str | None = None
        self.resume_url: str | None = None
        self.seq: int | None = None
        self.heartbeat: Heartbeat | None = None

    def __repr__(self) -> str:
        return f"<GatewaySession session_id={self.session_id!r} seq={self.seq!r}>"

    @property
    def resumable(self) -> bool:
        """Whether the next connection can resume (a session id is known)."""
        return self.session_id is not None

    def forget(self) -> None:
        """Drop the session: the next connection identifies afresh."""
        self.session_id = None
        self.resume_url = None
        self.seq = None

    def hello(self, interval: float, now: float, jitter: float) -> dict[str, Any]:
        """Start a connection's heartbeat from HELLO; return the IDENTIFY or RESUME to send."""
        self.heartbeat = Heartbeat(interval, now, jitter)
        if self.session_id is not None:
            return resume_payload(self._token, self.session_id, self.seq)
        return identify_payload(self._token, self.intents, self.shard)

    def beat(self, now: float) -> dict[str, Any] | Ending:
        """The scheduled heartbeat to send now, or the zombie `Ending`."""
        assert self.heartbeat is not None, "beat before hello"
        if not self.heartbeat.beat(now):
            return Ending(EndKind.ZOMBIE, resume=self.resumable)
        return heartbeat_payload(self.seq)

    def closed(self, code: int | None) -> Ending:
        """The connection closed with ``code`` (1006 or None: dropped)."""
        if not session_survives(code):
            self.forget()
        return Ending(EndKind.CLOSED, resume=self.resumable, code=code)

    def receive(self, payload: Mapping[str, Any], now: float) -> Reaction:
        """React to one decoded payload received at ``now``."""
        op = payload.get("op")
        data = payload.get("d")
        if op == Op.DISPATCH:
            return self._dispatch(payload, data)
        if op == Op.HEARTBEAT:
            return Reaction(send=(heartbeat_payload(self.seq),))
        if op == Op.HEARTBEAT_ACK:
            if self.heartbeat is not None:
                self.heartbeat.ack(now)
            return Reaction()
        if op == Op.RECONNECT:
            return Reaction(end=Ending(EndKind.RECONNECT_REQUESTED, resume=self.resumable))
        if op == Op.INVALID_SESSION:
            if not data:
                self.forget()
            return Reaction(end=Ending(EndKind.INVALID_SESSION, resume=self.resumable))
        return Reaction()

    def _dispatch(self, payload: Mapping[str, Any], data: Any) -> Reaction:
        seq = payload.get("s")
        name = payload.get("t")
        if isinstance(seq, int):
            if self.seq is not None and seq <= self.seq:
                return Reaction()  # replayed twice: already handed out
            self.seq = seq
        if not isinstance(name, str):
            return Reaction()
        ready = name in ("READY", "RESUMED")
        if name == "READY" and isinstance(data, Mapping):
            session_id = data.get("session_id")
            self.session_id = session_id if isinstance(session_id, str) else None
            url = data.get("resume_gateway_url")
            self.resume_url = url if isinstance(url, str) else None
        event = GatewayEvent(name, data, seq if isinstance(seq, int) else None)
        return Reaction(event=event, ready=ready)
