"""Shared helpers of the rate-limiter tests: routes, Discord-like headers, a fake bucket server.

Everything runs on trio's virtual clock; `request` fails a test after 1000 virtual seconds
instead of hanging.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

import trio
import trio.testing

from uploader.discord._ratelimit import RateLimiter
from uploader.discord._routes import Route
from uploader.testing._limits import FixedWindows, ceil_ms, to_ns

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
