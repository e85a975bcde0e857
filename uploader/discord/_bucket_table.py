"""The bucket table: every bucket's count, the route-to-bucket map and the queue of requests.

Pure (no trio): each call takes the time in, and `BucketTable.pump` hands the decisions out:
which waiting requests may go now, which are refused (their wait is too long), and when to
look again. The rate-limit actor owns one table and turns its decisions into trio events.

How it limits:

* Buckets are keyed by (bucket hash, major parameter). A route maps to the bucket hash its last
  answer named; several routes may share one hash. Until a route's first answer (per major
  parameter) only one request is in flight on it.
* A known bucket counts, per window, every request answered in it and every request still out,
  and grants while that count is below the learnt limit (and while the lowest Remaining an
  answer named exceeds the requests still out). The window resets at the latest
  ``answer time + Reset-After`` any of its answers named; requests still out then stay counted
  in the new window, because they may reach Discord after its window reset.
* Globally limited requests also wait for the `GlobalPacer` and for a global 429's block.
* 429s: ``user`` empties the bucket until ``retry_after``; ``shared`` and a proxy's own block
  the bucket; ``global`` blocks every globally limited route.
* Proxy mode (`uploader.discord._proxy`): an answer the proxy stripped of its rate-limit headers
  defers its bucket to the proxy (no longer one request at a time) and ends the global pacing.
* A request released without an answer gives its bucket count and its global slot back. One
  whose answer was lost, or said nothing of the bucket (a 5xx, an error page from the edge),
  stays counted: it lowers the lowest Remaining named by one, and keeps its window from
  resetting until any window it may have opened at Discord has ended (one window's length
  after the answer). Before a route's bucket is known, such requests are paced as Discord's
  strictest bucket (`UNTAUGHT_LIMIT` per `UNTAUGHT_WINDOW`); the first answer that names the
  bucket counts them in its Remaining, as they went one at a time.

Requests are named by opaque, hashable tokens the caller chooses (the actor's tickets).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Hashable
from typing import Generic, TypeVar

import attrs

from ._bucket import Bucket, BucketKey, BucketState, Waiting, later
from ._errors import RateLimitWaitTooLongError
from ._headers import RateLimitHeaders, RateLimitScope
from ._pacer import NS_PER_S, GlobalPacer, to_ns
from ._routes import Route

T = TypeVar("T", bound=Hashable)

DEFAULT_RETRY_AFTER = 1.0
"""How long a 429 blocks when it names no retry_after, Retry-After or Reset-After."""
GC_INTERVAL = 60.0
"""How often idle buckets are looked for."""
STALE_AFTER = 60.0
"""An idle bucket whose window has ended is dropped after this many seconds unused."""


@attrs.frozen
class Pump(Generic[T]):
    """What the table decided at one instant.

    Attributes:
        granted: requests that may be sent now, in request order.
        refused: requests whose wait would exceed ``max_wait``, with the error to raise.
        wake_at: when to pump again if nothing else happens (``math.inf``: on the next call).
    """

    granted: list[T]
    refused: list[tuple[T, RateLimitWaitTooLongError]]
    wake_at: float


@attrs.define(eq=False)
class _Out(Generic[T]):
    """A granted request still out: where it counts, and its global slot (ns) if it took one."""

    queue: Bucket[T]
    global_ns: int | None


class BucketTable(Generic[T]):
    """Every bucket, the global limit's state, and the requests waiting on them.

    Args:
        pacer: the proactive global limit, or None (proxy mode: only global 429s are obeyed).
        max_wait: the longest wait granted; a request that would wait longer is refused.
    """

    def __init__(self, *, pacer: GlobalPacer | None, max_wait: float) -> None:
        self.pacer = pacer
        self.max_wait = max_wait
        self.global_blocked_until: float | None = None
        self._routes: dict[str, str] = {}
        self._queues: dict[BucketKey, Bucket[T]] = {}
        self._waiting: dict[BucketKey, Bucket[T]] = {}
        self._entries: dict[T, Waiting[T]] = {}
        self._out: dict[T, _Out[T]] = {}
        self._next_seq = 0
        self._next_gc = -math.inf

    # --- requests --------------------------------------------------------------------------

    def acquire(self, token: T, route: Route, now: float) -> None:
        """Queue a request for a permit on ``route``; `pump` grants it in request order."""
        self._collect_stale(now)
        entry = Waiting(token, route, self._next_seq)
        self._next_seq += 1
        queue = self._queue_for(route, now)
        queue.last_used = now
        queue.pending.append(entry)
        self._entries[token] = entry
        self._waiting[queue.key] = queue

    def cancel(self, token: T) -> None:
        """A waiting request gave up before its grant: it takes no slot."""
        entry = self._entries.pop(token, None)
        if entry is not None:
            entry.cancelled = True

    def release(self, token: T, now: float) -> None:
        """A granted request never left: it counts nowhere, and teaches nothing.

        Only the request itself is taken out of the window's count; a lower Remaining that
        an answer named still holds.
        """
        self._collect_stale(now)
        out = self._out.pop(token)
        out.queue.refresh(now)
        out.queue.in_flight -= 1
        if out.global_ns is not None and self.pacer is not None:
            self.pacer.give_back(out.global_ns)
        out.queue.settle(now)

    def answer(
        self,
        token: T,
        route: Route,
        headers: RateLimitHeaders,
        scope: RateLimitScope,
        now: float,
        wall_now: float,
        *,
        defer: bool = False,
        succeeded: bool = False,
    ) -> None:
        """Learn from the answer to a granted request (``scope``: what kind of 429 it was;
        ``succeeded``: a 2xx, which without rate-limit headers means the route has no limit).

        ``defer``: a proxy answered for Discord and stripped the rate-limit headers, so the
        proxy limits this route and the token's global rate for the group (see `Bucket.deferred`).
        """
        source = self._count_answer(token, now)
        if defer:
            source.deferred = True
            self.pacer = None
        target = source
        if headers.bucket is not None:
            target = self._move_route(route, source, headers.bucket, now)
        if target is not source:
            target.refresh(now)
            target.answered += 1  # the request reached the bucket it names
        target.learn(headers, now, wall_now)
        unseen = headers.remaining is None and not defer and not succeeded
        if scope is RateLimitScope.NONE and unseen:
            target.spent_unseen(now)  # a 5xx, or an error page from the edge
        if scope is not RateLimitScope.NONE:
            self._block(route, headers, scope, target, now)
        source.settle(now)
        target.settle(now)

    def lost(self, token: T, now: float) -> None:
        """A granted request may have reached Discord, but its answer was lost.

        It stays counted as an answer that said nothing (see `Bucket.hold_for_lost`).
        """
        source = self._count_answer(token, now)
        source.hold_for_lost(now)
        source.settle(now)

    def banned(self, token: T, now: float) -> list[T]:
        """A ban answered a granted request: count it, and give up every waiting request.

        Returns:
            The requests that were waiting, to be failed.
        """
        self._count_answer(token, now)
        return self.drop_waiting()

    def drop_waiting(self) -> list[T]:
        """Give up every waiting request; return them."""
        dropped = [e.token for q in self._waiting.values() for e in q.pending if not e.cancelled]
        for queue in self._waiting.values():
            queue.pending.clear()
        self._waiting.clear()
        self._entries.clear()
        return dropped

    def snapshot(self, route: Route, now: float) -> BucketState | None:
        """The state of the bucket ``route`` maps to, or None when none is tracked."""
        self._collect_stale(now)
        queue = self._lookup(route)
        if queue is None:
            return None
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
            pending=sum(not e.cancelled for e in queue.pending),
        )

    # --- granting ---------------------------------------------------------------------------

    def pump(self, now: float) -> Pump[T]:
        """Grant every request that may go now, refuse those that would wait too long."""
        self._collect_stale(now)
        if self.global_blocked_until is not None and now >= self.global_blocked_until:
            self.global_blocked_until = None
        granted: list[T] = []
        refused: list[tuple[T, RateLimitWaitTooLongError]] = []
        while True:
            wake_at = math.inf
            best: Bucket[T] | None = None
            for key, queue in list(self._waiting.items()):
                ready = self._head_ready_at(queue, now, refused)
                if not queue.pending:
                    del self._waiting[key]
                elif ready is None:
                    continue
                elif ready > now:
                    wake_at = min(wake_at, ready)
                elif best is None or queue.pending[0].seq < best.pending[0].seq:
                    best = queue
            if best is None:
                return Pump(granted, refused, wake_at)
            granted.append(self._grant(best, best.pending.popleft(), now))

    def _global_open_at(self, now: float) -> float:
        """The trio time from which a globally limited request may go."""
        opens = -math.inf
        if self.pacer is not None:
            opens_ns = self.pacer.open_ns(to_ns(now))
            if opens_ns is not None:
                opens = opens_ns / NS_PER_S
        if self.global_blocked_until is not None:
            opens = max(opens, self.global_blocked_until)
        return opens

    def _refuse(
        self, entry: Waiting[T], wait: float, refused: list[tuple[T, RateLimitWaitTooLongError]]
    ) -> None:
        self._entries.pop(entry.token, None)
        refused.append((entry.token, RateLimitWaitTooLongError(wait, self.max_wait)))

    def _head_ready_at(
        self, queue: Bucket[T], now: float, refused: list[tuple[T, RateLimitWaitTooLongError]]
    ) -> float | None:
        """When the queue's first live request may go; refuses those that would wait too long."""
        while True:
            queue.drop_cancelled()
            if not queue.pending:
                return None
            ready = queue.ready_at(now)
            if ready is None:
                return None
            if ready - now > self.max_wait:
                for entry in queue.pending:
                    if not entry.cancelled:
                        self._refuse(entry, ready - now, refused)
                queue.pending.clear()
                return None
            if queue.pending[0].route.global_limited:
                ready = max(ready, self._global_open_at(now))
                if ready - now > self.max_wait:
                    self._refuse(queue.pending.popleft(), ready - now, refused)
                    continue
            return ready

    def _grant(self, queue: Bucket[T], entry: Waiting[T], now: float) -> T:
        queue.in_flight += 1
        queue.last_used = now
        global_ns = None
        if entry.route.global_limited and self.pacer is not None:
            global_ns = to_ns(now)
            self.pacer.take(global_ns)
        del self._entries[entry.token]
        self._out[entry.token] = _Out(queue, global_ns)
        return entry.token

    # --- answers ----------------------------------------------------------------------------

    def _count_answer(self, token: T, now: float) -> Bucket[T]:
        """Count an answer in the window it arrives in (the request may have reached Discord in
        a window that began while it was out); return the queue it was granted from."""
        self._collect_stale(now)
        source: Bucket[T] = self._out.pop(token).queue
        source.refresh(now)
        source.in_flight -= 1
        source.answered += 1
        return source

    def _block(
        self,
        route: Route,
        headers: RateLimitHeaders,
        scope: RateLimitScope,
        target: Bucket[T],
        now: float,
    ) -> None:
        """Obey a 429: block the bucket (user, shared) or every global route (global)."""
        retry_after = headers.retry_after
        if retry_after is None:
            retry_after = headers.reset_after
        if retry_after is None:
            retry_after = DEFAULT_RETRY_AFTER
        until = now + retry_after
        if scope is RateLimitScope.GLOBAL and route.global_limited:
            self.global_blocked_until = later(self.global_blocked_until, until)
        elif scope is RateLimitScope.USER:
            if target.is_known:
                target.lowest = 0
            target.reset_at = later(target.reset_at, until)
            target.blocked_until = later(target.blocked_until, until)
        else:  # shared, a proxy's own, or a global 429 on a route outside the global limit
            target.blocked_until = later(target.blocked_until, until)

    # --- queues -----------------------------------------------------------------------------

    def _lookup(self, route: Route) -> Bucket[T] | None:
        unknown = self._queues.get(("route", route.path_key, route.major))
        if unknown is not None:
            return unknown
        bucket = self._routes.get(route.path_key)
        return None if bucket is None else self._queues.get(("bucket", bucket, route.major))

    def _queue_for(self, route: Route, now: float) -> Bucket[T]:
        queue = self._lookup(route)
        if queue is None:
            bucket = self._routes.get(route.path_key)
            key = (
                ("route", route.path_key, route.major)
                if bucket is None
                else ("bucket", bucket, route.major)
            )
            queue = self._queues[key] = Bucket(key, now)
        return queue

    def _move_route(self, route: Route, source: Bucket[T], bucket: str, now: float) -> Bucket[T]:
        """Map the route to the bucket hash its answer named; move its waiting requests along."""
        self._routes[route.path_key] = bucket
        key = ("bucket", bucket, route.major)
        if source.key == key:
            return source
        target = self._queues.get(key)
        if target is None:
            target = self._queues[key] = Bucket(key, now)
        moving = [e for e in source.pending if e.route.path_key == route.path_key]
        if moving:
            source.pending = collections.deque(
                e for e in source.pending if e.route.path_key != route.path_key
            )
            target.pending = collections.deque(
                sorted([*target.pending, *moving], key=lambda e: e.seq)
            )
            self._waiting[target.key] = target
        if source.key[0] == "route" and not source.pending and not source.in_flight:
            del self._queues[source.key]
            self._waiting.pop(source.key, None)
        return target

    def _collect_stale(self, now: float) -> None:
        if now < self._next_gc:
            return
        self._next_gc = now + GC_INTERVAL
        for key, queue in list(self._queues.items()):
            queue.refresh(now)
            queue.drop_cancelled()
            idle = not queue.pending and not queue.in_flight
            settled = queue.reset_at is None and queue.blocked_until is None
            if idle and settled and now - queue.last_used >= STALE_AFTER:
                del self._queues[key]
