"""The whole pipeline over HTTP against the loopback Discord (the shipped fixture): exactly once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from tests._encoder import FakeEncoder
from tests._files import write_random
from uploader import (
    BatchSent,
    Channel,
    FileStatus,
    Settings,
    UploadResult,
    Webhook,
    upload_directory,
)
from uploader.testing import FakeDiscord, Fault

KIB = 1024


def folder(root: Path, n: int, size: int = 30 * KIB) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    return {f"img{i:02d}.png": write_random(root / f"img{i:02d}.png", size + i) for i in range(n)}


def received(fake: FakeDiscord) -> list[tuple[str, str]]:
    return [(a.filename, a.sha256) for m in fake.messages for a in m.attachments]


async def as_bot(fake: FakeDiscord, root: Path, channel: int, **kw: object) -> UploadResult:
    """`upload_directory` into ``channel`` of ``fake`` as its bot, with `settings` (``kw``)."""
    target = Channel(channel, fake.bot_token)
    return await upload_directory(root, target, settings=settings(**kw), api_base=fake.api_base)


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "upload_linger_seconds": 0.05,
        "upload_enable_progress_updates": False,
        "upload_check_media": False,  # random bytes stand in for media here
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


async def test_bot_channel_delivery_is_exactly_once_under_faults(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: object
) -> None:
    hashes = folder(tmp_path / "in", 25)
    channel = fake_discord.create_channel()
    fake_discord.inject(
        Fault("drop_after_body", route="create_message"),  # answer lost after posting
        Fault("status", route="create_message", status=502, after=1),
        Fault("rate_limit_user", route="create_message", retry_after=1.5, after=1),
        Fault("drop_before_body", route="create_message"),
    )
    # counts messages: with a journal its worker threads let the autojump clock end a linger
    result = await as_bot(fake_discord, tmp_path / "in", channel, upload_resume=False)
    assert result.success, result.message
    got = received(fake_discord)
    assert sorted(got) == sorted(hashes.items())  # each file once, bytes intact
    assert len(fake_discord.messages) == 3
    assert fake_discord.pending_faults == ()


async def test_webhook_delivery_never_posts_twice(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: object
) -> None:
    hashes = folder(tmp_path / "in", 12)
    url = fake_discord.create_webhook()
    fake_discord.inject(
        Fault("rate_limit_shared", route="execute_webhook", retry_after=0.5),
        Fault("drop_after_body", route="execute_webhook", after=1),
    )
    result = await upload_directory(
        tmp_path / "in", Webhook(url), settings=settings(), api_base=None
    )
    got = received(fake_discord)
    assert len(got) == len(set(got))  # never twice
    assert set(got) <= set(hashes.items())
    by_status = {s: {o.path.name for o in result.outcomes if o.status is s} for s in FileStatus}
    arrived = {name for name, _ in got}
    assert by_status[FileStatus.DELIVERED] <= arrived  # what we claim arrived did arrive
    # the lost answer: those files did arrive, and we say "uncertain", never "delivered twice"
    assert by_status[FileStatus.UNCERTAIN] and by_status[FileStatus.UNCERTAIN] <= arrived
    assert by_status[FileStatus.DELIVERED] | by_status[FileStatus.UNCERTAIN] == set(hashes)
    assert not result.success


@pytest.mark.fake_discord(request_limit_bytes=700 * KIB)
async def test_over_the_request_cap_the_batches_are_split(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: object
) -> None:
    hashes = folder(tmp_path / "in", 6, size=300 * KIB)
    channel = fake_discord.create_channel()
    # we believe 25 MiB; Discord says no
    result = await as_bot(fake_discord, tmp_path / "in", channel, upload_request_limit_mb=25)
    assert result.success, result.message
    assert sorted(received(fake_discord)) == sorted(hashes.items())
    assert all(sum(a.size for a in m.attachments) <= 700 * KIB for m in fake_discord.messages)


async def test_status_message_is_edited_in_place_and_ends_with_the_summary(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: object
) -> None:
    folder(tmp_path / "in", 3)
    channel = fake_discord.create_channel()
    result = await as_bot(
        fake_discord, tmp_path / "in", channel, upload_enable_progress_updates=True
    )
    assert result.success
    texts = [m for m in fake_discord.messages if not m.attachments]
    assert len(texts) == 1
    assert "3/3 files uploaded" in texts[0].content


async def test_an_unknown_channel_fails_every_file_with_the_reason(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: object
) -> None:
    folder(tmp_path / "in", 4)
    result = await as_bot(fake_discord, tmp_path / "in", 999)
    assert not result.success
    assert len(result.failed) == 4
    assert fake_discord.messages == []
    assert fake_discord.bot_token not in result.message


@pytest.mark.ffmpeg
@pytest.mark.fake_discord(file_limit_bytes=1024 * 1024)
async def test_a_boosted_guild_limit_is_learnt_and_nothing_is_compressed(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    big = root / "big.png"
    digest = write_random(big, 3 * 1024 * 1024)
    channel = fake_discord.create_channel(premium_tier=2)
    result = await as_bot(fake_discord, root, channel, upload_file_limit_mb=1)
    assert result.success, result.message
    assert [a.size for m in fake_discord.messages for a in m.attachments] == [3 * 1024 * 1024]
    assert received(fake_discord) == [("big.png", digest)]  # its own bytes: not compressed


@pytest.mark.fake_discord(file_limit_bytes=150_000)
async def test_a_limit_learnt_from_a_413_is_used_for_every_later_file(
    fake_discord: FakeDiscord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: object,
) -> None:
    """Five 200 KB files against a real 150 KB limit (ours says 10 MiB), one per message: the
    first 413 teaches the limit, so the other four are compressed before they are sent."""
    encoder = FakeEncoder().install(monkeypatch)
    root = tmp_path / "in"
    root.mkdir()
    for i in range(5):
        (root / f"clip{i}.mp4").write_bytes(os.urandom(200_000))
    channel = fake_discord.create_channel()
    result = await as_bot(fake_discord, root, channel, upload_max_files_per_batch=1)
    assert result.success, result.message
    assert fake_discord.stats.responses_by_status.get(413) == 1
    assert sorted(p.name for p, _ in encoder.encodes) == [f"clip{i}.mp4" for i in range(5)]
    assert all(a.size <= 150_000 for m in fake_discord.messages for a in m.attachments)
    assert len(fake_discord.messages) == 5


async def test_a_guild_limit_below_the_users_is_used_up_front_and_said_once(
    fake_discord: FakeDiscord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: object,
) -> None:
    """A 10 MiB guild and a user limit of 100 MiB: the guild's limit is the run's from the
    start, so the big clip is encoded once, for 10 MiB, and Discord never answers 413."""
    from uploader.progress import LineReporter

    encoder = FakeEncoder().install(monkeypatch)
    root = tmp_path / "in"
    root.mkdir()
    (root / "clip.mp4").write_bytes(os.urandom(12 * 1024 * 1024))
    channel = fake_discord.create_channel(premium_tier=0)
    lines: list[str] = []
    result = await upload_directory(
        root,
        Channel(channel, fake_discord.bot_token),
        settings=settings(upload_file_limit_mb=100),
        api_base=fake_discord.api_base,
        progress=LineReporter(lines.append),
    )
    assert result.success, result.message
    assert fake_discord.stats.responses_by_status.get(413) is None
    assert [target for _, target in encoder.encodes] == [encoder.encodes[0][1]]
    assert encoder.encodes[0][1] <= 10 * 1024 * 1024
    said = [line for line in lines if "this server takes files up to 10" in line]
    assert len(said) == 1, lines


async def test_a_cancelled_run_leaves_its_status_message_saying_it_stopped(
    fake_discord: FakeDiscord, tmp_path: Path, autojump_clock: object
) -> None:
    folder(tmp_path / "in", 3)
    channel = fake_discord.create_channel()
    target = Channel(channel, fake_discord.bot_token)
    kw = settings(upload_enable_progress_updates=True, upload_max_files_per_batch=1)
    with trio.CancelScope() as scope:

        def cancel_after_the_first_file(event: object) -> None:
            if isinstance(event, BatchSent):
                scope.cancel()

        await upload_directory(
            tmp_path / "in",
            target,
            settings=kw,
            api_base=fake_discord.api_base,
            progress=cancel_after_the_first_file,
        )
    assert scope.cancelled_caught
    texts = [m for m in fake_discord.messages if not m.attachments]
    assert len(texts) == 1
    assert texts[0].content.startswith("⏹️ Stopped: 1/3 files uploaded"), texts[0].content
