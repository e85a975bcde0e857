"""Who hears of the client's retry waits: a listener set for a block of code, not an argument.

A run shows "Discord unavailable, retrying in 12 s" by setting a listener around its sends
(`retry_waits_to`); the client tells it (`tell_retry_wait`) before each wait for a 5xx answer
or a lost connection, so the `Destination` protocol carries no callback.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

RetryListener = Callable[[float, str], Awaitable[None]]
"""Told ``(seconds, reason)`` before the client waits to retry a 5xx or a lost connection."""

_retry_listener: contextvars.ContextVar[RetryListener | None] = contextvars.ContextVar(
    "uploader_retry_listener", default=None
)


@contextmanager
def retry_waits_to(listener: RetryListener) -> Iterator[None]:
    """Within this block (and tasks started in it), tell ``listener`` of every retry wait.

    So a run can say "Discord unavailable, retrying in 12 s" without the `Destination`
    protocol carrying a callback.
    """
    token = _retry_listener.set(listener)
    try:
        yield
    finally:
        _retry_listener.reset(token)


async def tell_retry_wait(seconds: float, reason: str) -> None:
    """Tell the listener of the current block, if any, of a wait before a retry."""
    listener = _retry_listener.get()
    if listener is not None:
        await listener(seconds, reason)
