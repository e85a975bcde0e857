"""Tests of the loopback Discord (`uploader.testing`), driven by a raw httpx client."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx
import pytest
import trio
from _fake_http import assert_matches_schema, bot

from uploader import MIB
from uploader._limits import NONCE_WINDOW_SECONDS
from uploader.testing import (
    FakeDiscord,
    Fault,
    RecordedMessage,
    open_fake_discord,
    run_fake_discord,
)
from uploader.testing._limits import to_ns

BUCKET_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-reset-after",
    "x-ratelimit-bucket",
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=None, verify=False) as client:  # http only
        yield client


def multipart(payload: dict[str, Any], files: dict[int, bytes] | None = None) -> dict[str, Any]:
    """httpx keyword arguments of a Discord upload: payload_json and files[n] parts."""
    parts = [
        (f"files[{n}]", (f"file{n}.bin", data, "application/octet-stream"))
        for n, data in (files or {}).items()
    ]
    return {"data": {"payload_json": json.dumps(payload)}, "files": parts}


def upload(content: str, files: dict[int, bytes]) -> dict[str, Any]:
    attachments = [{"id": n, "filename": f"file{n}.bin"} for n in files]
    return multipart({"content": content, "attachments": attachments}, files)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def post_message(
    client: httpx.AsyncClient, fake: FakeDiscord, channel: int, **kwargs: Any
) -> httpx.Response:
    url = f"{fake.api_base}/channels/{channel}/messages"
    return await client.post(url, headers=bot(fake), **kwargs)


# ------------------------------------------------------------------ recording


async def test_create_message_records_each_attachment_with_size_and_sha256(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    files = {0: b"first" * 1000, 1: bytes(range(256)) * 300}
    response = await post_message(client, fake, channel, **upload("two files", files))
    assert response.status_code == 200
    body = response.json()
    assert_matches_schema("MessageResponse", body)
    assert body["channel_id"] == str(channel)
    assert [a["filename"] for a in body["attachments"]] == ["file0.bin", "file1.bin"]
    assert [a["size"] for a in body["attachments"]] == [5000, 76800]
    [message] = fake.messages
    assert message.id == body["id"]
    assert (message.channel_id, message.webhook_id, message.content) == (channel, None, "two files")
    assert [(a.filename, a.size, a.sha256) for a in message.attachments] == [
        ("file0.bin", 5000, sha(files[0])),
        ("file1.bin", 76800, sha(files[1])),
    ]


async def test_string_placeholder_ids_and_description_are_accepted(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    payload = {"attachments": [{"id": "3", "filename": "clip.mp4", "description": "a clip"}]}
    response = await post_message(client, fake, channel, **multipart(payload, {3: b"video"}))
    assert response.status_code == 200
    [attachment] = response.json()["attachments"]
    assert attachment["filename"] == "clip.mp4"
    assert attachment["description"] == "a clip"
    assert attachment["content_type"] == "video/mp4"  # from the name, as Discord
    assert fake.messages[0].attachments[0].description == "a clip"


async def test_files_without_attachment_entries_keep_their_part_filenames(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    response = await post_message(client, fake, channel, **multipart({}, {0: b"a", 1: b"b"}))
    assert response.status_code == 200
    assert [a.filename for a in fake.messages[0].attachments] == ["file0.bin", "file1.bin"]


async def test_an_attachment_entry_without_its_file_is_50035(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    payload = {"content": "x", "attachments": [{"id": 0}, {"id": 1}]}
    response = await post_message(client, fake, channel, **multipart(payload, {0: b"a"}))
    assert response.status_code == 400
    assert response.json()["code"] == 50035
    assert "1" in response.json()["errors"]["attachments"]
    assert fake.messages == []


async def test_json_body_without_files_creates_a_message(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    response = await post_message(client, fake, channel, json={"content": "hello"})
    assert response.status_code == 200
    assert response.json()["content"] == "hello"
    assert response.json()["author"]["bot"] is True


async def test_routes_answer_under_api_without_version_too(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    url = f"{fake.base_url}/api/channels/{channel}/messages"
    response = await client.post(url, headers=bot(fake), json={"content": "x"})
    assert response.status_code == 200


async def test_wait_for_messages_returns_once_enough_are_recorded(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    got: list[RecordedMessage] = []

    async def waiter() -> None:
        got.extend(await fake.wait_for_messages(2))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        for text in ("a", "b"):
            await post_message(client, fake, channel, json={"content": text})
    assert [m.content for m in got] == ["a", "b"]


# -------------------------------------------------------------------- webhooks


async def test_webhook_without_wait_answers_204_and_records(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    url = fake.create_webhook(channel_id=channel)
    assert url.startswith(f"{fake.base_url}/api/webhooks/")
    response = await client.post(url, **upload("hook", {0: b"data"}))
    assert response.status_code == 204
    assert response.content == b""
    assert "x-ratelimit-bucket" in response.headers
    [message] = fake.messages
    assert message.channel_id == channel
    assert message.webhook_id == url.split("/")[-2]
    assert message.attachments[0].sha256 == sha(b"data")


async def test_webhook_with_wait_and_thread_id_answers_the_message(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    thread = fake.create_thread(channel)
    url = fake.create_webhook(channel_id=channel)
    response = await client.post(f"{url}?wait=true&thread_id={thread}", json={"content": "in"})
    assert response.status_code == 200
    body = response.json()
    assert_matches_schema("MessageResponse", body)
    assert body["webhook_id"] == url.split("/")[-2]
    assert body["channel_id"] == str(thread)
    assert fake.messages[0].thread_id == thread
    assert fake.messages[0].channel_id == channel


async def test_webhook_thread_id_must_be_a_thread_of_its_channel(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    url = fake.create_webhook()
    elsewhere = fake.create_thread(fake.create_channel())
    for thread in (123, elsewhere):
        response = await client.post(f"{url}?wait=true&thread_id={thread}", json={"content": "x"})
        assert (response.status_code, response.json()["code"]) == (404, 10003)
    assert fake.messages == []


async def test_webhook_ignores_nonce_and_a_bad_thread_id_is_50035(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    url = fake.create_webhook()
    ok = await client.post(f"{url}?wait=true", json={"content": "x", "nonce": "n"})
    assert ok.status_code == 200
    assert fake.messages[0].nonce is None
    bad = await client.post(f"{url}?wait=true&thread_id=abc", json={"content": "x"})
    assert (bad.status_code, bad.json()["code"]) == (400, 50035)


async def test_unknown_webhook_is_10015_and_a_wrong_token_50027(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    url = fake.create_webhook()
    webhook_id = url.split("/")[-2]
    unknown = await client.post(f"{fake.api_base}/webhooks/1/x", json={"content": "x"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, 10015)
    wrong = await client.post(f"{fake.api_base}/webhooks/{webhook_id}/nope", json={"content": "x"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, 50027)
    assert fake.messages == []


# ----------------------------------------------------------------------- edits


async def test_bot_edits_its_message_and_the_record_keeps_the_latest_content(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    created = (await post_message(client, fake, channel, **upload("v1", {0: b"x"}))).json()
    url = f"{fake.api_base}/channels/{channel}/messages/{created['id']}"
    for text in ("v2", "v3"):
        edited = await client.patch(url, headers=bot(fake), json={"content": text})
        assert edited.status_code == 200
    body = edited.json()
    assert_matches_schema("MessageResponse", body)
    assert body["content"] == "v3"
    assert body["edited_timestamp"] is not None
    assert [a["id"] for a in body["attachments"]] == [a["id"] for a in created["attachments"]]
    [message] = fake.messages
    assert (message.content, message.edits, len(message.attachments)) == ("v3", 2, 1)


async def test_webhook_edits_its_message_with_a_new_file(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    url = fake.create_webhook()
    created = (await client.post(f"{url}?wait=true", json={"content": "50%"})).json()
    payload = {"content": "100%", "attachments": [{"id": 0, "filename": "log.txt"}]}
    edited = await client.patch(
        f"{url}/messages/{created['id']}", **multipart(payload, {0: b"log"})
    )
    assert edited.status_code == 200
    [message] = fake.messages
    assert message.content == "100%"
    assert [(a.filename, a.sha256) for a in message.attachments] == [("log.txt", sha(b"log"))]


async def test_edits_of_unknown_or_foreign_messages_are_refused(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    hook = fake.create_webhook(channel_id=channel)
    by_hook = (await client.post(f"{hook}?wait=true", json={"content": "x"})).json()
    base = f"{fake.api_base}/channels/{channel}/messages"
    unknown = await client.patch(f"{base}/1", headers=bot(fake), json={"content": "y"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, 10008)
    foreign = await client.patch(
        f"{base}/{by_hook['id']}", headers=bot(fake), json={"content": "y"}
    )
    assert (foreign.status_code, foreign.json()["code"]) == (403, 50005)
    assert fake.stats.invalid_requests == 1
    assert fake.messages[0].edits == 0


# ----------------------------------------------------------------- read routes


async def test_get_channel_guild_and_gateway(fake: FakeDiscord, client: httpx.AsyncClient) -> None:
    channel = fake.create_channel(premium_tier=2)
    got = await client.get(f"{fake.api_base}/channels/{channel}", headers=bot(fake))
    assert got.status_code == 200
    guild_id = got.json()["guild_id"]
    assert guild_id == str(fake.guild_id_of(channel))
    guild = await client.get(f"{fake.api_base}/guilds/{guild_id}", headers=bot(fake))
    assert guild.json()["premium_tier"] == 2
    gateway = await client.get(f"{fake.api_base}/gateway/bot", headers=bot(fake))
    assert gateway.json()["url"].startswith("ws")
    assert gateway.json()["shards"] == 1
    for response in (got, guild, gateway):
        assert all(name in response.headers for name in BUCKET_HEADERS)


async def test_unknown_channel_guild_and_route(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    missing = await post_message(client, fake, 42, json={"content": "x"})
    assert (missing.status_code, missing.json()["code"]) == (404, 10003)
    guild = await client.get(f"{fake.api_base}/guilds/42", headers=bot(fake))
    assert (guild.status_code, guild.json()["code"]) == (404, 10004)
    route = await client.get(f"{fake.api_base}/users/@me/guilds", headers=bot(fake))
    assert route.status_code == 404
    method = await client.delete(f"{fake.api_base}/channels/42", headers=bot(fake))
    assert method.status_code == 405


async def test_a_wrong_or_missing_bot_token_is_401_and_counts_as_invalid(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    url = f"{fake.api_base}/channels/{channel}/messages"
    wrong = await client.post(url, headers={"Authorization": "Bot nope"}, json={"content": "x"})
    missing = await client.post(url, json={"content": "x"})
    assert [wrong.status_code, missing.status_code] == [401, 401]
    assert wrong.json() == {"message": "401: Unauthorized", "code": 0}
    assert fake.stats.invalid_requests == 2
    assert fake.messages == []


# ------------------------------------------------------------ payload checks


async def test_an_empty_message_is_50006(fake: FakeDiscord, client: httpx.AsyncClient) -> None:
    channel = fake.create_channel()
    for kwargs in ({"json": {}}, {"json": {"content": "  "}}, multipart({"content": ""})):
        response = await post_message(client, fake, channel, **kwargs)
        assert (response.status_code, response.json()["code"]) == (400, 50006)
    assert fake.messages == []


async def test_more_than_ten_files_is_30015(fake: FakeDiscord, client: httpx.AsyncClient) -> None:
    channel = fake.create_channel()
    files = {n: b"x" for n in range(11)}
    response = await post_message(client, fake, channel, **multipart({}, files))
    assert (response.status_code, response.json()["code"]) == (400, 30015)
    ten = await post_message(client, fake, channel, **upload("", dict(list(files.items())[:10])))
    assert ten.status_code == 200
    assert len(fake.messages) == 1


async def test_percent_escaped_brackets_in_part_names_are_50035(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    kwargs = multipart({"content": "x", "attachments": [{"id": 0}]})
    kwargs["files"] = [("files%5B0%5D", ("a.bin", b"a", "application/octet-stream"))]
    response = await post_message(client, fake, channel, **kwargs)
    assert (response.status_code, response.json()["code"]) == (400, 50035)
    assert "files%5B0%5D" in response.json()["errors"]
    assert fake.messages == []


async def test_openapi_validation_rejects_a_payload_that_breaks_the_schema(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    payload = {"content": "x", "tts": "yes", "attachments": [{"id": "a"}]}
    response = await post_message(client, fake, channel, json=payload)
    assert (response.status_code, response.json()["code"]) == (400, 50035)
    errors = response.json()["errors"]
    assert errors["tts"]["_errors"][0]["code"] == "BASE_TYPE_INVALID"
    assert "id" in errors["attachments"]["0"]
    assert_matches_schema("Error", response.json())
    assert fake.messages == []


async def test_validation_can_be_turned_off(client: httpx.AsyncClient) -> None:
    async with open_fake_discord(validate=False) as fake:
        channel = fake.create_channel()
        response = await post_message(client, fake, channel, json={"content": "x", "tts": "yes"})
        assert response.status_code == 200


async def test_content_over_2000_characters_is_50035(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    response = await post_message(client, fake, channel, json={"content": "x" * 2001})
    assert response.status_code == 400
    error = response.json()["errors"]["content"]["_errors"][0]
    assert error["code"] == "BASE_TYPE_MAX_LENGTH"


async def test_payload_json_that_is_not_json_is_50109(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    kwargs = {"data": {"payload_json": "{nope"}, "files": [("files[0]", ("a", b"a"))]}
    response = await post_message(client, fake, channel, **kwargs)
    assert (response.status_code, response.json()["code"]) == (400, 50109)


# ----------------------------------------------------------------- size limits


async def test_a_file_over_the_limit_is_413_and_nothing_is_recorded(
    client: httpx.AsyncClient,
) -> None:
    async with open_fake_discord(file_limit_bytes=1000) as fake:
        channel = fake.create_channel()
        response = await post_message(
            client, fake, channel, **upload("x", {0: b"a", 1: b"b" * 1001})
        )
        assert response.status_code == 413
        assert response.json() == {"message": "Request entity too large", "code": 40005}
        exact = await post_message(client, fake, channel, **upload("x", {0: b"b" * 1000}))
        assert exact.status_code == 200
        assert [m.attachments[0].size for m in fake.messages] == [1000]


async def test_a_body_over_the_request_limit_is_413_even_when_chunked(
    client: httpx.AsyncClient,
) -> None:
    async with open_fake_discord(file_limit_bytes=1000, request_limit_bytes=3000) as fake:
        channel = fake.create_channel()
        files = {n: b"z" * 900 for n in range(4)}
        sized = await post_message(client, fake, channel, **upload("x", files))
        assert sized.status_code == 413
        request = client.build_request(
            "POST", f"{fake.api_base}/channels/{channel}/messages", **upload("x", files)
        )

        async def chunks() -> AsyncIterator[bytes]:
            body = request.read()
            for i in range(0, len(body), 500):
                yield body[i : i + 500]

        headers = {**bot(fake), "Content-Type": request.headers["Content-Type"]}
        url = f"{fake.api_base}/channels/{channel}/messages"
        chunked = await client.post(url, headers=headers, content=chunks())
        assert chunked.status_code == 413
        assert fake.messages == []


async def test_boosted_guilds_take_larger_files(client: httpx.AsyncClient) -> None:
    async with open_fake_discord(file_limit_bytes=1000, request_limit_bytes=3000) as fake:
        tier1 = fake.create_channel(premium_tier=1)
        tier2 = fake.create_channel(premium_tier=2)
        assert fake.file_limit_of(tier1) == 1000
        assert fake.file_limit_of(tier2) == 50 * MIB
        assert fake.file_limit_of(fake.create_channel(premium_tier=3)) == 100 * MIB
        big = {0: b"q" * 5000}
        assert (await post_message(client, fake, tier1, **upload("", big))).status_code == 413
        assert (await post_message(client, fake, tier2, **upload("", big))).status_code == 200


# ------------------------------------------------------------------ rate limits


async def test_success_carries_all_five_rate_limit_headers_and_via(
    fake: FakeDiscord, client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    channel = fake.create_channel()
    response = await post_message(client, fake, channel, json={"content": "x"})
    headers = response.headers
    assert all(name in headers for name in BUCKET_HEADERS)
    assert headers["via"] == "1.1 google"
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("5", "4")
    assert headers["x-ratelimit-reset-after"] == "5.000"
    reset = float(headers["x-ratelimit-reset"])
    now = fake._world.clock.epoch(to_ns(trio.current_time()))
    assert reset == pytest.approx(now + 5.0, abs=0.002)


async def test_the_sixth_message_in_a_channel_window_is_429_until_exactly_the_reset(
    fake: FakeDiscord, client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    channel = fake.create_channel()
    start = trio.current_time()
    await trio.sleep(0.25)
    remaining = []
    for _ in range(5):
        ok = await post_message(client, fake, channel, json={"content": "x"})
        remaining.append(ok.headers["x-ratelimit-remaining"])
    assert remaining == ["4", "3", "2", "1", "0"]
    await trio.sleep(1.5)
    limited = await post_message(client, fake, channel, json={"content": "x"})
    assert limited.status_code == 429
    body = limited.json()
    assert body["retry_after"] == 3.5
    assert body["global"] is False
    assert limited.headers["retry-after"] == "4"
    assert limited.headers["x-ratelimit-scope"] == "user"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["via"] == "1.1 google"
    assert "x-ratelimit-global" not in limited.headers
    assert_matches_schema("RatelimitedResponse", body)
    await trio.sleep(body["retry_after"])
    assert trio.current_time() - start == pytest.approx(5.25)
    again = await post_message(client, fake, channel, json={"content": "x"})
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining"] == "4"
    assert len(fake.messages) == 6
    assert fake.stats.rate_limited_by_scope == {"user": 1}
    assert fake.stats.invalid_requests == 1


async def test_channels_have_separate_windows(
    fake: FakeDiscord, client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    first, second = fake.create_channel(), fake.create_channel()
    for _ in range(5):
        await post_message(client, fake, first, json={"content": "x"})
    other = await post_message(client, fake, second, json={"content": "x"})
    assert other.status_code == 200
    assert other.headers["x-ratelimit-remaining"] == "4"
    ok = await post_message(client, fake, first, json={"content": "x"})
    assert other.headers["x-ratelimit-bucket"] == ok.headers["x-ratelimit-bucket"]
    assert ok.status_code == 429


async def test_a_webhook_bucket_is_shared_by_execute_and_edit(
    fake: FakeDiscord, client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    url = fake.create_webhook()
    created = await client.post(f"{url}?wait=true", json={"content": "x"})
    for _ in range(3):
        await client.post(url, json={"content": "x"})
    edit = await client.patch(f"{url}/messages/{created.json()['id']}", json={"content": "y"})
    assert edit.headers["x-ratelimit-remaining"] == "0"
    assert edit.headers["x-ratelimit-bucket"] == created.headers["x-ratelimit-bucket"]
    limited = await client.post(url, json={"content": "x"})
    assert limited.status_code == 429
    assert limited.json()["retry_after"] == 2.0
    await trio.sleep(2.0)
    assert (await client.post(url, json={"content": "x"})).status_code == 204


async def test_the_global_limit_answers_429_without_bucket_headers(
    client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_discord(global_limit=3, channel_limit=None) as fake:
        channel = fake.create_channel()
        start = trio.current_time()
        statuses = [
            (await post_message(client, fake, channel, json={"content": "x"})).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 200]
        limited = await post_message(client, fake, channel, json={"content": "x"})
        assert limited.status_code == 429
        assert limited.json()["global"] is True
        assert limited.headers["x-ratelimit-global"] == "true"
        assert limited.headers["x-ratelimit-scope"] == "global"
        assert limited.headers["retry-after"] == "1"
        assert not any(name in limited.headers for name in BUCKET_HEADERS)
        await trio.sleep_until(start + 1.0)
        assert (await post_message(client, fake, channel, json={"content": "x"})).status_code == 200
        assert fake.stats.rate_limited_by_scope == {"global": 1}


async def test_webhooks_do_not_count_against_the_global_limit(
    client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_discord(global_limit=1, webhook_limit=None) as fake:
        url = fake.create_webhook()
        for _ in range(3):
            assert (await client.post(url, json={"content": "x"})).status_code == 204


async def test_no_limits_means_no_bucket_headers(client: httpx.AsyncClient) -> None:
    async with open_fake_discord(webhook_limit=None, channel_limit=None, global_limit=None) as fake:
        channel = fake.create_channel()
        for _ in range(20):
            response = await post_message(client, fake, channel, json={"content": "x"})
            assert response.status_code == 200
        assert "x-ratelimit-bucket" not in response.headers


# ---------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("kind", "scope", "invalid"),
    [
        ("rate_limit_user", "user", 1),
        ("rate_limit_global", "global", 1),
        ("rate_limit_shared", "shared", 0),
    ],
)
async def test_injected_429s_carry_their_scope(
    fake: FakeDiscord, client: httpx.AsyncClient, kind: Any, scope: str, invalid: int
) -> None:
    channel = fake.create_channel()
    fake.inject(Fault(kind, retry_after=2.5))
    limited = await post_message(client, fake, channel, json={"content": "x"})
    assert limited.status_code == 429
    assert limited.json()["retry_after"] == 2.5
    assert limited.json()["global"] is (scope == "global")
    assert limited.headers["x-ratelimit-scope"] == scope
    assert limited.headers["retry-after"] == "3"
    has_bucket = "x-ratelimit-bucket" in limited.headers
    assert has_bucket is (scope != "global")
    if scope == "shared":
        assert limited.headers["x-ratelimit-remaining"] == "5"
    assert fake.stats.invalid_requests == invalid
    assert fake.stats.rate_limited_by_scope == {scope: 1}
    assert fake.messages == []
    assert (await post_message(client, fake, channel, json={"content": "x"})).status_code == 200


async def test_an_injected_user_429_never_promises_a_reset_before_the_real_window(
    fake: FakeDiscord, client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    channel = fake.create_channel()
    first = await post_message(client, fake, channel, json={"content": "x"})
    window_left = float(first.headers["x-ratelimit-reset-after"])
    await trio.sleep(1.0)
    fake.inject(Fault("rate_limit_user", retry_after=0.0))
    limited = await post_message(client, fake, channel, json={"content": "x"})
    assert limited.status_code == 429
    assert float(limited.headers["x-ratelimit-reset-after"]) == pytest.approx(window_left - 1)
    assert limited.json()["retry_after"] == pytest.approx(window_left - 1)
    assert limited.headers["x-ratelimit-remaining"] == "0"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 524])
async def test_injected_server_errors(
    fake: FakeDiscord, client: httpx.AsyncClient, status: int
) -> None:
    url = fake.create_webhook()
    fake.inject(Fault("status", status=status, times=2))
    for _ in range(2):
        assert (await client.post(url, json={"content": "x"})).status_code == status
    assert (await client.post(url, json={"content": "x"})).status_code == 204
    assert len(fake.messages) == 1
    assert fake.stats.responses_by_status == {status: 2, 204: 1}


async def test_a_slow_fault_delays_the_answer_by_its_delay(
    fake: FakeDiscord, client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    channel = fake.create_channel()
    fake.inject(Fault("slow", delay=7.5))
    start = trio.current_time()
    response = await post_message(client, fake, channel, json={"content": "x"})
    assert response.status_code == 200
    assert trio.current_time() - start == pytest.approx(7.5)
    assert len(fake.messages) == 1


async def test_drop_before_body_closes_the_connection_and_records_nothing(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    fake.inject(Fault("drop_before_body", route="create_message"))
    with pytest.raises(httpx.TransportError):
        await post_message(client, fake, channel, **upload("x", {0: b"a" * 100_000}))
    assert fake.messages == []
    assert fake.stats.requests == 1
    retry = await post_message(client, fake, channel, **upload("x", {0: b"a" * 100_000}))
    assert retry.status_code == 200
    assert len(fake.messages) == 1


async def test_drop_after_body_records_the_message_but_loses_the_answer(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    url = fake.create_webhook()
    fake.inject(Fault("drop_after_body", route="execute_webhook"))
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(f"{url}?wait=true", **upload("once", {0: b"bytes"}))
    [message] = fake.messages
    assert message.attachments[0].sha256 == sha(b"bytes")
    assert fake.stats.responses_by_status == {}


async def test_faults_follow_route_after_and_times(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    url = fake.create_webhook(channel_id=channel)
    fake.inject(Fault("status", route="execute_webhook", after=1, times=2, status=503))
    assert (await post_message(client, fake, channel, json={"content": "x"})).status_code == 200
    statuses = [(await client.post(url, json={"content": "x"})).status_code for _ in range(4)]
    assert statuses == [204, 503, 503, 204]
    assert fake.pending_faults == ()


async def test_fault_options_are_checked() -> None:
    with pytest.raises(ValueError, match="fault kind"):
        Fault("boom")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="route"):
        Fault("status", route="delete_everything")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status"):
        Fault("status", status=404)
    with pytest.raises(ValueError):
        Fault("slow", times=0)


# --------------------------------------------------------------------- ban mode


async def test_after_n_invalid_answers_every_request_gets_the_cloudflare_ban(
    client: httpx.AsyncClient,
) -> None:
    async with open_fake_discord(ban_after_invalid=3) as fake:
        channel = fake.create_channel()
        fake.inject(Fault("rate_limit_shared"))
        await post_message(client, fake, channel, json={"content": "x"})  # shared: not invalid
        url = f"{fake.api_base}/channels/{channel}/messages"
        for _ in range(3):
            await client.post(url, headers={"Authorization": "Bot wrong"}, json={"content": "x"})
        assert fake.banned
        banned = await post_message(client, fake, channel, json={"content": "x"})
        assert banned.status_code == 429
        assert banned.text == "error code: 1015"
        assert banned.headers["content-type"].startswith("text/html")
        assert "via" not in banned.headers
        assert not any(name.startswith("x-ratelimit") for name in banned.headers)
        assert "retry-after" not in banned.headers
        stats = fake.stats
        assert stats.invalid_requests == 3
        assert stats.rate_limited_by_scope == {"shared": 1, "ban": 1}
        assert (stats.injected_429s, stats.client_caused_429s) == (1, 0)  # a ban is neither
        assert fake.messages == []


# ---------------------------------------------------------------- 429s by cause


async def test_429s_are_counted_apart_as_injected_or_client_caused(
    client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_discord(global_limit=8, channel_limit=(2, 5.0)) as fake:
        channel = fake.create_channel()
        fake.inject(
            Fault("rate_limit_user"), Fault("rate_limit_global"), Fault("rate_limit_shared")
        )
        answers = []
        for _ in range(9):
            answers.append(await post_message(client, fake, channel, json={"content": "x"}))
        # three injected, two through the channel bucket, three over it, one over the global limit
        assert [a.status_code for a in answers] == [429, 429, 429, 200, 200, 429, 429, 429, 429]
        scopes = [a.headers.get("x-ratelimit-scope") for a in answers]
        assert scopes[5:] == ["user", "user", "user", "global"]
        stats = fake.stats
        assert (stats.injected_429s, stats.client_caused_429s) == (3, 4)
        assert stats.rate_limited_by_scope == {"user": 4, "global": 2, "shared": 1}


# ------------------------------------------------------------------------ nonce


async def test_enforce_nonce_returns_the_existing_message_within_the_nonce_window(
    fake: FakeDiscord, client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    channel = fake.create_channel()
    payload = {
        "content": "once",
        "nonce": "batch-1",
        "enforce_nonce": True,
        "attachments": [{"id": 0}],
    }
    first = await post_message(client, fake, channel, **multipart(payload, {0: b"f"}))
    await trio.sleep(NONCE_WINDOW_SECONDS - 1)  # the one window the client and journal trust
    second = await post_message(client, fake, channel, **multipart(payload, {0: b"f"}))
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["nonce"] == "batch-1"
    assert len(fake.messages) == 1
    assert fake.messages[0].nonce == "batch-1"
    await trio.sleep(2)
    later = await post_message(client, fake, channel, **multipart(payload, {0: b"f"}))
    assert later.json()["id"] != first.json()["id"]
    assert len(fake.messages) == 2


async def test_a_nonce_without_enforce_nonce_does_not_deduplicate(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    for _ in range(2):
        response = await post_message(client, fake, channel, json={"content": "x", "nonce": 7})
        assert response.json()["nonce"] == 7
    assert len(fake.messages) == 2


# -------------------------------------------------------------------- bandwidth


async def test_the_bandwidth_cap_paces_reading_the_body(
    client: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_discord(bandwidth_bytes_per_second=256 * 1024) as fake:
        channel = fake.create_channel()
        start = trio.current_time()
        response = await post_message(client, fake, channel, **upload("x", {0: b"b" * MIB}))
        assert response.status_code == 200
        elapsed = trio.current_time() - start
        assert 3.9 < elapsed < 4.1  # 1 MiB at 256 KiB/s, plus the form's few hundred bytes


# ---------------------------------------------------------------- HTTP plumbing


async def test_keep_alive_serves_chunked_requests_back_to_back_on_one_connection(
    fake: FakeDiscord,
) -> None:
    channel = fake.create_channel()
    stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
    conn = h11.Connection(h11.CLIENT)
    path = f"/api/v10/channels/{channel}/messages".encode()
    for text in ("one", "two"):
        headers = [
            ("Host", "127.0.0.1"),
            ("Authorization", f"Bot {fake.bot_token}"),
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ]
        body = json.dumps({"content": text}).encode()
        out = conn.send(h11.Request(method="POST", target=path, headers=headers))
        out += conn.send(h11.Data(data=body[:5])) + conn.send(h11.Data(data=body[5:]))
        out += conn.send(h11.EndOfMessage())
        await stream.send_all(out)
        status = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                break
        assert status == 200
        conn.start_next_cycle()
    await stream.aclose()
    assert [m.content for m in fake.messages] == ["one", "two"]


async def test_garbage_gets_a_400_and_a_closed_connection(fake: FakeDiscord) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
    await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.1 400 ")
    await stream.aclose()


async def test_stats_count_requests_and_statuses(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    await post_message(client, fake, channel, json={"content": "x"})
    await post_message(client, fake, channel, json={})
    await post_message(client, fake, 1, json={"content": "x"})
    stats = fake.stats
    assert stats.requests == 3
    assert stats.responses_by_status == {200: 1, 400: 1, 404: 1}
    assert stats.invalid_requests == 0


# ------------------------------------------------------------------- lifecycle


async def test_run_fake_discord_follows_the_nursery_start_protocol(
    client: httpx.AsyncClient,
) -> None:
    async with trio.open_nursery() as nursery:
        fake: FakeDiscord = await nursery.start(
            lambda task_status: run_fake_discord(global_limit=None, task_status=task_status)
        )
        assert fake.api_base == f"http://127.0.0.1:{fake.port}/api/v10"
        channel = fake.create_channel()
        assert (await post_message(client, fake, channel, json={"content": "x"})).status_code == 200
        nursery.cancel_scope.cancel()


async def test_open_fake_discord_lets_the_blocks_error_out_unwrapped() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with open_fake_discord():
            raise KeyError("mine")


async def test_the_webhook_token_never_reaches_the_logs(
    fake: FakeDiscord, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    url = fake.create_webhook()
    token = url.rsplit("/", 1)[1]
    with caplog.at_level("DEBUG", logger="uploader.testing"):
        await client.post(url, json={"content": "x"})
    assert caplog.records
    assert token not in caplog.text
    assert math.isfinite(fake.messages[0].created_at)
