"""The gateway client against the fake gateway, on trio's MockClock."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import trio
import trio.testing

from uploader.gateway import (
    Gateway,
    GatewayClosedError,
    GatewayEvent,
    GatewayUnavailableError,
    IdentifyLimiter,
    SessionStartLimit,
    open_gateway,
    run_gateway,
)
from uploader.testing._gateway import FAKE_BOT_TOKEN, FakeGateway
from uploader.testing._gateway_server import open_fake_gateway

API = "http://fake.invalid/api/v10"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGateway]:
    async with open_fake_gateway(heartbeat_interval_ms=10_000) as fake:
        yield fake


@pytest.fixture
async def http(fake: FakeGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.http_transport()) as client:
        yield client


def half() -> float:
    return 0.5


async def until(fake: FakeGateway, predicate: Callable[[], bool]) -> None:
    with trio.fail_after(600):
        await fake.wait_until(predicate)


async def next_event(gw: Gateway, name: str) -> GatewayEvent:
    with trio.fail_after(600):
        async for event in gw.events:
            if event.name == name:
                return event
    raise AssertionError(f"events ended before {name}")


def drain(gw: Gateway) -> list[GatewayEvent]:
    events = []
    while True:
        try:
            events.append(gw.events.receive_nowait())
        except trio.WouldBlock:
            return events


async def test_start_form_identifies_with_the_bot_intents(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    async with trio.open_nursery() as nursery:
        gw: Gateway = await nursery.start(
            lambda task_status: run_gateway(
                FAKE_BOT_TOKEN, http=http, api_base=API, random=half, task_status=task_status
            )
        )
        assert (await gw.events.receive()).name == "READY"
        assert gw.session_id == fake.session_id
        [identify] = fake.identifies
        assert identify.data["intents"] == 37377
        assert identify.data["token"] == FAKE_BOT_TOKEN
        nursery.cancel_scope.cancel()


async def test_heartbeats_first_jittered_then_every_interval_with_the_sequence(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=lambda: 0.25) as gw:
        hello_at = trio.current_time()  # READY follows HELLO without any wait on the clock
        await fake.message_create("hi")
        await until(fake, lambda: len(fake.heartbeats) >= 3)
        assert gw.latency is not None
    beats = fake.heartbeats
    assert beats[0].at == pytest.approx(hello_at + 2.5, abs=0.01)
    assert [b.at - a.at for a, b in itertools.pairwise(beats)] == pytest.approx(
        [10.0, 10.0], abs=0.01
    )
    assert [beat.data for beat in beats] == [2, 2, 2]


async def test_a_server_heartbeat_request_is_answered_at_once(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half):
        asked_at = trio.current_time()
        await fake.request_heartbeat()
        await until(fake, lambda: len(fake.heartbeats) == 1)
    assert fake.heartbeats[0].at == pytest.approx(asked_at, abs=0.01)


async def test_missing_acks_make_a_zombie_that_is_closed_and_resumed(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    fake.ack_heartbeats = False
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as gw:
        session = gw.session_id
        await until(fake, lambda: len(fake.resumes) == 1)
        fake.ack_heartbeats = True
        await next_event(gw, "RESUMED")
    assert fake.client_close_codes[0] == 4000  # a code that keeps the session
    assert len(fake.heartbeats) >= 1
    # The zombie is noticed when the second beat is due: 5 s jitter + 10 s interval.
    assert fake.resumes[0].at - fake.heartbeats[0].at >= 10.0
    assert fake.resumes[0].data == {"token": FAKE_BOT_TOKEN, "session_id": session, "seq": 1}
    assert len(fake.identifies) == 1


async def test_resume_after_a_drop_sends_session_and_sequence_and_replays_missed_events_once(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as gw:
        await fake.message_create("before")
        seen = await next_event(gw, "MESSAGE_CREATE")
        await fake.drop()
        await until(fake, lambda: fake.live_connections == 0)
        await fake.message_create("missed 1")
        await fake.message_create("missed 2")
        await next_event(gw, "RESUMED")
    assert seen.data["content"] == "before"
    assert fake.resumes[0].data["session_id"] == fake.session_id
    assert fake.resumes[0].data["seq"] == 2
    assert fake.paths[1].startswith("/resume")  # the READY's resume_gateway_url
    assert len(fake.identifies) == 1


async def test_missed_events_arrive_in_order_before_resumed(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as gw:
        assert (await gw.events.receive()).name == "READY"
        await fake.drop()
        await until(fake, lambda: fake.live_connections == 0)
        await fake.message_create("missed 1")
        await fake.message_create("missed 2")
        events = [await gw.events.receive() for _ in range(3)]
        await trio.sleep(30)
        assert drain(gw) == []  # each missed event once, nothing more
    assert [(e.name, e.seq) for e in events] == [
        ("MESSAGE_CREATE", 2),
        ("MESSAGE_CREATE", 3),
        ("RESUMED", 4),
    ]
    assert [e.data["content"] for e in events[:2]] == ["missed 1", "missed 2"]


async def test_op7_reconnects_and_resumes(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as gw:
        await fake.request_reconnect()
        await next_event(gw, "RESUMED")
    assert fake.connections == 2
    assert fake.resumes[0].data["seq"] == 1
    assert fake.client_close_codes[0] == 4000


@pytest.mark.parametrize("resumable", [True, False])
async def test_invalid_session_resumes_or_identifies_afresh(
    autojump_clock: trio.testing.MockClock,
    fake: FakeGateway,
    http: httpx.AsyncClient,
    resumable: bool,
) -> None:
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as gw:
        await next_event(gw, "READY")
        first = gw.session_id
        await fake.invalidate_session(resumable=resumable)
        await next_event(gw, "RESUMED" if resumable else "READY")
        second = gw.session_id
    if resumable:
        assert len(fake.identifies) == 1 and len(fake.resumes) == 1
        assert second == first
    else:
        assert len(fake.identifies) == 2 and fake.resumes == []
        assert second != first
    # Discord asks for 1 to 5 s before the next attempt.
    opening = (fake.resumes or fake.identifies)[-1]
    assert opening.at - fake.identifies[0].at >= 1.0


async def test_refused_token_raises_without_reconnecting_or_leaking_it(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-token-value"
    caplog.set_level(logging.DEBUG)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=fake.gateway_bot_payload())

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(GatewayClosedError) as caught:
            async with open_gateway(wrong, http=http, api_base=API, random=half):
                pytest.fail("must not start")
    assert caught.value.code == 4004
    assert "token was refused" in str(caught.value)
    await trio.sleep(120)
    assert fake.connections == 1
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert wrong not in text


async def test_a_4004_mid_session_ends_the_gateway(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    with pytest.raises(GatewayClosedError) as caught:
        async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half):
            await fake.close(4004)
            await trio.sleep_forever()
    assert caught.value.code == 4004
    await trio.sleep(120)
    assert fake.connections == 1


async def test_disallowed_intents_name_the_portal_setting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_fake_gateway(privileged_intents=False) as strict:
        transport = strict.http_transport()
        async with httpx.AsyncClient(transport=transport) as own_http:
            with pytest.raises(GatewayClosedError) as caught:
                async with open_gateway(FAKE_BOT_TOKEN, http=own_http, api_base=API):
                    pass
    assert caught.value.code == 4014
    assert "message content" in caught.value.reason


async def test_sends_stay_within_120_per_minute(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    presence = {"op": 3, "d": {"since": None, "activities": [], "status": "online", "afk": False}}
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as gw:
        start = trio.current_time()
        for _ in range(250):
            await gw.send(presence)
        await until(fake, lambda: len(fake.frames(3)) == 250)
        took = trio.current_time() - start
    sent = [frame.at for frame in fake.received]
    for at in sent:
        assert len([t for t in sent if at <= t < at + 60.0]) <= 120
    assert 120.0 <= took < 180.0  # 115 a minute for the caller, the rest kept for heartbeats


async def test_identify_concurrency_follows_max_concurrency(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    for concurrency, gap in ((1, 5.0), (2, 0.0)):
        fake.received.clear()
        limiter = IdentifyLimiter(SessionStartLimit(max_concurrency=concurrency))
        async with trio.open_nursery() as nursery:
            for shard in range(2):
                await nursery.start(
                    lambda task_status, shard=shard, limiter=limiter: run_gateway(
                        FAKE_BOT_TOKEN,
                        http=http,
                        api_base=API,
                        shard=(shard, 2),
                        identify_limiter=limiter,
                        random=half,
                        task_status=task_status,
                    )
                )
            nursery.cancel_scope.cancel()
        first, second = fake.identifies
        assert second.at - first.at == pytest.approx(gap, abs=0.01)
        assert [first.data["shard"], second.data["shard"]] == [[0, 2], [1, 2]]


async def test_reprs_and_logs_never_show_the_token(
    autojump_clock: trio.testing.MockClock,
    fake: FakeGateway,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as gw:
        await fake.drop()
        await next_event(gw, "RESUMED")
        text = repr(gw) + repr(gw._session) + repr(drain(gw))
    assert FAKE_BOT_TOKEN not in text + caplog.text


async def test_the_fake_dispatches_what_synchronous_code_queued(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as gw:
        fake.dispatch_soon("MESSAGE_CREATE", {"content": "posted by the bot over HTTP"})
        event = await next_event(gw, "MESSAGE_CREATE")
    assert event.data == {"content": "posted by the bot over HTTP"}


async def test_gives_up_when_no_session_ever_starts(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway
) -> None:
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens on it once closed

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={**fake.gateway_bot_payload(), "url": f"ws://127.0.0.1:{closed_port}/"}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(GatewayUnavailableError, match="no gateway session after 6"):
            async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half):
                pytest.fail("must not start")


async def test_a_send_during_a_reconnect_goes_out_on_the_next_connection(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    presence = {"op": 3, "d": {"since": None, "activities": [], "status": "idle", "afk": True}}
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as gw:
        await fake.drop()
        await until(fake, lambda: fake.live_connections == 0)
        await gw.send(presence)  # waits for the resumed connection
        await until(fake, lambda: len(fake.frames(3)) == 1)
    [sent] = fake.frames(3)
    assert sent.connection == 1 and sent.data == presence["d"]
    assert fake.resumes[0].at <= sent.at


async def test_every_session_of_the_token_gets_the_events_as_on_discord(
    autojump_clock: trio.testing.MockClock, fake: FakeGateway, http: httpx.AsyncClient
) -> None:
    async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as first:
        await next_event(first, "READY")
        async with open_gateway(FAKE_BOT_TOKEN, http=http, api_base=API, random=half) as second:
            await next_event(second, "READY")
            await fake.message_create("to both")
            for gw in (first, second):
                assert (await next_event(gw, "MESSAGE_CREATE")).data["content"] == "to both"
        # the newer one gone, the first still hears everything
        await fake.message_create("to the first")
        event = await next_event(first, "MESSAGE_CREATE")
        assert event.data["content"] == "to the first"
