"""Tests of uploader.discord._retry: backoff, and the exactly-once rules of `next_step`."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uploader.discord._errors import (
    DestinationNotFoundError,
    DiscordError,
    DiscordUnavailableError,
    FileTooLargeError,
)
from uploader.discord._retry import (
    Answer,
    Done,
    Lost,
    Outcome,
    Raise,
    Request,
    RetryAfter,
    RetryPolicy,
    Stage,
    Step,
    Tries,
    Uncertain,
    backoff_delay,
    backoff_envelope,
    is_transient_status,
    next_step,
)


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


# --- next_step: the exactly-once rules as a table --------------------------------------------

WEBHOOK_POST = Request("execute webhook 42", at_most_once=True)
"""No nonce: must never post twice."""
BOT_POST = Request("create message in channel 7", at_most_once=False)
"""Carries nonce + enforce_nonce: a repeat returns the first message."""

FIRST = Tries(failures=1)
"""The first attempt failed (5xx or connection); with random() == 1 its backoff is 0.5 s."""

NOT_TRANSIENT = Lost("InvalidURL: bad", Stage.NOT_CONNECTED, transient=False)
DROPPED_AFTER_BODY = Lost("RemoteProtocolError: disconnected", Stage.BODY_SENT)
DROPPED_MID_BODY = Lost("ReadError: reset", Stage.BODY_UNSENT)
NEVER_CONNECTED = Lost("ConnectError: refused", Stage.NOT_CONNECTED)
ENVOY = b"upstream connect error or disconnect/reset before headers. reset reason: "
OVERFLOW = ENVOY + b"overflow"
"""Discord's front end refusing to forward a request: it reached no backend."""


def expect(step: Step) -> object:
    """A step as a table cell: ``"done"``, ``("retry", s)``, ``"uncertain"`` or an error type."""
    if isinstance(step, Done):
        return "done"
    if isinstance(step, RetryAfter):
        return ("retry", step.seconds)
    if isinstance(step, Uncertain):
        return "uncertain"
    return type(step.error)


EXACTLY_ONCE = [
    # outcome, tries, webhook post, bot post
    (Answer(200), Tries(), "done", "done"),
    (Answer(429), Tries(rate_limited=1), ("retry", 0.0), ("retry", 0.0)),
    (NEVER_CONNECTED, FIRST, ("retry", 0.5), ("retry", 0.5)),
    (DROPPED_MID_BODY, FIRST, ("retry", 0.5), ("retry", 0.5)),
    (DROPPED_AFTER_BODY, FIRST, "uncertain", ("retry", 0.5)),
    (Answer(503, OVERFLOW), FIRST, ("retry", 0.5), ("retry", 0.5)),
    (Answer(503, ENVOY + b"connection termination"), FIRST, "uncertain", ("retry", 0.5)),
    (Answer(503, b"<html>503 Service Unavailable</html>"), FIRST, "uncertain", ("retry", 0.5)),
    (Answer(500), FIRST, "uncertain", ("retry", 0.5)),
    (Answer(502), FIRST, "uncertain", ("retry", 0.5)),
    (Answer(504), FIRST, "uncertain", ("retry", 0.5)),
    (Answer(524), FIRST, "uncertain", ("retry", 0.5)),
    (Answer(500, body_sent=False), FIRST, ("retry", 0.5), ("retry", 0.5)),
    (Answer(503, OVERFLOW), Tries(failures=3), ("retry", 2.0), ("retry", 2.0)),
    (Answer(503, OVERFLOW), Tries(failures=5), DiscordUnavailableError, DiscordUnavailableError),
    (NEVER_CONNECTED, Tries(failures=5), DiscordUnavailableError, DiscordUnavailableError),
    (Answer(429), Tries(rate_limited=26), DiscordUnavailableError, DiscordUnavailableError),
    (
        Lost("InvalidURL: bad", Stage.NOT_CONNECTED, transient=False),
        FIRST,
        DiscordError,
        DiscordError,
    ),
    (Answer(404, b'{"code": 10015}'), Tries(), DestinationNotFoundError, DestinationNotFoundError),
    (Answer(413, b'{"code": 40005}'), Tries(), FileTooLargeError, FileTooLargeError),
]


@pytest.mark.parametrize(("outcome", "tries", "webhook", "bot"), EXACTLY_ONCE, ids=repr)
def test_next_step_keeps_webhook_posts_at_most_once_and_retries_bot_posts(
    outcome: Outcome, tries: Tries, webhook: object, bot: object
) -> None:
    assert expect(next_step(outcome, tries, WEBHOOK_POST, random=lambda: 1.0)) == webhook
    assert expect(next_step(outcome, tries, BOT_POST, random=lambda: 1.0)) == bot


@pytest.mark.parametrize(
    ("elapsed", "step"),
    [(0.0, ("retry", 0.5)), (9.5, ("retry", 0.5)), (9.6, DiscordUnavailableError)],
)
def test_a_deadline_stops_retries_that_would_start_after_it(elapsed: float, step: object) -> None:
    policy = RetryPolicy(max_attempts=1000, deadline=10.0)
    tries = Tries(failures=1, elapsed=elapsed)
    assert expect(next_step(Answer(503), tries, BOT_POST, policy, random=lambda: 1.0)) == step


def test_the_give_up_error_names_the_request_and_the_attempts() -> None:
    step = next_step(Answer(502), Tries(failures=5), BOT_POST)
    assert isinstance(step, Raise)
    assert str(step.error) == "create message in channel 7: HTTP 502, 5 attempts"
    assert step.error.status == 502


@pytest.mark.parametrize(
    ("outcome", "after"),
    [
        (Answer(200), Tries(1, 2, 3.0)),
        (Answer(429), Tries(1, 3, 3.0)),
        (Answer(503, OVERFLOW), Tries(2, 2, 3.0)),
        (Answer(404), Tries(1, 2, 3.0)),
        (DROPPED_AFTER_BODY, Tries(2, 2, 3.0, maybe_posted=True)),
    ],
)
def test_tries_count_429s_apart_from_failures(outcome: Outcome, after: Tries) -> None:
    assert Tries(1, 2, 0.0).after(outcome, 3.0) == after


# --- bounded by time, and honest when giving up (issue 9) -------------------------------------


@pytest.mark.parametrize(
    ("outcome", "maybe_posted"),
    [
        (Answer(503, OVERFLOW), False),  # the front end refused to forward: not acted on
        (Answer(503, b"no healthy upstream"), False),
        (Answer(503, ENVOY + b"remote connection failure, transport failure"), False),
        (Answer(503, ENVOY + b"connection termination"), True),  # a backend had it
        (Answer(503), True),  # a 503 that does not say it was refused may have posted
        (Answer(500, body_sent=False), False),
        (NEVER_CONNECTED, False),
        (DROPPED_MID_BODY, False),
        (Answer(500), True),
        (Answer(502), True),
        (Answer(524), True),
        (DROPPED_AFTER_BODY, True),
    ],
)
def test_a_failure_that_may_have_posted_is_remembered(outcome: Outcome, maybe_posted: bool) -> None:
    assert Tries().after(outcome, 1.0).maybe_posted is maybe_posted
    # and never forgotten by a later failure that did not post
    assert (
        Tries().after(outcome, 1.0).after(Answer(503, OVERFLOW), 2.0).maybe_posted is maybe_posted
    )


@pytest.mark.parametrize("maybe_posted", [False, True])
def test_giving_up_says_whether_the_request_may_have_posted(maybe_posted: bool) -> None:
    tries = Tries(failures=3, elapsed=200.0, maybe_posted=maybe_posted)
    step = next_step(Answer(503), tries, BOT_POST, RetryPolicy.timed(180.0), random=lambda: 1.0)
    assert isinstance(step, Raise)
    assert isinstance(step.error, DiscordUnavailableError)
    assert step.error.uncertain is maybe_posted
    assert "Discord unavailable for 200 s" in str(step.error)


def test_a_timed_policy_keeps_retrying_past_the_old_attempt_count() -> None:
    policy = RetryPolicy.timed(180.0)
    step = next_step(Answer(503), Tries(failures=50, elapsed=100.0), BOT_POST, policy)
    assert isinstance(step, RetryAfter)
    assert step.seconds <= policy.backoff_cap


@given(
    deadline=st.floats(min_value=1.0, max_value=10_000.0),
    window=st.floats(min_value=1.0, max_value=1000.0),
    elapsed=st.floats(min_value=0.0, max_value=20_000.0),
    failures=st.integers(1, 10_000),
    fraction=st.floats(min_value=0.0, max_value=1.0),
    lost=st.booleans(),
)
def test_no_retry_starts_past_the_deadline_or_the_nonce_window(
    deadline: float, window: float, elapsed: float, failures: int, fraction: float, lost: bool
) -> None:
    request = Request("create message in channel 7", dedup_window=window)
    outcome: Outcome = DROPPED_AFTER_BODY if lost else Answer(503)
    tries = Tries(failures=failures, elapsed=elapsed)
    step = next_step(outcome, tries, request, RetryPolicy.timed(deadline), random=lambda: fraction)
    if isinstance(step, RetryAfter):
        assert elapsed + step.seconds <= min(deadline, window)
        assert step.seconds <= RetryPolicy().backoff_cap
    else:
        assert isinstance(step, Raise)
        assert isinstance(step.error, DiscordUnavailableError)


@pytest.mark.parametrize(
    ("maybe_posted", "elapsed", "step"),
    [
        (False, 179.0, DiscordUnavailableError),  # the deadline: 180 s
        (True, 179.0, ("retry", 10.0)),  # may have posted: the nonce can still settle it
        (True, 231.0, DiscordUnavailableError),  # but never past the nonce window (240 s)
    ],
)
def test_a_bot_post_that_may_have_posted_keeps_trying_while_its_nonce_deduplicates(
    maybe_posted: bool, elapsed: float, step: object
) -> None:
    request = Request("create message in channel 7", dedup_window=240.0)
    tries = Tries(failures=9, elapsed=elapsed, maybe_posted=maybe_posted)
    policy = RetryPolicy.timed(180.0)
    assert expect(next_step(Answer(503), tries, request, policy, random=lambda: 1.0)) == step
