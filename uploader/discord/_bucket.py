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

    def ready_at(self, now: float) -> float | None:
        """When the head request may go (bucket-wise), or None while waiting for an answer."""
        self.refresh(now)
        if not self.is_known:
            if self.in_flight and not self.deferred:
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
        """Give an exhausted bucket a reset time when every answer is in and none named one.

        That happens when its answers said nothing (an error page from the edge) or were lost
        before any answer named a reset: such a request may have opened a window at Discord
        as long as the longest one seen, so the bucket waits that long (at least
        `UNKNOWN_RESET_DELAY`).
        """
        exhausted = self.is_known and self.remaining == 0
        if exhausted and self.reset_at is None and not self.in_flight:
            self.reset_at = now + max(UNKNOWN_RESET_DELAY, self.span)

    def hold_for_lost(self, now: float) -> None:
        """Keep the window open for a request whose answer was lost at ``now``.

        The request reached Discord at ``now`` at the latest, possibly after Discord's window
        reset: then it opened a window there that ends by ``now`` plus one window (`span`).
        An answer would have named that end; without one, this window may not reset sooner,
        or the requests of the next would land in the window the lost one opened.
        """
        if self.span > 0.0:
            self.reset_at = later(self.reset_at, now + self.span)
        elif not self.is_known:
            # No answer ever taught this bucket, and lost requests count at Discord all the
            # same: send the next no sooner than `UNKNOWN_RESET_DELAY` later, so a run of lost
            # answers cannot exhaust a limit as tight as Discord's 5 per 5 s unseen.
            self.blocked_until = later(self.blocked_until, now + UNKNOWN_RESET_DELAY)

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
        delay = headers.reset_after
        if delay is None and headers.reset_at is not None:
            delay = max(headers.reset_at - wall_now, 0.0)
        if delay is not None:
            self.reset_at = later(self.reset_at, now + delay)
            self.span = max(self.span, delay)
        self.refresh(now)
