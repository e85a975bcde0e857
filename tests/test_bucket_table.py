"""The pure bucket table (no trio, no actor): time in, grants and refusals out."""

from __future__ import annotations

import math

from tests._ratelimit import EDIT, MESSAGES, MESSAGES_2, rl_headers
from uploader.discord._bucket import UNTAUGHT_LIMIT, UNTAUGHT_WINDOW
from uploader.discord._bucket_table import BucketTable
from uploader.discord._headers import RateLimitScope, parse_rate_limit_headers
from uploader.discord._pacer import GlobalPacer


def answered(table: BucketTable[str], token: str, now: float, **headers: object) -> None:
    parsed = parse_rate_limit_headers(rl_headers(**headers))  # type: ignore[arg-type]
    route = EDIT if token.startswith("edit") else MESSAGES
    table.answer(token, route, parsed, RateLimitScope.NONE, now, wall_now=0.0)


def test_an_unknown_route_lets_one_request_out_until_its_answer() -> None:
    table = BucketTable[str](pacer=None, max_wait=60.0)
    for token in ("a", "b", "c"):
        table.acquire(token, MESSAGES, 0.0)
    assert table.pump(0.0).granted == ["a"]
    assert table.pump(0.0).granted == []
    answered(table, "a", 0.1, limit=2, remaining=1, reset_after=1.0)
    decided = table.pump(0.1)
    assert decided.granted == ["b"]
    assert decided.wake_at == 1.1  # "c" waits for the window to reset
    assert table.pump(1.1).granted == ["c"]


def test_a_cancelled_request_takes_no_slot_and_a_released_one_gives_it_back() -> None:
    table = BucketTable[str](pacer=None, max_wait=60.0)
    table.acquire("a", MESSAGES, 0.0)
    table.pump(0.0)
    answered(table, "a", 0.0, limit=2, remaining=1, reset_after=5.0)
    table.acquire("gone", MESSAGES, 0.0)
    table.acquire("b", MESSAGES, 0.0)
    table.cancel("gone")
    assert table.pump(0.0).granted == ["b"]
    table.release("b", 0.0)
    table.acquire("c", MESSAGES, 0.0)
    assert table.pump(0.0).granted == ["c"]


def test_a_wait_beyond_max_wait_is_refused_and_other_buckets_go_on() -> None:
    table = BucketTable[str](pacer=None, max_wait=10.0)
    table.acquire("a", MESSAGES, 0.0)
    table.pump(0.0)
    answered(table, "a", 0.0, limit=1, remaining=0, reset_after=30.0)
    table.acquire("b", MESSAGES, 0.0)
    table.acquire("other", MESSAGES_2, 0.0)
    decided = table.pump(0.0)
    assert decided.granted == ["other"]
    assert [(token, error.seconds) for token, error in decided.refused] == [("b", 30.0)]
    assert decided.wake_at == math.inf


def test_the_global_pacer_orders_grants_across_buckets() -> None:
    table = BucketTable[str](pacer=GlobalPacer(2.0, 0, 0), max_wait=60.0)
    table.acquire("a", MESSAGES, 0.0)
    table.acquire("b", MESSAGES_2, 0.0)
    decided = table.pump(0.0)
    assert (decided.granted, decided.wake_at) == (["a"], 0.5)
    assert table.pump(0.5).granted == ["b"]


def test_a_lost_answer_keeps_the_window_from_resetting_for_a_whole_window() -> None:
    table = BucketTable[str](pacer=None, max_wait=60.0)
    table.acquire("a", MESSAGES, 0.0)
    table.pump(0.0)
    answered(table, "a", 0.0, limit=2, remaining=1, reset_after=2.5)
    table.acquire("lost", MESSAGES, 2.5)
    assert table.pump(2.5).granted == ["lost"]  # the window reset at 2.5: a fresh one
    table.lost("lost", 2.5)  # it may have opened a 2.5 s window at Discord
    table.acquire("b", MESSAGES, 2.5)
    table.acquire("c", MESSAGES, 2.5)
    decided = table.pump(2.5)
    assert (decided.granted, decided.wake_at) == (["b"], 5.0)


def headerless(table: BucketTable[str], token: str, now: float) -> None:
    """A 5xx answered after Discord counted the request: no rate-limit headers."""
    parsed = parse_rate_limit_headers({"Via": "1.1 google"})
    table.answer(token, MESSAGES, parsed, RateLimitScope.NONE, now, wall_now=0.0)


def sent(table: BucketTable[str], token: str, now: float) -> None:
    table.acquire(token, MESSAGES, now)
    assert table.pump(now).granted == [token]


def test_a_5xx_answer_without_headers_spends_a_slot_before_and_after_the_bucket_is_known() -> None:
    """The chaos suite's first 429: 500 (no headers), four answers, a 500, then one too many."""
    table = BucketTable[str](pacer=None, max_wait=60.0)
    sent(table, "a", 0.0)
    headerless(table, "a", 0.0)  # counted by Discord, on a route whose bucket is unknown
    for i, remaining in enumerate((3, 2, 1)):
        sent(table, f"ok{i}", 0.0)
        answered(table, f"ok{i}", 0.0, limit=5, remaining=remaining, reset_after=5.0)
    sent(table, "b", 0.0)
    headerless(table, "b", 0.0)  # the fifth request of the window
    table.acquire("c", MESSAGES, 0.0)
    decided = table.pump(0.0)
    assert (decided.granted, decided.wake_at) == ([], 5.0)


def test_a_headerless_answer_lowers_the_remaining_an_answer_named() -> None:
    table = BucketTable[str](pacer=None, max_wait=60.0)
    sent(table, "a", 0.0)
    answered(table, "a", 0.0, limit=2, remaining=1, reset_after=2.0)  # the window's first
    sent(table, "b", 0.0)
    headerless(table, "b", 0.0)
    table.acquire("c", MESSAGES, 0.0)
    assert table.pump(0.0).wake_at == 2.0


def test_an_unknown_route_whose_answers_say_nothing_is_paced_as_the_strictest_bucket() -> None:
    """The chaos suite's second 429 (five lost answers before any named the bucket), with 5xx."""
    table = BucketTable[str](pacer=None, max_wait=60.0)
    for i in range(UNTAUGHT_LIMIT):  # 5xx answers without headers (a loss also blocks 1 s)
        sent(table, f"5xx{i}", 0.1 * i)
        headerless(table, f"5xx{i}", 0.1 * i + 0.05)
    table.acquire("next", MESSAGES, 0.5)
    decided = table.pump(0.5)
    assert (decided.granted, decided.wake_at) == ([], 0.05 + UNTAUGHT_WINDOW)
    assert table.pump(0.05 + UNTAUGHT_WINDOW).granted == ["next"]
    answered(table, "next", 5.1, limit=5, remaining=4, reset_after=5.0)
    assert table.snapshot(MESSAGES, 5.1).remaining == 4  # old losses aged out of the count


def test_a_loss_told_before_a_lower_remaining_and_a_routes_first_requests_still_count() -> None:
    """Found by the lost-answer property: "a" (lost before the bucket was known) and "d" (lost,
    but it reached Discord after "c" and "e") are in no Remaining the limiter saw."""
    table = BucketTable[str](pacer=None, max_wait=60.0)
    sent(table, "a", 0.0)
    table.lost("a", 0.0)
    sent(table, "b", 1.0)
    answered(table, "b", 1.0, limit=5, remaining=3, reset_after=1.0)  # "a" was first
    for token in ("c", "d", "e"):
        table.acquire(token, MESSAGES, 1.0)
    assert table.pump(1.0).granted == ["c", "d", "e"]
    table.lost("d", 1.0)
    answered(table, "c", 1.0, limit=5, remaining=2, reset_after=1.0)
    answered(table, "e", 1.0, limit=5, remaining=1, reset_after=1.0)
    table.acquire("f", MESSAGES, 1.0)
    decided = table.pump(1.0)
    # No answer to a window's first request was seen ("a" was first), so "d" may have opened
    # a window as long as the strictest bucket's (the lost-answer property, unprimed).
    assert (decided.granted, decided.wake_at) == ([], 1.0 + UNTAUGHT_WINDOW)


def test_successes_without_rate_limit_headers_are_not_paced() -> None:
    """A 2xx that names no bucket says the route has no limit (a server or route without
    one): only error pages and lost answers, which may hide a spent slot, are paced."""
    table = BucketTable[str](pacer=None, max_wait=60.0)
    parsed = parse_rate_limit_headers({})
    now = 0.0
    for i in range(UNTAUGHT_LIMIT * 3):
        token = f"t{i}"
        table.acquire(token, MESSAGES, now)
        assert table.pump(now).granted == [token]
        table.answer(token, MESSAGES, parsed, RateLimitScope.NONE, now, 0.0, succeeded=True)
    for i in range(UNTAUGHT_LIMIT):
        table.acquire(f"e{i}", MESSAGES, now)
        table.pump(now)
        table.answer(f"e{i}", MESSAGES, parsed, RateLimitScope.NONE, now, 0.0)  # a 5xx page
    table.acquire("next", MESSAGES, now)
    assert table.pump(now).granted == []  # error pages may hide spent slots: paced again
    assert table.pump(now + UNTAUGHT_WINDOW).granted == ["next"]
