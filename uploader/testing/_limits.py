"""The fake's rate limits: fixed windows per (bucket, major parameter), in integer nanoseconds.

Integer time keeps the arithmetic exact, so a client that sleeps exactly ``retry_after`` under
trio's MockClock arrives exactly when the window has reset.
"""

from __future__ import annotations

import attrs

NS = 1_000_000_000
MS = 1_000_000


def to_ns(seconds: float) -> int:
    """Seconds (e.g. ``trio.current_time()``) as integer nanoseconds."""
    return round(seconds * NS)


def ceil_ms(ns: int) -> int:
    """Nanoseconds rounded up to whole milliseconds."""
    return -(-ns // MS)


def ceil_seconds(ns: int) -> int:
    """Nanoseconds rounded up to whole seconds (the ``Retry-After`` header)."""
    return -(-ns // NS)


@attrs.frozen
class WindowState:
    """A bucket's state as the headers show it after one request.

    Attributes:
        allowed: whether the request got through.
        limit: requests per window.
        remaining: requests left in the current window.
        reset_ns: when the window resets (``trio.current_time()`` nanoseconds).
        reset_after_ns: how long from now until then.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_ns: int
    reset_after_ns: int


@attrs.define
class _Window:
    remaining: int
    reset_ns: int


class FixedWindows:
    """Fixed-window counters keyed by major parameter: ``limit`` requests per ``period``.

    A window opens with the first request after the previous one reset, as Discord's do.

    Args:
        limit: requests allowed per window (at least 1).
        period: the window's length in seconds.
    """

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"a rate limit needs limit >= 1 and period > 0, got {limit}/{period}")
        self.limit = limit
        self.period_ns = to_ns(period)
        self._windows: dict[object, _Window] = {}

    def _current(self, key: object, now_ns: int) -> _Window:
        window = self._windows.get(key)
        if window is None or now_ns >= window.reset_ns:
            if len(self._windows) > 4096:
                self._windows = {k: w for k, w in self._windows.items() if w.reset_ns > now_ns}
            window = _Window(remaining=self.limit, reset_ns=now_ns + self.period_ns)
            self._windows[key] = window
        return window

    def take(self, key: object, now_ns: int) -> WindowState:
        """Count one request against ``key``'s window if it has room."""
        window = self._current(key, now_ns)
        allowed = window.remaining > 0
        if allowed:
            window.remaining -= 1
        return WindowState(
            allowed, self.limit, window.remaining, window.reset_ns, window.reset_ns - now_ns
        )

    def peek(self, key: object, now_ns: int) -> WindowState:
        """``key``'s window as it stands, without counting a request."""
        window = self._windows.get(key)
        if window is None or now_ns >= window.reset_ns:
            reset = now_ns + self.period_ns
            return WindowState(True, self.limit, self.limit, reset, self.period_ns)
        return WindowState(
            window.remaining > 0,
            self.limit,
            window.remaining,
            window.reset_ns,
            window.reset_ns - now_ns,
        )
