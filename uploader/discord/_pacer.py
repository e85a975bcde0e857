"""The proactive global limit: a GCRA pacer in integer nanoseconds, with a sliding-window cap.

Pure: the caller passes the time in. One pacer stands for one bot token's global limit.
"""

from __future__ import annotations

import collections
import contextlib
import math

NS_PER_S = 1_000_000_000


def to_ns(seconds: float) -> int:
    """Trio time in whole nanoseconds, the pacer's unit."""
    return round(seconds * NS_PER_S)


class GlobalPacer:
    """One request per ``1 / rate`` seconds, with a burst tolerance and a 1 s (+ margin) cap.

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
        self.interval_ns = math.ceil(NS_PER_S / rate)
        self.per_second = math.ceil(rate)
        """The most grants any 1 s window holds: the rate itself when it is whole."""
        self.credit = min(burst, self.per_second - 1)
        self.tolerance_ns = self.credit * self.interval_ns
        self.window_ns = NS_PER_S + margin_ns
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
