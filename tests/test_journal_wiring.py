"""Resume: a second run sends only what the journal does not show delivered, never twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from tests._encoder import FakeEncoder
from tests._memory import MemoryDestination, small_settings
from tests.test_pipeline_discord import folder, received, settings
from uploader import Channel, FileCompressed, FileStatus, Webhook, upload_directory
from uploader.testing import FakeDiscord, Fault, open_fake_discord


def state_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def bot_send(fake: FakeDiscord, channel: int, directory: Path, **kw: object):  # type: ignore[no-untyped-def]
    return await upload_directory(
        directory,
        Channel(channel, fake.bot_token),
        settings=kw.pop("settings", settings(upload_max_files_per_batch=4)),  # type: ignore[arg-type]
        api_base=fake.api_base,
        **kw,  # type: ignore[arg-type]
    )


async def test_a_second_run_sends_nothing_and_reports_the_first_runs_ids(
    tmp_path: Path, autojump_clock: object
) -> None:
    hashes = folder(tmp_path / "in", 9)
    async with open_fake_discord() as fake:
        channel = fake.create_channel()
        first = await bot_send(fake, channel, tmp_path / "in")
        count = len(fake.messages)
        second = await bot_send(fake, channel, tmp_path / "in")
    assert first.success and second.success
    assert len(fake.messages) == count  # nothing sent the second time
    assert sorted(received(fake)) == sorted(hashes.items())
    ids = {o.path: (o.message_id, o.attachments) for o in first.outcomes}
    assert {o.path: (o.message_id, o.attachments) for o in second.outcomes} == ids
    assert second.message.startswith("✅ Nothing to send: 9 files already delivered")
    assert second.metadata["already_delivered"] == 9


async def test_only_new_and_changed_files_are_sent_again(
    tmp_path: Path, autojump_clock: object
) -> None:
    folder(tmp_path / "in", 4)
    async with open_fake_discord() as fake:
        url = fake.create_webhook()
        await upload_directory(tmp_path / "in", Webhook(url), settings=settings())
        (tmp_path / "in" / "img01.png").write_bytes(os.urandom(5000))  # changed
        (tmp_path / "in" / "new.png").write_bytes(os.urandom(4000))  # new
        before = len(received(fake))
        result = await upload_directory(tmp_path / "in", Webhook(url), settings=settings())
    assert result.success
    assert sorted(name for name, _ in received(fake)[before:]) == ["img01.png", "new.png"]
    assert result.metadata["already_delivered"] == 3


async def test_fresh_sends_everything_again(tmp_path: Path, autojump_clock: object) -> None:
    folder(tmp_path / "in", 3)
    async with open_fake_discord() as fake:
        url = fake.create_webhook()
        await upload_directory(tmp_path / "in", Webhook(url), settings=settings())
        await upload_directory(tmp_path / "in", Webhook(url), settings=settings(), fresh=True)
    assert len(received(fake)) == 6


async def test_an_uncertain_bot_batch_is_resent_with_its_nonce_and_posted_once(
    tmp_path: Path, autojump_clock: object
) -> None:
    hashes = folder(tmp_path / "in", 8)
    async with open_fake_discord() as fake:
        channel = fake.create_channel()
        # the first message is posted but its answer lost; then Discord is down past the
        # deadline: the run stops with that batch uncertain
        fake.inject(
            Fault("drop_after_body", route="create_message"),
            Fault("status", route="create_message", status=503, times=1_000_000),
        )
        tight = settings(upload_max_files_per_batch=4, upload_retry_deadline_seconds=30)
        first = await bot_send(fake, channel, tmp_path / "in", settings=tight)
        assert not first.success
        assert FileStatus.UNCERTAIN in {o.status for o in first.outcomes}
        fake.clear_faults()
        second = await bot_send(fake, channel, tmp_path / "in")
    assert second.success, second.message
    assert sorted(received(fake)) == sorted(hashes.items())  # each file once
    nonces = [m.nonce for m in fake.messages]
    assert len(nonces) == len(set(nonces))


async def test_an_uncertain_webhook_batch_stays_uncertain_unless_asked(
    tmp_path: Path, autojump_clock: object
) -> None:
    folder(tmp_path / "in", 3)
    async with open_fake_discord() as fake:
        url = fake.create_webhook()
        fake.inject(Fault("drop_after_body", route="execute_webhook", times=10))
        await upload_directory(tmp_path / "in", Webhook(url), settings=settings())
        posted = len(fake.messages)
        fake.clear_faults()
        again = await upload_directory(tmp_path / "in", Webhook(url), settings=settings())
        assert len(fake.messages) == posted  # never re-posted unasked
        assert FileStatus.UNCERTAIN in {o.status for o in again.outcomes}
        asked = await upload_directory(
            tmp_path / "in", Webhook(url), settings=settings(), resend_uncertain=True
        )
    assert asked.success


async def test_no_token_and_no_webhook_url_in_a_journal(
    tmp_path: Path, autojump_clock: object
) -> None:
    folder(tmp_path / "in", 2)
    state = Path(os.environ["XDG_STATE_HOME"])
    async with open_fake_discord() as fake:
        url = fake.create_webhook()
        channel = fake.create_channel()
        await upload_directory(tmp_path / "in", Webhook(url), settings=settings())
        await bot_send(fake, channel, tmp_path / "in")
        token, hook_token = fake.bot_token, url.rstrip("/").rsplit("/", 1)[1]
    journals = [p for p in state_files(state) if p.suffix == ".jsonl"]
    assert len(journals) == 2
    for journal in journals:
        text = journal.read_text()
        assert token not in text and hook_token not in text and url not in text


async def test_a_custom_destination_has_no_journal(tmp_path: Path) -> None:
    folder(tmp_path / "in", 2)
    dest = MemoryDestination()
    await upload_directory(tmp_path / "in", dest, settings=small_settings(tmp_path))
    await upload_directory(tmp_path / "in", dest, settings=small_settings(tmp_path))
    assert len(dest.received) == 4  # sent twice: nothing remembers it
    assert state_files(Path(os.environ["XDG_STATE_HOME"])) == []


async def test_stand_ins_survive_a_cancelled_run_and_are_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    encoder = FakeEncoder(seconds=1.0, out_bytes=60_000).install(monkeypatch)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "clip.mp4").write_bytes(os.urandom(400_000))
    async with open_fake_discord(file_limit_bytes=200_000) as fake:
        url = fake.create_webhook()
        over = settings(upload_file_limit_mb=0.19)
        with trio.CancelScope() as interrupted:  # Ctrl-C once the stand-in is made

            def interrupt(event: object) -> None:
                if isinstance(event, FileCompressed):
                    interrupted.cancel()

            await upload_directory(tmp_path / "in", Webhook(url), settings=over, progress=interrupt)
        assert fake.messages == [] and len(encoder.encodes) == 1
        result = await upload_directory(tmp_path / "in", Webhook(url), settings=over)
    assert result.success, result.message
    assert len(encoder.encodes) == 1  # not encoded again: the journal's stand-in was reused
    assert [len(m.attachments) for m in fake.messages] == [1]
    assert result.workdir is None  # removed after full success
