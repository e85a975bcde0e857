"""The invalid-request guard: a sliding-window count of 401, 403 and non-shared 429 answers.

Pure: the caller passes the time in. Discord's edge bans an IP that gets too many invalid
answers within `INVALID_REQUEST_WINDOW`; the guard stops sending well before.
"""

from __future__ import annotations

import collections

from .._limits import INVALID_REQUEST_WINDOW
from ._errors import InvalidRequestBudgetError


class InvalidRequestGuard:
    """Counts invalid answers over the last `INVALID_REQUEST_WINDOW` seconds.

    Args:
        budget: how many invalid answers in the window stop sending.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._times: collections.deque[float] = collections.deque()

    def count(self, now: float) -> int:
        """Invalid answers within the window that ends at ``now``."""
        while self._times and self._times[0] <= now - INVALID_REQUEST_WINDOW:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> None:
        """Count one invalid answer at ``now``.

        Raises:
            InvalidRequestBudgetError: it brought the count up to the budget.
        """
        self._times.append(now)
        self.check(now)

    def check(self, now: float) -> None:
        """Raise `InvalidRequestBudgetError` while the budget is spent."""
        count = self.count(now)
        if count >= self.budget:
            raise InvalidRequestBudgetError(count, self.budget)
