"""Tests of the fake's control routes (``/_fake/faults``, ``/_fake/channels/{id}/threads``),
as a script in another language would call them, and of the CLI's guild tier."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from _fake_http import bot

from uploader.cli._fake_discord import premium_tier_for
from uploader.testing import FakeDiscord, Fault, open_fake_discord
from uploader.testing._control import fault_from_json
from uploader.testing._world import MIB


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_a_thread_made_over_http_takes_webhook_posts(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    webhook = fake.create_webhook(channel_id=channel)
    made = await client.post(f"{fake.inspect_url}/channels/{channel}/threads")
    assert made.status_code == 200
    thread = made.json()["id"]
    assert made.json()["parent_id"] == str(channel)
    posted = await client.post(f"{webhook}?wait=true&thread_id={thread}", json={"content": "in"})
    assert posted.status_code == 200
    assert posted.json()["channel_id"] == thread
    assert fake.messages[0].thread_id == int(thread)
    assert fake.stats.requests == 1  # the control route is not counted


async def test_a_thread_in_an_unknown_channel_or_with_get_is_refused(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    unknown = await client.post(f"{fake.inspect_url}/channels/12345/threads")
    assert (unknown.status_code, unknown.json()["code"]) == (404, 10003)
    channel = fake.create_channel()
    wrong = await client.get(f"{fake.inspect_url}/channels/{channel}/threads")
    assert wrong.status_code == 405


async def test_a_fault_posted_as_json_hits_the_next_request(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    channel = fake.create_channel()
    fault = {"kind": "rate_limit_user", "route": "create_message", "retry_after": 2.5}
    injected = await client.post(f"{fake.inspect_url}/faults", json=fault)
    assert injected.status_code == 204
    assert fake.pending_faults == (Fault("rate_limit_user", "create_message", retry_after=2.5),)
    listed = await client.get(f"{fake.inspect_url}/faults")
    assert listed.json()[0]["kind"] == "rate_limit_user"
    url = f"{fake.api_base}/channels/{channel}/messages"
    hit = await client.post(url, headers=bot(fake), json={"content": "a"})
    assert hit.status_code == 429
    assert hit.json()["retry_after"] == 2.5
    ok = await client.post(url, headers=bot(fake), json={"content": "b"})
    assert ok.status_code == 200
    assert fake.stats.injected_429s == 1


async def test_faults_post_as_a_list_and_delete_clears_them(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    faults = [{"kind": "status", "status": 503}, {"kind": "slow", "delay": 0.5, "times": 2}]
    assert (await client.post(f"{fake.inspect_url}/faults", json=faults)).status_code == 204
    assert len(fake.pending_faults) == 2
    assert (await client.delete(f"{fake.inspect_url}/faults")).status_code == 204
    assert fake.pending_faults == ()


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "nope"},
        {"kind": "status", "status": 418},
        {"kind": "slow", "times": 0},
        {"kind": "slow", "times": "2"},
        {"kind": "slow", "delay": True},
        {"kind": "slow", "colour": "red"},
        {"route": "create_message"},
        {"kind": "status", "route": "no_such_route"},
        ["not an object"],
    ],
)
async def test_a_bad_fault_is_refused_and_nothing_is_scheduled(
    fake: FakeDiscord, client: httpx.AsyncClient, body: object
) -> None:
    good = {"kind": "slow"}
    payload = [good, *body] if isinstance(body, list) else [good, body]
    refused = await client.post(f"{fake.inspect_url}/faults", json=payload)
    assert (refused.status_code, refused.json()["code"]) == (400, 50035)
    assert "Invalid fault" in refused.json()["message"]
    assert fake.pending_faults == ()


async def test_control_routes_are_not_under_the_api(
    fake: FakeDiscord, client: httpx.AsyncClient
) -> None:
    response = await client.post(f"{fake.api_base}/_fake/faults", json={"kind": "slow"})
    assert response.status_code == 404
    assert fake.pending_faults == ()


def test_fault_from_json_takes_every_field_of_fault() -> None:
    fault = Fault("status", "get_channel", times=2, after=1, retry_after=3, status=502, delay=0)
    body = {
        "kind": "status",
        "route": "get_channel",
        "times": 2,
        "after": 1,
        "retry_after": 3,
        "status": 502,
        "delay": 0,
    }
    assert fault_from_json(body) == fault


@pytest.mark.parametrize(
    ("limit_mib", "tier"),
    [(1, 0), (8, 0), (10, 0), (25, 2), (30, 2), (50, 2), (51, 3), (100, 3), (500, 3)],
)
def test_the_cli_guild_tier_covers_its_file_limit(limit_mib: int, tier: int) -> None:
    assert premium_tier_for(limit_mib * MIB) == tier


async def test_a_guild_of_the_cli_tier_shows_a_limit_the_fake_honours(
    client: httpx.AsyncClient,
) -> None:
    async with open_fake_discord(file_limit_bytes=50 * MIB) as fake:
        channel = fake.create_channel(premium_tier=premium_tier_for(50 * MIB))
        guild = fake.guild_id_of(channel)
        body = (await client.get(f"{fake.api_base}/guilds/{guild}", headers=bot(fake))).json()
        assert body["premium_tier"] == 2  # discord.py: guild.filesize_limit == 50 MiB
        assert fake.file_limit_of(channel) == 50 * MIB
