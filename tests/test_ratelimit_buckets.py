"""The rate limiter's buckets and 429 scopes, on trio's virtual clock.

The bucket tests follow twilight's checklist by name (bucket_reset_delay, bucket_sublimit, ...);
the property drives random tasks against a fake server that counts its windows.
"""

from __future__ import annotations

import collections
from typing import TypeVar

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests._clock import thread_aware_clock
from tests._ratelimit import (
    EDIT,
    GLOBAL_429_HEADERS,
    MESSAGES,
    MESSAGES_2,
    WEBHOOK,
    FakeBucketServer,
    body_429,
    grant_times,
    request,
    rl_headers,
)
from uploader.discord._bucket import UNTAUGHT_WINDOW
from uploader.discord._errors import (
    InvalidRequestBudgetError,
)
from uploader.discord._ratelimit import (
    RateLimitConfig,
    RateLimiter,
    open_rate_limiter,
)
from uploader.testing._limits import to_ns

T = TypeVar("T")


# --- buckets -----------------------------------------------------------------------------------


async def test_bucket_limit(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        first = await request(limiter, MESSAGES, rl_headers(limit=3, remaining=2, reset_after=1.0))
        second = await request(limiter, MESSAGES)
        third = await request(limiter, MESSAGES)
        fourth = await request(limiter, MESSAGES)
        assert [first, second, third, fourth] == [0.0, 0.0, 0.0, 1.0]


async def test_bucket_slot_is_returned_when_left_unrecorded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=2, remaining=1, reset_after=5.0))
        async with limiter.permit(MESSAGES):
            pass  # the connection failed before the request left
        assert await request(limiter, MESSAGES) == 0.0
        assert await request(limiter, MESSAGES) == 5.0


async def test_a_spent_permit_keeps_its_slot_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=2, remaining=1, reset_after=5.0))
        async with limiter.permit(MESSAGES) as permit:
            permit.spent()  # sent, but the answer was lost: Discord may have counted it
        assert await request(limiter, MESSAGES) == 5.0


async def test_the_latest_reset_an_answer_names_wins(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, reset_after=2.5))
        assert await request(limiter, MESSAGES) == 2.5
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert (state.bucket, state.limit, state.remaining) == ("b1", 1, 0)


async def test_bucket_reset_past(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, reset_after=0.0))
        assert await request(limiter, MESSAGES) == 0.0


async def test_bucket_reset_epoch_is_used_only_without_reset_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    wall = 1_700_000_000.0
    async with open_rate_limiter(
        RateLimitConfig(global_rate=None, wall_clock=lambda: wall)
    ) as limiter:
        past = {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Bucket": "b"}
        await request(limiter, MESSAGES, {**past, "X-RateLimit-Reset": str(wall - 30)})
        assert await request(limiter, MESSAGES, {**past, "X-RateLimit-Reset": str(wall + 3)}) == 0
        assert await request(limiter, MESSAGES) == 3.0


async def test_bucket_sublimit(autojump_clock: trio.testing.MockClock) -> None:
    server = FakeBucketServer(limit=2, period=1.0)
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=3, remaining=2, bucket="old"))
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=0, bucket="new"))
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None
        assert (state.bucket, state.limit, state.remaining) == ("new", 1, 0)
        assert await request(limiter, MESSAGES) == 1.0


async def test_bucket_shared(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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
    async with open_rate_limiter(
        RateLimitConfig(global_rate=None, invalid_request_budget=1)
    ) as limiter:
        # A shared-scope 429 while the bucket still has requests left; budget 1 shows that it
        # is not counted as invalid (a user 429 would raise at once).
        shared = rl_headers(limit=5, remaining=3, scope="shared", retry_after=3)
        await request(limiter, MESSAGES, shared, status=429, body=body_429(2.25))
        assert await request(limiter, MESSAGES) == 2.25


async def test_major_parameters_split_buckets(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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

    async with (
        open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter,
        trio.open_nursery() as nursery,
    ):
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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


async def test_an_exhausted_bucket_without_reset_waits_a_window_it_cannot_measure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        await request(limiter, MESSAGES, rl_headers(limit=1, remaining=1, reset_after=0.0))
        # The window reset at once, and the next answer (a 502 page) says nothing at all:
        # that request may have opened a window, of a length no answer has named.
        assert await request(limiter, MESSAGES, status=502) == 0.0
        assert await request(limiter, MESSAGES) == UNTAUGHT_WINDOW


async def test_an_exhausted_bucket_without_reset_waits_the_window_an_answer_measured(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        # The answer to a window's first request names the whole window: 2 s.
        await request(limiter, MESSAGES, rl_headers(limit=2, remaining=1, reset_after=2.0))
        assert await request(limiter, MESSAGES, status=502) == 0.0
        assert await request(limiter, MESSAGES) == 2.0


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

    async with (
        open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter,
        trio.open_nursery() as nursery,
    ):
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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

    async with (
        open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter,
        trio.open_nursery() as nursery,
    ):
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        user = rl_headers(limit=5, remaining=0, reset_after=1.5, scope="user", retry_after=2)
        await request(limiter, MESSAGES, user, status=429, body=body_429(1.5))
        assert await request(limiter, MESSAGES) == 1.5


async def test_user_429_falls_back_to_the_retry_after_header(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        headers = rl_headers(limit=5, remaining=2, reset_after=0.5, retry_after=2)
        await request(limiter, MESSAGES, headers, status=429, body=b"")
        assert await request(limiter, MESSAGES) == 2.0


async def test_global_429_blocks_every_globally_limited_route(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        await request(
            limiter, MESSAGES, GLOBAL_429_HEADERS, status=429, body=body_429(2.5, is_global=True)
        )
        assert await grant_times(limiter, [WEBHOOK, MESSAGES_2, EDIT]) == [0.0, 2.5, 2.5]


async def test_429s_count_toward_the_invalid_budget_unless_shared(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(
        RateLimitConfig(global_rate=None, invalid_request_budget=3)
    ) as limiter:
        shared = rl_headers(remaining=3, scope="shared")
        for _ in range(5):
            await request(limiter, MESSAGES, shared, status=429, body=body_429(0.0))
        await request(limiter, MESSAGES, rl_headers(scope="user"), status=429, body=body_429(0))
        await request(
            limiter, MESSAGES, GLOBAL_429_HEADERS, status=429, body=body_429(0, is_global=True)
        )
        with pytest.raises(InvalidRequestBudgetError):
            await request(limiter, MESSAGES, rl_headers(), status=403)


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
            async with open_rate_limiter(
                RateLimitConfig(global_rate=stream.global_rate)
            ) as limiter:
                for route in (MESSAGES, EDIT):
                    async with limiter.permit(route) as permit:
                        permit.record(*server.answer())
                    await trio.sleep(stream.period)
                async with trio.open_nursery() as nursery:
                    for i in range(len(stream.starts)):
                        nursery.start_soon(one, i, limiter)

    trio.run(main, clock=thread_aware_clock())
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
