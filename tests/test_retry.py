"""Tests of uploader.discord._retry: transient statuses and capped, jittered backoff."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uploader.discord._retry import backoff_delay, backoff_envelope, is_transient_status


@pytest.mark.parametrize("status", [500, 502, 503, 504, 524, 599])
def test_5xx_is_transient(status: int) -> None:
    assert is_transient_status(status)


@pytest.mark.parametrize("status", [200, 204, 400, 401, 403, 404, 413, 429, 600])
def test_everything_else_is_not(status: int) -> None:
    assert not is_transient_status(status)


def test_envelope_doubles_then_caps() -> None:
    assert [backoff_envelope(a, base=0.5, cap=5.0) for a in range(6)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        5.0,
        5.0,
    ]


def test_full_jitter_scales_the_envelope() -> None:
    assert backoff_delay(3, base=0.5, cap=30.0, random=lambda: 0.25) == 1.0
    assert backoff_delay(3, base=0.5, cap=30.0, random=lambda: 0.0) == 0.0


def test_out_of_range_random_is_clamped() -> None:
    assert backoff_delay(0, random=lambda: 7.0) == 0.5
    assert backoff_delay(0, random=lambda: -1.0) == 0.0
    assert backoff_delay(0, random=lambda: math.nan) == 0.0


def test_huge_attempt_gives_the_cap() -> None:
    assert backoff_envelope(10**9) == 30.0
    assert backoff_delay(10**9, random=lambda: 0.999) <= 30.0


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        backoff_delay(1, base=-1.0)
    with pytest.raises(ValueError):
        backoff_delay(1, cap=math.inf)


bases = st.floats(min_value=0.0, max_value=100.0)
caps = st.floats(min_value=0.0, max_value=3600.0)


@given(
    attempt=st.integers(-5, 5000),
    base=bases,
    cap=caps,
    fraction=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_delay_stays_within_zero_and_the_cap(
    attempt: int, base: float, cap: float, fraction: float
) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap, random=lambda: fraction)
    assert 0.0 <= delay <= backoff_envelope(attempt, base=base, cap=cap) <= cap


@given(attempt=st.integers(0, 5000), base=bases, cap=caps)
def test_upper_envelope_never_decreases(attempt: int, base: float, cap: float) -> None:
    assert backoff_envelope(attempt, base=base, cap=cap) <= backoff_envelope(
        attempt + 1, base=base, cap=cap
    )


@given(attempt=st.integers(0, 64), base=bases, cap=caps)
def test_random_one_reaches_the_envelope(attempt: int, base: float, cap: float) -> None:
    envelope = backoff_envelope(attempt, base=base, cap=cap)
    assert backoff_delay(attempt, base=base, cap=cap, random=lambda: 1.0) == envelope
