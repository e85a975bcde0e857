"""End to end over the loopback fake Discord: every file arrives exactly once, faults or not.

``uploader send`` runs `upload_directory` (its command line is tested in test_send_cli.py); here
it runs in the test's event loop under trio's MockClock, so injected 429s, backoffs and the
batcher's linger cost no wall-clock time, over real loopback sockets. Each test gets its fake
from the ``fake_discord`` fixture `uploader.testing` ships (enabled in conftest.py), as users do.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
import trio.testing

from tests._files import sha256_bytes, write_data
from uploader import (
    MIB,
    Channel,
    FileStatus,
    MediaFile,
    MediaType,
    Settings,
    UploadResult,
    Webhook,
    upload_directory,
)
from uploader.discord import DestinationNotFoundError, FileTooLargeError, open_discord_client
from uploader.testing import FakeDiscord, Fault, FaultKind

Clock = trio.testing.MockClock

RATE_LIMITS: tuple[FaultKind, ...] = ("rate_limit_user", "rate_limit_global", "rate_limit_shared")
SETTINGS = Settings(
    upload_max_files_per_batch=4,
    upload_enable_progress_updates=False,
    upload_check_media=False,  # random bytes stand in for media here
)


def make_media(directory: Path, count: int, seed: int = 7) -> dict[str, str]:
    """``count`` files of random bytes; returns sha256 → name."""
    rng = random.Random(seed)
    hashes = {}
    for i in range(count):
        data = rng.randbytes(rng.randint(1, 150_000))
        path = directory / f"{i:03}.{rng.choice(['jpg', 'png', 'mp4', 'mp3'])}"
        hashes[write_data(path, data)] = path.name
    return hashes


def recorded_hashes(fake: FakeDiscord) -> Counter[str]:
    return Counter(a.sha256 for m in fake.messages for a in m.attachments)


def destination_for(fake: FakeDiscord, kind: str) -> Channel | Webhook:
    if kind == "channel":
        return Channel(fake.create_channel(), fake.bot_token)
    return Webhook(fake.create_webhook())


async def send(directory: Path, destination: Channel | Webhook, fake: FakeDiscord) -> UploadResult:
    # as `uploader send --channel ID --api-base URL` / `uploader send --webhook URL` do
    api_base = fake.api_base if isinstance(destination, Channel) else None
    return await upload_directory(directory, destination, settings=SETTINGS, api_base=api_base)


@pytest.mark.parametrize("kind", ["channel", "webhook"])
async def test_every_file_arrives_exactly_once_with_its_bytes(
    fake_discord: FakeDiscord, tmp_path: Path, kind: str, autojump_clock: Clock
) -> None:
    hashes = make_media(tmp_path, 11)
    result = await send(tmp_path, destination_for(fake_discord, kind), fake_discord)
    assert recorded_hashes(fake_discord) == Counter(hashes.keys())
    assert result.success, result.message
    assert {o.message_id for o in result.outcomes} == {m.id for m in fake_discord.messages}
    assert all(len(m.attachments) <= 4 for m in fake_discord.messages)
    if kind == "channel":
        assert all(m.nonce for m in fake_discord.messages)
    else:
        assert all(m.webhook_id for m in fake_discord.messages)


BOT_FAULTS = [
    Fault(kind="drop_after_body", route="create_message", times=2),
    Fault(kind="drop_before_body", route="create_message", times=2),
    *(
        Fault(kind="status", status=s, route="create_message", times=2)
        for s in (500, 502, 503, 504, 524)
    ),
    *(Fault(kind=kind, route="create_message", times=2, retry_after=3.0) for kind in RATE_LIMITS),
]


@pytest.mark.parametrize("fault", BOT_FAULTS, ids=lambda f: f"{f.kind}-{f.status}")
async def test_the_bot_path_delivers_exactly_once_through_faults(
    fake_discord: FakeDiscord, tmp_path: Path, fault: Fault, autojump_clock: Clock
) -> None:
    hashes = make_media(tmp_path, 9)
    fake_discord.inject(fault)
    result = await send(tmp_path, destination_for(fake_discord, "channel"), fake_discord)
    assert recorded_hashes(fake_discord) == Counter(hashes.keys())
    assert result.success, result.message
    assert fake_discord.pending_faults == ()


SAFE_WEBHOOK_FAULTS = [
    Fault(kind="status", status=503, route="execute_webhook", times=2),
    *(Fault(kind=kind, route="execute_webhook", times=2, retry_after=3.0) for kind in RATE_LIMITS),
]
UNSAFE_WEBHOOK_FAULTS = [
    Fault(kind="drop_after_body", route="execute_webhook"),
    *(Fault(kind="status", status=s, route="execute_webhook") for s in (500, 502, 504, 524)),
]


@pytest.mark.parametrize("fault", SAFE_WEBHOOK_FAULTS, ids=lambda f: f"{f.kind}-{f.status}")
async def test_a_webhook_retries_what_provably_did_not_post(
    fake_discord: FakeDiscord, tmp_path: Path, fault: Fault, autojump_clock: Clock
) -> None:
    hashes = make_media(tmp_path, 9)
    fake_discord.inject(fault)
    result = await send(tmp_path, destination_for(fake_discord, "webhook"), fake_discord)
    assert recorded_hashes(fake_discord) == Counter(hashes.keys())
    assert result.success, result.message


@pytest.mark.parametrize("fault", UNSAFE_WEBHOOK_FAULTS, ids=lambda f: f"{f.kind}-{f.status}")
async def test_a_webhook_never_posts_twice_and_reports_what_is_uncertain(
    fake_discord: FakeDiscord, tmp_path: Path, fault: Fault, autojump_clock: Clock
) -> None:
    hashes = make_media(tmp_path, 9)
    fake_discord.inject(fault)
    result = await send(tmp_path, destination_for(fake_discord, "webhook"), fake_discord)
    recorded = recorded_hashes(fake_discord)
    assert set(recorded.values()) <= {1}
    assert set(recorded) <= set(hashes)
    by_name = {o.path.name: o for o in result.outcomes}
    uncertain = [o for o in result.outcomes if o.status is FileStatus.UNCERTAIN]
    assert 1 <= len(uncertain) <= 4  # one message hit by the fault; the rest still go
    assert all("may have been posted" in o.reason for o in uncertain)
    assert len(result.delivered) + len(uncertain) == len(hashes) and not result.success
    for digest, name in hashes.items():
        if by_name[name].status is FileStatus.DELIVERED:
            assert recorded[digest] == 1
    if fault.kind == "drop_after_body":
        assert recorded == Counter(hashes.keys())  # posted once, answer lost


async def test_a_webhook_dropped_before_its_body_is_retried_or_reported_never_doubled(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: Clock
) -> None:
    # Whether the client can prove the body did not go out depends on the socket buffers:
    # a write error mid-body proves it (retry); a body that fit in the buffers does not.
    hashes = make_media(tmp_path, 9)
    fake_discord.inject(Fault(kind="drop_before_body", route="execute_webhook", times=2))
    result = await send(tmp_path, destination_for(fake_discord, "webhook"), fake_discord)
    recorded = recorded_hashes(fake_discord)
    assert set(recorded.values()) <= {1}
    by_name = {o.path.name: o for o in result.outcomes}
    for digest, name in hashes.items():
        outcome = by_name[name]
        if outcome.status is FileStatus.DELIVERED:
            assert recorded[digest] == 1
        else:
            assert outcome.status is FileStatus.UNCERTAIN
            assert "may have been posted" in outcome.reason


async def test_a_large_webhook_post_dropped_before_its_body_is_provably_unsent_and_retried(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: Clock
) -> None:
    # 9 MiB cannot fit in loopback socket buffers: the write fails mid-body, which proves the
    # server never held a complete request.
    data = random.Random(3).randbytes(9 * MIB)
    (tmp_path / "clip.mp4").write_bytes(data)
    fake_discord.inject(Fault(kind="drop_before_body", route="execute_webhook"))
    result = await send(tmp_path, destination_for(fake_discord, "webhook"), fake_discord)
    assert result.success, result.message
    assert [m.id for m in fake_discord.messages] == [result.outcomes[0].message_id]
    assert fake_discord.stats.requests == 2  # dropped once, then sent again
    assert recorded_hashes(fake_discord) == Counter([sha256_bytes(data)])


async def test_an_unknown_webhook_stops_the_send_after_one_request(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: Clock
) -> None:
    hashes = make_media(tmp_path, 9)
    url = fake_discord.create_webhook()
    bogus = Webhook(url.rsplit("/", 2)[0] + "/1234/not-a-token")
    result = await send(tmp_path, bogus, fake_discord)
    assert fake_discord.stats.requests == 1  # never used again once Discord said it is gone
    assert fake_discord.messages == []
    assert [o.status for o in result.outcomes] == [FileStatus.FAILED] * len(hashes)
    assert all("upload stopped" in o.reason for o in result.outcomes[4:])
    assert "not-a-token" not in result.message


# --- the client over real sockets -----------------------------------------------------------


async def test_the_fakes_printed_webhook_url_works_as_is_with_a_thread(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: Clock
) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    media = [MediaFile(tmp_path / "a.png", 3, MediaType.IMAGE)]
    channel = fake_discord.create_channel()
    url = fake_discord.create_webhook(channel_id=channel)
    async with open_discord_client(SETTINGS) as client:
        sent = await client.send_files(Webhook(url), media, content="hello")
        await client.edit_message(Webhook(url), sent.id, "edited")
    (message,) = fake_discord.messages
    assert (message.content, message.edits, message.channel_id) == ("edited", 1, channel)
    assert sent.attachments[0].filename == "a.png"


@pytest.mark.fake_discord(file_limit_bytes=2048)
async def test_a_file_over_discords_limit_is_a_typed_error_naming_it(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: Clock
) -> None:
    path = tmp_path / "big.mp4"
    path.write_bytes(b"\0" * 3000)
    async with open_discord_client(SETTINGS, api_base=fake_discord.api_base) as client:
        with pytest.raises(FileTooLargeError) as info:
            await client.send_files(
                destination_for(fake_discord, "channel"), [MediaFile(path, 3000, MediaType.VIDEO)]
            )
    assert info.value.filenames == ("big.mp4",)
    assert fake_discord.messages == []


async def test_an_unknown_webhook_is_not_found_and_not_used_again(
    fake_discord: FakeDiscord, autojump_clock: Clock
) -> None:
    async with open_discord_client(SETTINGS, api_base=fake_discord.api_base) as client:
        url = fake_discord.create_webhook()
        bogus = Webhook(url.rsplit("/", 2)[0] + "/1234/not-a-token")
        with pytest.raises(DestinationNotFoundError):
            await client.send_message(bogus, "hi")
        requests = fake_discord.stats.requests
        with pytest.raises(DestinationNotFoundError):
            await client.send_message(bogus, "again")
        assert fake_discord.stats.requests == requests


@pytest.mark.parametrize(("tier", "at_least"), [(0, 10 * MIB), (2, 50 * MIB), (3, 100 * MIB)])
async def test_the_upload_limit_is_read_from_the_guilds_boost_tier(
    fake_discord: FakeDiscord, tier: int, at_least: int, autojump_clock: Clock
) -> None:
    channel = Channel(fake_discord.create_channel(premium_tier=tier), fake_discord.bot_token)
    async with open_discord_client(SETTINGS, api_base=fake_discord.api_base) as client:
        assert await client.fetch_upload_limit(channel) == at_least
        assert await client.fetch_upload_limit(Webhook(fake_discord.create_webhook())) is None
