"""The fake's request ledger: counts of requests and answers (429s by cause), and the ban."""

from __future__ import annotations

from ._records import FakeStats
from ._responses import Response


class Ledger:
    """Counts what the fake answered, and bans the client after too many invalid answers.

    Args:
        ban_after_invalid: after this many 401/403/non-shared-429 answers, ban; None: never.
    """

    def __init__(self, ban_after_invalid: int | None) -> None:
        self._ban_after = ban_after_invalid
        self.banned = False
        self.requests = 0
        self._by_status: dict[int, int] = {}
        self._by_scope: dict[str, int] = {}
        self._invalid = 0
        self._injected_429s = 0
        self._client_caused_429s = 0
        self._by_route: dict[str, int] = {}

    def count_request(self) -> None:
        """Count a request whose head arrived."""
        self.requests += 1

    def count_route(self, route: str) -> None:
        """Count a request that matched a route."""
        self._by_route[route] = self._by_route.get(route, 0) + 1

    def count(self, response: Response) -> None:
        """Count an answer being sent (a dropped connection's lost answer is not counted)."""
        if not response.counted:
            return
        status = response.status
        self._by_status[status] = self._by_status.get(status, 0) + 1
        if response.scope is not None:
            self._by_scope[response.scope] = self._by_scope.get(response.scope, 0) + 1
        if status == 429 and response.scope != "ban":
            if response.injected:
                self._injected_429s += 1
            else:
                self._client_caused_429s += 1
        invalid = status in (401, 403) or (
            status == 429 and response.scope not in ("shared", "ban")
        )
        if invalid:
            self._invalid += 1
            if self._ban_after is not None and self._invalid >= self._ban_after:
                self.banned = True

    def snapshot(self) -> FakeStats:
        """The counters as a `FakeStats`."""
        return FakeStats(
            requests=self.requests,
            responses_by_status=dict(self._by_status),
            rate_limited_by_scope=dict(self._by_scope),
            invalid_requests=self._invalid,
            injected_429s=self._injected_429s,
            client_caused_429s=self._client_caused_429s,
            requests_by_route=dict(self._by_route),
        )
