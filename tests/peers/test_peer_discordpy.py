"""discord.py 2.7, unmodified but for ``Route.BASE``, as a bot and through a webhook."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from _peers import FILE_LIMIT, PEER_OPTIONS

from uploader import MIB
from uploader.cli._fake_discord import premium_tier_for
from uploader.testing import FakeDiscordThread, Fault, discord_com_url, fake_discord_in_thread

discord = pytest.importorskip("discord", minversion="2.7", reason="discord.py is a dev extra")

T = TypeVar("T")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDiscordThread]:
    saved = discord.http.Route.BASE
    with fake_discord_in_thread(**PEER_OPTIONS) as fake:
        discord.http.Route.BASE = fake.api_base
        try:
            yield fake
        finally:
            discord.http.Route.BASE = saved


@pytest.fixture
def channel(fake: FakeDiscordThread) -> int:
    return fake.create_channel()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def logged_in(fake: FakeDiscordThread) -> AsyncIterator[Any]:
    client = discord.Client(intents=discord.Intents.none())
    async with client:
        await client.login(fake.bot_token)
        yield client


def files(count: int, size: int = 100) -> list[Any]:
    return [discord.File(io.BytesIO(bytes([i]) * size), f"f{i}.bin") for i in range(count)]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def recorded(fake: FakeDiscordThread, channel: int) -> list[Any]:
    return [m for m in fake.messages if channel in (m.channel_id, m.thread_id)]


def test_the_bot_logs_in_and_a_wrong_token_is_a_login_failure(fake: FakeDiscordThread) -> None:
    async def scenario() -> int:
        async with logged_in(fake) as client:
            user_id: int = client.user.id
        stranger = discord.Client(intents=discord.Intents.none())
        async with stranger:
            with pytest.raises(discord.LoginFailure):
                await stranger.login("not-the-token")
        return user_id

    assert run(scenario()) == fake.bot_user_id


def test_the_bot_sends_text_one_file_and_ten_files(fake: FakeDiscordThread, channel: int) -> None:
    async def scenario() -> list[Any]:
        async with logged_in(fake) as client:
            target = await client.fetch_channel(channel)
            return [
                await target.send("hello"),
                await target.send("one", file=files(1)[0]),
                await target.send(files=files(10)),
            ]

    sent = run(scenario())
    assert [len(m.attachments) for m in sent] == [0, 1, 10]
    text, one, ten = recorded(fake, channel)
    assert (text.content, one.content) == ("hello", "one")
    assert [a.sha256 for a in ten.attachments] == [sha(bytes([i]) * 100) for i in range(10)]
    assert [a.filename for a in ten.attachments] == [f"f{i}.bin" for i in range(10)]


def test_eleven_files_and_a_file_over_the_limit_are_refused(
    fake: FakeDiscordThread, channel: int
) -> None:
    async def scenario() -> list[tuple[int, int]]:
        refused = []
        async with logged_in(fake) as client:
            target = client.get_partial_messageable(channel)
            for kwargs in ({"files": files(11)}, {"files": files(1, FILE_LIMIT + 1)}):
                with pytest.raises(discord.HTTPException) as info:
                    await target.send(**kwargs)
                refused.append((info.value.status, info.value.code))
        return refused

    assert run(scenario()) == [(400, 30015), (413, 40005)]
    assert recorded(fake, channel) == []


def test_edit_reply_embed_reaction_history_and_delete(
    fake: FakeDiscordThread, channel: int
) -> None:
    async def scenario() -> dict[str, Any]:
        async with logged_in(fake) as client:
            target = await client.fetch_channel(channel)
            async with target.typing():
                first = await target.send("v1", file=files(1)[0])
            edited = await first.edit(content="v2")
            embed = discord.Embed(title="Report", description="all good", colour=0x00FF00)
            mentions = discord.AllowedMentions(users=[discord.Object(fake.bot_user_id)])
            reply = await first.reply("answer", embed=embed, allowed_mentions=mentions)
            await reply.add_reaction("👍")
            fetched = await target.fetch_message(reply.id)
            history = [m.id async for m in target.history(limit=10)]
            before = [m.id async for m in target.history(limit=1, before=reply)]
            await first.delete()
            with pytest.raises(discord.NotFound) as gone:
                await target.fetch_message(first.id)
            return {
                "edited": edited.content,
                "reply": (reply.type, reply.reference.message_id, reply.embeds[0].title),
                "reactions": [(str(r.emoji), r.me) for r in fetched.reactions],
                "history": history,
                "before": before,
                "ids": (first.id, reply.id),
                "gone": gone.value.code,
            }

    seen = run(scenario())
    first_id, reply_id = seen["ids"]
    assert seen["edited"] == "v2"
    assert seen["reply"] == (discord.MessageType.reply, first_id, "Report")
    assert seen["reactions"] == [("👍", True)]
    assert seen["history"] == [reply_id, first_id]
    assert seen["before"] == [first_id]
    assert seen["gone"] == 10008
    first, reply = recorded(fake, channel)
    assert (first.content, first.edits, first.deleted) == ("v2", 1, True)
    assert (reply.reply_to, reply.reactions) == (str(first_id), ("👍",))
    assert reply.embeds[0]["title"] == "Report"


def test_a_nonce_sent_twice_makes_one_message(fake: FakeDiscordThread, channel: int) -> None:
    async def scenario() -> tuple[int, int]:
        async with logged_in(fake) as client:
            target = client.get_partial_messageable(channel)
            first = await target.send("once", nonce="peer-py-1")
            again = await target.send("once", nonce="peer-py-1")
            return first.id, again.id

    first, again = run(scenario())
    assert first == again
    [message] = recorded(fake, channel)
    assert message.nonce == "peer-py-1"


def test_an_unknown_channel_is_not_found(fake: FakeDiscordThread) -> None:
    async def scenario() -> list[int]:
        codes = []
        async with logged_in(fake) as client:
            for call in (client.fetch_channel(42), client.get_partial_messageable(42).send("x")):
                with pytest.raises(discord.NotFound) as info:
                    await call
                codes.append(info.value.code)
        return codes

    assert run(scenario()) == [10003, 10003]


def test_a_webhook_from_its_discord_com_url(fake: FakeDiscordThread, channel: int) -> None:
    url = fake.create_webhook(channel_id=channel)
    thread = fake.create_thread(channel)

    async def scenario() -> dict[str, Any]:
        async with logged_in(fake) as client:
            hook = discord.Webhook.from_url(discord_com_url(url), client=client)
            text = await hook.send("hello", wait=True)
            one = await hook.send(file=files(1)[0], wait=True)
            ten = await hook.send(files=files(10), wait=True)
            edited = await hook.edit_message(text.id, content="edited")
            fetched = await hook.fetch_message(text.id)
            in_thread = await hook.send("in thread", thread=discord.Object(thread), wait=True)
            with pytest.raises(discord.NotFound) as unknown_thread:
                await hook.send("x", thread=discord.Object(42), wait=True)
            await hook.delete_message(one.id)
            full = await hook.fetch()  # GET /webhooks/{id}/{token}
            by_bot = await client.fetch_webhook(hook.id)  # GET /webhooks/{id}, bot auth
            return {
                "attachments": [len(m.attachments) for m in (text, one, ten)],
                "edited": (edited.content, fetched.content),
                "thread": in_thread.channel.id,
                "unknown_thread": unknown_thread.value.code,
                "channels": (full.channel_id, by_bot.channel_id),
            }

    seen = run(scenario())
    assert seen["attachments"] == [0, 1, 10]
    assert seen["edited"] == ("edited", "edited")
    assert seen["thread"] == thread
    assert seen["unknown_thread"] == 10003
    assert seen["channels"] == (channel, channel)
    text, one, ten, in_thread = recorded(fake, channel)
    assert (text.content, one.deleted, len(ten.attachments)) == ("edited", True, 10)
    assert in_thread.thread_id == thread


def test_discord_py_waits_out_an_injected_429(fake: FakeDiscordThread, channel: int) -> None:
    before = fake.stats
    fake.inject(Fault("rate_limit_user", route="create_message", retry_after=0.5))

    async def scenario() -> float:
        async with logged_in(fake) as client:
            started = time.monotonic()
            await client.get_partial_messageable(channel).send("after the 429")
            return time.monotonic() - started

    assert run(scenario()) >= 0.5
    after = fake.stats
    assert after.injected_429s - before.injected_429s == 1
    assert after.client_caused_429s == before.client_caused_429s
    assert [m.content for m in recorded(fake, channel)] == ["after the 429"]


def test_concurrent_sends_keep_to_the_buckets(fake: FakeDiscordThread, channel: int) -> None:
    async def scenario() -> list[Any]:
        async with logged_in(fake) as client:
            target = client.get_partial_messageable(channel)
            return await asyncio.gather(*(target.send(f"m{i}") for i in range(12)))

    before = fake.stats
    sent = run(scenario())
    assert len({m.id for m in sent}) == 12
    assert sorted(m.content for m in recorded(fake, channel)) == sorted(f"m{i}" for i in range(12))
    # discord.py reads the bucket headers: the 5-per-second window holds without a 429
    assert fake.stats.client_caused_429s == before.client_caused_429s


def test_attachments_read_back_typed_and_pins_webhook_names_and_bad_emoji(
    fake: FakeDiscordThread, channel: int
) -> None:
    url = fake.create_webhook(channel_id=channel)

    async def scenario() -> dict[str, Any]:
        async with logged_in(fake) as client:
            target = await client.fetch_channel(channel)
            png = discord.File(io.BytesIO(b"\x89PNG-bytes"), "pic.png")
            sent = await target.send("a picture", file=png)
            [attachment] = sent.attachments
            pins = [m async for m in target.pins()]
            with pytest.raises(discord.HTTPException) as bad_emoji:
                await sent.add_reaction("not-an-emoji")
            hook = discord.Webhook.from_url(discord_com_url(url), client=client)
            named = await hook.send(
                "hi", username="Uploader", avatar_url="https://example.com/a.png", wait=True
            )
            return {
                "read": await attachment.read(),
                "type": attachment.content_type,
                "pins": pins,
                "emoji": (bad_emoji.value.status, bad_emoji.value.code),
                "author": (named.author.name, named.author.avatar is not None),
            }

    seen = run(scenario())
    assert seen["read"] == b"\x89PNG-bytes"
    assert seen["type"] == "image/png"
    assert seen["pins"] == []
    assert seen["emoji"] == (400, 10014)
    assert seen["author"] == ("Uploader", True)


def test_the_cli_guild_for_a_50_mib_limit_shows_that_limit(fake: FakeDiscordThread) -> None:
    # `uploader fake-discord --limit-mb 50` makes its channel in a guild of this tier
    channel = fake.create_channel(premium_tier=premium_tier_for(50 * MIB))

    async def scenario() -> int:
        async with logged_in(fake) as client:
            target = await client.fetch_channel(channel)
            guild = await client.fetch_guild(target.guild.id)
            limit: int = guild.filesize_limit
            return limit

    assert run(scenario()) == 50 * MIB
