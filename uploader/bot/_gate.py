"""Admission of requests: a per-user limit, then one global queue in arrival order.

A user over ``max_requests_per_user`` is refused at once (`BusyError`, so the reply can say
so); a request counts from the moment it is admitted (``status`` never says idle while its
first message is being posted), then waits its turn for one of ``max_concurrent_requests``
slots, first come first served (``trio.CapacityLimiter`` is fair).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import attrs
import trio

from ._errors import BusyError


@attrs.frozen
class GateStatus:
    """A snapshot for the ``status`` command.

    Attributes:
        running: requests holding a slot.
        waiting: requests queued for one.
        yours: requests of the asking user (running or waiting).
    """

    running: int
    waiting: int
    yours: int

    def describe(self) -> str:
        """The status reply."""
        if not self.running and not self.waiting:
            return "Idle: no requests running."
        return (
            f"{requests_said(self.running)} running, {self.waiting} waiting; "
            f"{self.yours} of them yours."
        )


class RequestGate:
    """Who may start a request, and when.

    Args:
        per_user: requests one user may have admitted at once.
        concurrent: requests running at once; the rest wait in order.
    """

    def __init__(self, per_user: int, concurrent: int) -> None:
        self.per_user = per_user
        self._slots = trio.CapacityLimiter(concurrent)
        self._admitted: Counter[str] = Counter()

    def status(self, user_id: str) -> GateStatus:
        """What runs and waits now, and how much of it is ``user_id``'s."""
        running = self._slots.borrowed_tokens
        return GateStatus(
            running=running,
            waiting=sum(self._admitted.values()) - running,
            yours=self._admitted[user_id],
        )

    @contextmanager
    def reserve(self, user_id: str) -> Iterator[trio.CapacityLimiter]:
        """Count a request from now on (its status message is being posted: it is not idle);
        the block takes its turn with ``async with`` on the slots it is given.

        Raises:
            BusyError: the user already has ``per_user`` requests admitted.
        """
        if self._admitted[user_id] >= self.per_user:
            raise BusyError(
                f"You already have {requests_said(self._admitted[user_id])} running; "
                "wait for one to finish."
            )
        self._admitted[user_id] += 1
        try:
            yield self._slots
        finally:
            self._admitted[user_id] -= 1
            if not self._admitted[user_id]:
                del self._admitted[user_id]

    @asynccontextmanager
    async def admit(self, user_id: str) -> AsyncIterator[None]:
        """`reserve`, then hold a slot for the block (waiting in the queue for it).

        Raises:
            BusyError: the user already has ``per_user`` requests admitted.
        """
        with self.reserve(user_id) as slots:
            async with slots:
                yield


def requests_said(n: int) -> str:
    """``n`` requests, in words: "1 request", "2 requests"."""
    return f"{n} request" if n == 1 else f"{n} requests"
