"""Tests of the fake Discord's application (`uploader.testing._app`) without sockets.

The app takes a request head and a body and gives a response value; these tests drive it
directly, with time passed in.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from uploader import MIB
from uploader.testing import Fault
from uploader.testing._admission import RateLimits
from uploader.testing._app import DiscordApp, Drop, Exchange, RequestHead
from uploader.testing._faults import FaultSchedule
from uploader.testing._ledger import Ledger
from uploader.testing._responses import Response
from uploader.testing._world import World

RATE_LIMIT_FAULTS = ("rate_limit_user", "rate_limit_global", "rate_limit_shared")


def make_app(channel_limit: tuple[int, float] | None = (5, 5.0)) -> tuple[DiscordApp, int]:
    world = World(file_limit_bytes=MIB, request_limit_bytes=2 * MIB, on_record=None, now=0.0)
    limits = RateLimits(webhook_limit=None, channel_limit=channel_limit, global_limit=None)
    app = DiscordApp(world, limits, FaultSchedule(), Ledger(None), check_schema=True)
    return app, world.create_channel(0, now=0.0)


def head(app: DiscordApp, channel: int, token: str | None = None) -> RequestHead:
    auth = {"authorization": f"Bot {token or app.world.bot_token}"}
    headers = {**auth, "content-type": "application/json"}
    return RequestHead("POST", f"/api/v10/channels/{channel}/messages", headers)


def test_the_app_answers_a_request_without_a_socket() -> None:
    app, channel = make_app(channel_limit=(1, 5.0))
    refused = app.receive(head(app, channel, token="wrong"), now=1.0)
    assert isinstance(refused, Response) and refused.status == 401
    exchange = app.receive(head(app, channel), now=1.0)
    assert isinstance(exchange, Exchange) and exchange.sink is not None
    exchange.sink(b'{"content": "hi"}')
    answer = app.respond(exchange, now=1.5)
    assert answer.status == 200
    assert json.loads(answer.body)["content"] == "hi"
    assert [m.content for m in app.world.log.messages] == ["hi"]
    assert app.world.log.messages[0].created_at == 1.5
    limited = app.receive(head(app, channel), now=2.0)
    assert isinstance(limited, Response) and (limited.status, limited.scope) == (429, "user")
    assert isinstance(app.receive(head(app, channel), now=6.0), Exchange)


def test_the_app_says_when_to_drop_and_how_long_to_wait() -> None:
    app, channel = make_app()
    app.faults.inject(
        (Fault("drop_before_body"), Fault("slow", delay=7.5), Fault("drop_after_body"))
    )
    assert isinstance(app.receive(head(app, channel), now=0.0), Drop)
    slow = app.receive(head(app, channel), now=0.0)
    assert isinstance(slow, Exchange) and (slow.delay, slow.drop_after) == (7.5, False)
    lost = app.receive(head(app, channel), now=0.0)
    assert isinstance(lost, Exchange) and (lost.delay, lost.drop_after) == (0.0, True)
    assert app.ledger.snapshot().requests == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([None, *RATE_LIMIT_FAULTS]), max_size=20))
def test_every_429_is_counted_once_by_its_cause(plan: list[Any]) -> None:
    app, channel = make_app(channel_limit=(3, 5.0))
    for kind in plan:
        if kind is not None:
            app.faults.inject((Fault(kind),))
        step = app.receive(head(app, channel), now=1.0)
        if isinstance(step, Exchange):
            assert step.sink is not None
            step.sink(b'{"content": "x"}')
            step = app.respond(step, now=1.0)
        assert isinstance(step, Response)
        app.count(step)
    stats = app.ledger.snapshot()
    injected = sum(kind is not None for kind in plan)
    assert stats.injected_429s == injected
    assert stats.client_caused_429s == max(0, len(plan) - injected - 3)
    assert stats.injected_429s + stats.client_caused_429s == stats.responses_by_status.get(429, 0)


def answer(app: DiscordApp, method: str, target: str, body: bytes = b"") -> Response:
    headers = {"authorization": f"Bot {app.world.bot_token}", "content-type": "application/json"}
    step = app.receive(RequestHead(method, target, headers), now=1.0)
    if isinstance(step, Exchange):
        if step.sink is not None:
            step.sink(body)
        step = app.respond(step, now=1.0)
    assert isinstance(step, Response)
    return step


@settings(max_examples=40, deadline=None)
@given(count=st.integers(0, 30), limit=st.integers(1, 100), deleted=st.sets(st.integers(0, 29)))
def test_paging_a_channel_either_way_lists_each_live_message_once(
    count: int, limit: int, deleted: set[int]
) -> None:
    app, channel = make_app(channel_limit=None)
    url = f"/api/v10/channels/{channel}/messages"
    ids = [
        json.loads(answer(app, "POST", url, b'{"content": "m"}').body)["id"] for _ in range(count)
    ]
    for i in deleted & set(range(count)):
        assert answer(app, "DELETE", f"{url}/{ids[i]}").status == 204
    live = [m for i, m in enumerate(ids) if i not in deleted]

    def page(query: str) -> list[str]:
        response = answer(app, "GET", f"{url}?limit={limit}{query}")
        assert response.status == 200
        found = [m["id"] for m in json.loads(response.body)]
        assert len(found) <= limit and found == sorted(found, key=int, reverse=True)
        return found

    backwards: list[str] = []
    while chunk := page(f"&before={backwards[-1]}" if backwards else ""):
        backwards += chunk
    forwards: list[str] = []
    while chunk := page(f"&after={forwards[-1] if forwards else 0}"):
        forwards += chunk[::-1]
    assert backwards == live[::-1]
    assert forwards == live
