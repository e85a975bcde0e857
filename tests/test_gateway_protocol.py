"""The gateway's pure decisions: session reactions, heartbeats, close codes, budgets."""

from __future__ import annotations

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from uploader.gateway import (
    BOT_INTENTS,
    FATAL_CLOSE_CODES,
    GatewayClosedError,
    GatewayUnavailableError,
    SendWindow,
    SessionStartLimit,
    fetch_gateway_info,
)
from uploader.gateway._limits import IdentifySchedule
from uploader.gateway._protocol import (
    check_reconnect,
    connect_url,
    invalid_session_delay,
    reconnect_delay,
)
from uploader.gateway._session import Ending, EndKind, GatewaySession, Heartbeat

TOKEN = "MTIz.secret-token-value"


def ready_session() -> GatewaySession:
    session = GatewaySession(TOKEN, BOT_INTENTS)
    session.hello(41.25, 0.0, 0.5)
    ready = {"session_id": "abc", "resume_gateway_url": "wss://resume.example/"}
    session.receive({"op": 0, "t": "READY", "s": 1, "d": ready}, 0.1)
    return session


def test_bot_intents_read_messages_and_their_content() -> None:
    assert int(BOT_INTENTS) == (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)


def test_first_connection_identifies_then_resumes_after_ready() -> None:
    session = GatewaySession(TOKEN, BOT_INTENTS, shard=(1, 4))
    identify = session.hello(41.25, 0.0, 0.5)
    assert identify["op"] == 2
    assert identify["d"]["intents"] == int(BOT_INTENTS)
    assert identify["d"]["shard"] == [1, 4]
    ready = {"session_id": "abc", "resume_gateway_url": "wss://r/"}
    reaction = session.receive({"op": 0, "t": "READY", "s": 1, "d": ready}, 1.0)
    assert reaction.ready and reaction.event is not None and reaction.event.name == "READY"
    session.receive({"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": {}}, 2.0)
    assert session.hello(41.25, 3.0, 0.5) == {
        "op": 6,
        "d": {"token": TOKEN, "session_id": "abc", "seq": 2},
    }
    assert session.resume_url == "wss://r/"


def test_a_replayed_dispatch_is_handed_out_once() -> None:
    session = ready_session()
    first = session.receive({"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": {}}, 1.0)
    again = session.receive({"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": {}}, 2.0)
    assert first.event is not None and again.event is None
    assert session.seq == 2


def test_server_heartbeat_request_is_answered_with_the_last_sequence() -> None:
    session = ready_session()
    assert session.receive({"op": 1, "d": None}, 1.0).send == ({"op": 1, "d": 1},)


@pytest.mark.parametrize(
    ("payload", "kind", "resume"),
    [
        ({"op": 7, "d": None}, EndKind.RECONNECT_REQUESTED, True),
        ({"op": 9, "d": True}, EndKind.INVALID_SESSION, True),
        ({"op": 9, "d": False}, EndKind.INVALID_SESSION, False),
    ],
)
def test_reconnect_and_invalid_session_end_the_connection(
    payload: dict[str, object], kind: EndKind, resume: bool
) -> None:
    session = ready_session()
    assert session.receive(payload, 1.0).end == Ending(kind, resume=resume)
    assert session.resumable is resume


def test_heartbeat_first_beat_is_jittered_then_regular_and_a_missing_ack_is_a_zombie() -> None:
    beat = Heartbeat(40.0, now=100.0, jitter=0.25)
    assert beat.due == 110.0
    assert beat.beat(110.0)
    beat.ack(110.5)
    assert beat.latency == 0.5
    assert beat.due == 150.0
    assert beat.beat(150.0)
    assert not beat.beat(190.0)  # no ACK for the beat at 150


def test_zombie_ends_with_resume() -> None:
    session = ready_session()
    assert session.beat(20.0) == {"op": 1, "d": 1}
    assert session.beat(61.25) == Ending(EndKind.ZOMBIE, resume=True)


@pytest.mark.parametrize("code", [4004, 4010, 4011, 4012, 4013, 4014])
def test_fatal_close_codes_forbid_reconnecting_and_name_the_reason(code: int) -> None:
    with pytest.raises(GatewayClosedError) as caught:
        check_reconnect(code)
    assert caught.value.code == code
    assert FATAL_CLOSE_CODES[code] in str(caught.value)


@pytest.mark.parametrize(
    ("code", "resume"), [(1006, True), (None, True), (4000, True), (4007, False), (4009, False)]
)
def test_other_close_codes_reconnect_resuming_unless_the_session_ended(
    code: int | None, resume: bool
) -> None:
    check_reconnect(code)
    session = ready_session()
    assert session.closed(code).resume is resume


@given(st.integers(0, 50), st.floats(0, 0.999))
def test_reconnect_delay_grows_and_stays_capped(failures: int, draw: float) -> None:
    delay = reconnect_delay(failures, lambda: draw)
    assert 0 <= delay <= 60.0
    if failures == 0:
        assert delay < 1.0
    else:
        assert delay >= min(60.0, 2.0 ** (failures - 1)) / 2
    assert 1.0 <= invalid_session_delay(lambda: draw) < 5.0


def test_connect_url_asks_for_v10_json() -> None:
    assert connect_url("wss://gateway.discord.gg") == "wss://gateway.discord.gg/?v=10&encoding=json"
    assert connect_url("ws://127.0.0.1:5/resume") == "ws://127.0.0.1:5/resume?v=10&encoding=json"


@given(st.lists(st.tuples(st.floats(0, 5), st.booleans()), max_size=300))
def test_send_window_never_allows_more_than_the_limit(steps: list[tuple[float, bool]]) -> None:
    window = SendWindow(limit=12, period=6.0, reserve=2)
    now = 0.0
    sent: list[tuple[float, bool]] = []
    for gap, priority in steps:
        now += gap
        now += window.wait_time(now, priority=priority)
        window.record(now)
        sent.append((now, priority))
    for at, _ in sent:
        inside = [p for t, p in sent if at <= t < at + 6.0]
        assert len(inside) <= 12
        assert sum(not p for p in inside) <= 10  # the last 2 are kept for priority sends


def test_send_window_keeps_a_reserve_for_priority_sends() -> None:
    window = SendWindow(limit=3, period=60.0, reserve=1)
    for _ in range(2):
        window.record(0.0)
    assert window.wait_time(1.0) == 59.0
    assert window.wait_time(1.0, priority=True) == 0.0


def test_identify_schedule_spaces_a_bucket_and_runs_buckets_together() -> None:
    schedule = IdentifySchedule(SessionStartLimit(max_concurrency=2), now=0.0)
    assert [schedule.reserve(shard, 0.0) for shard in range(4)] == [0.0, 0.0, 5.0, 5.0]
    assert schedule.reserve(0, 1.0) == 10.0


def test_identify_schedule_waits_for_the_session_start_reset() -> None:
    limit = SessionStartLimit(total=10, remaining=0, reset_after=300.0)
    schedule = IdentifySchedule(limit, now=0.0)
    assert schedule.reserve(0, 0.0) == 300.0
    assert schedule.reserve(0, 300.0) == 305.0


def test_session_repr_hides_the_token() -> None:
    session = ready_session()
    assert TOKEN not in repr(session)


def gateway_http(status: int, body: object, calls: list[httpx.Request]) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1 and status >= 500:
            return httpx.Response(status, text="oops")
        return httpx.Response(200 if status >= 500 else status, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def test_fetch_gateway_info_reads_the_url_and_the_identify_budget(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[httpx.Request] = []
    body = {
        "url": "wss://gateway.discord.gg",
        "shards": 2,
        "session_start_limit": {
            "total": 1000,
            "remaining": 990,
            "reset_after": 5000,
            "max_concurrency": 16,
        },
    }
    async with gateway_http(502, body, calls) as http:
        info = await fetch_gateway_info(http, TOKEN, api_base="https://discord.com/api/v10/")
    assert info.url == "wss://gateway.discord.gg" and info.shards == 2
    assert info.session_start_limit == SessionStartLimit(1000, 990, 5.0, 16)
    assert len(calls) == 2  # the 502 was retried
    assert calls[0].url == "https://discord.com/api/v10/gateway/bot"
    assert calls[0].headers["Authorization"] == f"Bot {TOKEN}"


async def test_fetch_gateway_info_refused_token_names_the_cause_not_the_token() -> None:
    calls: list[httpx.Request] = []
    async with gateway_http(401, {"message": "401: Unauthorized"}, calls) as http:
        with pytest.raises(GatewayUnavailableError) as caught:
            await fetch_gateway_info(http, TOKEN, api_base="https://discord.com/api/v10")
    assert caught.value.status == 401
    assert "token was refused" in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)


@given(st.lists(st.tuples(st.integers(1, 30), st.booleans()), max_size=60))
def test_dispatches_are_handed_out_once_in_order_whatever_is_replayed(
    script: list[tuple[int, bool]],
) -> None:
    """Each step: Discord (re)sends events up to ``n``, from 1 or just after the last one."""
    session = ready_session()
    handed: list[int] = []
    for upto, from_start in script:
        first = 2 if from_start else (session.seq or 1) + 1
        for seq in range(first, upto + 2):
            reaction = session.receive({"op": 0, "t": "MESSAGE_CREATE", "s": seq, "d": {}}, 0.0)
            if reaction.event is not None:
                handed.append(seq)
    assert handed == list(range(2, len(handed) + 2))
    assert session.seq == (handed[-1] if handed else 1)


async def test_an_unreachable_gateway_address_is_said_in_words(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(GatewayUnavailableError) as caught:
            await fetch_gateway_info(http, TOKEN, api_base="https://discord.com/api/v10")
    assert str(caught.value).endswith(": could not connect"), str(caught.value)
    assert "ConnectError" not in str(caught.value)
