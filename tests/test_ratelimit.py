"""Tests of the rate-limit actor (uploader.discord._ratelimit), all on trio's virtual clock.

Every timing test runs under ``MockClock(autojump_threshold=0)`` and asserts the exact
`trio.current_time` at which permits were granted. The bucket tests follow twilight's checklist
by name (global_limit, bucket_reset_delay, ...).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from uploader._errors import UploaderError
from uploader.discord._ratelimit import (
    InvalidRequestBudgetError,
    RateLimitBanError,
    RateLimiter,
    RateLimitWaitTooLongError,
    Route,
    open_rate_limiter,
    run_rate_limiter,
)
from uploader.testing._limits import FixedWindows, ceil_ms, to_ns

T = TypeVar("T")

MESSAGES = Route("POST", "/channels/{channel_id}/messages", "channel:1")
MESSAGES_2 = Route("POST", "/channels/{channel_id}/messages", "channel:2")
EDIT = Route("PATCH", "/channels/{channel_id}/messages/{message_id}", "channel:1")
WEBHOOK = Route("POST", "/webhooks/{webhook_id}/{webhook_token}", "webhook:7:0abc", False)


def rl_headers(
    *,
    limit: int = 5,
    remaining: int = 4,
    reset_after: float = 1.0,
    bucket: str = "b1",
    scope: str | None = None,
    retry_after: int | None = None,
) -> dict[str, str]:
    """Headers as Discord sends them, Via included."""
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset-After": repr(reset_after),
        "X-RateLimit-Bucket": bucket,
        "Via": "1.1 google",
    }
    if scope is not None:
        headers["X-RateLimit-Scope"] = scope
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return headers


def body_429(retry_after: float, *, is_global: bool = False) -> bytes:
    return json.dumps(
        {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
    ).encode()


GLOBAL_429_HEADERS = {
    "X-RateLimit-Global": "true",
    "X-RateLimit-Scope": "global",
    "Retry-After": "3",
    "Via": "1.1 google",
}


async def request(
    limiter: RateLimiter,
    route: Route,
    headers: dict[str, str] | None = None,
    *,
    status: int = 200,
    body: bytes | None = None,
) -> float:
    """Take a permit, record the answer at once, and return when the permit was granted.

    A limiter that never grants fails the test after 1000 virtual seconds instead of hanging.
    """
    with trio.fail_after(1000):
        async with limiter.permit(route) as permit:
            granted = trio.current_time()
            permit.record(status, headers or {}, body)
    return granted


async def grant_times(limiter: RateLimiter, routes: Sequence[Route]) -> list[float]:
    """Start one request per route at once (in order); answers carry no headers."""
    times: list[float] = []

    async def one(route: Route) -> None:
        times.append(await request(limiter, route))

    async with trio.open_nursery() as nursery:
        for route in routes:
            nursery.start_soon(one, route)
            await trio.testing.wait_all_tasks_blocked()
    return times


def gaps(times: Sequence[float], n: int) -> list[int]:
    """The nanoseconds from each grant to the n-th one after it (the pacer counts in ns)."""
    ns = [round(t * 1_000_000_000) for t in times]
    return [later - earlier for earlier, later in zip(ns, ns[n:], strict=False)]


def majors(n: int) -> list[Route]:
    return [Route("GET", "/channels/{channel_id}", f"channel:{i}") for i in range(n)]


class FakeBucketServer:
    """One Discord bucket as the loopback fake keeps it: ``limit`` requests per ``period``.

    The same `FixedWindows` as `uploader.testing` uses: a window opens with the first request
    after the previous one reset, time is counted in integer nanoseconds, and Reset-After is
    rounded up to the millisecond, as Discord rounds it. Over-limit requests are answered 429
    and counted in ``rejected``; ``accepted`` holds the accepted requests' times in ns.
    """

    def __init__(self, limit: int, period: float, bucket: str = "b1") -> None:
        self.limit = limit
        self.period = period
        self.bucket = bucket
        self.windows = FixedWindows(limit, period)
        self.rejected = 0
        self.accepted: list[int] = []

    def answer(self) -> tuple[int, dict[str, str], bytes | None]:
        now_ns = to_ns(trio.current_time())
        state = self.windows.take(self.bucket, now_ns)
        reset_after = ceil_ms(state.reset_after_ns) / 1000
        headers = rl_headers(
            limit=state.limit,
            remaining=state.remaining,
            reset_after=reset_after,
            bucket=self.bucket,
            scope=None if state.allowed else "user",
        )
        if not state.allowed:
            self.rejected += 1
            return 429, headers, body_429(reset_after)
        self.accepted.append(now_ns)
        return 200, headers, None


# --- the global limit --------------------------------------------------------------------------


async def test_global_limit(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=2.0, global_burst=0, global_margin=0.0) as limiter:
        assert await grant_times(limiter, majors(5)) == [0.0, 0.5, 1.0, 1.5, 2.0]


async def test_global_limit_paces_so_no_second_holds_more_than_the_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=50.0) as limiter:  # burst 3, margin 50 ms
        times = await grant_times(limiter, majors(120))
    assert times == sorted(times)
    assert all(gap >= 1_050_000_000 for gap in gaps(times, 50))
    # Each 1.05 s: the burst credit (3) at once with the paced request, then one every 20 ms;
    # the 51st waits for the first to leave the window of 1 s plus the margin.
    assert times[:5] == [0.0, 0.0, 0.0, 0.0, 0.02]
    assert times[49:55] == pytest.approx([0.92, 1.05, 1.05, 1.05, 1.05, 1.07])
    assert times[-1] == pytest.approx(2.42)


async def test_without_a_margin_the_cap_is_exactly_the_rate_per_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=50.0, global_margin=0.0) as limiter:
        times = await grant_times(limiter, majors(120))
    assert all(gap >= 1_000_000_000 for gap in gaps(times, 50))
    assert times[49:55] == pytest.approx([0.92, 1.0, 1.0, 1.0, 1.0, 1.02])
    assert times[-1] == pytest.approx(2.32)


async def test_global_limit_rounds_the_interval_up_to_whole_nanoseconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=7.0, global_burst=0, global_margin=0.0) as limiter:
        times = await grant_times(limiter, majors(8))
    # 1e9 / 7 ns is not whole: 142857143 ns apart, never 142857142 (8 within one second).
    assert gaps(times, 1) == [142_857_143] * 7
    assert gaps(times, 7) == [1_000_000_001]


async def test_global_reset_preemptive(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=2.0, global_burst=0, global_margin=0.0) as limiter:
        assert await request(limiter, MESSAGES) == 0.0
        await trio.sleep(10)
        # Strict pacing: idle time refills the pacer, but never beyond one request.
        assert await grant_times(limiter, majors(3)) == [10.0, 10.5, 11.0]


async def test_global_reset_on_cancel(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=1.0, global_margin=0.0) as limiter:
        async with limiter.permit(MESSAGES):
            await trio.sleep(0.5)  # left without record(): the request was never sent
        assert await request(limiter, MESSAGES) == 0.5
        assert await request(limiter, MESSAGES) == 1.5


async def test_global_reset_on_cancel_when_the_caller_is_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=1.0) as limiter:
        with trio.move_on_after(0.25):
            async with limiter.permit(MESSAGES):
                await trio.sleep_forever()
        assert await request(limiter, MESSAGES) == 0.25


async def test_permits_are_granted_in_request_order_across_buckets(
    autojump_clock: trio.testing.MockClock,
) -> None:
    order: list[str] = []

    async def one(route: Route) -> None:
        await request(limiter, route)
        order.append(route.major)

    async with (
        open_rate_limiter(global_rate=1.0, global_margin=0.0) as limiter,
        trio.open_nursery() as nursery,
    ):
        for route in majors(4):
            nursery.start_soon(one, route)
            await trio.testing.wait_all_tasks_blocked()
    assert order == ["channel:0", "channel:1", "channel:2", "channel:3"]
    assert trio.current_time() == 3.0


async def test_routes_outside_the_global_limit_are_not_paced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    webhooks = [Route("POST", WEBHOOK.template, f"webhook:{i}:x", False) for i in range(5)]
    async with open_rate_limiter(global_rate=1.0) as limiter:
        assert await grant_times(limiter, webhooks) == [0.0] * 5


async def test_proxy_mode_has_no_proactive_global_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        assert await grant_times(limiter, majors(100)) == [0.0] * 100


async def test_idle_time_banks_at_most_the_burst_credit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=50.0, global_burst=3) as limiter:
        assert await request(limiter, MESSAGES) == 0.0
        await trio.sleep(10)
        times = await grant_times(limiter, majors(6))
    assert times == pytest.approx([10.0, 10.0, 10.0, 10.0, 10.02, 10.04])


async def test_the_burst_credit_never_lets_a_second_hold_more_than_the_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # At 2/s a credit of 3 could put 4 into one second: only 1 of it is used.
    async with open_rate_limiter(global_rate=2.0, global_burst=3, global_margin=0.0) as limiter:
        assert await grant_times(limiter, majors(5)) == [0.0, 0.0, 1.0, 1.0, 2.0]
    # At 1/s or slower there is no room for credit: strict pacing.
    async with open_rate_limiter(global_rate=1.0, global_burst=3, global_margin=0.0) as limiter:
        assert await grant_times(limiter, majors(3)) == [2.0, 3.0, 4.0]


async def test_an_unrecorded_permit_gives_its_burst_slot_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=2.0, global_burst=1, global_margin=0.0) as limiter:
        assert await request(limiter, MESSAGES) == 0.0
        async with limiter.permit(MESSAGES):
            pass  # never sent: the second's second slot is free again
        assert await grant_times(limiter, majors(3)) == [0.0, 1.0, 1.0]


def run_with_late_wake_ups(main: Callable[[], Awaitable[None]], step: float) -> None:
    """Run ``main`` on a virtual clock that only moves in ``step`` ticks.

    Once every task is blocked the clock jumps a whole tick, so a sleeper whose deadline falls
    between ticks wakes up late, like a coarse timer or a busy event loop would wake it.
    """
    clock = trio.testing.MockClock()

    async def ticking() -> None:
        async with trio.open_nursery() as nursery:

            async def tick() -> None:
                while True:
                    await trio.testing.wait_all_tasks_blocked()
                    clock.jump(step)

            nursery.start_soon(tick)
            await main()
            nursery.cancel_scope.cancel()

    trio.run(ticking, clock=clock)


@pytest.mark.parametrize(
    ("burst", "margin", "tick", "last"),
    [
        (0, 0.0, 0.007, 149 * 0.021),  # strict pacing: each wake-up 1 ms late, each slot later
        (3, 0.0, 0.007, 2.926),  # the credit: punctually the last grant would be at 2.92
        (3, 0.0, 0.013, 2.925),
        (3, 0.05, 0.007, 3.031),  # the defaults: punctually at 3.02
    ],
)
def test_late_wake_ups_are_absorbed_by_the_burst_credit(
    burst: int, margin: float, tick: float, last: float
) -> None:
    """150 requests at 50/s on a clock that only moves in ticks of 7 or 13 ms."""
    times: list[float] = []

    async def main() -> None:
        async def one(route: Route) -> None:
            times.append(await request(limiter, route))

        async with (
            open_rate_limiter(
                global_rate=50.0, global_burst=burst, global_margin=margin
            ) as limiter,
            trio.open_nursery() as nursery,
        ):
            for route in majors(150):
                nursery.start_soon(one, route)

    run_with_late_wake_ups(main, tick)
    times.sort()
    assert all(gap >= round((1 + margin) * 1e9) for gap in gaps(times, 50))
    assert times[-1] == pytest.approx(last, abs=1e-9)


# --- buckets -----------------------------------------------------------------------------------


async def test_bucket_limit(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        first = await request(limiter, MESSAGES, rl_headers(limit=3, remaining=2, reset_after=1.0))
        second = await request(limiter, MESSAGES)
        third = await request(limiter, MESSAGES)
        fourth = await request(limiter, MESSAGES)
        assert [first, second, third, fourth] == [0.0, 0.0, 0.0, 1.0]


async def test_bucket_slot_is_returned_when_left_unrecorded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=2, remaining=1, reset_after=5.0))
        async with limiter.permit(MESSAGES):
            pass  # the connection failed before the request left
        assert await request(limiter, MESSAGES) == 0.0
        assert await request(limiter, MESSAGES) == 5.0


async def test_a_spent_permit_keeps_its_slot_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=2, remaining=1, reset_after=5.0))
        async with limiter.permit(MESSAGES) as permit:
            permit.spent()  # sent, but the answer was lost: Discord may have counted it
        assert await request(limiter, MESSAGES) == 5.0


async def test_the_latest_reset_an_answer_names_wins(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=5, remaining=4, reset_after=3.0))
        async with limiter.permit(MESSAGES) as slow, limiter.permit(MESSAGES) as fast:
            await trio.sleep(0.5)
            fast.record(200, rl_headers(limit=5, remaining=2, reset_after=2.5))
            await trio.sleep(0.5)
            # Answers of one window disagree by their latency: keep the later reset.
            slow.record(200, rl_headers(limit=5, remaining=3, reset_after=1.0))
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert (state.remaining, state.reset_at) == (2, 3.0)


async def test_bucket_reset_delay(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, reset_after=2.5))
        assert await request(limiter, MESSAGES) == 2.5
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert (state.bucket, state.limit, state.remaining) == ("b1", 1, 0)


async def test_bucket_reset_past(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, reset_after=0.0))
        assert await request(limiter, MESSAGES) == 0.0


async def test_bucket_reset_epoch_is_used_only_without_reset_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    wall = 1_700_000_000.0
    async with open_rate_limiter(global_rate=None, wall_clock=lambda: wall) as limiter:
        past = {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Bucket": "b"}
        await request(limiter, MESSAGES, {**past, "X-RateLimit-Reset": str(wall - 30)})
        assert await request(limiter, MESSAGES, {**past, "X-RateLimit-Reset": str(wall + 3)}) == 0
        assert await request(limiter, MESSAGES) == 3.0


async def test_bucket_sublimit(autojump_clock: trio.testing.MockClock) -> None:
    server = FakeBucketServer(limit=2, period=1.0)
    async with open_rate_limiter(global_rate=None) as limiter:
        # The first answer promises 5; the server then shows a stricter limit of 2 (remaining 0).
        await request(limiter, MESSAGES, rl_headers(limit=5, remaining=4, reset_after=1.0))
        await request(limiter, MESSAGES, rl_headers(limit=2, remaining=0, reset_after=1.0))
        times = []
        for _ in range(5):
            async with limiter.permit(MESSAGES) as permit:
                times.append(trio.current_time())
                permit.record(*server.answer())
    assert times == [1.0, 1.0, 2.0, 2.0, 3.0]
    assert server.rejected == 0


async def test_bucket_hash_change_moves_the_route(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=3, remaining=2, bucket="old"))
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, bucket="new"))
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert (state.bucket, state.limit, state.remaining) == ("new", 1, 0)
        assert await request(limiter, MESSAGES) == 1.0


async def test_bucket_shared(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        # Two routes whose answers name the same bucket hash share one count.
        await request(limiter, MESSAGES, rl_headers(limit=3, remaining=2, reset_after=1.0))
        await request(limiter, EDIT, rl_headers(limit=3, remaining=1, reset_after=1.0))
        messages, edit = await limiter.bucket_state(MESSAGES), await limiter.bucket_state(EDIT)
        assert messages == edit
        assert messages is not None
        assert messages.remaining == 1
        assert await request(limiter, MESSAGES) == 0.0
        assert await request(limiter, EDIT) == 1.0


async def test_bucket_shared_resource(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None, invalid_request_budget=1) as limiter:
        # A shared-scope 429 while the bucket still has requests left; budget 1 shows that it
        # is not counted as invalid (a user 429 would raise at once).
        shared = rl_headers(limit=5, remaining=3, scope="shared", retry_after=3)
        await request(limiter, MESSAGES, shared, status=429, body=body_429(2.25))
        assert await request(limiter, MESSAGES) == 2.25


async def test_major_parameters_split_buckets(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, reset_after=5.0))
        assert await request(limiter, MESSAGES_2) == 0.0
        assert await request(limiter, MESSAGES) == 5.0


async def test_unknown_route_allows_one_request_in_flight(
    autojump_clock: trio.testing.MockClock,
) -> None:
    times: list[float] = []

    async def slow_first() -> None:
        async with limiter.permit(MESSAGES) as permit:
            times.append(trio.current_time())
            await trio.sleep(1.0)
            permit.record(200, rl_headers(limit=5, remaining=4, reset_after=2.0))

    async with open_rate_limiter(global_rate=None) as limiter, trio.open_nursery() as nursery:
        nursery.start_soon(slow_first)
        await trio.testing.wait_all_tasks_blocked()
        for _ in range(2):
            nursery.start_soon(lambda: request(limiter, MESSAGES))
        await trio.testing.wait_all_tasks_blocked()
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert (state.bucket, state.in_flight, state.pending) == (None, 1, 2)
        async with limiter.permit(MESSAGES) as permit:
            times.append(trio.current_time())
            permit.record(200, {})
    assert times == [0.0, 1.0]


async def test_unknown_route_passes_the_slot_on_when_left_unrecorded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        times: list[float] = []

        async def abandon_after(delay: float) -> None:
            async with limiter.permit(MESSAGES):
                times.append(trio.current_time())
                await trio.sleep(delay)

        async with trio.open_nursery() as nursery:
            for delay in (0.5, 0.25, 0.0):
                nursery.start_soon(abandon_after, delay)
                await trio.testing.wait_all_tasks_blocked()
    assert times == [0.0, 0.5, 0.75]


async def test_cancelled_waiter_does_not_take_a_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, reset_after=2.0))
        with trio.move_on_after(1.0) as scope:
            await request(limiter, MESSAGES)
        assert scope.cancelled_caught
        exhausted = rl_headers(limit=1, remaining=0, reset_after=2.0)
        assert await request(limiter, MESSAGES, exhausted) == 2.0
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert (state.remaining, state.in_flight, state.pending) == (0, 0, 0)
        assert await request(limiter, MESSAGES) == 4.0


async def test_an_exhausted_bucket_without_reset_waits_one_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=1, reset_after=0.0))
        # The window reset at once, and the next answer (a 502 page) says nothing at all.
        assert await request(limiter, MESSAGES, status=502) == 0.0
        assert await request(limiter, MESSAGES) == 1.0


async def test_many_tasks_on_one_bucket_never_exceed_the_limit_per_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = FakeBucketServer(limit=5, period=1.0)
    times: list[float] = []

    async def one() -> None:
        async with limiter.permit(MESSAGES) as permit:
            times.append(trio.current_time())
            await trio.sleep(0.1)  # the round trip
            permit.record(*server.answer())

    async with open_rate_limiter(global_rate=None) as limiter, trio.open_nursery() as nursery:
        for _ in range(40):
            nursery.start_soon(one)
    assert server.rejected == 0
    # The first request learns the bucket alone; the server opens each window 0.1 s after the
    # permits (the round trip) and the limiter waits for that window's end as the answer gave it.
    assert collections.Counter(round(t, 9) for t in times) == {
        0.0: 1,
        0.1: 4,
        1.1: 5,
        2.2: 5,
        3.3: 5,
        4.4: 5,
        5.5: 5,
        6.6: 5,
        7.7: 5,
    }


async def test_stale_buckets_are_collected(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=5, remaining=4, reset_after=1.0))
        assert await limiter.bucket_state(MESSAGES) is not None
        await trio.sleep(30)
        assert await limiter.bucket_state(MESSAGES) is not None
        await trio.sleep(100)
        assert await limiter.bucket_state(MESSAGES) is None
        # The route still maps to its hash; the fresh bucket learns again one at a time.
        await request(limiter, MESSAGES)
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert state.bucket == "b1"


async def test_a_request_out_across_a_reset_counts_in_the_new_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=2, remaining=1, reset_after=1.0))
        async with limiter.permit(MESSAGES) as late:
            await trio.sleep(1.5)  # the window resets while this request is in flight
            state = await limiter.bucket_state(MESSAGES)
            assert state is not None
            # It may reach Discord after the reset, so the new window counts it.
            assert (state.remaining, state.in_flight, state.reset_at) == (1, 1, None)
            # It did: Discord's window that ends at 2.0 s is full.
            late.record(200, rl_headers(limit=2, remaining=0, reset_after=0.5))
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert (state.limit, state.remaining, state.reset_at) == (2, 0, 2.0)
        assert await request(limiter, MESSAGES) == 2.0


async def test_requests_granted_before_a_reset_that_arrive_after_it_are_not_overrun(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The minimal case the property once found: a window's last permits reach Discord after
    its reset and open the next window, which must not be granted a full budget on top."""
    server = FakeBucketServer(limit=4, period=1.0)
    times: list[float] = []

    async def one(start: float) -> None:
        await trio.sleep(start)
        async with limiter.permit(MESSAGES) as permit:
            times.append(trio.current_time())
            await trio.sleep(0.2)  # the request's way to Discord
            permit.record(*server.answer())

    async with open_rate_limiter(global_rate=None) as limiter, trio.open_nursery() as nursery:
        await request(limiter, MESSAGES, rl_headers(limit=4, remaining=3, reset_after=1.0))
        nursery.start_soon(one, 1.0)  # Discord's window: 1.2 to 2.2 s
        for _ in range(5):
            nursery.start_soon(one, 2.0)
    assert server.rejected == 0
    # Three go at 2.0 (the learnt window has room) and reach Discord at 2.2, just after its
    # reset: they open a new window there. At the limiter's reset (2.2) they are still out,
    # so only one more may go; the last waits for the end of the window they opened (3.2).
    assert times == pytest.approx([1.0, 2.0, 2.0, 2.0, 2.2, 3.2])


async def test_a_released_permit_does_not_undo_a_lower_remaining(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=3, remaining=2, reset_after=5.0))
        async with limiter.permit(MESSAGES) as sent, limiter.permit(MESSAGES):
            # Discord counted more than we sent (another client on the same token, say).
            sent.record(200, rl_headers(limit=3, remaining=0, reset_after=4.0))
            # The other permit is left without sending: it frees its own count only.
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert (state.remaining, state.in_flight) == (0, 0)
        assert await request(limiter, MESSAGES) == 5.0


# --- 429 scopes --------------------------------------------------------------------------------


async def test_user_429_waits_the_body_retry_after(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        user = rl_headers(limit=5, remaining=0, reset_after=1.5, scope="user", retry_after=2)
        await request(limiter, MESSAGES, user, status=429, body=body_429(1.5))
        assert await request(limiter, MESSAGES) == 1.5


async def test_user_429_falls_back_to_the_retry_after_header(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        headers = rl_headers(limit=5, remaining=2, reset_after=0.5, retry_after=2)
        await request(limiter, MESSAGES, headers, status=429, body=b"")
        assert await request(limiter, MESSAGES) == 2.0


async def test_global_429_blocks_every_globally_limited_route(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(
            limiter, MESSAGES, GLOBAL_429_HEADERS, status=429, body=body_429(2.5, is_global=True)
        )
        assert await grant_times(limiter, [WEBHOOK, MESSAGES_2, EDIT]) == [0.0, 2.5, 2.5]


async def test_429s_count_toward_the_invalid_budget_unless_shared(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None, invalid_request_budget=3) as limiter:
        shared = rl_headers(remaining=3, scope="shared")
        for _ in range(5):
            await request(limiter, MESSAGES, shared, status=429, body=body_429(0.0))
        await request(limiter, MESSAGES, rl_headers(scope="user"), status=429, body=body_429(0))
        await request(
            limiter, MESSAGES, GLOBAL_429_HEADERS, status=429, body=body_429(0, is_global=True)
        )
        with pytest.raises(InvalidRequestBudgetError):
            await request(limiter, MESSAGES, rl_headers(), status=403)


# --- bans, bounds and the guard ----------------------------------------------------------------


async def test_ban_raises_and_every_later_permit_raises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, reset_after=5.0))
        waiter_error: list[BaseException] = []

        async def waiter() -> None:
            try:
                await request(limiter, MESSAGES)
            except RateLimitBanError as error:
                waiter_error.append(error)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(RateLimitBanError):
                await request(
                    limiter,
                    MESSAGES_2,
                    {"Retry-After": "3600"},
                    status=429,
                    body=b"error code: 1015",
                )
        assert len(waiter_error) == 1
        assert trio.current_time() == 0.0  # the waiter failed at once, not at the reset
        for route in (MESSAGES, MESSAGES_2, WEBHOOK):
            with pytest.raises(RateLimitBanError):
                await request(limiter, route)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Retry-After": "60"}, b'{"message": "blocked", "code": 0}'),
        ({k: v for k, v in rl_headers(scope="user").items() if k != "Via"}, body_429(1.0)),
        (rl_headers(scope="user"), b"<html><body>error code: 1015</body></html>"),
    ],
)
async def test_each_ban_sign_is_recognised(
    autojump_clock: trio.testing.MockClock, headers: dict[str, str], body: bytes
) -> None:
    async with open_rate_limiter(global_rate=None) as limiter:
        with pytest.raises(RateLimitBanError) as caught:
            await request(limiter, MESSAGES, headers, status=429, body=body)
        assert isinstance(caught.value, UploaderError)
        assert "Cloudflare" in str(caught.value)


async def test_a_wait_longer_than_max_wait_raises_instead_of_sleeping(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None, max_wait=60.0) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, reset_after=400.0))
        with pytest.raises(RateLimitWaitTooLongError) as caught:
            await request(limiter, MESSAGES)
        assert caught.value.seconds == 400.0
        assert trio.current_time() == 0.0
        assert await request(limiter, MESSAGES_2) == 0.0  # other buckets are unaffected
        await trio.sleep(340.0)
        assert await request(limiter, MESSAGES) == 400.0  # now the wait is 60 s: allowed
        # Routes outside the global limit are bounded the same way.
        await request(limiter, WEBHOOK, rl_headers(limit=1, remaining=0, reset_after=61.0))
        with pytest.raises(RateLimitWaitTooLongError):
            await request(limiter, WEBHOOK)
        assert trio.current_time() == 400.0


async def test_a_long_429_fails_the_waiters_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(global_rate=None, max_wait=10.0) as limiter:
        errors: list[float] = []

        async def waiter() -> None:
            try:
                await request(limiter, MESSAGES)
            except RateLimitWaitTooLongError as error:
                errors.append(error.seconds)

        async with trio.open_nursery() as nursery, limiter.permit(MESSAGES) as permit:
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            user = rl_headers(limit=5, remaining=0, reset_after=30.0, scope="user")
            permit.record(429, user, body_429(30.0))
        assert errors == [30.0]
        global_429 = body_429(20.0, is_global=True)
        await request(limiter, EDIT, GLOBAL_429_HEADERS, status=429, body=global_429)
        with pytest.raises(RateLimitWaitTooLongError) as caught:
            await request(limiter, MESSAGES_2)
        assert caught.value.seconds == 20.0
        assert await request(limiter, WEBHOOK) == 0.0
        assert trio.current_time() == 0.0


async def test_invalid_request_guard(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None, invalid_request_budget=3) as limiter:
        await request(limiter, MESSAGES, status=401)
        await trio.sleep(300)
        await request(limiter, MESSAGES, status=403)
        with pytest.raises(InvalidRequestBudgetError) as caught:
            await request(limiter, MESSAGES, status=403)
        assert (caught.value.count, caught.value.budget) == (3, 3)
        with pytest.raises(InvalidRequestBudgetError):
            await request(limiter, MESSAGES_2)
        await trio.sleep(300)  # the first 401 leaves the 10-minute window
        assert await request(limiter, MESSAGES_2) == 600.0


async def test_other_errors_are_not_invalid(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(global_rate=None, invalid_request_budget=1) as limiter:
        for status in (400, 404, 413, 500, 502):
            await request(limiter, MESSAGES, status=status)


async def test_error_messages_hold_no_secrets() -> None:
    for error in (
        RateLimitBanError(),
        RateLimitWaitTooLongError(12.5, 10.0),
        InvalidRequestBudgetError(1000, 1000),
    ):
        text = str(error)
        assert "webhooks/" not in text
        assert "Bot " not in text


# --- lifecycle ---------------------------------------------------------------------------------


async def test_record_twice_is_refused(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter() as limiter, limiter.permit(MESSAGES) as permit:
        permit.record(200, {})
        with pytest.raises(RuntimeError):
            permit.record(200, {})


async def test_open_rate_limiter_raises_the_body_error_unwrapped() -> None:
    with pytest.raises(KeyError):
        async with open_rate_limiter():
            raise KeyError("boom")


async def test_run_rate_limiter_follows_the_nursery_start_protocol(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        limiter: RateLimiter = await nursery.start(run_rate_limiter)
        assert await request(limiter, MESSAGES) == 0.0
        limiter.close()
    with pytest.raises(trio.ClosedResourceError):
        await request(limiter, MESSAGES)


async def test_closing_fails_the_waiters(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        limiter: RateLimiter = await nursery.start(run_rate_limiter)
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, reset_after=9.0))

        async def close_soon() -> None:
            limiter.close()

        nursery.start_soon(close_soon)
        with pytest.raises(trio.ClosedResourceError):
            await request(limiter, MESSAGES)
    assert trio.current_time() == 0.0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(global_rate=0.0)
    with pytest.raises(ValueError):
        RateLimiter(global_burst=-1)
    with pytest.raises(ValueError):
        RateLimiter(global_margin=-0.01)
    with pytest.raises(ValueError):
        RateLimiter(max_wait=-1.0)
    with pytest.raises(ValueError):
        RateLimiter(invalid_request_budget=0)


def test_route_key_names_method_template_and_major() -> None:
    assert MESSAGES.key == "POST /channels/{channel_id}/messages|channel:1"


# --- properties --------------------------------------------------------------------------------


@attrs.frozen
class Stream:
    """One random scenario: tasks on two routes that share one bucket."""

    limit: int
    period: float
    global_rate: float | None
    starts: list[float]
    latencies: list[float]
    delays: list[float]
    edits: list[bool]
    give_ups: list[float | None]


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    # At least 10 tasks, starting at fractions of the period (the windows line up with it, so
    # many permits fall just before a reset): the mix that finds limiter bugs most often.
    n = draw(st.integers(10, 30))

    def column(values: st.SearchStrategy[T]) -> list[T]:
        return draw(st.lists(values, min_size=n, max_size=n))

    period = draw(st.sampled_from([0.5, 1.0, 2.5]))
    phases = column(st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.98, 1.0, 1.5, 2.0]))
    return Stream(
        limit=draw(st.integers(1, 6)),
        period=period,
        global_rate=draw(st.sampled_from([None, 50.0, 7.0])),
        starts=[phase * period for phase in phases],
        latencies=column(st.sampled_from([0.0, 0.01, 0.2])),
        delays=column(st.sampled_from([0.0, 0.1, 0.7])),
        edits=column(st.booleans()),
        give_ups=column(st.sampled_from([None, None, None, 0.0, 0.4])),
    )


# The permits a window grants last reach Discord after its reset (found by this property).
_CROSSES_A_RESET = Stream(
    limit=4,
    period=1.0,
    global_rate=None,
    starts=[0.0] + [1.0] * 5,
    latencies=[0.2] * 6,
    delays=[0.0] * 6,
    edits=[False] * 6,
    give_ups=[None] * 6,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams())
@example(stream=_CROSSES_A_RESET)
def test_granted_permits_never_exceed_the_learnt_limit(stream: Stream) -> None:
    """Random tasks against a fake server that counts its windows.

    Both routes first learn the shared bucket, one window apart (before its first answer an
    unknown route cannot know it shares a bucket: that 429 is unavoidable). Then each request
    reaches the server its own latency after its permit (so arrivals can overtake each other
    and cross a reset); the answer, with the window as it stood on arrival, comes back after a
    random delay. Some tasks give up before sending. The server must never see more than
    ``limit`` requests in one window, and every task must end.
    """
    server = FakeBucketServer(stream.limit, stream.period)
    done: list[int] = []

    async def one(i: int, limiter: RateLimiter) -> None:
        await trio.sleep(stream.starts[i])
        async with limiter.permit(EDIT if stream.edits[i] else MESSAGES) as permit:
            give_up = stream.give_ups[i]
            if give_up is not None:  # a connection error before the request left
                await trio.sleep(give_up)
                done.append(i)
                return
            await trio.sleep(stream.latencies[i])
            answer = server.answer()
            await trio.sleep(stream.delays[i])
            permit.record(*answer)
        done.append(i)

    async def main() -> None:
        with trio.fail_after(10_000):
            async with open_rate_limiter(global_rate=stream.global_rate) as limiter:
                for route in (MESSAGES, EDIT):
                    async with limiter.permit(route) as permit:
                        permit.record(*server.answer())
                    await trio.sleep(stream.period)
                async with trio.open_nursery() as nursery:
                    for i in range(len(stream.starts)):
                        nursery.start_soon(one, i, limiter)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert server.rejected == 0
    assert sorted(done) == list(range(len(stream.starts)))
    # Cross-check from the accepted times alone: no server window held more than the limit.
    period_ns = to_ns(stream.period)
    windows = collections.Counter(
        _window_of(t, server.accepted, period_ns) for t in server.accepted
    )
    assert max(windows.values(), default=0) <= stream.limit


def _window_of(t: int, accepted: list[int], period_ns: int) -> int | None:
    """The start (ns) of the server window that holds the request accepted at ``t``."""
    start: int | None = None
    for s in accepted:
        if s > t:
            break
        if start is None or s >= start + period_ns:
            start = s
    return start


@settings(max_examples=40, deadline=None)
@given(
    rate=st.sampled_from([1.0, 2.0, 3.0, 7.0, 50.0]),
    burst=st.sampled_from([0, 3, 10]),
    margin=st.sampled_from([0.0, 0.05]),
    tick=st.sampled_from([None, 0.003, 0.013, 0.05]),
    requests=st.lists(
        st.tuples(
            st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.floats(0.0, 3.0)),
            st.sampled_from([True, True, False]),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_no_second_ever_holds_more_than_the_global_rate(
    rate: float,
    burst: int,
    margin: float,
    tick: float | None,
    requests: list[tuple[float, bool]],
) -> None:
    """Random arrivals, some permits left unsent, punctual or late wake-ups (``tick``)."""
    sent: list[float] = []

    async def one(route: Route, start: float, sends: bool, limiter: RateLimiter) -> None:
        await trio.sleep(start)
        async with limiter.permit(route) as permit:
            if sends:
                sent.append(trio.current_time())
                permit.record(200, {})

    async def main() -> None:
        async with (
            open_rate_limiter(
                global_rate=rate, global_burst=burst, global_margin=margin
            ) as limiter,
            trio.open_nursery() as nursery,
        ):
            for route, (start, sends) in zip(majors(len(requests)), requests, strict=True):
                nursery.start_soon(one, route, start, sends, limiter)

    if tick is None:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    else:
        run_with_late_wake_ups(main, tick)
    sent.sort()
    # No window of 1 s plus the margin holds more than the rate (so no 1 s window does).
    assert all(gap >= round((1 + margin) * 1e9) for gap in gaps(sent, int(rate)))
