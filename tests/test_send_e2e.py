"""End to end over the loopback fake Discord: every file arrives exactly once, faults or not.

Real sockets, so the real clock: injected 429s ask for tens of milliseconds, and the client's
backoff is made instant, to keep the suite fast.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from uploader import MIB, MediaFile, MediaType, Settings
from uploader.cli import main
from uploader.discord import (
    Channel,
    DestinationNotFoundError,
    DiscordClient,
    FileTooLargeError,
    Webhook,
    open_discord_client,
)
from uploader.discord import _cli as discord_cli
from uploader.discord._cli import DELIVERED, FAILED, SendReport, send_directory
from uploader.testing import Fault, open_fake_discord

FAST_SETTINGS = Settings(upload_max_files_per_batch=4)


def make_media(directory: Path, count: int, seed: int = 7) -> dict[str, str]:
    """``count`` files of random bytes; returns sha256 → name."""
    rng = random.Random(seed)
    hashes = {}
    for i in range(count):
        data = rng.randbytes(rng.randint(1, 150_000))
        path = directory / f"{i:03}.{rng.choice(['jpg', 'png', 'mp4', 'mp3'])}"
        path.write_bytes(data)
        hashes[hashlib.sha256(data).hexdigest()] = path.name
    return hashes


def recorded_hashes(fake: Any) -> Counter[str]:
    return Counter(a.sha256 for m in fake.messages for a in m.attachments)


@asynccontextmanager
async def client_on(fake: Any) -> AsyncIterator[DiscordClient]:
    async with open_discord_client(FAST_SETTINGS, api_base=fake.api_base) as client:
        client._random = lambda: 0.0  # instant backoff
        yield client


async def send(directory: Path, destination: Any, fake: Any) -> SendReport:
    async with client_on(fake) as client:
        return await send_directory(directory, destination, FAST_SETTINGS, client=client)


def destination_for(fake: Any, kind: str) -> Channel | Webhook:
    if kind == "channel":
        return Channel(fake.create_channel(), fake.bot_token)
    return Webhook(fake.create_webhook())


@pytest.mark.parametrize("kind", ["channel", "webhook"])
async def test_every_file_arrives_exactly_once_with_its_bytes(tmp_path: Path, kind: str) -> None:
    hashes = make_media(tmp_path, 11)
    async with open_fake_discord() as fake:
        report = await send(tmp_path, destination_for(fake, kind), fake)
        assert recorded_hashes(fake) == Counter(hashes.keys())
        assert report.complete
        recorded_ids = {m.id for m in fake.messages}
        assert {o.message_id for o in report.outcomes} == recorded_ids
        if kind == "channel":
            assert all(m.nonce for m in fake.messages)
        else:
            assert all(m.webhook_id for m in fake.messages)


BOT_FAULTS = [
    Fault(kind="drop_after_body", route="create_message", times=2),
    Fault(kind="drop_before_body", route="create_message", times=2),
    *(
        Fault(kind="status", status=s, route="create_message", times=2)
        for s in (500, 502, 503, 504, 524)
    ),
    *(
        Fault(kind=f"rate_limit_{scope}", route="create_message", times=2, retry_after=0.05)
        for scope in ("user", "global", "shared")
    ),
]


@pytest.mark.parametrize("fault", BOT_FAULTS, ids=lambda f: f"{f.kind}-{f.status}")
async def test_the_bot_path_delivers_exactly_once_through_faults(
    tmp_path: Path, fault: Fault
) -> None:
    hashes = make_media(tmp_path, 9)
    async with open_fake_discord() as fake:
        fake.inject(fault)
        report = await send(tmp_path, destination_for(fake, "channel"), fake)
        assert recorded_hashes(fake) == Counter(hashes.keys())
        assert report.complete, report.outcomes


SAFE_WEBHOOK_FAULTS = [
    Fault(kind="status", status=503, route="execute_webhook", times=2),
    *(
        Fault(kind=f"rate_limit_{scope}", route="execute_webhook", times=2, retry_after=0.05)
        for scope in ("user", "global", "shared")
    ),
]
UNSAFE_WEBHOOK_FAULTS = [
    Fault(kind="drop_after_body", route="execute_webhook"),
    *(Fault(kind="status", status=s, route="execute_webhook") for s in (500, 502, 504, 524)),
]


@pytest.mark.parametrize("fault", SAFE_WEBHOOK_FAULTS, ids=lambda f: f"{f.kind}-{f.status}")
async def test_a_webhook_retries_what_provably_did_not_post(tmp_path: Path, fault: Fault) -> None:
    hashes = make_media(tmp_path, 9)
    async with open_fake_discord() as fake:
        fake.inject(fault)
        report = await send(tmp_path, destination_for(fake, "webhook"), fake)
        assert recorded_hashes(fake) == Counter(hashes.keys())
        assert report.complete


@pytest.mark.parametrize("fault", UNSAFE_WEBHOOK_FAULTS, ids=lambda f: f"{f.kind}-{f.status}")
async def test_a_webhook_never_posts_twice_and_reports_what_is_uncertain(
    tmp_path: Path, fault: Fault
) -> None:
    hashes = make_media(tmp_path, 9)
    async with open_fake_discord() as fake:
        fake.inject(fault)
        report = await send(tmp_path, destination_for(fake, "webhook"), fake)
        recorded = recorded_hashes(fake)
        assert set(recorded.values()) <= {1}
        assert set(recorded) <= set(hashes)
        by_name = {o.path.name: o for o in report.outcomes}
        failed = [o for o in report.outcomes if o.status == FAILED]
        assert 1 <= len(failed) <= 4  # one batch hit by the fault
        assert all("may have been posted" in (o.reason or "") for o in failed)
        for digest, name in hashes.items():
            if by_name[name].status == DELIVERED:
                assert recorded[digest] == 1
        if fault.kind == "drop_after_body":
            assert recorded == Counter(hashes.keys())  # posted once, answer lost


async def test_a_webhook_dropped_before_its_body_is_retried_or_reported_never_doubled(
    tmp_path: Path,
) -> None:
    # Whether the client can prove the body did not go out depends on the socket buffers:
    # a write error mid-body proves it (retry); a body that fit in the buffers does not.
    hashes = make_media(tmp_path, 9)
    async with open_fake_discord() as fake:
        fake.inject(Fault(kind="drop_before_body", route="execute_webhook", times=2))
        report = await send(tmp_path, destination_for(fake, "webhook"), fake)
        recorded = recorded_hashes(fake)
        assert set(recorded.values()) <= {1}
        by_name = {o.path.name: o for o in report.outcomes}
        for digest, name in hashes.items():
            outcome = by_name[name]
            if outcome.status == DELIVERED:
                assert recorded[digest] == 1
            else:
                assert "may have been posted" in (outcome.reason or "")


async def test_the_fakes_printed_webhook_url_works_as_is_with_a_thread(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    media = [MediaFile(tmp_path / "a.png", 3, MediaType.IMAGE)]
    async with open_fake_discord() as fake:
        channel = fake.create_channel()
        url = fake.create_webhook(channel_id=channel)
        async with open_discord_client(FAST_SETTINGS) as client:
            sent = await client.send_files(Webhook(url), media, content="hello")
            await client.edit_message(Webhook(url), sent.id, "edited")
        (message,) = fake.messages
        assert (message.content, message.edits, message.channel_id) == ("edited", 1, channel)
        assert sent.attachments[0].filename == "a.png"


async def test_a_file_over_discords_limit_is_a_typed_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "big.mp4"
    path.write_bytes(b"\0" * 3000)
    async with open_fake_discord(file_limit_bytes=2048) as fake, client_on(fake) as client:
        with pytest.raises(FileTooLargeError) as info:
            await client.send_files(
                destination_for(fake, "channel"), [MediaFile(path, 3000, MediaType.VIDEO)]
            )
        assert info.value.filenames == ("big.mp4",)
        assert fake.messages == []


async def test_an_unknown_webhook_is_not_found_and_not_used_again(tmp_path: Path) -> None:
    async with open_fake_discord() as fake, client_on(fake) as client:
        url = fake.create_webhook()
        bogus = Webhook(url.rsplit("/", 2)[0] + "/1234/not-a-token")
        with pytest.raises(DestinationNotFoundError):
            await client.send_message(bogus, "hi")
        requests = fake.stats.requests
        with pytest.raises(DestinationNotFoundError):
            await client.send_message(bogus, "again")
        assert fake.stats.requests == requests


async def test_uploader_send_delivers_a_directory_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The registered `uploader send` (now the full pipeline): exit code, JSON, no secrets, and
    # the fake's printed webhook URL works as is.
    hashes = make_media(tmp_path, 6)
    async with open_fake_discord() as fake:
        channel = fake.create_channel()
        monkeypatch.setenv("DISCORD_TOKEN", fake.bot_token)
        argv = ["send", str(tmp_path), "--channel", str(channel), "--api-base", fake.api_base]
        code = await trio.to_thread.run_sync(main, [*argv, "--json"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert json.loads(captured.out)["delivered"] == 6
        assert recorded_hashes(fake) == Counter(hashes.keys())
        assert fake.bot_token not in captured.out + captured.err

        url = fake.create_webhook(channel_id=channel)
        code = await trio.to_thread.run_sync(main, ["send", str(tmp_path), "--webhook", url])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert recorded_hashes(fake) == Counter(2 * list(hashes.keys()))
        assert url.rsplit("/", 1)[1] not in captured.out + captured.err


async def test_the_simple_send_command_skips_what_is_over_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # uploader.discord._cli's own command: batches through DiscordClient, no compression.
    hashes = make_media(tmp_path, 6)
    with (tmp_path / "huge.mp4").open("wb") as f:
        f.truncate(11 * MIB)
    parser = argparse.ArgumentParser()
    discord_cli.register(parser.add_subparsers())
    async with open_fake_discord() as fake:
        channel = fake.create_channel()
        monkeypatch.setenv("DISCORD_TOKEN", fake.bot_token)
        argv = ["send", str(tmp_path), "--channel", str(channel), "--api-base", fake.api_base]
        args = parser.parse_args([*argv, "--json"])
        code = await trio.to_thread.run_sync(args.func, args)
        captured = capsys.readouterr()
        assert code == 1  # huge.mp4 was skipped
        report = json.loads(captured.out)
        assert (report["delivered"], report["skipped"], report["messages"]) == (6, 1, 1)
        assert recorded_hashes(fake) == Counter(hashes.keys())
        assert captured.err.count("\n") == 1  # one progress line per message
        assert fake.bot_token not in captured.out + captured.err


async def test_a_large_webhook_post_dropped_before_its_body_is_provably_unsent_and_retried(
    tmp_path: Path,
) -> None:
    # 9 MiB cannot fit in loopback socket buffers: the write fails mid-body, which proves the
    # server never held a complete request.
    data = random.Random(3).randbytes(9 * MIB)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    media = [MediaFile(path, len(data), MediaType.VIDEO)]
    async with open_fake_discord() as fake, client_on(fake) as client:
        fake.inject(Fault(kind="drop_before_body", route="execute_webhook"))
        sent = await client.send_files(destination_for(fake, "webhook"), media)
        assert [m.id for m in fake.messages] == [sent.id]
        assert fake.stats.requests == 2  # dropped once, then sent again
        assert recorded_hashes(fake) == Counter([hashlib.sha256(data).hexdigest()])


@pytest.mark.parametrize(("tier", "at_least"), [(0, 10 * MIB), (2, 50 * MIB), (3, 100 * MIB)])
async def test_the_upload_limit_is_read_from_the_guilds_boost_tier(
    tier: int, at_least: int
) -> None:
    async with open_fake_discord() as fake, client_on(fake) as client:
        channel = Channel(fake.create_channel(premium_tier=tier), fake.bot_token)
        assert await client.fetch_upload_limit(channel) == at_least
        assert await client.fetch_upload_limit(Webhook(fake.create_webhook())) is None
