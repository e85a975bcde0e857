"""The rate limiter: one actor task grants every permit; callers talk to it over a channel.

Callers ask for a permit, send the request, and hand the response back with `Permit.record`;
the actor feeds it to its `BucketTable` (the pure bucket state and decisions) and grants the
next permits when the table allows. Usage::

    async with open_rate_limiter() as limiter:
        async with limiter.permit(route) as permit:
            response = await send(request)
            permit.record(response.status_code, response.headers, response.content)

A `RateLimiter` is made only by `open_rate_limiter` or `run_rate_limiter` (as trio makes its
channels), from one frozen `RateLimitConfig`. A permit left without `Permit.record`
(cancelled, connection never made) gives its bucket count and global slot back and teaches
nothing. All timing uses `trio.current_time`, so trio's MockClock drives it exactly.

The actor's inbox has an unbounded buffer on purpose: `Permit.record` and the release on leaving
a permit must post without awaiting (sync code, cancellation paths), and each caller has at most
two messages outstanding, so the buffer stays bounded by the number of callers.
"""

from __future__ import annotations

import contextlib
import enum
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, NoReturn, TypeAlias, TypeVar

import attrs
import trio

from ._bucket import BucketState
from ._bucket_table import BucketTable
from ._errors import RateLimitBanError
from ._guard import InvalidRequestGuard
from ._headers import RateLimitScope, Reading, read_answer
from ._pacer import GlobalPacer, to_ns
from ._routes import Route

_C = TypeVar("_C")


@attrs.frozen
class RateLimitConfig:
    """How a rate limiter limits.

    Attributes:
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
        proxy: a rate-limit proxy stands in front of Discord (`uploader.discord.proxy_mode_on`):
            its own 429s are obeyed but are neither bans nor invalid requests, and once it
            strips the rate-limit headers from a success, bucket and global pacing defer to it.

    Raises:
        ValueError: a value is out of range.
    """

    global_rate: float | None = 50.0
    global_burst: int = 3
    global_margin: float = 0.05
    max_wait: float = 300.0
    invalid_request_budget: int = 1000
    wall_clock: Callable[[], float] = time.time
    proxy: bool = False

    def __attrs_post_init__(self) -> None:
        if self.global_rate is not None and not (0.0 < self.global_rate < math.inf):
            raise ValueError("global_rate must be a positive number of requests per second")
        if self.global_burst < 0:
            raise ValueError("global_burst must not be negative")
        if not (0.0 <= self.global_margin < math.inf):
            raise ValueError("global_margin must be a non-negative number of seconds")
        if not self.max_wait >= 0.0:
            raise ValueError("max_wait must not be negative")
        if self.invalid_request_budget < 1:
            raise ValueError("invalid_request_budget must be at least 1")

    def pacer(self) -> GlobalPacer | None:
        """A fresh global pacer for these settings (None in proxy mode)."""
        if self.global_rate is None:
            return None
        return GlobalPacer(self.global_rate, self.global_burst, to_ns(self.global_margin))


class _TicketState(enum.Enum):
    WAITING = "waiting"
    GRANTED = "granted"
    FAILED = "failed"
    ABANDONED = "abandoned"
    DONE = "done"


class _Ticket:
    """The hand-shake of one permit between a caller and the actor (the table's token)."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.event = trio.Event()
        self.state = _TicketState.WAITING
        self.error: BaseException | None = None

    def grant(self) -> None:
        self.state = _TicketState.GRANTED
        self.event.set()

    def fail(self, error: BaseException) -> None:
        if self.state is _TicketState.WAITING:
            self.error = error
            self.state = _TicketState.FAILED
            self.event.set()


@attrs.frozen
class _Acquire:
    ticket: _Ticket


@attrs.frozen
class _Abandon:
    ticket: _Ticket


@attrs.frozen
class _Release:
    ticket: _Ticket


@attrs.frozen
class _Response:
    ticket: _Ticket
    reading: Reading
    at: float
    succeeded: bool = False


@attrs.frozen
class _Lost:
    ticket: _Ticket
    at: float


@attrs.frozen
class _Inspect:
    route: Route
    reply: trio.MemorySendChannel[BucketState | None]


_Message: TypeAlias = _Acquire | _Abandon | _Release | _Response | _Lost | _Inspect


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
        ticket = self._finish()
        limiter = self._limiter
        reading = read_answer(status, headers, body, proxy=limiter.config.proxy)
        now = trio.current_time()
        limiter._post(_Response(ticket, reading, now, succeeded=200 <= status < 300))
        if reading.ban:
            limiter._banned = True
            raise RateLimitBanError()
        if status in (401, 403) or reading.scope in (RateLimitScope.USER, RateLimitScope.GLOBAL):
            limiter._guard.add(now)

    def spent(self) -> None:
        """The request may have reached Discord but no answer came (a timeout, a reset after
        the body went out): keep its slot counted for as long as Discord may count it.

        Raises:
            RuntimeError: the permit was already recorded or released.
        """
        self._limiter._post(_Lost(self._finish(), trio.current_time()))

    def _finish(self) -> _Ticket:
        ticket = self._ticket
        if ticket.state is not _TicketState.GRANTED:
            raise RuntimeError("this permit was already recorded or released")
        ticket.state = _TicketState.DONE
        return ticket

    def _release(self) -> None:
        if self._ticket.state is _TicketState.GRANTED:
            self._ticket.state = _TicketState.DONE
            self._limiter._post(_Release(self._ticket))


class _NoPublicConstructor(type):
    """A metaclass for classes made only by their module's factories (as trio's channels)."""

    def __call__(cls, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(f"{cls.__qualname__} has no public constructor; use open_rate_limiter")

    def _create(cls: type[_C], *args: Any, **kwargs: Any) -> _C:
        return super().__call__(*args, **kwargs)  # type: ignore[misc,no-any-return]


class RateLimiter(metaclass=_NoPublicConstructor):
    """Hands out permits to send requests to Discord; made by `open_rate_limiter`.

    The state lives in the actor task `run_rate_limiter` runs; this object is the callers' side
    of its channel. Only two flags are set directly by `Permit.record`, because it must raise at
    once: the ban, and the invalid-answer count.
    """

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._send, self._receive = trio.open_memory_channel[_Message](math.inf)
        self._guard = InvalidRequestGuard(config.invalid_request_budget)
        self._banned = False

    def close(self) -> None:
        """Stop the actor; waiting and later permit() calls raise `trio.ClosedResourceError`."""
        self._send.close()

    def _post(self, message: _Message) -> None:
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._send.send_nowait(message)

    def _post_or_closed(self, message: _Message) -> None:
        try:
            self._send.send_nowait(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise trio.ClosedResourceError("the rate limiter is closed") from None

    @contextlib.asynccontextmanager
    async def _permit(self, route: Route) -> AsyncIterator[Permit]:
        if self._banned:
            raise RateLimitBanError()
        self._guard.check(trio.current_time())
        ticket = _Ticket(route)
        self._post_or_closed(_Acquire(ticket))
        try:
            await ticket.event.wait()
        except BaseException:
            if ticket.state is _TicketState.GRANTED:
                ticket.state = _TicketState.DONE
                self._post(_Release(ticket))
            elif ticket.state is _TicketState.WAITING:
                ticket.state = _TicketState.ABANDONED
                self._post(_Abandon(ticket))
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
        self._post_or_closed(_Inspect(route, send))
        async with receive:
            return await receive.receive()


class _Actor:
    """The one task that owns the bucket table: messages in, grants and refusals out."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.wall_clock = limiter.config.wall_clock
        self.table = BucketTable[_Ticket](
            pacer=limiter.config.pacer(), max_wait=limiter.config.max_wait
        )

    async def run(self, receive: trio.MemoryReceiveChannel[_Message]) -> None:
        """Handle messages, and grant whenever the table allows, until the channel closes.

        Every message already in the inbox is handled before the table is pumped, so a
        request given up in the meantime is never granted.
        """
        try:
            async with receive:
                while self.drain(receive):
                    wake_at = self.pump(trio.current_time())
                    with trio.move_on_at(wake_at):
                        try:
                            message = await receive.receive()
                        except trio.EndOfChannel:
                            return
                        self.handle(message)
        finally:
            closed = trio.ClosedResourceError("the rate limiter is closed")
            for ticket in self.table.drop_waiting():
                ticket.fail(closed)

    def drain(self, receive: trio.MemoryReceiveChannel[_Message]) -> bool:
        """Handle every message waiting; False once the channel is closed."""
        while True:
            try:
                message = receive.receive_nowait()
            except trio.WouldBlock:
                return True
            except trio.EndOfChannel:
                return False
            self.handle(message)

    def pump(self, now: float) -> float:
        decisions = self.table.pump(now)
        for ticket in decisions.granted:
            ticket.grant()
        for ticket, error in decisions.refused:
            ticket.fail(error)
        return decisions.wake_at

    def handle(self, message: _Message) -> None:
        now = trio.current_time()
        if isinstance(message, _Acquire):
            ticket = message.ticket
            if ticket.state is not _TicketState.WAITING:
                return
            if self.limiter._banned:
                ticket.fail(RateLimitBanError())
                return
            self.table.acquire(ticket, ticket.route, now)
        elif isinstance(message, _Abandon):
            self.table.cancel(message.ticket)
        elif isinstance(message, _Release):
            self.table.release(message.ticket, now)
        elif isinstance(message, _Lost):
            self.table.lost(message.ticket, message.at)
        elif isinstance(message, _Response):
            ticket, at, reading = message.ticket, message.at, message.reading
            if reading.ban:
                for waiting in self.table.banned(ticket, at):
                    waiting.fail(RateLimitBanError())
            else:
                self.table.answer(
                    ticket,
                    ticket.route,
                    reading.headers,
                    reading.scope,
                    at,
                    self.wall_clock(),
                    defer=reading.defer,
                    succeeded=message.succeeded,
                )
        else:
            with contextlib.suppress(trio.BrokenResourceError):
                message.reply.send_nowait(self.table.snapshot(message.route, now))


async def run_rate_limiter(
    config: RateLimitConfig | None = None,
    *,
    task_status: trio.TaskStatus[RateLimiter] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the rate-limit actor until cancelled or `RateLimiter.close` is called.

    Use as ``limiter = await nursery.start(run_rate_limiter, config)``.

    Args:
        config: how to limit; `RateLimitConfig`'s defaults when None.
        task_status: the nursery start protocol; started with the `RateLimiter`.
    """
    limiter = RateLimiter._create(config or RateLimitConfig())
    task_status.started(limiter)
    await _Actor(limiter).run(limiter._receive)


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


async def _run_until_closed(limiter: RateLimiter) -> None:
    """The actor, deaf to cancellation: the body's last shielded requests (a status message's
    "stopped" edit) still get their slot; the body's ``finally`` closes it."""
    with trio.CancelScope(shield=True):
        await _Actor(limiter).run(limiter._receive)


@contextlib.asynccontextmanager
async def open_rate_limiter(config: RateLimitConfig | None = None) -> AsyncIterator[RateLimiter]:
    """Run a rate-limit actor for the body of an ``async with``; see `run_rate_limiter`.

    An error raised in the body comes out as itself, not wrapped in an ExceptionGroup. The actor
    outlives a cancellation of the body until the body ends, so shielded cleanup can still send.
    """
    # start_soon, not nursery.start: a shielded child that calls started() while the caller is
    # already cancelled is never moved into the nursery, so start() would wait for it forever
    # (a cancellation while a pipeline opened hung the run; the body's finally must close it).
    limiter = RateLimiter._create(config or RateLimitConfig())
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_run_until_closed, limiter)
            try:
                yield limiter
            finally:
                limiter.close()
    except BaseExceptionGroup as group:
        error = _only_error(group)
        if error is None:
            raise
        raise error from error.__cause__
