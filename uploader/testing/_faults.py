"""The fault schedule: injected faults, matched to requests in injection order."""

from __future__ import annotations

import attrs

from ._records import Fault, RouteName


@attrs.define
class _Active:
    fault: Fault
    seen: int = 0
    hits: int = 0


class FaultSchedule:
    """Faults waiting for their requests; each request meets at most one."""

    def __init__(self) -> None:
        self._active: list[_Active] = []

    def inject(self, faults: tuple[Fault, ...]) -> None:
        """Add faults after those already scheduled."""
        self._active.extend(_Active(fault) for fault in faults)

    @property
    def pending(self) -> tuple[Fault, ...]:
        """The faults that still have hits left."""
        return tuple(active.fault for active in self._active)

    def clear(self) -> None:
        """Drop every pending fault."""
        self._active.clear()

    def take(self, route: RouteName) -> Fault | None:
        """The fault that hits a request to ``route``, if any.

        Every fault matching the route sees the request (its ``after`` counts down); the first
        one past its ``after`` hits, and is dropped once it has hit ``times`` requests.
        """
        chosen: _Active | None = None
        for active in self._active:
            if active.fault.route not in (None, route):
                continue
            active.seen += 1
            if chosen is None and active.seen > active.fault.after:
                chosen = active
        if chosen is None:
            return None
        chosen.hits += 1
        if chosen.hits >= chosen.fault.times:
            self._active.remove(chosen)
        return chosen.fault
