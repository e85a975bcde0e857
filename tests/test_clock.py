"""The test clock jumps only while no worker thread runs (tests._clock)."""

import time
from collections.abc import Callable

import pytest
import trio
import trio.testing

from tests._clock import thread_aware_clock, threads_running


async def slow_thread_under_a_timeout() -> bool:
    """Whether the clock jumped to a pending 1 s timeout while threads worked (real time)."""
    with trio.move_on_after(1.0):
        await trio.to_thread.run_sync(time.sleep, 0.2)
        await trio.Path(__file__).read_bytes()  # trio.Path holds its own reference
        return trio.current_time() >= 1.0
    return True


@pytest.mark.parametrize(
    ("make", "fired"),
    [(thread_aware_clock, False), (lambda: trio.testing.MockClock(autojump_threshold=0), True)],
    ids=["thread-aware", "plain"],
)
def test_a_worker_thread_does_not_let_the_clock_jump_past_a_pending_timeout(
    make: Callable[[], trio.testing.MockClock], fired: bool
) -> None:
    clock = make()
    assert trio.run(slow_thread_under_a_timeout, clock=clock) is fired
    assert threads_running(clock) == 0 and clock.autojump_threshold == 0


async def test_the_fixture_still_jumps_when_every_task_waits_on_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    assert threads_running(autojump_clock) == 0
    await trio.to_thread.run_sync(time.sleep, 0.01)
    started = time.monotonic()
    await trio.sleep(3600)
    assert trio.current_time() >= 3600 and time.monotonic() - started < 60
