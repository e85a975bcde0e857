"""Tests of uploader.discord._headers: rate-limit header parsing and Cloudflare-ban detection."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from uploader.discord._headers import (
    RateLimitHeaders,
    looks_like_ban,
    parse_rate_limit_headers,
)

DISCORD_429 = {
    "X-RateLimit-Limit": "5",
    "X-RateLimit-Remaining": "0",
    "X-RateLimit-Reset": "1470173023.123",
    "X-RateLimit-Reset-After": "64.57",
    "X-RateLimit-Bucket": "abcd1234",
    "X-RateLimit-Scope": "user",
    "Retry-After": "65",
    "Via": "1.1 google",
}
DISCORD_429_BODY = (
    b'{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}'
)


def test_parses_every_documented_header() -> None:
    parsed = parse_rate_limit_headers(DISCORD_429, DISCORD_429_BODY)
    assert parsed == RateLimitHeaders(
        limit=5,
        remaining=0,
        reset_after=64.57,
        reset_at=1470173023.123,
        bucket="abcd1234",
        is_global=False,
        scope="user",
        retry_after=64.57,
        via="1.1 google",
    )


def test_header_names_are_case_insensitive() -> None:
    lower = parse_rate_limit_headers({k.lower(): v for k, v in DISCORD_429.items()})
    upper = parse_rate_limit_headers({k.upper(): v for k, v in DISCORD_429.items()})
    assert lower == upper
    assert lower.limit == 5


def test_body_retry_after_wins_over_the_rounded_header() -> None:
    parsed = parse_rate_limit_headers({"Retry-After": "2"}, b'{"retry_after": 1.25}')
    assert parsed.retry_after == 1.25


def test_retry_after_header_is_the_fallback() -> None:
    assert parse_rate_limit_headers({"Retry-After": "2"}, b"not json").retry_after == 2.0
    assert parse_rate_limit_headers({"Retry-After": "2"}, b'{"retry_after": "x"}').retry_after == 2


def test_global_comes_from_header_or_body() -> None:
    assert parse_rate_limit_headers({"X-RateLimit-Global": "true"}).is_global
    assert parse_rate_limit_headers({}, b'{"global": true, "retry_after": 1}').is_global
    assert not parse_rate_limit_headers({"X-RateLimit-Global": "false"}).is_global
    assert not parse_rate_limit_headers({}, b'{"global": 1}').is_global


def test_garbage_becomes_none() -> None:
    parsed = parse_rate_limit_headers(
        {
            "X-RateLimit-Limit": "five",
            "X-RateLimit-Remaining": "-1",
            "X-RateLimit-Reset-After": "nan",
            "X-RateLimit-Reset": "inf",
            "X-RateLimit-Bucket": "   ",
            "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT",
        },
        b'{"retry_after": 1e999}',
    )
    assert parsed == RateLimitHeaders()


def test_negative_durations_mean_reset_in_the_past() -> None:
    parsed = parse_rate_limit_headers({"X-RateLimit-Reset-After": "-3.5"}, b'{"retry_after": -1}')
    assert parsed.reset_after == 0.0
    assert parsed.retry_after == 0.0


def test_huge_json_integer_does_not_overflow() -> None:
    body = b'{"retry_after": 1' + b"0" * 400 + b"}"
    assert parse_rate_limit_headers({}, body).retry_after is None


def test_deeply_nested_body_does_not_raise() -> None:
    assert parse_rate_limit_headers({}, b"[" * 100_000).retry_after is None


def test_a_real_discord_429_is_not_a_ban() -> None:
    assert not looks_like_ban(429, DISCORD_429, DISCORD_429_BODY)


def test_a_global_429_without_bucket_headers_is_not_a_ban() -> None:
    headers = {"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global", "Via": "1.1 google"}
    body = b'{"message": "You are being rate limited.", "retry_after": 0.5, "global": true}'
    assert not looks_like_ban(429, headers, body)


def test_ban_signs() -> None:
    no_rate_limit_headers = {"Retry-After": "3600", "Via": "1.1 google"}
    assert looks_like_ban(429, no_rate_limit_headers, b"")
    no_via = {k: v for k, v in DISCORD_429.items() if k != "Via"}
    assert looks_like_ban(429, no_via, DISCORD_429_BODY)
    assert looks_like_ban(429, DISCORD_429, b"<!DOCTYPE html><title>Access denied</title>")
    assert looks_like_ban(429, DISCORD_429, b"error code: 1015")
    assert looks_like_ban(429, DISCORD_429, b'{"message": "You are being blocked", "code": 0}')


def test_only_429_can_be_a_ban() -> None:
    assert not looks_like_ban(403, {}, b"error code: 1015")
    assert not looks_like_ban(200, {}, b"")


def test_code_must_be_the_integer_zero() -> None:
    assert not looks_like_ban(429, DISCORD_429, b'{"code": false, "retry_after": 1}')
    assert not looks_like_ban(429, DISCORD_429, b'{"code": 20028, "retry_after": 1}')
    # Discord's own rate-limit body has code 0 too (every error body has a code)
    own_429 = {"message": "You are being rate limited.", "retry_after": 1.5, "code": 0}
    assert not looks_like_ban(429, DISCORD_429, json.dumps(own_429).encode())


header_names = st.sampled_from(
    [
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "X-RateLimit-Reset-After",
        "X-RateLimit-Bucket",
        "X-RateLimit-Global",
        "X-RateLimit-Scope",
        "Retry-After",
        "Via",
    ]
) | st.text(max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
bodies = st.none() | st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode())


@given(
    headers=st.dictionaries(header_names, st.text(max_size=30), max_size=12),
    body=bodies,
    status=st.integers(100, 599),
)
def test_parsing_never_raises(headers: dict[str, str], body: bytes | None, status: int) -> None:
    parsed = parse_rate_limit_headers(headers, body)
    looks_like_ban(status, headers, body)
    for value in (parsed.reset_after, parsed.retry_after):
        assert value is None or value >= 0.0
    assert parsed.limit is None or parsed.limit >= 0
    assert parsed.remaining is None or parsed.remaining >= 0


def _random_case(name: str, flips: list[bool]) -> str:
    return "".join(c.upper() if flip else c.lower() for c, flip in zip(name, flips, strict=False))


durations = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
tokens = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=32
)


@given(
    limit=st.integers(0, 10**6),
    remaining=st.integers(0, 10**6),
    reset_after=durations,
    reset_at=st.floats(min_value=0.0, max_value=4e9, allow_nan=False),
    bucket=tokens,
    is_global=st.booleans(),
    scope=st.sampled_from(["user", "global", "shared"]),
    retry_after=durations,
    flips=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_valid_values_round_trip(
    limit: int,
    remaining: int,
    reset_after: float,
    reset_at: float,
    bucket: str,
    is_global: bool,
    scope: str,
    retry_after: float,
    flips: list[bool],
) -> None:
    expected = RateLimitHeaders(
        limit=limit,
        remaining=remaining,
        reset_after=reset_after,
        reset_at=reset_at,
        bucket=bucket,
        is_global=is_global,
        scope=scope,
        retry_after=retry_after,
        via="1.1 google",
    )
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset-After": repr(reset_after),
        "X-RateLimit-Reset": repr(reset_at),
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Global": "true" if is_global else "false",
        "X-RateLimit-Scope": scope,
        "Via": "1.1 google",
    }
    headers = {_random_case(k, flips): v for k, v in headers.items()}
    body = json.dumps({"retry_after": retry_after, "global": is_global}).encode()
    assert parse_rate_limit_headers(headers, body) == expected
