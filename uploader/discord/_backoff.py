"""Backoff: capped exponential delays with full jitter, and which statuses are worth one (pure)."""

from __future__ import annotations

import random as _random
from collections.abc import Callable

_MAX_EXPONENT = 1000
"""2.0 ** 1000 is still a finite float; beyond it every envelope is the cap anyway."""


def backoff_envelope(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """The largest delay `backoff_delay` may return: ``min(cap, base * 2**attempt)``.

    Args:
        attempt: how many attempts failed before this one (0 for the first retry); negative
            counts as 0.
        base: the envelope at attempt 0, in seconds.
        cap: the envelope never exceeds this, in seconds.

    Raises:
        ValueError: base or cap is negative or not finite.
    """
    if not (0.0 <= base < float("inf")) or not (0.0 <= cap < float("inf")):
        raise ValueError("backoff base and cap must be finite and not negative")
    exponent = min(max(attempt, 0), _MAX_EXPONENT)
    return min(cap, base * 2.0**exponent)


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    random: Callable[[], float] = _random.random,
) -> float:
    """Seconds to wait before retry number ``attempt``: capped exponential, full jitter.

    The delay is drawn uniformly from ``[0, backoff_envelope(attempt)]`` ("full jitter"), so
    many clients failing together spread out instead of retrying in lock-step.

    Args:
        attempt: how many attempts failed before this one (0 for the first retry).
        base: the envelope at attempt 0, in seconds.
        cap: the largest delay ever returned, in seconds.
        random: a source of floats in ``[0, 1)``; values outside are clamped.

    Returns:
        A delay ``d`` with ``0 <= d <= min(cap, base * 2**attempt)``.

    Raises:
        ValueError: base or cap is negative or not finite.
    """
    envelope = backoff_envelope(attempt, base=base, cap=cap)
    fraction = random()
    if not 0.0 <= fraction <= 1.0:  # also rejects NaN
        fraction = 1.0 if fraction > 1.0 else 0.0
    return min(envelope * fraction, envelope)


def is_transient_status(status: int) -> bool:
    """Whether a response status is worth retrying with backoff: any 5xx.

    429 is not listed: it is retried after the server's ``retry_after``, not after a backoff.
    Every other 4xx is final.
    """
    return 500 <= status <= 599
