"""The rate-limit actor: one trio task owns every bucket, the global limit and the 429 state.

Callers ask the actor for a permit over a memory channel, send the request, and hand the
response back with `Permit.record`; the actor learns buckets from the headers and grants the
next permits when the limits allow. Usage::

    async with open_rate_limiter() as limiter:
        async with limiter.permit(route) as permit:
            response = await send(request)
            permit.record(response.status_code, response.headers, response.content)

How it limits:

* Buckets are keyed by (bucket hash, major parameter). A route maps to the bucket hash its last
  answer named; several routes may share one hash. Until a route's first answer (per major
  parameter) only one request is in flight on it.
* A known bucket counts, per window, every request answered in it and every request still out,
  and grants while that count is below the learnt limit (and while the lowest Remaining an
  answer named exceeds the requests still out). The window resets at the latest
  ``answer time + Reset-After`` any of its answers named; requests still out then stay counted
  in the new window, because they may reach Discord after its window reset.
* The proactive global limit is a GCRA pacer in integer nanoseconds (one request per
  ``1 / global_rate`` seconds) with a burst tolerance of ``global_burst`` requests that absorbs
  late wake-ups, plus a log of recent grants so that no window of 1 s plus ``global_margin``
  (for requests that reach Discord unevenly late) ever holds more than ``ceil(global_rate)``.
* 429s: ``user`` empties the bucket until ``retry_after``; ``shared`` blocks the bucket without
  counting as invalid; ``global`` blocks every globally limited route.
* A permit left without `Permit.record` (cancelled, connection error) gives its bucket count
  and its global slot back, and teaches nothing.
* All timing uses `trio.current_time`, so trio's MockClock drives it exactly.

The actor's inbox has an unbounded buffer on purpose: `Permit.record` and the release on leaving
a permit must post without awaiting (sync code, cancellation paths), and each caller has at most
two messages outstanding, so the buffer stays bounded by the number of callers.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import functools
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TypeAlias

import attrs
import trio

from .._limits import INVALID_REQUEST_WINDOW
from ._errors import InvalidRequestBudgetError, RateLimitBanError, RateLimitWaitTooLongError
from ._headers import RateLimitHeaders, looks_like_ban, parse_rate_limit_headers

_NS_PER_S = 1_000_000_000
_UNKNOWN_RESET_DELAY = 1.0
"""How long an exhausted bucket waits when no answer said when it resets."""
_DEFAULT_RETRY_AFTER = 1.0
"""How long a 429 blocks when it names no retry_after, Retry-After or Reset-After."""
_GC_INTERVAL = 60.0
"""How often idle buckets are looked for."""
_STALE_AFTER = 60.0
"""An idle bucket whose window has ended is dropped after this many seconds unused."""


@attrs.frozen
class Route:
    """One API route with its major parameter: what a bucket is looked up by.

    Attributes:
        method: the HTTP method, e.g. ``"POST"``.
        template: the path without ids, e.g. ``"/channels/{channel_id}/messages"``.
        major: the major parameter, e.g. ``"channel:123"`` or ``"webhook:<id>:<sha256 prefix>"``;
            never a raw token.
        global_limited: False for webhook requests sent without a bot token.
    """

    method: str
    template: str
    major: str
    global_limited: bool = True

    @property
    def key(self) -> str:
        """The bucket lookup key, ``"<method> <template>|<major>"``.

        For example ``"POST /channels/{channel_id}/messages|channel:123"``.
        """
        return f"{self.method} {self.template}|{self.major}"

    @property
    def path_key(self) -> str:
        """``"<method> <template>"``: the part that maps to a bucket hash."""
        return f"{self.method} {self.template}"


@attrs.frozen
class BucketState:
    """A snapshot of one bucket, for tests and diagnostics.

    Attributes:
        bucket: the bucket hash, or None while the route has had no answer naming one.
        major: the major parameter.
        limit: the learnt limit, or None before the first answer.
        remaining: permits the current window still has (requests in flight count against it).
        reset_at: the trio time the window resets, or None when not known (yet).
        blocked_until: the trio time a shared or user 429 blocks the bucket until, or None.
        in_flight: permits granted and not yet recorded or released.
        pending: permit requests waiting.
    """

    bucket: str | None
    major: str
    limit: int | None
    remaining: int | None
    reset_at: float | None
    blocked_until: float | None
    in_flight: int
    pending: int


# --- actor state -------------------------------------------------------------------------------


class _TicketState(enum.Enum):
    WAITING = "waiting"
    GRANTED = "granted"
    FAILED = "failed"
    ABANDONED = "abandoned"
    DONE = "done"


_QueueKey: TypeAlias = tuple[str, str, str]
"""("bucket", hash, major) once a bucket hash is known, ("route", path_key, major) before."""


class _Queue:
    """One bucket's state and its waiting tickets (owned by the actor task).

    The window's count is ``answered + in_flight``: every request answered since the window
    began, and every request still out, whenever it was granted. A request still out when the
    window resets may reach Discord after the reset, so it stays counted in the new window.
    """

    def __init__(self, key: _QueueKey, now: float) -> None:
        self.key = key
        self.pending: collections.deque[_Ticket] = collections.deque()
        self.in_flight = 0
        self.answered = 0
        self.limit: int | None = None
        self.lowest: int | None = None
        """The lowest X-RateLimit-Remaining an answer in this window named."""
        self.reset_at: float | None = None
        self.blocked_until: float | None = None
        self.last_used = now

    @property
    def is_known(self) -> bool:
        return self.limit is not None

    @property
    def remaining(self) -> int | None:
        """Permits the window still has, or None while the limit is unknown.

        The learnt limit less everything counted, and never more than the lowest Remaining an
        answer named less every request still out: a request still out may reach Discord
        after that answer's request did, so it may not be in that count yet.
        """
        if self.limit is None:
            return None
        left = self.limit - self.answered
        if self.lowest is not None:
            left = min(left, self.lowest)
        return max(0, left - self.in_flight)

    def refresh(self, now: float) -> None:
        """Start a new window once the reset time has come; end an expired 429 block.

        Requests still in flight stay counted: the new window begins with them.
        """
        if self.reset_at is not None and now >= self.reset_at:
            self.reset_at = None
            self.answered = 0
            self.lowest = None
        if self.blocked_until is not None and now >= self.blocked_until:
            self.blocked_until = None

    def ready_at(self, now: float) -> float | None:
        """When the head ticket may go (bucket-wise), or None while waiting for an answer."""
        self.refresh(now)
        if not self.is_known:
            if self.in_flight:
                return None
            ready = now
        elif self.remaining:
            ready = now
        elif self.reset_at is not None:
            ready = self.reset_at
        else:
            return None
        if self.blocked_until is not None:
            ready = max(ready, self.blocked_until)
        return ready

    def settle(self, now: float) -> None:
        """Give an exhausted bucket a reset time when every answer is in and none named one."""
        exhausted = self.is_known and self.remaining == 0
        if exhausted and self.reset_at is None and not self.in_flight:
            self.reset_at = now + _UNKNOWN_RESET_DELAY

    def drop_abandoned(self) -> None:
        while self.pending and self.pending[0].state is not _TicketState.WAITING:
            self.pending.popleft()


class _Ticket:
    """The hand-shake of one permit between a caller and the actor."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.seq = 0
        self.event = trio.Event()
        self.state = _TicketState.WAITING
        self.error: BaseException | None = None
        self.queue: _Queue | None = None
        self.global_ns: int | None = None
        """When the permit took a global slot (ns), or None when it took none."""

    def grant(self, queue: _Queue) -> None:
        self.queue = queue
        self.state = _TicketState.GRANTED
        self.event.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.state = _TicketState.FAILED
        self.event.set()


class _Scope(enum.Enum):
    """What a response was, as far as 429s go."""

    NONE = "none"
    USER = "user"
    SHARED = "shared"
    GLOBAL = "global"


@attrs.frozen
class _Acquire:
    ticket: _Ticket


@attrs.frozen
class _Release:
    ticket: _Ticket


@attrs.frozen
class _Response:
    ticket: _Ticket
    headers: RateLimitHeaders
    scope: _Scope
    ban: bool
    at: float


@attrs.frozen
class _Inspect:
    route: Route
    reply: trio.MemorySendChannel[BucketState | None]


_Message: TypeAlias = _Acquire | _Release | _Response | _Inspect


class _InvalidRequestGuard:
    """A sliding-window count of invalid answers (401, 403, non-shared 429)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._times: collections.deque[float] = collections.deque()

    def count(self, now: float) -> int:
        while self._times and self._times[0] <= now - INVALID_REQUEST_WINDOW:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> int:
        self._times.append(now)
        return self.count(now)

    def spent(self, now: float) -> bool:
        return self.count(now) >= self.budget


def _later(current: float | None, new: float) -> float:
    return new if current is None else max(current, new)


def _classify_429(status: int, headers: RateLimitHeaders) -> _Scope:
    if status != 429:
        return _Scope.NONE
    if headers.is_global or headers.scope == "global":
        return _Scope.GLOBAL
    if headers.scope == "shared":
        return _Scope.SHARED
    return _Scope.USER


class Permit:
    """Leave to send one request; hand its response back with `record`.

    Leaving the ``async with`` without `record` (cancelled, or the connection was never made)
    releases the slot and teaches the limiter nothing; `spent` keeps the slot counted when the
    request may have reached Discord but its answer was lost.
    """

    def __init__(self, limiter: RateLimiter, ticket: _Ticket) -> None:
        self._limiter = limiter
        self._ticket = ticket

    @property
    def route(self) -> Route:
        """The route this permit was granted for."""
        return self._ticket.route

    def record(self, status: int, headers: Mapping[str, str], body: bytes | None = None) -> None:
        """Hand back the response so the limiter learns from it.

        Args:
            status: the HTTP status.
            headers: the response headers (any case).
            body: the raw body; a 429's float ``retry_after`` is read from it.

        Raises:
            RateLimitBanError: the answer looks like a Cloudflare ban; every later permit()
                raises it too.
            InvalidRequestBudgetError: this answer brought the invalid answers (401, 403,
                non-shared 429) within the last 10 minutes up to the budget.
            RuntimeError: the permit was already recorded or released.
        """
        ticket = self._ticket
        if ticket.state is not _TicketState.GRANTED:
            raise RuntimeError("this permit was already recorded or released")
        ticket.state = _TicketState.DONE
        parsed = parse_rate_limit_headers(headers, body)
        ban = looks_like_ban(status, headers, body)
        scope = _Scope.NONE if ban else _classify_429(status, parsed)
        now = trio.current_time()
        limiter = self._limiter
        limiter._post(_Response(ticket, parsed, scope, ban, now))
        if ban:
            limiter._banned = True
            raise RateLimitBanError()
        if status in (401, 403) or scope in (_Scope.USER, _Scope.GLOBAL):
            count = limiter._guard.add(now)
            if count >= limiter._guard.budget:
                raise InvalidRequestBudgetError(count, limiter._guard.budget)

    def spent(self) -> None:
        """The request may have reached Discord but no answer came (a timeout, a reset after
        the body went out): keep its slot counted, learn nothing."""
        self.record(0, {})

    def _release(self) -> None:
        if self._ticket.state is _TicketState.GRANTED:
            self._ticket.state = _TicketState.DONE
            self._limiter._post(_Release(self._ticket))


class RateLimiter:
    """Hands out permits to send requests to Discord; build one with `open_rate_limiter`.

    The state lives in the actor task started by `run_rate_limiter`; this object is the
    callers' side of its channel. Only two flags are set directly by `Permit.record`, because it
    must raise at once: the ban, and the invalid-answer count.
    """

    def __init__(
        self,
        *,
        global_rate: float | None = 50.0,
        global_burst: int = 3,
        global_margin: float = 0.05,
        max_wait: float = 300.0,
        invalid_request_budget: int = 1000,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if global_rate is not None and not (0.0 < global_rate < math.inf):
            raise ValueError("global_rate must be a positive number of requests per second")
        if global_burst < 0:
            raise ValueError("global_burst must not be negative")
        if not (0.0 <= global_margin < math.inf):
            raise ValueError("global_margin must be a non-negative number of seconds")
        if not max_wait >= 0.0:
            raise ValueError("max_wait must not be negative")
        if invalid_request_budget < 1:
            raise ValueError("invalid_request_budget must be at least 1")
        self.global_rate = global_rate
        self.global_burst = global_burst
        self.global_margin = global_margin
        self.max_wait = max_wait
        self._send, self._receive = trio.open_memory_channel[_Message](math.inf)
        self._guard = _InvalidRequestGuard(invalid_request_budget)
        self._banned = False
        self._actor = _Actor(
            global_rate=global_rate,
            global_burst=global_burst,
            global_margin=global_margin,
            max_wait=max_wait,
            wall_clock=wall_clock,
            limiter=self,
        )

    def close(self) -> None:
        """Stop the actor; waiting and later permit() calls raise `trio.ClosedResourceError`."""
        self._send.close()

    def _post(self, message: _Message) -> None:
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._send.send_nowait(message)

    def _check_usable(self) -> None:
        if self._banned:
            raise RateLimitBanError()
        now = trio.current_time()
        if self._guard.spent(now):
            raise InvalidRequestBudgetError(self._guard.count(now), self._guard.budget)

    @contextlib.asynccontextmanager
    async def _permit(self, route: Route) -> AsyncIterator[Permit]:
        self._check_usable()
        ticket = _Ticket(route)
        try:
            self._send.send_nowait(_Acquire(ticket))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise trio.ClosedResourceError("the rate limiter is closed") from None
        try:
            await ticket.event.wait()
        except BaseException:
            if ticket.state is _TicketState.GRANTED:
                ticket.state = _TicketState.DONE
                self._post(_Release(ticket))
            else:
                ticket.state = _TicketState.ABANDONED
            raise
        if ticket.error is not None:
            raise ticket.error
        permit = Permit(self, ticket)
        try:
            yield permit
        finally:
            permit._release()

    def permit(self, route: Route) -> AbstractAsyncContextManager[Permit]:
        """Wait until a request on ``route`` may be sent (bucket and global limits).

        Args:
            route: the route and major parameter of the request.

        Returns:
            An async context manager yielding the `Permit`; leaving it without
            `Permit.record` releases the slot.

        Raises:
            RateLimitBanError: a ban was seen earlier.
            InvalidRequestBudgetError: the invalid-answer budget is spent (until answers age out
                of the 10-minute window).
            RateLimitWaitTooLongError: the wait would be longer than ``max_wait``.
            trio.ClosedResourceError: the limiter was closed.
        """
        return self._permit(route)

    async def bucket_state(self, route: Route) -> BucketState | None:
        """A snapshot of the bucket ``route`` maps to, or None when none is tracked."""
        send, receive = trio.open_memory_channel[BucketState | None](1)
        try:
            self._send.send_nowait(_Inspect(route, send))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise trio.ClosedResourceError("the rate limiter is closed") from None
        async with receive:
            return await receive.receive()


class _GlobalPacer:
    """The proactive global limit, in integer nanoseconds of trio time.

    A GCRA pacer (one request per ``interval_ns``, tracked as a theoretical arrival time) with a
    burst tolerance of ``credit`` requests: a grant may run up to ``credit`` intervals ahead of
    its slot, so a late wake-up does not push every later slot back. On top of it, a sliding
    log of recent grants caps any window of ``window_ns`` (1 s plus the margin) at
    ``per_second`` grants, which the tolerance alone would not (idle time banks the credit, and
    a burst plus a full second of paced grants would exceed the rate).

    The margin is there because Discord counts requests when they arrive, and they arrive
    unevenly late after their grant (event loop, connection, network): grants exactly 1 s apart
    can arrive less than 1 s apart. With a margin, arrivals within one second of each other
    never outnumber the rate unless their delays after the grant differ by more than it.

    Args:
        rate: requests per second.
        burst: requests of credit; at most ``per_second - 1`` of it is used, so rates of one
            request per second or less are paced strictly.
        margin_ns: how much longer than 1 s the capped window is.
    """

    def __init__(self, rate: float, burst: int, margin_ns: int) -> None:
        self.interval_ns = math.ceil(_NS_PER_S / rate)
        self.per_second = math.ceil(rate)
        """The most grants any 1 s window holds: the rate itself when it is whole."""
        self.credit = min(burst, self.per_second - 1)
        self.tolerance_ns = self.credit * self.interval_ns
        self.window_ns = _NS_PER_S + margin_ns
        self.tat_ns: int | None = None
        self.recent: collections.deque[int] = collections.deque()
        """The grants of the last window (ns, oldest first)."""

    def open_ns(self, now_ns: int) -> int | None:
        """The first instant (ns) from which the next grant may go; None: any time."""
        while self.recent and self.recent[0] <= now_ns - self.window_ns:
            self.recent.popleft()
        opens = None if self.tat_ns is None else self.tat_ns - self.tolerance_ns
        if len(self.recent) >= self.per_second:
            full_until = self.recent[-self.per_second] + self.window_ns
            opens = full_until if opens is None else max(opens, full_until)
        return opens

    def take(self, now_ns: int) -> None:
        """Charge one grant at ``now_ns``."""
        tat = now_ns if self.tat_ns is None else max(self.tat_ns, now_ns)
        self.tat_ns = tat + self.interval_ns
        self.recent.append(now_ns)

    def give_back(self, granted_ns: int) -> None:
        """Undo the grant made at ``granted_ns``: its request never left."""
        if self.tat_ns is not None:
            self.tat_ns -= self.interval_ns
        with contextlib.suppress(ValueError):  # already older than the window
            self.recent.remove(granted_ns)


class _Actor:
    """The one task that owns all bucket and global state."""

    def __init__(
        self,
        *,
        global_rate: float | None,
        global_burst: int,
        global_margin: float,
        max_wait: float,
        wall_clock: Callable[[], float],
        limiter: RateLimiter,
    ) -> None:
        self.max_wait = max_wait
        self.wall_clock = wall_clock
        self.limiter = limiter
        self.pacer = (
            None
            if global_rate is None
            else _GlobalPacer(global_rate, global_burst, round(global_margin * _NS_PER_S))
        )
        self.global_blocked_until: float | None = None
        self.routes: dict[str, str] = {}
        self.queues: dict[_QueueKey, _Queue] = {}
        self.waiting: dict[_QueueKey, _Queue] = {}
        self.next_seq = 0
        self.next_gc = -math.inf

    # --- the loop ------------------------------------------------------------------------------

    async def run(self, receive: trio.MemoryReceiveChannel[_Message]) -> None:
        try:
            async with receive:
                while True:
                    deadline = self.pump(trio.current_time())
                    with trio.move_on_at(deadline):
                        try:
                            message = await receive.receive()
                        except trio.EndOfChannel:
                            return
                        self.handle(message)
        finally:
            self.fail_everything(lambda: trio.ClosedResourceError("the rate limiter is closed"))

    def handle(self, message: _Message) -> None:
        now = trio.current_time()
        self.collect_stale(now)
        if isinstance(message, _Acquire):
            self.on_acquire(message.ticket, now)
        elif isinstance(message, _Release):
            self.on_release(message.ticket, now)
        elif isinstance(message, _Response):
            self.on_response(message)
        else:
            queue = self.lookup(message.route)
            with contextlib.suppress(trio.BrokenResourceError):
                message.reply.send_nowait(None if queue is None else self.snapshot(queue, now))

    # --- queues --------------------------------------------------------------------------------

    def lookup(self, route: Route) -> _Queue | None:
        unknown = self.queues.get(("route", route.path_key, route.major))
        if unknown is not None:
            return unknown
        bucket = self.routes.get(route.path_key)
        return None if bucket is None else self.queues.get(("bucket", bucket, route.major))

    def queue_for(self, route: Route, now: float) -> _Queue:
        queue = self.lookup(route)
        if queue is None:
            bucket = self.routes.get(route.path_key)
            key = (
                ("route", route.path_key, route.major)
                if bucket is None
                else ("bucket", bucket, route.major)
            )
            queue = self.queues[key] = _Queue(key, now)
        return queue

    def snapshot(self, queue: _Queue, now: float) -> BucketState:
        queue.refresh(now)
        kind, name, major = queue.key
        return BucketState(
            bucket=name if kind == "bucket" else None,
            major=major,
            limit=queue.limit,
            remaining=queue.remaining,
            reset_at=queue.reset_at,
            blocked_until=queue.blocked_until,
            in_flight=queue.in_flight,
            pending=sum(t.state is _TicketState.WAITING for t in queue.pending),
        )

    def collect_stale(self, now: float) -> None:
        if now < self.next_gc:
            return
        self.next_gc = now + _GC_INTERVAL
        for key, queue in list(self.queues.items()):
            queue.refresh(now)
            queue.drop_abandoned()
            idle = not queue.pending and not queue.in_flight
            settled = queue.reset_at is None and queue.blocked_until is None
            if idle and settled and now - queue.last_used >= _STALE_AFTER:
                del self.queues[key]

    # --- granting ------------------------------------------------------------------------------

    def global_open_at(self, now: float) -> float:
        """The trio time from which a globally limited request may go."""
        opens = -math.inf
        if self.pacer is not None:
            opens_ns = self.pacer.open_ns(round(now * _NS_PER_S))
            if opens_ns is not None:
                opens = opens_ns / _NS_PER_S
        if self.global_blocked_until is not None:
            opens = max(opens, self.global_blocked_until)
        return opens

    def too_long(self, seconds: float) -> RateLimitWaitTooLongError:
        return RateLimitWaitTooLongError(seconds, self.max_wait)

    def pump(self, now: float) -> float:
        """Grant every permit that may go now; return when to look again (inf: on a message)."""
        self.collect_stale(now)
        if self.global_blocked_until is not None and now >= self.global_blocked_until:
            self.global_blocked_until = None
        while True:
            deadline = math.inf
            best: _Queue | None = None
            for key, queue in list(self.waiting.items()):
                ready = self.head_ready_at(queue, now)
                if not queue.pending:
                    del self.waiting[key]
                elif ready is None:
                    continue
                elif ready > now:
                    deadline = min(deadline, ready)
                elif best is None or queue.pending[0].seq < best.pending[0].seq:
                    best = queue
            if best is None:
                return deadline
            self.grant(best, best.pending.popleft(), now)

    def head_ready_at(self, queue: _Queue, now: float) -> float | None:
        """When the queue's first live ticket may go; fails tickets that would wait too long."""
        while True:
            queue.drop_abandoned()
            if not queue.pending:
                return None
            ready = queue.ready_at(now)
            if ready is None:
                return None
            if ready - now > self.max_wait:
                for ticket in queue.pending:
                    if ticket.state is _TicketState.WAITING:
                        ticket.fail(self.too_long(ready - now))
                queue.pending.clear()
                return None
            head = queue.pending[0]
            if head.route.global_limited:
                ready = max(ready, self.global_open_at(now))
                if ready - now > self.max_wait:
                    queue.pending.popleft().fail(self.too_long(ready - now))
                    continue
            return ready

    def grant(self, queue: _Queue, ticket: _Ticket, now: float) -> None:
        queue.in_flight += 1
        queue.last_used = now
        if ticket.route.global_limited and self.pacer is not None:
            ticket.global_ns = round(now * _NS_PER_S)
            self.pacer.take(ticket.global_ns)
        ticket.grant(queue)

    def fail_everything(self, error: Callable[[], BaseException]) -> None:
        for queue in self.waiting.values():
            for ticket in queue.pending:
                if ticket.state is _TicketState.WAITING:
                    ticket.fail(error())
            queue.pending.clear()
        self.waiting.clear()

    # --- messages ------------------------------------------------------------------------------

    def on_acquire(self, ticket: _Ticket, now: float) -> None:
        if ticket.state is not _TicketState.WAITING:
            return
        if self.limiter._banned:
            ticket.fail(RateLimitBanError())
            return
        ticket.seq = self.next_seq
        self.next_seq += 1
        queue = self.queue_for(ticket.route, now)
        queue.last_used = now
        queue.pending.append(ticket)
        self.waiting[queue.key] = queue

    def on_release(self, ticket: _Ticket, now: float) -> None:
        """A permit left unrecorded: its request never left, so it counts nowhere; learn nothing.

        Only the request itself is taken out of the window's count; a lower Remaining that
        an answer named still holds.
        """
        queue = ticket.queue
        assert queue is not None
        queue.refresh(now)
        queue.in_flight -= 1
        if ticket.global_ns is not None and self.pacer is not None:
            self.pacer.give_back(ticket.global_ns)
        queue.settle(now)

    def on_response(self, message: _Response) -> None:
        ticket, headers, now = message.ticket, message.headers, message.at
        source = ticket.queue
        assert source is not None
        # Count the answer in the window it arrives in: if that window began while the request
        # was out, the request may have reached Discord in it.
        source.refresh(now)
        source.in_flight -= 1
        source.answered += 1
        if message.ban:
            self.fail_everything(RateLimitBanError)
            return
        target = source
        if headers.bucket is not None:
            target = self.move_route(ticket.route, source, headers.bucket, now)
        if target is not source:
            target.refresh(now)
            target.answered += 1  # the request reached the bucket it names
        self.learn(target, headers, now)
        if message.scope is not _Scope.NONE:
            self.block(message, target, now)
        source.settle(now)
        target.settle(now)

    def block(self, message: _Response, target: _Queue, now: float) -> None:
        """Obey a 429: block the bucket (user, shared) or every global route (global)."""
        headers, ticket = message.headers, message.ticket
        retry_after = headers.retry_after
        if retry_after is None:
            retry_after = headers.reset_after
        if retry_after is None:
            retry_after = _DEFAULT_RETRY_AFTER
        until = now + retry_after
        if message.scope is _Scope.GLOBAL and ticket.route.global_limited:
            self.global_blocked_until = _later(self.global_blocked_until, until)
        elif message.scope is _Scope.USER:
            if target.is_known:
                target.lowest = 0
            target.reset_at = _later(target.reset_at, until)
            target.blocked_until = _later(target.blocked_until, until)
        else:  # shared, or a global 429 on a route outside the global limit
            target.blocked_until = _later(target.blocked_until, until)

    def move_route(self, route: Route, source: _Queue, bucket: str, now: float) -> _Queue:
        """Map the route to the bucket hash its answer named; move its waiting tickets along."""
        self.routes[route.path_key] = bucket
        key = ("bucket", bucket, route.major)
        if source.key == key:
            return source
        target = self.queues.get(key)
        if target is None:
            target = self.queues[key] = _Queue(key, now)
        moving = [t for t in source.pending if t.route.path_key == route.path_key]
        if moving:
            source.pending = collections.deque(
                t for t in source.pending if t.route.path_key != route.path_key
            )
            target.pending = collections.deque(
                sorted([*target.pending, *moving], key=lambda t: t.seq)
            )
            self.waiting[target.key] = target
        if source.key[0] == "route" and not source.pending and not source.in_flight:
            del self.queues[source.key]
            self.waiting.pop(source.key, None)
        return target

    def learn(self, queue: _Queue, headers: RateLimitHeaders, now: float) -> None:
        """Take the limit, remaining count and reset time an answer gives.

        The reset only ever moves later within a window: every answer counted in the window
        came from a Discord window that ends no later than ``now + Reset-After``, so once the
        latest such time has passed, nothing counted here can share a window with a later
        request. Requests still out at the reset stay counted (see `_Queue`).
        """
        queue.last_used = now
        if headers.limit is not None:
            queue.limit = headers.limit
        if headers.remaining is not None:
            queue.lowest = (
                headers.remaining if queue.lowest is None else min(queue.lowest, headers.remaining)
            )
        delay = headers.reset_after
        if delay is None and headers.reset_at is not None:
            delay = max(headers.reset_at - self.wall_clock(), 0.0)
        if delay is not None:
            queue.reset_at = _later(queue.reset_at, now + delay)
        queue.refresh(now)


# --- factories ---------------------------------------------------------------------------------


async def run_rate_limiter(
    *,
    global_rate: float | None = 50.0,
    global_burst: int = 3,
    global_margin: float = 0.05,
    max_wait: float = 300.0,
    invalid_request_budget: int = 1000,
    wall_clock: Callable[[], float] = time.time,
    task_status: trio.TaskStatus[RateLimiter] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the rate-limit actor until cancelled or `RateLimiter.close` is called.

    Use as ``limiter = await nursery.start(run_rate_limiter)``.

    Args:
        global_rate: requests per second allowed per bot token; None for proxy mode (no
            proactive global limit, global 429s still obeyed).
        global_burst: requests of credit the global pacer may run ahead of strict pacing, so
            late wake-ups do not cost throughput; no 1 s window ever holds more than
            ``ceil(global_rate)`` requests all the same. 0 paces strictly.
        global_margin: seconds added to that 1 s window, because requests reach Discord
            unevenly late after their permit and Discord counts arrivals: at the default 50 ms,
            50/s runs at about 50 per 1.05 s. 0 caps grants at exactly the rate.
        max_wait: the longest single wait, in seconds; a longer one raises
            `RateLimitWaitTooLongError` instead of sleeping.
        invalid_request_budget: how many 401/403/non-shared-429 answers within 10 minutes make
            `Permit.record` raise `InvalidRequestBudgetError` (Discord bans at 10,000).
        wall_clock: the Unix-time clock, used only when an answer has X-RateLimit-Reset but no
            X-RateLimit-Reset-After.
        task_status: the nursery start protocol; started with the `RateLimiter`.
    """
    limiter = RateLimiter(
        global_rate=global_rate,
        global_burst=global_burst,
        global_margin=global_margin,
        max_wait=max_wait,
        invalid_request_budget=invalid_request_budget,
        wall_clock=wall_clock,
    )
    task_status.started(limiter)
    await limiter._actor.run(limiter._receive)


def _only_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    errors: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        error = stack.pop()
        if isinstance(error, BaseExceptionGroup):
            stack.extend(error.exceptions)
        else:
            errors.append(error)
    return errors[0] if len(errors) == 1 else None


@contextlib.asynccontextmanager
async def open_rate_limiter(
    *,
    global_rate: float | None = 50.0,
    global_burst: int = 3,
    global_margin: float = 0.05,
    max_wait: float = 300.0,
    invalid_request_budget: int = 1000,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[RateLimiter]:
    """Run a rate-limit actor for the body of an ``async with``; see `run_rate_limiter`.

    An error raised in the body comes out as itself, not wrapped in an ExceptionGroup.
    """
    try:
        async with trio.open_nursery() as nursery:
            limiter: RateLimiter = await nursery.start(
                functools.partial(
                    run_rate_limiter,
                    global_rate=global_rate,
                    global_burst=global_burst,
                    global_margin=global_margin,
                    max_wait=max_wait,
                    invalid_request_budget=invalid_request_budget,
                    wall_clock=wall_clock,
                )
            )
            try:
                yield limiter
            finally:
                limiter.close()
    except BaseExceptionGroup as group:
        error = _only_error(group)
        if error is None:
            raise
        raise error from error.__cause__
