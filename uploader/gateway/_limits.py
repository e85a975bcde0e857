"""The gateway's two budgets: sends per connection, and identifies per bot.

`SendWindow` is Discord's 120 sends per 60 s on one connection, as a sliding window with a few
sends held back for heartbeats, IDENTIFY and RESUME, so a burst of the caller's own payloads
never starves them. `IdentifySchedule` hands out identify times: shard ``i`` identifies in bucket
``i % max_concurrency``, one identify per bucket every 5 s, and none while the session-start
budget is spent. `IdentifyLimiter` is the schedule with a sleep, shared by every shard of a bot.
"""

from __future__ import annotations

from collections import deque

import trio

from ._models import SessionStartLimit

SEND_LIMIT = 120
SEND_PERIOD = 60.0
SEND_RESERVE = 5
"""Sends of each window only heartbeats, IDENTIFY and RESUME may use."""

IDENTIFY_INTERVAL = 5.0
"""Seconds between two identifies in one concurrency bucket."""


class SendWindow:
    """At most ``limit`` sends in any ``period`` seconds; the last ``reserve`` for priority sends.

    Args:
        limit: sends allowed per period.
        period: the window length in seconds.
        reserve: sends of each window kept for priority payloads.
    """

    def __init__(
        self, limit: int = SEND_LIMIT, period: float = SEND_PERIOD, reserve: int = SEND_RESERVE
    ) -> None:
        if not 0 <= reserve < limit:
            raise ValueError("reserve must be below limit")
        self.limit = limit
        self.period = period
        self.reserve = reserve
        self._sent: deque[float] = deque()

    def wait_time(self, now: float, *, priority: bool = False) -> float:
        """Seconds until a send is allowed (0.0: now)."""
        while self._sent and self._sent[0] <= now - self.period:
            self._sent.popleft()
        allowed = self.limit if priority else self.limit - self.reserve
        if len(self._sent) < allowed:
            return 0.0
        return self._sent[len(self._sent) - allowed] + self.period - now

    def record(self, now: float) -> None:
        """Count a send made at ``now``."""
        self._sent.append(now)


class IdentifySchedule:
    """When each identify may go out, by concurrency bucket and session-start budget.

    Args:
        limit: the ``session_start_limit`` from GET /gateway/bot.
        now: the time ``limit`` was read (``reset_after`` counts from it).
        interval: seconds between identifies of one bucket.
    """

    def __init__(
        self, limit: SessionStartLimit, now: float, interval: float = IDENTIFY_INTERVAL
    ) -> None:
        self.max_concurrency = max(1, limit.max_concurrency)
        self.interval = interval
        self._total = limit.total
        self._remaining = limit.remaining
        self._reset_at = now + limit.reset_after
        self._next: dict[int, float] = {}

    def reserve(self, shard_id: int, now: float) -> float:
        """Reserve the next identify slot of ``shard_id``'s bucket; return when it starts."""
        start = max(now, self._next.get(shard_id % self.max_concurrency, now))
        if self._remaining <= 0:
            start = max(start, self._reset_at)
        if start >= self._reset_at and self._remaining <= 0:
            self._remaining = self._total
            self._reset_at = start + 24 * 3600.0
        self._remaining -= 1
        self._next[shard_id % self.max_concurrency] = start + self.interval
        return start


class IdentifyLimiter:
    """`IdentifySchedule` with the waiting done: share one between all shards of a bot.

    Args:
        limit: the ``session_start_limit`` from GET /gateway/bot.
    """

    def __init__(self, limit: SessionStartLimit) -> None:
        self.limit = limit
        self._schedule = IdentifySchedule(limit, trio.current_time())

    @property
    def max_concurrency(self) -> int:
        """The number of shards that may identify at once."""
        return self._schedule.max_concurrency

    async def wait_turn(self, shard_id: int = 0) -> None:
        """Sleep until ``shard_id`` may identify; its slot is taken when this returns."""
        await trio.sleep_until(self._schedule.reserve(shard_id, trio.current_time()))
