"""DiscordClient over a scripted httpx transport: requests, retries, nonces, webhooks, errors."""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from uploader import MIB, MediaFile, MediaType, Settings
from uploader.discord import (
    Channel,
    DeliveryUncertainError,
    DestinationNotFoundError,
    DiscordClient,
    DiscordError,
    DiscordUnavailableError,
    FileChangedError,
    FileTooLargeError,
    InvalidRequestError,
    MissingPermissionsError,
    SentMessage,
    Webhook,
    open_discord_client,
)
from uploader.discord._client import USER_AGENT
from uploader.discord._ratelimit import RateLimitConfig, open_rate_limiter
from uploader.discord._retry import MAX_ATTEMPTS, RetryPolicy

TOKEN = "bot-token-SECRET"
HOOK_TOKEN = "hook-token-SECRET"
HOOK_URL = f"https://hooks.example/api/webhooks/42/{HOOK_TOKEN}"
CHANNEL = Channel(7, TOKEN)
WEBHOOK = Webhook(HOOK_URL)


class RecordingLimiter:
    """A limiter that never waits and remembers what it was told."""

    def __init__(self) -> None:
        self.permits: list[Any] = []
        self.records: list[int] = []

    @asynccontextmanager
    async def permit(self, route: Any) -> AsyncIterator[RecordingLimiter]:
        self.permits.append(route)
        yield self

    def record(self, status: int, headers: Any, body: bytes | None = None) -> None:
        self.records.append(status)

    def spent(self) -> None:
        self.records.append(0)  # sent, answer lost


def parse_form(request_body: bytes, content_type: str) -> tuple[dict[str, Any], list[bytes]]:
    """payload_json and the file parts' bytes of a multipart body."""
    boundary = re.search(r"boundary=(\S+)", content_type)
    assert boundary
    dash = b"--" + boundary.group(1).encode()
    chunks = request_body[: -(len(dash) + 4)].split(dash + b"\r\n")[1:]
    payload: dict[str, Any] = {}
    files = []
    for chunk in chunks:
        head, _, data = chunk.partition(b"\r\n\r\n")
        if b'name="payload_json"' in head:
            payload = json.loads(data[:-2])
        else:
            files.append(data[:-2])
    return payload, files


def message_json(payload: dict[str, Any], message_id: str = "1000") -> dict[str, Any]:
    return {
        "id": message_id,
        "channel_id": "7",
        "attachments": [
            {
                "id": str(2000 + a["id"]),
                "filename": a["filename"],
                "size": 3,
                "url": f"https://cdn.example/{a['filename']}",
                "proxy_url": "https://cdn.example/p",
            }
            for a in payload.get("attachments", [])
        ],
    }


Handler = Callable[[httpx.Request, int], Any]


class FakeServer(httpx.AsyncBaseTransport):
    """A scripted transport: ``script(request, n)`` decides the n-th answer (0-based).

    Like ``httpx.MockTransport``, but it reads the request body itself (MockTransport reads it
    whole before the handler runs), so a connection can drop in the middle of the body.
    ``posted`` counts requests whose whole body the "server" read and acted on.
    """

    def __init__(self, script: Handler) -> None:
        self.script = script
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.posted = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        n = len(self.requests)
        self.requests.append(request)
        result = self.script(request, n)
        if result == "drop_mid_body":
            async for _ in request.stream:  # type: ignore[union-attr]
                break
            raise httpx.ReadError("connection reset by peer")
        if result == "connect_error":
            raise httpx.ConnectError(f"cannot connect to {request.url}")
        body = await request.aread()
        self.bodies.append(body)
        if result == "drop_after_body":
            self.posted += 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if isinstance(result, httpx.Response):
            if result.status_code == 200:
                self.posted += 1
            return result
        status, data = result
        if status == 200 and data is None:
            self.posted += 1
            if request.method == "POST":
                payload, _ = parse_form(body, request.headers["content-type"])
                data = message_json(payload)
            else:
                data = {"id": "1000", "channel_id": "7", "attachments": []}
        headers = {"Retry-After": "1"} if status == 429 else {}
        return httpx.Response(status, json=data, headers=headers)


def ok(request: httpx.Request, n: int) -> Any:
    return (200, None)


@asynccontextmanager
async def client_for(
    server: FakeServer, limiter: RecordingLimiter | None = None, **kwargs: Any
) -> AsyncIterator[DiscordClient]:
    limiter = limiter or RecordingLimiter()
    async with (
        httpx.AsyncClient(transport=server) as http,
        open_discord_client(
            Settings(),
            http=http,
            limiter=limiter,  # type: ignore[arg-type]
            **kwargs,
        ) as client,
    ):
        client._random = lambda: 1.0
        yield client


@pytest.fixture
def files(tmp_path: Path) -> list[MediaFile]:
    out = []
    for name, data in [("a.jpg", b"AAA"), ("b.png", b"BBB")]:
        path = tmp_path / name
        path.write_bytes(data)
        out.append(MediaFile(path, 3, MediaType.IMAGE))
    return out


async def test_a_bot_upload_is_one_multipart_post_with_auth_nonce_and_exact_length(
    files: list[MediaFile],
) -> None:
    server = FakeServer(ok)
    limiter = RecordingLimiter()
    async with client_for(server, limiter) as client:
        sent = await client.send_files(CHANNEL, files, content="hello")
    (request,) = server.requests
    assert request.method == "POST"
    assert str(request.url) == "https://discord.com/api/v10/channels/7/messages"
    assert request.headers["authorization"] == f"Bot {TOKEN}"
    assert request.headers["user-agent"] == USER_AGENT
    assert re.fullmatch(r"DiscordBot \(https?://\S+, [\w.]+\)", USER_AGENT)
    assert int(request.headers["content-length"]) == len(server.bodies[0])
    assert "transfer-encoding" not in request.headers
    payload, parts = parse_form(server.bodies[0], request.headers["content-type"])
    assert payload["content"] == "hello"
    assert payload["enforce_nonce"] is True
    assert 0 < len(payload["nonce"]) <= 25
    assert payload["attachments"] == [
        {"id": 0, "filename": "a.jpg"},
        {"id": 1, "filename": "b.png"},
    ]
    assert parts == [b"AAA", b"BBB"]
    assert isinstance(sent, SentMessage)
    assert [a.filename for a in sent.attachments] == ["a.jpg", "b.png"]
    assert sent.attachments[0].id == "2000"
    route = limiter.permits[0]
    assert (route.method, route.template, route.major) == (
        "POST",
        "/channels/{channel_id}/messages",
        "channel:7",
    )
    assert limiter.records == [200]


async def test_a_lost_answer_keeps_its_rate_limit_slot(
    files: list[MediaFile], autojump_clock: trio.testing.MockClock
) -> None:
    script = ["drop_after_body", (200, None)]
    server = FakeServer(lambda request, n: script[n])
    limiter = RecordingLimiter()
    async with client_for(server, limiter) as client:
        await client.send_files(CHANNEL, files)
    # the dropped request reached the server (and Discord counts it): spent, not released
    assert limiter.records == [0, 200]


async def test_the_nonce_is_reused_on_every_retry_of_a_batch_and_fresh_for_the_next(
    files: list[MediaFile], autojump_clock: trio.testing.MockClock
) -> None:
    script = [
        "drop_after_body",
        (500, {"message": "oops", "code": 0}),
        "drop_mid_body",
        (200, None),
    ]
    server = FakeServer(lambda request, n: script[n] if n < len(script) else (200, None))
    async with client_for(server) as client:
        await client.send_files(CHANNEL, files)
        await client.send_files(CHANNEL, files)
    nonces = [
        parse_form(body, request.headers["content-type"])[0]["nonce"]
        for request, body in zip(
            [r for r in server.requests if r is not server.requests[2]],
            server.bodies,
            strict=True,
        )
    ]
    assert len(set(nonces[:3])) == 1
    assert nonces[3] != nonces[0]


async def test_each_retry_rebuilds_the_body_from_the_files(
    files: list[MediaFile], autojump_clock: trio.testing.MockClock
) -> None:
    server = FakeServer(lambda request, n: "drop_mid_body" if n == 0 else (200, None))
    async with client_for(server) as client:
        await client.send_files(CHANNEL, files)
    _, parts = parse_form(server.bodies[0], server.requests[1].headers["content-type"])
    assert parts == [b"AAA", b"BBB"]


async def test_backoff_is_timed_by_trio_sleep(
    files: list[MediaFile], autojump_clock: trio.testing.MockClock
) -> None:
    stamps: list[float] = []

    def script(request: httpx.Request, n: int) -> Any:
        stamps.append(trio.current_time())
        return (503, {"message": "busy", "code": 0}) if n < 3 else (200, None)

    server = FakeServer(script)
    async with client_for(server) as client:
        start = trio.current_time()
        await client.send_files(CHANNEL, files)
    # random() == 1.0: the full envelope 0.5, 1, 2 seconds.
    assert [s - start for s in stamps] == [0.0, 0.5, 1.5, 3.5]


async def test_5xx_answers_end_in_unavailable_after_bounded_attempts(
    files: list[MediaFile], autojump_clock: trio.testing.MockClock
) -> None:
    server = FakeServer(lambda request, n: (502, {"message": "bad gateway", "code": 0}))
    async with client_for(server, retry=RetryPolicy()) as client:  # counted, not timed
        with pytest.raises(DiscordUnavailableError, match="HTTP 502"):
            await client.send_files(CHANNEL, files)
    assert len(server.requests) == MAX_ATTEMPTS


async def test_429_answers_go_back_through_the_limiter_without_counting_as_failures(
    files: list[MediaFile],
) -> None:
    limiter = RecordingLimiter()
    server = FakeServer(
        lambda request, n: (
            (429, {"message": "slow", "retry_after": 0.1, "global": False})
            if n < MAX_ATTEMPTS + 2
            else (200, None)
        )
    )
    async with client_for(server, limiter) as client:
        await client.send_files(CHANNEL, files)
    assert limiter.records == [429] * (MAX_ATTEMPTS + 2) + [200]
    assert len(limiter.permits) == MAX_ATTEMPTS + 3


async def test_a_connection_error_does_not_record_with_the_limiter(
    files: list[MediaFile], autojump_clock: trio.testing.MockClock
) -> None:
    limiter = RecordingLimiter()
    server = FakeServer(lambda request, n: "connect_error" if n == 0 else (200, None))
    async with client_for(server, limiter) as client:
        await client.send_files(CHANNEL, files)
    assert limiter.records == [200]
    assert len(limiter.permits) == 2


# -- webhook ---------------------------------------------------------------------------------


async def test_a_webhook_post_goes_to_the_webhook_url_with_wait_and_thread_and_no_auth(
    files: list[MediaFile],
) -> None:
    server = FakeServer(ok)
    limiter = RecordingLimiter()
    async with client_for(server, limiter) as client:
        await client.send_files(Webhook(HOOK_URL, thread_id=99), files)
    (request,) = server.requests
    assert request.url.path == f"/api/webhooks/42/{HOOK_TOKEN}"
    assert request.url.host == "hooks.example"
    assert dict(request.url.params) == {"wait": "true", "thread_id": "99"}
    assert "authorization" not in request.headers
    payload, _ = parse_form(server.bodies[0], request.headers["content-type"])
    assert "nonce" not in payload
    route = limiter.permits[0]
    assert HOOK_TOKEN not in route.major and route.major.startswith("webhook:42:")
    assert route.global_limited is False


async def test_an_explicit_api_base_also_carries_webhook_requests(files: list[MediaFile]) -> None:
    server = FakeServer(ok)
    async with client_for(server, api_base="http://proxy.local/api/v10") as client:
        await client.send_files(WEBHOOK, files)
        await client.send_files(CHANNEL, files)
    assert [str(r.url).split("?")[0] for r in server.requests] == [
        f"http://proxy.local/api/v10/webhooks/42/{HOOK_TOKEN}",
        "http://proxy.local/api/v10/channels/7/messages",
    ]


SAFE_WEBHOOK_FAULTS = [
    "connect_error",
    "drop_mid_body",
    (429, {"message": "slow", "retry_after": 0.1, "global": False}),
    httpx.Response(
        503,
        text="upstream connect error or disconnect/reset before headers. reset reason: overflow",
    ),
]
UNSAFE_WEBHOOK_FAULTS = [
    (503, {"message": "unavailable", "code": 0}),  # not the front end's refusal: maybe posted
    "drop_after_body",
    (500, {"message": "oops", "code": 0}),
    (502, {"message": "bad gateway", "code": 0}),
    (504, {"message": "timeout", "code": 0}),
    (524, {"message": "timeout", "code": 0}),
]


@pytest.mark.parametrize("fault", SAFE_WEBHOOK_FAULTS, ids=str)
async def test_a_webhook_post_is_retried_when_it_provably_did_not_post(
    files: list[MediaFile], fault: Any, autojump_clock: trio.testing.MockClock
) -> None:
    server = FakeServer(lambda request, n: fault if n == 0 else (200, None))
    async with client_for(server) as client:
        await client.send_files(WEBHOOK, files)
    assert len(server.requests) == 2
    assert server.posted == 1


@pytest.mark.parametrize("fault", UNSAFE_WEBHOOK_FAULTS, ids=str)
async def test_a_webhook_post_that_may_have_posted_is_never_sent_again(
    files: list[MediaFile], fault: Any, autojump_clock: trio.testing.MockClock
) -> None:
    server = FakeServer(lambda request, n: fault if n == 0 else (200, None))
    async with client_for(server) as client:
        with pytest.raises(DeliveryUncertainError) as info:
            await client.send_files(WEBHOOK, files)
    assert len(server.requests) == 1
    assert server.posted <= 1
    assert "a.jpg" in str(info.value) and "b.png" in str(info.value)


async def test_the_bot_path_retries_the_faults_a_webhook_may_not(
    files: list[MediaFile], autojump_clock: trio.testing.MockClock
) -> None:
    faults = [f for f in UNSAFE_WEBHOOK_FAULTS]
    server = FakeServer(lambda request, n: faults[n] if n < len(faults) else (200, None))
    async with client_for(server, retry=RetryPolicy(max_attempts=len(faults) + 1)) as client:
        await client.send_files(CHANNEL, files)
    assert len(server.requests) == len(faults) + 1


async def test_a_webhook_that_answered_404_is_never_used_again(files: list[MediaFile]) -> None:
    server = FakeServer(lambda request, n: (404, {"message": "Unknown Webhook", "code": 10015}))
    async with client_for(server) as client:
        with pytest.raises(DestinationNotFoundError, match="10015"):
            await client.send_files(WEBHOOK, files)
        with pytest.raises(DestinationNotFoundError):
            await client.send_message(WEBHOOK, "still there?")
    assert len(server.requests) == 1


# -- typed errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, 50035, InvalidRequestError),
        (400, 50006, InvalidRequestError),
        (401, 0, MissingPermissionsError),
        (401, 50027, MissingPermissionsError),
        (403, 50001, MissingPermissionsError),
        (403, 50013, MissingPermissionsError),
        (404, 10003, DestinationNotFoundError),
        (404, 10015, DestinationNotFoundError),
        (413, 40005, FileTooLargeError),
        (409, 12345, DiscordError),
    ],
)
async def test_final_answers_raise_typed_errors_once(
    files: list[MediaFile], status: int, code: int, error: type[DiscordError]
) -> None:
    server = FakeServer(lambda request, n: (status, {"message": "no", "code": code}))
    async with client_for(server) as client:
        with pytest.raises(error) as info:
            await client.send_files(CHANNEL, files)
    assert len(server.requests) == 1
    assert (info.value.status, info.value.code) == (status, code)


async def test_a_413_names_the_files_and_their_sizes(files: list[MediaFile]) -> None:
    server = FakeServer(
        lambda request, n: (413, {"message": "Request entity too large", "code": 40005})
    )
    async with client_for(server) as client:
        with pytest.raises(FileTooLargeError) as info:
            await client.send_files(CHANNEL, files)
    assert info.value.filenames == ("a.jpg", "b.png")
    assert info.value.limit_bytes is None
    assert "a.jpg (0.0 MiB)" in str(info.value)


async def test_form_errors_are_summarised(files: list[MediaFile]) -> None:
    body = {
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "long"}]}},
    }
    server = FakeServer(lambda request, n: (400, body))
    async with client_for(server) as client:
        with pytest.raises(InvalidRequestError, match=r"content: long"):
            await client.send_files(CHANNEL, files)


async def test_too_much_text_or_too_many_files_fail_before_any_request(tmp_path: Path) -> None:
    server = FakeServer(ok)
    path = tmp_path / "x.jpg"
    path.write_bytes(b"x")
    eleven = [MediaFile(path, 1, MediaType.IMAGE)] * 11
    async with client_for(server) as client:
        with pytest.raises(InvalidRequestError, match="2000"):
            await client.send_message(CHANNEL, "x" * 2001)
        with pytest.raises(InvalidRequestError, match="11 files"):
            await client.send_files(CHANNEL, eleven)
    assert server.requests == []


async def test_a_file_that_changed_fails_the_batch_without_retrying(
    files: list[MediaFile],
) -> None:
    files[1].path.write_bytes(b"longer now")
    server = FakeServer(ok)
    async with client_for(server) as client:
        with pytest.raises(FileChangedError, match=r"b\.png"):
            await client.send_files(CHANNEL, files)
    assert server.requests == []


# -- other operations ------------------------------------------------------------------------


async def test_edit_message_patches_and_is_retried_even_on_a_webhook(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = FakeServer(
        lambda request, n: (500, {"message": "x", "code": 0}) if n == 0 else (200, None)
    )
    async with client_for(server) as client:
        await client.edit_message(WEBHOOK, "55", "50% done")
    assert [r.method for r in server.requests] == ["PATCH", "PATCH"]
    assert server.requests[1].url.path == f"/api/webhooks/42/{HOOK_TOKEN}/messages/55"
    assert json.loads(server.bodies[1])["content"] == "50% done"


async def test_send_message_posts_text_with_a_nonce() -> None:
    server = FakeServer(ok)
    async with client_for(server) as client:
        sent = await client.send_message(CHANNEL, "starting")
    payload, parts = parse_form(server.bodies[0], server.requests[0].headers["content-type"])
    assert payload["content"] == "starting" and payload["nonce"] and parts == []
    assert sent.attachments == ()


@pytest.mark.parametrize(
    ("tier", "limit"), [(0, 10 * MIB), (1, 10 * MIB), (2, 50 * MIB), (3, 100 * MIB)]
)
async def test_the_upload_limit_comes_from_the_guilds_boost_tier(tier: int, limit: int) -> None:
    def script(request: httpx.Request, n: int) -> Any:
        if request.url.path.endswith("/channels/7"):
            return httpx.Response(200, json={"id": "7", "type": 0, "guild_id": "3"})
        assert request.url.path.endswith("/guilds/3")
        return httpx.Response(200, json={"id": "3", "premium_tier": tier})

    server = FakeServer(script)
    async with client_for(server) as client:
        assert await client.fetch_upload_limit(CHANNEL) == limit
        assert await client.fetch_upload_limit(WEBHOOK) is None
    assert len(server.requests) == 2


# -- with the real rate limiter ----------------------------------------------------------------


def rate_limited_answer(scope: str, retry_after: float) -> httpx.Response:
    headers = {"Via": "1.1 google", "Retry-After": str(math.ceil(retry_after))}
    headers["X-RateLimit-Scope"] = scope
    if scope == "global":
        headers["X-RateLimit-Global"] = "true"
    else:
        headers |= {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "X-RateLimit-Bucket": "abc",
        }
    body = {"message": "You are being rate limited.", "retry_after": retry_after}
    body["global"] = scope == "global"
    return httpx.Response(429, json=body, headers=headers)


@pytest.mark.parametrize("scope", ["user", "shared", "global"])
async def test_a_429_is_retried_when_the_real_limiter_says_so(
    files: list[MediaFile], scope: str, autojump_clock: trio.testing.MockClock
) -> None:
    stamps: list[float] = []

    def script(request: httpx.Request, n: int) -> Any:
        stamps.append(trio.current_time())
        return rate_limited_answer(scope, 2.5) if n == 0 else (200, None)

    server = FakeServer(script)
    async with (
        open_rate_limiter(RateLimitConfig(global_rate=50.0)) as limiter,
        client_for(server, limiter) as client,  # type: ignore[arg-type]
    ):
        start = trio.current_time()
        await client.send_files(WEBHOOK if scope != "global" else CHANNEL, files)
    assert len(stamps) == 2
    assert stamps[1] - start >= 2.5
    assert server.posted == 1
