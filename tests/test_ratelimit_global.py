"""The rate limiter's global limit (GCRA pacer, burst credit, margin, global 429s' neighbours).

All on trio's virtual clock: every test asserts the exact `trio.current_time` of each grant.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._clock import thread_aware_clock
from tests._ratelimit import (
    MESSAGES,
    WEBHOOK,
    gaps,
    grant_times,
    majors,
    request,
    run_with_late_wake_ups,
)
from uploader.discord._ratelimit import (
    RateLimitConfig,
    RateLimiter,
    open_rate_limiter,
)
from uploader.discord._routes import Route

# --- the global limit --------------------------------------------------------------------------


async def test_global_limit(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(
        RateLimitConfig(global_rate=2.0, global_burst=0, global_margin=0.0)
    ) as limiter:
        assert await grant_times(limiter, majors(5)) == [0.0, 0.5, 1.0, 1.5, 2.0]


async def test_global_limit_paces_so_no_second_holds_more_than_the_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(
        RateLimitConfig(global_rate=50.0)
    ) as limiter:  # burst 3, margin 50 ms
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
    async with open_rate_limiter(RateLimitConfig(global_rate=50.0, global_margin=0.0)) as limiter:
        times = await grant_times(limiter, majors(120))
    assert all(gap >= 1_000_000_000 for gap in gaps(times, 50))
    assert times[49:55] == pytest.approx([0.92, 1.0, 1.0, 1.0, 1.0, 1.02])
    assert times[-1] == pytest.approx(2.32)


async def test_global_limit_rounds_the_interval_up_to_whole_nanoseconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(
        RateLimitConfig(global_rate=7.0, global_burst=0, global_margin=0.0)
    ) as limiter:
        times = await grant_times(limiter, majors(8))
    # 1e9 / 7 ns is not whole: 142857143 ns apart, never 142857142 (8 within one second).
    assert gaps(times, 1) == [142_857_143] * 7
    assert gaps(times, 7) == [1_000_000_001]


async def test_global_reset_preemptive(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(
        RateLimitConfig(global_rate=2.0, global_burst=0, global_margin=0.0)
    ) as limiter:
        assert await request(limiter, MESSAGES) == 0.0
        await trio.sleep(10)
        # Strict pacing: idle time refills the pacer, but never beyond one request.
        assert await grant_times(limiter, majors(3)) == [10.0, 10.5, 11.0]


async def test_global_reset_on_cancel(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=1.0, global_margin=0.0)) as limiter:
        async with limiter.permit(MESSAGES):
            await trio.sleep(0.5)  # left without record(): the request was never sent
        assert await request(limiter, MESSAGES) == 0.5
        assert await request(limiter, MESSAGES) == 1.5


async def test_global_reset_on_cancel_when_the_caller_is_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=1.0)) as limiter:
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
        open_rate_limiter(RateLimitConfig(global_rate=1.0, global_margin=0.0)) as limiter,
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
    async with open_rate_limiter(RateLimitConfig(global_rate=1.0)) as limiter:
        assert await grant_times(limiter, webhooks) == [0.0] * 5


async def test_proxy_mode_has_no_proactive_global_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        assert await grant_times(limiter, majors(100)) == [0.0] * 100


async def test_idle_time_banks_at_most_the_burst_credit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=50.0, global_burst=3)) as limiter:
        assert await request(limiter, MESSAGES) == 0.0
        await trio.sleep(10)
        times = await grant_times(limiter, majors(6))
    assert times == pytest.approx([10.0, 10.0, 10.0, 10.0, 10.02, 10.04])


async def test_the_burst_credit_never_lets_a_second_hold_more_than_the_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # At 2/s a credit of 3 could put 4 into one second: only 1 of it is used.
    async with open_rate_limiter(
        RateLimitConfig(global_rate=2.0, global_burst=3, global_margin=0.0)
    ) as limiter:
        assert await grant_times(limiter, majors(5)) == [0.0, 0.0, 1.0, 1.0, 2.0]
    # At 1/s or slower there is no room for credit: strict pacing.
    async with open_rate_limiter(
        RateLimitConfig(global_rate=1.0, global_burst=3, global_margin=0.0)
    ) as limiter:
        assert await grant_times(limiter, majors(3)) == [2.0, 3.0, 4.0]


async def test_an_unrecorded_permit_gives_its_burst_slot_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(
        RateLimitConfig(global_rate=2.0, global_burst=1, global_margin=0.0)
    ) as limiter:
        assert await request(limiter, MESSAGES) == 0.0
        async with limiter.permit(MESSAGES):
            pass  # never sent: the second's second slot is free again
        assert await grant_times(limiter, majors(3)) == [0.0, 1.0, 1.0]


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
                RateLimitConfig(global_rate=50.0, global_burst=burst, global_margin=margin)
            ) as limiter,
            trio.open_nursery() as nursery,
        ):
            for route in majors(150):
                nursery.start_soon(one, route)

    run_with_late_wake_ups(main, tick)
    times.sort()
    assert all(gap >= round((1 + margin) * 1e9) for gap in gaps(times, 50))
    assert times[-1] == pytest.approx(last, abs=1e-9)


# --- properties --------------------------------------------------------------------------------


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
                RateLimitConfig(global_rate=rate, global_burst=burst, global_margin=margin)
            ) as limiter,
            trio.open_nursery() as nursery,
        ):
            for route, (start, sends) in zip(majors(len(requests)), requests, strict=True):
                nursery.start_soon(one, route, start, sends, limiter)

    if tick is None:
        trio.run(main, clock=thread_aware_clock())
    else:
        run_with_late_wake_ups(main, tick)
    sent.sort()
    # No window of 1 s plus the margin holds more than the rate (so no 1 s window does).
    assert all(gap >= round((1 + margin) * 1e9) for gap in gaps(sent, int(rate)))
