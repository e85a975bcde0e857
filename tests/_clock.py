"""An autojumping MockClock that waits for worker threads before it jumps.

trio's `MockClock` with ``autojump_threshold=0`` jumps to the next deadline as soon as every
task is blocked, and a task waiting on a worker thread (`trio.to_thread.run_sync`, `trio.Path`:
file reads, hashing, the journal's fsyncs) counts as blocked. On a loaded machine a thread's few
milliseconds then become a jump past whatever deadline is pending (a read timeout, a retry
deadline), and a test's outcome depends on the machine's speed. A clock from
`thread_aware_clock` stops autojumping while a worker thread started in its run is working (its
result wakes the run loop), and autojumps again once none is.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import Any

import trio
import trio.testing
from trio import _path, to_thread

_running: weakref.WeakKeyDictionary[trio.testing.MockClock, int] = weakref.WeakKeyDictionary()
"""Worker threads at work per thread-aware clock (only those clocks are in it)."""


def thread_aware_clock() -> trio.testing.MockClock:
    """A `MockClock(autojump_threshold=0)` that never jumps while a worker thread runs."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    _running[clock] = 0
    return clock


def threads_running(clock: trio.testing.MockClock) -> int:
    """Worker threads at work in ``clock``'s run."""
    return _running.get(clock, 0)


def _holding_the_clock(run_sync: Callable[..., Any]) -> Callable[..., Any]:
    async def run_sync_holding_the_clock(*args: Any, **kwargs: Any) -> Any:
        clock = trio.lowlevel.current_clock()
        if not isinstance(clock, trio.testing.MockClock) or clock not in _running:
            return await run_sync(*args, **kwargs)
        _running[clock] += 1
        clock.autojump_threshold = math.inf
        try:
            return await run_sync(*args, **kwargs)
        finally:
            _running[clock] -= 1
            if not _running[clock]:
                clock.autojump_threshold = 0

    run_sync_holding_the_clock.holds_the_clock = True  # type: ignore[attr-defined]
    return run_sync_holding_the_clock


if not getattr(to_thread.run_sync, "holds_the_clock", False):
    # trio.to_thread.run_sync (looked up at each call by trio's file wrappers and by our code)
    # and trio.Path's own reference to it
    to_thread.run_sync = _holding_the_clock(to_thread.run_sync)
    _path.run_sync = to_thread.run_sync  # type: ignore[attr-defined]
