"""The HTTP fake with its gateway: one scene for a bot (posts seen on the gateway, users' posts,
slash-command registration, interaction callbacks and follow-ups)."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from uploader.gateway import Gateway, GatewayEvent, open_gateway
from uploader.testing import FakeDiscord, open_fake_discord


def _bot(fake: FakeDiscord) -> dict[str, str]:
    return {"Authorization": f"Bot {fake.bot_token}"}


async def _next(gateway: Gateway, name: str) -> GatewayEvent:
    with trio.fail_after(10):
        async for event in gateway.events:
            if event.name == name:
                return event
    raise AssertionError(f"no {name}")


async def test_gateway_bot_hands_out_the_fake_gateway_and_ready_names_the_bot() -> None:
    async with open_fake_discord(gateway=True) as fake, httpx.AsyncClient() as http:
        assert fake.gateway is not None
        answer = await http.get(f"{fake.api_base}/gateway/bot", headers=_bot(fake))
        assert answer.json()["url"] == fake.gateway.url
        async with open_gateway(fake.bot_token, api_base=fake.api_base) as gateway:
            ready = await _next(gateway, "READY")
            assert ready.data["user"]["id"] == str(fake.bot_user_id)
            assert ready.data["application"]["id"] == str(fake.bot_user_id)


async def test_users_and_the_bots_posts_reach_the_gateway() -> None:
    async with open_fake_discord(gateway=True) as fake, httpx.AsyncClient() as http:
        channel = fake.create_channel()
        async with open_gateway(fake.bot_token, api_base=fake.api_base) as gateway:
            answer = await http.post(
                fake.user_post_url(channel), json={"content": "!status", "author_id": "42"}
            )
            assert answer.status_code == 200
            created = await _next(gateway, "MESSAGE_CREATE")
            assert created.data["content"] == "!status"
            assert created.data["author"] == {**created.data["author"], "id": "42", "bot": False}
            assert created.data["guild_id"] == str(fake.guild_id_of(channel))
            posted = await http.post(
                f"{fake.api_base}/channels/{channel}/messages",
                json={"content": "hello"},
                headers=_bot(fake),
            )
            assert posted.status_code == 200
            mine = await _next(gateway, "MESSAGE_CREATE")
            assert mine.data["author"]["bot"] is True
            await http.patch(
                f"{fake.api_base}/channels/{channel}/messages/{mine.data['id']}",
                json={"content": "edited"},
                headers=_bot(fake),
            )
            assert (await _next(gateway, "MESSAGE_UPDATE")).data["content"] == "edited"
        assert [m.author_id for m in fake.messages] == ["42", None]
        assert "create_message" in fake.stats.requests_by_route
        assert fake.stats.requests_by_route["create_message"] == 1  # the user's is not counted


async def test_user_post_route_refuses_what_it_cannot_post() -> None:
    async with open_fake_discord(gateway=True) as fake, httpx.AsyncClient() as http:
        channel = fake.create_channel()
        url = fake.user_post_url(channel)
        assert (await http.post(url, json={"nope": 1})).status_code == 400
        assert (await http.post(url, content=b"{")).status_code == 400
        assert (await http.get(url)).status_code == 405
        assert (await http.post(fake.user_post_url(1), json={"content": "x"})).status_code == 404
        assert fake.messages == []


async def test_slash_command_registration_callback_and_follow_up() -> None:
    async with open_fake_discord(gateway=True) as fake, httpx.AsyncClient() as http:
        channel = fake.create_channel()
        app = str(fake.bot_user_id)
        commands = [{"name": "upload", "type": 1, "description": "d"}]
        put = await http.put(f"{fake.api_base}/applications/{app}/commands", json=commands)
        assert put.status_code == 401  # the bot token is needed
        put = await http.put(
            f"{fake.api_base}/applications/{app}/commands", json=commands, headers=_bot(fake)
        )
        assert put.status_code == 200
        assert [c["name"] for c in fake.commands] == ["upload"]
        async with open_gateway(fake.bot_token, api_base=fake.api_base) as gateway:
            sent = await fake.run_slash_command(channel, "upload", {"url": "https://x/y.mp4"})
            got: Any = (await _next(gateway, "INTERACTION_CREATE")).data
            assert got == sent
            assert got["data"]["options"][0]["value"] == "https://x/y.mp4"
        base = f"{fake.api_base}/interactions/{got['id']}"
        wrong = await http.post(f"{base}/not-the-token/callback", json={"type": 5})
        assert wrong.status_code == 404
        callback = await http.post(f"{base}/{got['token']}/callback", json={"type": 5})
        assert callback.status_code == 204
        assert fake.interaction_callbacks(got["id"]) == [{"type": 5}]
        again = await http.post(f"{base}/{got['token']}/callback", json={"type": 5})
        assert again.status_code == 400
        followup = f"{fake.api_base}/webhooks/{app}/{got['token']}"
        posted = await http.post(followup, params={"wait": "true"}, json={"content": "done"})
        assert posted.status_code == 200
        edit = await http.patch(f"{followup}/messages/@original", json={"content": "status"})
        assert edit.status_code == 200
        original, message = fake.messages
        assert (original.content, original.edits, original.channel_id) == ("status", 1, channel)
        assert (message.content, message.webhook_id) == ("done", app)
        bad = await http.post(f"{fake.api_base}/webhooks/{app}/nope", json={"content": "x"})
        assert bad.status_code == 404
