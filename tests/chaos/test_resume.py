"""Resume, in-process: a second run finishes what the first left, and sends nothing twice.

The library form of `uploader send` run again (`upload_directory(..., resume=True)`, with
``resend_uncertain`` as journal-api.md proposes), over the loopback Discord under MockClock.
A first run is interrupted by cancelling it at the moment the fake records a message (its
answer not yet sent): the in-process twin of the SIGKILL in test_crash.py. These are
(They were xfail(strict) until the journal was wired in.)
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import pytest
import trio

from uploader import Channel, FileStatus, Settings, UploadResult, Webhook, upload_directory
from uploader.testing import FakeDiscord, Fault, RecordedMessage, open_fake_discord

SETTINGS = Settings(
    upload_linger_seconds=0.05,
    upload_max_files_per_batch=2,
    upload_enable_progress_updates=False,
)


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def make_folder(folder: Path, count: int = 9) -> dict[str, str]:
    folder.mkdir()
    hashes = {}
    for i in range(count):
        data = f"m{i:03d}".encode() + os.urandom(500 + i)
        (folder / f"m{i:03d}.png").write_bytes(data)
        hashes[f"m{i:03d}.png"] = hashlib.sha256(data).hexdigest()
    return hashes


def held(fake: FakeDiscord) -> Counter[str]:
    return Counter(a.sha256 for m in fake.messages for a in m.attachments)


async def send(
    folder: Path,
    fake: FakeDiscord,
    destination: Channel | Webhook,
    *,
    resend_uncertain: bool = False,
) -> UploadResult:
    api_base = fake.api_base if isinstance(destination, Channel) else None
    return await upload_directory(  # type: ignore[call-arg]
        folder,
        destination,
        settings=SETTINGS,
        api_base=api_base,
        resume=True,
        resend_uncertain=resend_uncertain,
    )


@pytest.mark.parametrize("kind", ["bot", "webhook"])
async def test_a_second_send_of_the_same_folder_sends_nothing(
    tmp_path: Path, kind: str, autojump_clock: object
) -> None:
    hashes = make_folder(tmp_path / "in")
    async with open_fake_discord() as fake:
        destination: Channel | Webhook = (
            Channel(fake.create_channel(), fake.bot_token)
            if kind == "bot"
            else Webhook(fake.create_webhook())
        )
        first = await send(tmp_path / "in", fake, destination)
        requests = fake.stats.requests
        second = await send(tmp_path / "in", fake, destination)
        assert fake.stats.requests == requests  # not one create, nor an edit
        assert held(fake) == Counter(hashes.values())
    assert first.success and second.success
    ids = {o.path: (o.message_id, o.attachments) for o in first.outcomes}
    assert {o.path: (o.message_id, o.attachments) for o in second.outcomes} == ids


@pytest.mark.parametrize("at_message", [1, 2, 4])
async def test_a_run_cancelled_between_the_post_and_its_answer_is_finished_once(
    tmp_path: Path, at_message: int, autojump_clock: object
) -> None:
    hashes = make_folder(tmp_path / "in")
    cancel = trio.CancelScope()
    recorded: list[RecordedMessage] = []

    def on_message(message: RecordedMessage) -> None:
        recorded.append(message)
        if len(recorded) == at_message:
            cancel.cancel()  # the message is in the channel; its answer never reaches us

    async with open_fake_discord(on_message=on_message) as fake:
        destination = Channel(fake.create_channel(), fake.bot_token)
        with cancel:
            await send(tmp_path / "in", fake, destination)
        assert cancel.cancelled_caught
        result = await send(tmp_path / "in", fake, destination)
        assert held(fake) == Counter(hashes.values())
    assert result.success, result.message
    assert {o.status for o in result.outcomes} == {FileStatus.DELIVERED}


async def test_an_uncertain_webhook_post_is_sent_again_only_when_asked(
    tmp_path: Path, autojump_clock: object
) -> None:
    hashes = make_folder(tmp_path / "in")
    async with open_fake_discord() as fake:
        destination = Webhook(fake.create_webhook())
        fake.inject(Fault("status", route="execute_webhook", status=502, after=1))
        first = await send(tmp_path / "in", fake, destination)
        uncertain = {o.path for o in first.outcomes if o.status is FileStatus.UNCERTAIN}
        assert uncertain and not first.success
        messages = len(fake.messages)
        again = await send(tmp_path / "in", fake, destination)
        assert len(fake.messages) == messages  # never re-posted unless asked
        assert {o.path for o in again.outcomes if o.status is FileStatus.UNCERTAIN} == uncertain
        asked = await send(tmp_path / "in", fake, destination, resend_uncertain=True)
        assert asked.success, asked.message
        # the 502 came before recording here, so once re-posted each file is there once
        assert held(fake) == Counter(hashes.values())
