"""One bucket: its window's count, what its answers taught, and the requests waiting on it.

Pure (no trio): every method takes the time in. `uploader.discord._bucket_table` owns the
buckets; this module holds the counting rules of one.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable
from typing import Generic, TypeAlias, TypeVar

import attrs

from ._headers import RateLimitHeaders
from ._routes import Route

T = TypeVar("T", bound=Hashable)

UNKNOWN_RESET_DELAY = 1.0
"""How long an exhausted bucket waits, at least, when no answer said when it resets."""
UNTAUGHT_LIMIT = 5
UNTAUGHT_WINDOW = 5.0
"""A route no answer has named a bucket for yet, whose answers were lost or said nothing, sends
at most `UNTAUGHT_LIMIT` such requests per `UNTAUGHT_WINDOW` seconds: Discord's strictest bucket
on the routes this client uses (create message, 5 per 5 s per channel), as the limit is unknown."""


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


BucketKey: TypeAlias = tuple[str, str, str]
"""("bucket", hash, major) once a bucket hash is known, ("route", path_key, major) before."""


@attrs.define(eq=False)
class Waiting(Generic[T]):
    token: T
    route: Route
    seq: int
    cancelled: bool = False


def later(current: float | None, new: float) -> float:
    return new if current is None else max(current, new)


class Bucket(Generic[T]):
    """One bucket's window and its waiting requests.

    The window's count is ``answered + in_flight``: every request answered since the window
    began, and every request still out, whenever it was granted. A request still out when the
    window resets may reach Discord after the reset, so it stays counted in the new window.
    An answer's Limit - Remaining, less the requests still out, is a floor on ``answered``.
    """

    def __init__(self, key: BucketKey, now: float) -> None:
        self.key = key
        self.pending: collections.deque[Waiting[T]] = collections.deque()
        self.in_flight = 0
        self.answered = 0
        self.limit: int | None = None
        self.lowest: int | None = None
        """The lowest X-RateLimit-Remaining an answer in this window named."""
        self.reset_at: float | None = None
        self.blocked_until: float | None = None
        self.last_used = now
        self.span = 0.0
        """The longest Reset-After any answer named: about as long as one of its windows."""
        self.span_seen = False
        """An answer to a window's first request named ``span``: the whole window (a later
        answer's Reset-After is only what was left of its window)."""
        self.untaught: collections.deque[float] = collections.deque()
        """While the limit is unknown: when each answer that taught nothing came (or was lost)."""
        self.deferred = False
        """A rate-limit proxy answers for this bucket without its headers (proxy mode): it can
        never be learnt, so requests are not held to one at a time; the proxy queues them."""

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
        while self.untaught and self.untaught[0] <= now - UNTAUGHT_WINDOW:
            self.untaught.popleft()

    def ready_at(self, now: float) -> float | None:
        """When the head request may go (bucket-wise), or None while waiting for an answer."""
        self.refresh(now)
        if not self.is_known:
            if self.in_flight and not self.deferred:
                return None
            ready = now
            if len(self.untaught) >= UNTAUGHT_LIMIT and not self.deferred:
                ready = self.untaught[-UNTAUGHT_LIMIT] + UNTAUGHT_WINDOW
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
        """Give an exhausted bucket a reset time when every answer is in and none named one.

        That happens when its answers said nothing (an error page from the edge) or were lost
        before any answer named a reset: such a request may have opened a window at Discord
        as long as the longest one seen, so the bucket waits that long (at least
        `UNKNOWN_RESET_DELAY`).
        """
        exhausted = self.is_known and self.remaining == 0
        if exhausted and self.reset_at is None and not self.in_flight:
            self.reset_at = now + max(UNKNOWN_RESET_DELAY, self.window())

    def window(self) -> float:
        """How long one of the bucket's windows may last: ``span`` once an answer to a
        window's first request named it, else at least `UNTAUGHT_WINDOW` (an answer late in
        its window names only what was left of it)."""
        return self.span if self.span_seen else max(self.span, UNTAUGHT_WINDOW)

    def spent_unseen(self, now: float) -> None:
        """Count a request whose answer, at ``now``, said nothing of the bucket (or was lost).

        It reached Discord by ``now``: after the answer that named the lowest Remaining,
        perhaps, so that Remaining goes down by one. It may also have reached Discord after
        Discord's window reset and opened a window there that ends by ``now`` plus one window
        (`window`); an answer would have named that end, and without one this window may not
        reset sooner, or the requests of the next would land in the window it opened. While
        the limit is unknown, it is one of the `UNTAUGHT_LIMIT` such requests a window allows
        (unless a proxy limits the bucket: `deferred`).
        """
        if self.deferred:
            return
        if not self.is_known:
            self.untaught.append(now)
            return
        if self.lowest is not None:
            self.lowest = max(0, self.lowest - 1)
        self.reset_at = later(self.reset_at, now + self.window())

    def hold_for_lost(self, now: float) -> None:
        """Count a request whose answer was lost at ``now`` (see `spent_unseen`).

        No answer ever taught a bucket still unknown, and lost requests count at Discord all
        the same: the next goes no sooner than `UNKNOWN_RESET_DELAY` later, so a run of lost
        answers cannot exhaust a limit as tight as Discord's 5 per 5 s unseen.
        """
        if not self.is_known and not self.deferred:
            self.blocked_until = later(self.blocked_until, now + UNKNOWN_RESET_DELAY)
        self.spent_unseen(now)

    def drop_cancelled(self) -> None:
        while self.pending and self.pending[0].cancelled:
            self.pending.popleft()

    def learn(self, headers: RateLimitHeaders, now: float, wall_now: float) -> None:
        """Take the limit, remaining count and reset time an answer gives.

        The reset only ever moves later within a window: every answer counted in the window
        came from a Discord window that ends no later than ``now + Reset-After``, so once the
        latest such time has passed, nothing counted here can share a window with a later
        request. Requests still out at the reset stay counted.
        """
        self.last_used = now
        if headers.limit is not None:
            self.limit = headers.limit
        if headers.remaining is not None:
            self.lowest = (
                headers.remaining if self.lowest is None else min(self.lowest, headers.remaining)
            )
            if self.limit is not None:
                # Limit - Remaining requests reached this window, this one too: those not out
                # are answered, even any the count missed (sent before an answer named the
                # route's bucket, then counted on the route)
                taken = self.limit - headers.remaining - self.in_flight
                self.answered = max(self.answered, taken)
        delay = headers.reset_after
        if delay is None and headers.reset_at is not None:
            delay = max(headers.reset_at - wall_now, 0.0)
        if delay is not None:
            self.reset_at = later(self.reset_at, now + delay)
            self.span = max(self.span, delay)
            if headers.remaining is not None and headers.remaining == (self.limit or 0) - 1:
                self.span_seen = True
        self.refresh(now)
