"""The fake's control routes under ``/_fake``: set the scene from any language (fake-only).

Like the inspection routes they are served on the fake's loopback port only, without auth,
never under ``/api``, and left out of the stats:

- ``POST /_fake/channels/{id}/threads``: create a thread in a text channel; answers
  ``{"id": "<thread id>", "parent_id": "<channel id>"}`` (a webhook's ``thread_id``).
- ``POST /_fake/faults`` with a fault as JSON (or a list of them), in `Fault`'s vocabulary
  (``{"kind": "rate_limit_user", "route": "create_message", "times": 2}``): schedule it; 204.
- ``GET /_fake/faults``: the pending faults; ``DELETE /_fake/faults``: drop them all (204).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._faults import FaultSchedule
from ._interactions import JsonReader
from ._records import Fault
from ._responses import Response, error, json_response, no_content
from ._world import World

_THREADS = re.compile(r"/_fake/channels/(\d{1,20})/threads/?\Z")
_FAULTS = re.compile(r"/_fake/faults/?\Z")
_NUMBERS = {"times": int, "after": int, "status": int, "retry_after": float, "delay": float}


def _uncounted(response: Response) -> Response:
    return attrs.evolve(response, counted=False)


def control_reader(
    world: World, faults: FaultSchedule, method: str, target: str
) -> JsonReader | Response | None:
    """The reader (or the immediate answer) of a control route; None for any other target."""
    path = urlsplit(target).path
    thread = _THREADS.match(path)
    if thread is not None:
        if method != "POST":
            return _uncounted(error(405, 0, "405: Method Not Allowed"))
        return JsonReader(lambda _, now: _create_thread(world, int(thread[1]), now))
    if _FAULTS.match(path) is None:
        return None
    if method in ("GET", "HEAD"):
        pending = [attrs.asdict(fault) for fault in faults.pending]
        return _uncounted(json_response(200, pending))
    if method == "DELETE":
        faults.clear()
        return _uncounted(no_content())
    if method != "POST":
        return _uncounted(error(405, 0, "405: Method Not Allowed"))
    return JsonReader(lambda body, _: _inject(faults, body))


def _create_thread(world: World, channel_id: int, now: float) -> Response:
    try:
        thread_id = world.create_thread(channel_id, now)
    except KeyError:
        return _uncounted(error(404, 10003, "Unknown Channel"))
    return _uncounted(json_response(200, {"id": str(thread_id), "parent_id": str(channel_id)}))


def _inject(faults: FaultSchedule, body: Any) -> Response:
    """Schedule the faults a body describes, all or none."""
    items = body if isinstance(body, list) else [body]
    try:
        parsed = tuple(fault_from_json(item) for item in items)
    except ValueError as exc:
        return _uncounted(error(400, 50035, f"Invalid fault: {exc}"))
    faults.inject(parsed)
    return _uncounted(no_content())


def fault_from_json(value: Any) -> Fault:
    """A `Fault` from its JSON form: an object of `Fault`'s fields (``kind`` required).

    Raises:
        ValueError: not such an object, an unknown field, a value of the wrong type, or one
            `Fault` refuses.
    """
    if not isinstance(value, dict) or "kind" not in value:
        raise ValueError('expected an object like {"kind": "rate_limit_user"}')
    fields = {a.name for a in attrs.fields(Fault)}
    unknown = sorted(set(value) - fields)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; expected some of {sorted(fields)}")
    for name, kind in _NUMBERS.items():
        number = value.get(name, 0)
        if isinstance(number, bool) or not isinstance(number, int if kind is int else int | float):
            raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}")
    if not isinstance(value["kind"], str) or not isinstance(value.get("route", ""), str | None):
        raise ValueError("kind and route must be strings")
    return Fault(**value)
