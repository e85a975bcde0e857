"""Proxy mode, unit by unit: when it is on, what a proxy's answers mean, and `next_step`'s rule
for a proxy that lost the body (a table, as tests/test_retry.py has for the exactly-once rules).

The real proxy in front of the loopback Discord is tested in tests/proxy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
import trio.testing

from tests._ratelimit import MESSAGES, WEBHOOK, body_429, request, rl_headers
from tests.test_retry import expect
from uploader import MediaFile, MediaType, Settings, SettingsError
from uploader.discord import proxy_mode_on
from uploader.discord._bucket_table import BucketTable
from uploader.discord._errors import (
    DiscordError,
    DiscordUnavailableError,
    InvalidRequestBudgetError,
    InvalidRequestError,
    MissingPermissionsError,
    RateLimitBanError,
)
from uploader.discord._headers import (
    RateLimitScope,
    looks_like_ban,
    parse_rate_limit_headers,
    read_answer,
)
from uploader.discord._pacer import GlobalPacer
from uploader.discord._ratelimit import RateLimitConfig, open_rate_limiter
from uploader.discord._retry import (
    Answer,
    Request,
    RetryPolicy,
    Tries,
    Uncertain,
    body_lost,
    next_step,
)

PROXY_429 = {"Retry-After": "1.5", "Content-Length": "0"}
"""@discordjs/proxy's own 429 (rejectOnRateLimit): Retry-After only, empty body, no Via."""
STRIPPED_200 = {"Content-Type": "application/json", "Via": "1.1 google"}
"""@discordjs/proxy's success: Discord's headers but every X-RateLimit-* one."""


# --- when proxy mode is on ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "base", "on"),
    [
        ("auto", "https://discord.com/api/v10", False),
        ("auto", "https://canary.discord.com/api/v10", False),
        ("auto", "https://DISCORD.com./api", False),
        ("auto", "http://127.0.0.1:8080/api/v10", True),
        ("auto", "http://nirn.internal/api/v10", True),
        ("on", "https://discord.com/api/v10", True),
        ("off", "http://127.0.0.1:8080/api/v10", False),
    ],
)
def test_proxy_mode_is_on_for_any_host_but_discords_own_unless_set(
    mode: str, base: str, on: bool
) -> None:
    assert proxy_mode_on(mode, base) is on


def test_a_bad_proxy_mode_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError):
        proxy_mode_on("sometimes", "http://x")
    with pytest.raises(SettingsError, match="DISCORD_PROXY_MODE"):
        Settings.from_env({"DISCORD_PROXY_MODE": "sometimes"})
    assert Settings.from_env({"DISCORD_PROXY_MODE": " ON "}).discord_proxy_mode == "on"
    assert Settings().discord_proxy_mode == "auto"


# --- what a proxy's answers mean ------------------------------------------------------------


def test_a_proxys_own_429_is_a_ban_only_outside_proxy_mode() -> None:
    assert looks_like_ban(429, PROXY_429, b"")
    assert not looks_like_ban(429, PROXY_429, b"", proxy=True)
    reading = read_answer(429, PROXY_429, b"", proxy=True)
    assert (reading.scope, reading.ban, reading.headers.retry_after) == (
        RateLimitScope.PROXY,
        False,
        1.5,
    )


@pytest.mark.parametrize(
    "body",
    [b"error code: 1015", b"<!DOCTYPE html><title>Access denied</title>", b'{"code": 0}'],
)
def test_cloudflares_ban_is_still_a_ban_through_a_proxy(body: bytes) -> None:
    assert looks_like_ban(429, {"Retry-After": "3600"}, body, proxy=True)


def test_discords_429_relayed_by_a_proxy_keeps_its_scope() -> None:
    reading = read_answer(429, rl_headers(scope="shared"), body_429(2.0), proxy=True)
    assert (reading.scope, reading.ban) == (RateLimitScope.SHARED, False)


def test_only_a_stripped_success_in_proxy_mode_defers_to_the_proxy() -> None:
    assert read_answer(200, STRIPPED_200, b"{}", proxy=True).defer
    assert not read_answer(200, STRIPPED_200, b"{}", proxy=False).defer
    assert not read_answer(200, rl_headers(), b"{}", proxy=True).defer
    assert not read_answer(400, {}, b"{}", proxy=True).defer


def test_a_deferred_bucket_lets_requests_out_together_and_ends_global_pacing() -> None:
    table = BucketTable[str](pacer=GlobalPacer(1.0, 0, 0), max_wait=60.0)
    table.acquire("a", MESSAGES, 0.0)
    assert table.pump(0.0).granted == ["a"]
    stripped = parse_rate_limit_headers(STRIPPED_200)
    table.answer("a", MESSAGES, stripped, RateLimitScope.NONE, 0.1, 0.0, defer=True)
    for token in ("b", "c", "d"):
        table.acquire(token, MESSAGES, 0.1)
    assert table.pump(0.1).granted == ["b", "c", "d"]  # no pacer, no one-at-a-time
    assert table.pacer is None


async def test_a_proxys_429_blocks_its_bucket_for_retry_after_and_is_not_invalid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = RateLimitConfig(global_rate=50.0, invalid_request_budget=2, proxy=True)
    async with open_rate_limiter(config) as limiter:
        for _ in range(5):
            await request(limiter, MESSAGES, PROXY_429, status=429)
        assert trio.current_time() == pytest.approx(6.0)  # 4 waits of 1.5 s, no ban, no budget
        state = await limiter.bucket_state(MESSAGES)
        assert state is not None and state.blocked_until == pytest.approx(7.5)
        with pytest.raises(InvalidRequestBudgetError):  # Discord's own 429s still count
            await request(limiter, WEBHOOK, rl_headers(scope="user"), status=429, body=body_429(1))
            await request(limiter, WEBHOOK, rl_headers(scope="user"), status=429, body=body_429(1))


async def test_outside_proxy_mode_the_same_answer_stops_everything_as_a_ban(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(global_rate=None)) as limiter:
        with pytest.raises(RateLimitBanError):
            await request(limiter, MESSAGES, PROXY_429, status=429)


async def test_stripped_answers_let_one_process_keep_several_requests_at_the_proxy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_rate_limiter(RateLimitConfig(proxy=True)) as limiter:
        await request(limiter, MESSAGES, STRIPPED_200)
        out = 0
        most = 0

        async def one() -> None:
            nonlocal out, most
            async with limiter.permit(MESSAGES) as permit:
                out += 1
                most = max(most, out)
                await trio.sleep(1.0)
                out -= 1
                permit.record(200, STRIPPED_200, b"{}")

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(one)
        assert most == 4


# --- next_step: a proxy that lost the body, as a table ---------------------------------------

FILES = (MediaFile(Path("a.mp4"), 10, MediaType.VIDEO),)
WEBHOOK_POST = Request("execute webhook 42", True, FILES, via_proxy=True)
BOT_POST = Request("create message in channel 7", False, FILES, via_proxy=True)


def lost(code: int, *, relayed: bool = True) -> Answer:
    body = json.dumps({"message": "Cannot send an empty message", "code": code}).encode()
    return Answer(400, body, relayed=relayed)


BODY_LOST = [
    # outcome, tries, webhook post, bot post
    (lost(50006), Tries(failures=1), "uncertain", ("retry", 0.5)),
    (lost(50035), Tries(failures=1), "uncertain", ("retry", 0.5)),
    (lost(50035), Tries(failures=3), "uncertain", ("retry", 2.0)),
    (lost(50006), Tries(failures=5), "uncertain", "uncertain"),  # never failed: the nonce settles
    (lost(50006, relayed=False), Tries(), InvalidRequestError, InvalidRequestError),
    (lost(50013), Tries(failures=1), MissingPermissionsError, MissingPermissionsError),
    (Answer(408, relayed=True), Tries(failures=1), "uncertain", ("retry", 0.5)),
    (Answer(408, relayed=True), Tries(failures=5), "uncertain", DiscordUnavailableError),
    (Answer(408, relayed=True, body_sent=False), Tries(failures=1), ("retry", 0.5), ("retry", 0.5)),
    (Answer(408), Tries(failures=1), DiscordError, DiscordError),  # Discord's own: final
    (Answer(200), Tries(), "done", "done"),
]


@pytest.mark.parametrize(("outcome", "tries", "webhook", "bot"), BODY_LOST, ids=repr)
def test_a_lost_body_or_a_proxy_timeout_resends_a_bot_post_and_leaves_a_webhook_uncertain(
    outcome: Answer, tries: Tries, webhook: object, bot: object
) -> None:
    assert expect(next_step(outcome, tries, WEBHOOK_POST, random=lambda: 1.0)) == webhook
    assert expect(next_step(outcome, tries, BOT_POST, random=lambda: 1.0)) == bot


@pytest.mark.parametrize(
    "request_",
    [
        Request("create message in channel 7", False, FILES, via_proxy=False),  # Discord itself
        Request("create message in channel 7", False, (), via_proxy=True),  # no files
    ],
    ids=["direct", "text only"],
)
def test_outside_its_case_a_400_stays_final(request_: Request) -> None:
    assert not body_lost(lost(50006), request_)
    assert expect(next_step(lost(50006), Tries(), request_)) == InvalidRequestError


def test_a_lost_body_counts_as_a_failed_attempt_and_obeys_the_deadline() -> None:
    assert Tries(1, 0, 0.0).after(lost(50006), 2.0) == Tries(2, 0, 2.0)
    policy = RetryPolicy(deadline=1.0)
    step = next_step(
        lost(50006), Tries(failures=1, elapsed=0.9), BOT_POST, policy, random=lambda: 1.0
    )
    assert isinstance(step, Uncertain) and "nonce" in step.reason
