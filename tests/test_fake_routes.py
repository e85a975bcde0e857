"""Tests of the loopback Discord's everyday routes beyond sending: identity, reads, deletes,
lists, reactions, typing, webhooks and threads, what answers echo, and the inspection routes."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from _fake_http import assert_matches_schema, bot

from uploader.testing import (
    FakeDiscord,
    Fault,
    discord_com_url,
    fake_discord_in_thread,
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=None) as client:
        yield client


async def send(
    client: httpx.AsyncClient, fake: FakeDiscord, channel: int, payload: dict[str, Any]
) -> httpx.Response:
    url = f"{fake.api_base}/channels/{channel}/messages"
    return await client.post(url, headers=bot(fake), json=payload)


def error_code(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


# --------------------------------------------------------------------- identity


async def test_the_bot_user_and_application_are_served_as_discord_shapes_them(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    me = await client.get(f"{fake.api_base}/users/@me", headers=bot(fake))
    assert me.status_code == 200
    assert_matches_schema("UserPIIResponse", me.json())
    assert (me.json()["id"], me.json()["bot"]) == (str(fake.bot_user_id), True)
    app = await client.get(f"{fake.api_base}/oauth2/applications/@me", headers=bot(fake))
    assert_matches_schema("PrivateApplicationResponse", app.json())
    stranger = await client.get(f"{fake.api_base}/users/@me", headers={"Authorization": "Bot x"})
    assert error_code(stranger) == (401, 0)


# ------------------------------------------------------------- what answers echo


async def test_integer_snowflakes_pass_and_a_reply_is_type_19_with_its_reference(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    first = (await send(client, fake, channel, {"content": "question"})).json()
    payload = {
        "content": "answer",
        "message_reference": {"message_id": int(first["id"])},
        "allowed_mentions": {"users": [fake.bot_user_id], "replied_user": False},
        "attachments": [],
    }
    reply = await send(client, fake, channel, payload)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert_matches_schema("MessageResponse", body)
    assert body["type"] == 19
    assert body["message_reference"]["message_id"] == first["id"]
    assert body["message_reference"]["channel_id"] == str(channel)
    assert body["referenced_message"]["id"] == first["id"]
    assert fake.messages[1].reply_to == first["id"]
    stickers = await send(client, fake, channel, {"sticker_ids": [749054660769218631]})
    assert stickers.status_code == 200


async def test_a_reply_to_an_unknown_message_is_refused_unless_told_not_to_fail(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    elsewhere = (await send(client, fake, fake.create_channel(), {"content": "x"})).json()
    for target in (42, elsewhere["id"]):
        payload = {"content": "answer", "message_reference": {"message_id": target}}
        refused = await send(client, fake, channel, payload)
        assert error_code(refused) == (400, 50035)
        [problem] = refused.json()["errors"]["message_reference"]["_errors"]
        assert problem["code"] == "REPLIES_UNKNOWN_MESSAGE"
    lenient = {"content": "a", "message_reference": {"message_id": 42, "fail_if_not_exists": False}}
    sent = await send(client, fake, channel, lenient)
    assert (sent.status_code, sent.json()["type"]) == (200, 0)
    assert "message_reference" not in sent.json()


async def test_embeds_come_back_as_sent_and_an_edit_replaces_them(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    embed = {"title": "Report", "color": 255, "fields": [{"name": "a", "value": "b"}], "url": None}
    created = (await send(client, fake, channel, {"embeds": [embed]})).json()
    assert_matches_schema("MessageResponse", created)
    assert created["embeds"] == [
        {
            "title": "Report",
            "color": 255,
            "fields": [{"inline": False, "name": "a", "value": "b"}],
            "type": "rich",
        }
    ]
    url = f"{fake.api_base}/channels/{channel}/messages/{created['id']}"
    edited = await client.patch(url, headers=bot(fake), json={"embeds": [{"title": "v2"}]})
    assert [e["title"] for e in edited.json()["embeds"]] == ["v2"]
    assert fake.messages[0].embeds == ({"title": "v2", "type": "rich"},)
    kept = await client.patch(url, headers=bot(fake), json={"content": "text too"})
    assert [e["title"] for e in kept.json()["embeds"]] == ["v2"]
    silent = {"content": "shh", "flags": 4096 | 2, "tts": True}
    echoed = (await send(client, fake, channel, silent)).json()
    assert (echoed["flags"], echoed["tts"]) == (4096, True)


# ------------------------------------------------------ reads, deletes and lists


async def test_get_and_delete_a_channel_message(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel, other = fake.create_channel(), fake.create_channel()
    created = (await send(client, fake, channel, {"content": "hi"})).json()
    url = f"{fake.api_base}/channels/{channel}/messages/{created['id']}"
    got = await client.get(url, headers=bot(fake))
    assert got.status_code == 200
    assert_matches_schema("MessageResponse", got.json())
    assert got.json() == created
    wrong_channel = f"{fake.api_base}/channels/{other}/messages/{created['id']}"
    assert error_code(await client.get(wrong_channel, headers=bot(fake))) == (404, 10008)
    deleted = await client.delete(url, headers=bot(fake))
    assert deleted.status_code == 204
    assert error_code(await client.get(url, headers=bot(fake))) == (404, 10008)
    assert error_code(await client.delete(url, headers=bot(fake))) == (404, 10008)
    [message] = fake.messages
    assert message.deleted
    assert deleted.headers["x-ratelimit-bucket"] != got.headers["x-ratelimit-bucket"]


async def test_list_messages_newest_first_with_limit_before_after_and_around(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    ids = [(await send(client, fake, channel, {"content": str(i)})).json()["id"] for i in range(5)]
    url = f"{fake.api_base}/channels/{channel}/messages"

    async def listed(**params: str) -> list[str]:
        response = await client.get(url, headers=bot(fake), params=params)
        assert response.status_code == 200, response.text
        for message in response.json():
            assert_matches_schema("MessageResponse", message)
        return [m["id"] for m in response.json()]

    assert await listed() == ids[::-1]
    assert await listed(limit="2") == [ids[4], ids[3]]
    assert await listed(before=ids[3], limit="2") == [ids[2], ids[1]]
    assert await listed(after=ids[1], limit="2") == [ids[3], ids[2]]
    assert await listed(around=ids[2], limit="3") == [ids[3], ids[2], ids[1]]
    for bad in ("0", "101", "x"):
        refused = await client.get(url, headers=bot(fake), params={"limit": bad})
        assert error_code(refused) == (400, 50035)
    refused = await client.get(url, headers=bot(fake), params={"before": "x"})
    assert error_code(refused) == (400, 50035)


async def test_typing_is_204_and_reactions_are_the_bots(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    typing = await client.post(f"{fake.api_base}/channels/{channel}/typing", headers=bot(fake))
    assert typing.status_code == 204
    created = (await send(client, fake, channel, {"content": "hi"})).json()
    url = f"{fake.api_base}/channels/{channel}/messages/{created['id']}"
    for emoji in ("%F0%9F%91%8D", "party:123", "%F0%9F%91%8D"):
        added = await client.put(f"{url}/reactions/{emoji}/@me", headers=bot(fake))
        assert added.status_code == 204
    assert fake.messages[0].reactions == ("👍", "party:123")
    body = (await client.get(url, headers=bot(fake))).json()
    assert_matches_schema("MessageResponse", body)
    assert [r["emoji"] for r in body["reactions"]] == [
        {"id": None, "name": "👍"},
        {"id": "123", "name": "party"},
    ]
    users = await client.get(f"{url}/reactions/%F0%9F%91%8D", headers=bot(fake))
    assert [u["id"] for u in users.json()] == [str(fake.bot_user_id)]
    removed = await client.delete(f"{url}/reactions/%F0%9F%91%8D/@me", headers=bot(fake))
    assert removed.status_code == 204
    assert fake.messages[0].reactions == ("party:123",)
    assert (await client.delete(f"{url}/reactions", headers=bot(fake))).status_code == 204
    assert fake.messages[0].reactions == ()
    assert fake.messages[0].edits == 0


# ------------------------------------------------------------ webhooks, threads


async def test_a_webhook_is_looked_up_with_its_token_or_the_bots(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    url = fake.create_webhook(channel_id=channel)
    webhook_id = url.split("/")[-2]
    by_token = await client.get(url)
    by_bot = await client.get(f"{fake.api_base}/webhooks/{webhook_id}", headers=bot(fake))
    for response in (by_token, by_bot):
        assert response.status_code == 200
        assert_matches_schema("GuildIncomingWebhookResponse", response.json())
        assert (response.json()["id"], response.json()["channel_id"]) == (webhook_id, str(channel))
    anonymous = await client.get(f"{fake.api_base}/webhooks/{webhook_id}")
    assert error_code(anonymous) == (401, 0)
    wrong = await client.get(f"{fake.api_base}/webhooks/{webhook_id}/nope")
    assert error_code(wrong) == (401, 50027)
    unknown = await client.get(f"{fake.api_base}/webhooks/1", headers=bot(fake))
    assert error_code(unknown) == (404, 10015)


async def test_webhook_messages_are_read_and_deleted_with_their_thread(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    thread = fake.create_thread(channel)
    url = fake.create_webhook(channel_id=channel)
    plain = (await client.post(f"{url}?wait=true", json={"content": "a"})).json()
    threaded = await client.post(f"{url}?wait=true&thread_id={thread}", json={"content": "b"})
    in_thread = threaded.json()["id"]
    got = await client.get(f"{url}/messages/{plain['id']}")
    assert got.json() == plain
    assert error_code(await client.get(f"{url}/messages/{in_thread}")) == (404, 10008)
    found = await client.get(f"{url}/messages/{in_thread}?thread_id={thread}")
    assert found.json()["channel_id"] == str(thread)
    assert (await client.delete(f"{url}/messages/{plain['id']}")).status_code == 204
    assert error_code(await client.get(f"{url}/messages/{plain['id']}")) == (404, 10008)
    thread_url = f"{fake.api_base}/channels/{thread}"
    thread_json = (await client.get(thread_url, headers=bot(fake))).json()
    assert_matches_schema("ThreadResponse", thread_json)
    assert thread_json["parent_id"] == str(channel)
    listed = await client.get(f"{thread_url}/messages", headers=bot(fake))
    assert [m["id"] for m in listed.json()] == [in_thread]
    with pytest.raises(KeyError):
        fake.create_thread(thread)
    with pytest.raises(KeyError):
        fake.create_webhook(channel_id=thread)


async def test_faults_can_target_the_new_routes(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    fake.inject(Fault("status", route="get_message", status=503))
    created = (await send(client, fake, channel, {"content": "x"})).json()
    url = f"{fake.api_base}/channels/{channel}/messages/{created['id']}"
    assert (await client.get(url, headers=bot(fake))).status_code == 503
    assert (await client.get(url, headers=bot(fake))).status_code == 200
    assert fake.stats.requests_by_route == {"create_message": 1, "get_message": 2}


# ------------------------------------------------------------------ inspection


async def test_the_inspection_routes_show_messages_and_stats_without_a_token(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    data = {"payload_json": json.dumps({"content": "hi", "nonce": 7, "enforce_nonce": True})}
    files = [("files[0]", ("a.bin", b"abc", "application/octet-stream"))]
    posted = await client.post(
        f"{fake.api_base}/channels/{channel}/messages", headers=bot(fake), data=data, files=files
    )
    await send(client, fake, fake.create_channel(), {"content": "elsewhere"})
    fake.inject(Fault("rate_limit_user", route="create_message", retry_after=0))
    await send(client, fake, channel, {"content": "limited"})
    before = fake.stats
    messages = (await client.get(f"{fake.inspect_url}/messages")).json()
    assert [m["content"] for m in messages] == ["hi", "elsewhere"]
    first = messages[0]
    assert (first["id"], first["channel_id"], first["nonce"]) == (
        posted.json()["id"],
        str(channel),
        "7",
    )
    assert first["attachments"] == [
        {
            "id": posted.json()["attachments"][0]["id"],
            "filename": "a.bin",
            "size": 3,
            "sha256": hashlib.sha256(b"abc").hexdigest(),
            "content_type": "application/octet-stream",
            "description": None,
        }
    ]
    narrowed = await client.get(f"{fake.inspect_url}/messages", params={"channel_id": channel})
    assert [m["content"] for m in narrowed.json()] == ["hi"]
    stats = (await client.get(f"{fake.inspect_url}/stats")).json()
    assert stats["requests"] == 3
    assert stats["responses_by_status"] == {"200": 2, "429": 1}
    assert (stats["injected_429s"], stats["client_caused_429s"]) == (1, 0)
    assert stats["requests_by_route"] == {"create_message": 3}
    assert (await client.post(f"{fake.inspect_url}/messages")).status_code == 405
    assert (await client.get(f"{fake.inspect_url}/nothing")).status_code == 404
    assert (await client.get(fake.inspect_url)).json()["stats"] == "/_fake/stats"
    assert fake.stats == before  # inspecting is not traffic


async def test_a_head_request_gets_headers_and_the_fake_keeps_serving(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    # readiness checks (curl -I, wait-on) send HEAD: it once killed the whole fake
    answer = await client.head(f"{fake.inspect_url}/stats")
    assert (answer.status_code, answer.content) == (200, b"")
    answer = await client.head(f"{fake.api_base}/users/@me", headers=bot(fake))
    assert (answer.status_code, answer.content) == (405, b"")  # as for any unserved method
    assert (await client.get(f"{fake.inspect_url}/stats")).status_code == 200
    assert (await client.get(f"{fake.api_base}/users/@me", headers=bot(fake))).status_code == 200


@pytest.mark.parametrize("query", ["channel_id=abc", "chanel_id=1", "channel_id="])
async def test_a_bad_inspection_filter_is_refused_not_read_as_nothing(
    fake: FakeDiscord, client: httpx.AsyncClient, query: str
) -> None:
    answer = await client.get(f"{fake.inspect_url}/messages?{query}")
    assert answer.status_code == 400


# --------------------------------------------------------------------- helpers


def test_discord_com_url_rewrites_a_fake_webhook_url() -> None:
    url = "http://127.0.0.1:8555/api/webhooks/123/abc-DEF_1?wait=true"
    assert discord_com_url(url) == "https://discord.com/api/webhooks/123/abc-DEF_1"
    assert (
        discord_com_url("http://h/api/v10/webhooks/1/t") == "https://discord.com/api/webhooks/1/t"
    )
    with pytest.raises(ValueError, match="not a webhook URL"):
        discord_com_url("http://127.0.0.1:8555/api/channels/1")


def test_a_fake_in_a_thread_serves_plain_synchronous_code() -> None:
    with fake_discord_in_thread(global_limit=None) as fake:
        channel = fake.create_channel()
        url = fake.create_webhook(channel_id=channel)
        assert httpx.post(f"{url}?wait=true", json={"content": "hi"}).status_code == 200
        fake.inject(Fault("status", status=500))
        assert httpx.post(url, json={"content": "x"}).status_code == 500
        assert [m.content for m in fake.messages] == ["hi"]
        assert fake.stats.responses_by_status == {200: 1, 500: 1}
        assert fake.bot_token not in repr(fake)
    with pytest.raises(httpx.ConnectError):
        httpx.get(fake.inspect_url)


# ------------------------------------------------- QA fixes: echoes and refusals


async def test_a_webhooks_username_and_avatar_url_are_echoed_in_the_author(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    url = fake.create_webhook()
    sent = {"content": "hi", "username": "Uploader", "avatar_url": "https://example.com/a.png"}
    body = (await client.post(f"{url}?wait=true", json=sent)).json()
    assert_matches_schema("MessageResponse", body)
    assert body["author"]["username"] == "Uploader"
    assert body["author"]["avatar"] == hashlib.md5(b"https://example.com/a.png").hexdigest()
    plain = (await client.post(f"{url}?wait=true", json={"content": "x"})).json()
    assert (plain["author"]["username"], plain["author"]["avatar"]) == ("Fake Webhook", None)
    assert fake.messages[0].username == "Uploader"
    shown = (await client.get(f"{fake.inspect_url}/messages")).json()
    assert shown[0]["username"] == "Uploader"


@pytest.mark.parametrize("emoji", ["abc", "x", "1", "name:abc", ":123", "%20", "a%3Ab%3A1"])
async def test_an_invalid_reaction_emoji_is_unknown_emoji(
    fake: FakeDiscord, client: httpx.AsyncClient, emoji: str
) -> None:
    channel = fake.create_channel()
    created = (await send(client, fake, channel, {"content": "hi"})).json()
    url = f"{fake.api_base}/channels/{channel}/messages/{created['id']}/reactions/{emoji}"
    assert error_code(await client.put(f"{url}/@me", headers=bot(fake))) == (400, 10014)
    assert error_code(await client.get(url, headers=bot(fake))) == (400, 10014)
    assert fake.messages[0].reactions == ()


@pytest.mark.parametrize("emoji", ["❤️", "🇫🇷", "1️⃣", "👍🏽", "👨‍👩‍👧", "name_1:123"])
async def test_unicode_and_custom_reaction_emoji_are_accepted(
    fake: FakeDiscord, client: httpx.AsyncClient, emoji: str
) -> None:
    channel = fake.create_channel()
    created = (await send(client, fake, channel, {"content": "hi"})).json()
    quoted = urllib.parse.quote(emoji)
    url = f"{fake.api_base}/channels/{channel}/messages/{created['id']}/reactions/{quoted}/@me"
    assert (await client.put(url, headers=bot(fake))).status_code == 204
    assert fake.messages[0].reactions == (emoji,)


async def test_pins_are_served_and_message_ids_must_be_snowflakes(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    messages = f"{fake.api_base}/channels/{channel}/messages"
    pins = await client.get(f"{messages}/pins?limit=50", headers=bot(fake))
    assert pins.status_code == 200
    assert pins.json() == {"items": [], "has_more": False}
    for path in ("abc", "pins/x", "12ab/reactions", "abc/reactions/%F0%9F%91%8D/@me"):
        assert error_code(await client.get(f"{messages}/{path}", headers=bot(fake))) == (404, 0)
    url = fake.create_webhook(channel_id=channel)
    assert error_code(await client.get(f"{url}/messages/nope")) == (404, 0)
