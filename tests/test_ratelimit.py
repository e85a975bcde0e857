"""The rate limiter's bans, bounds, invalid-request guard and lifecycle (trio's virtual clock).

The global limit is tested in test_ratelimit_global.py, buckets and 429 scopes in
test_ratelimit_buckets.py.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from tests._ratelimit import (
    EDIT,
    GLOBAL_429_HEADERS,
    MESSAGES,
    MESSAGES_2,
    WEBHOOK,
    body_429,
    request,
    rl_headers,
)
from uploader._errors import UploaderError
from uploader.discord._errors import (
    InvalidRequestBudgetError,
    RateLimitBanError,
    RateLimitWaitTooLongError,
)
from uploader.discord._ratelimit import (
    RateLimitConfig,
    RateLimiter,
    open_rate_limiter,
    run_rate_limiter,
)

# --- bans, bounds and the guard ----------------------------------------------------------------


async def test_ban_raises_and_every_later_permit_raises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        with pytest.raises(RateLimitBanError) as caught:
            await request(limiter, MESSAGES, headers, status=429, body=body)
        assert isinstance(caught.value, UploaderError)
        assert "Cloudflare" in str(caught.value)


async def test_a_wait_longer_than_max_wait_raises_instead_of_sleeping(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None, max_wait=60.0)) as limiter:
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
    async with open_rate_limiter(RateLimitConfig(global_rate=None, max_wait=10.0)) as limiter:
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
    async with open_rate_limiter(
        RateLimitConfig(global_rate=None, invalid_request_budget=3)
    ) as limiter:
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
    async with open_rate_limiter(
        RateLimitConfig(global_rate=None, invalid_request_budget=1)
    ) as limiter:
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


def ends(async_fn: Callable[[], Awaitable[object]]) -> bool:
    """Run ``async_fn`` in an event loop of its own on a daemon thread; whether it ended.

    A deadlock then fails the test instead of hanging the suite (the minute is a hang guard,
    not a timing assertion). An error in ``async_fn`` is raised here.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            trio.run(async_fn)
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    if errors:
        raise errors[0]
    return not thread.is_alive()


def test_a_limiter_opened_under_a_cancelled_scope_still_closes() -> None:
    """The actor is shielded; had it been started with ``nursery.start`` under a scope already
    cancelled, trio would never have moved it into the nursery and opening would hang."""

    async def cancelled_at_once() -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            async with open_rate_limiter():
                await trio.sleep_forever()
        assert scope.cancelled_caught

    assert ends(cancelled_at_once)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimitConfig(global_rate=0.0)
    with pytest.raises(ValueError):
        RateLimitConfig(global_burst=-1)
    with pytest.raises(ValueError):
        RateLimitConfig(global_margin=-0.01)
    with pytest.raises(ValueError):
        RateLimitConfig(max_wait=-1.0)
    with pytest.raises(ValueError):
        RateLimitConfig(invalid_request_budget=0)


def test_route_key_names_method_template_and_major() -> None:
    assert MESSAGES.key == "POST /channels/{channel_id}/messages|channel:1"


def test_a_limiter_is_made_only_by_its_factories() -> None:
    with pytest.raises(TypeError, match="open_rate_limiter"):
        RateLimiter(RateLimitConfig())
