"""Outages cost time, not files: retries bounded by a deadline, and honest when it passes."""

from __future__ import annotations

import itertools
from pathlib import Path

import trio

from tests.test_pipeline_discord import folder, received, settings
from uploader import Channel, DiscordUnavailable, FileStatus, Webhook, upload_directory
from uploader.progress import LineReporter
from uploader.testing import FakeDiscord, Fault, open_fake_discord

OUTAGE_SECONDS = 20.0
FAILED_ATTEMPTS = 24
"""Requests an outage fails: with full-jitter backoff (capped at 10 s) they span 20 s but for
~1 in 10^11 draws, and stay inside the 180 s deadline but for ~1 in 10^9; the test measures
the span on the fake's side, so it cannot pass on a short outage."""


async def outage(fake: FakeDiscord, route: str, *, after_messages: int, requests: int) -> None:
    """Once ``after_messages`` exist, the next ``requests`` requests fail: one answer lost
    after the message was recorded, one connection dropped, then 503s.

    Ended by a count, not a timer: the autojump clock leaps to the next timer whenever every
    task waits (on a socket or a worker thread too), so a timed outage could end at once.
    """
    await fake.wait_for_messages(after_messages)
    fake.inject(
        Fault("drop_after_body", route=route),  # type: ignore[arg-type]
        Fault("drop_before_body", route=route),  # type: ignore[arg-type]
        Fault("status", route=route, status=503, times=requests - 2),  # type: ignore[arg-type]
    )


def longest_gap(fake: FakeDiscord) -> float:
    times = sorted({m.created_at for m in fake.messages})
    return max(b - a for a, b in itertools.pairwise(times))


async def test_a_20_second_outage_mid_run_costs_only_time_on_the_bot_path(
    tmp_path: Path, autojump_clock: object
) -> None:
    hashes = folder(tmp_path / "in", 40)
    events: list[object] = []
    async with open_fake_discord() as fake, trio.open_nursery() as nursery:
        channel = fake.create_channel()
        nursery.start_soon(
            lambda: outage(fake, "create_message", after_messages=1, requests=FAILED_ATTEMPTS)
        )
        result = await upload_directory(
            tmp_path / "in",
            Channel(channel, fake.bot_token),
            settings=settings(upload_max_files_per_batch=5),
            api_base=fake.api_base,
            progress=events.append,
        )
    assert result.success, result.message
    assert sorted(received(fake)) == sorted(hashes.items())  # each file once
    assert longest_gap(fake) >= OUTAGE_SECONDS  # nothing got through for 20 s
    assert fake.pending_faults == ()
    waits = [e for e in events if isinstance(e, DiscordUnavailable)]
    assert len(waits) == FAILED_ATTEMPTS  # one notice per failed attempt
    assert fake.stats.client_caused_429s == 0


async def test_a_20_second_outage_costs_only_time_on_the_webhook_path(
    tmp_path: Path, autojump_clock: object
) -> None:
    hashes = folder(tmp_path / "in", 30)
    async with open_fake_discord() as fake, trio.open_nursery() as nursery:
        url = fake.create_webhook()

        async def refuse() -> None:  # a webhook outage that provably posts nothing: 503s
            await fake.wait_for_messages(1)
            fake.inject(Fault("status", route="execute_webhook", status=503, times=FAILED_ATTEMPTS))

        nursery.start_soon(refuse)
        result = await upload_directory(
            tmp_path / "in", Webhook(url), settings=settings(upload_max_files_per_batch=5)
        )
    assert result.success, result.message
    assert sorted(received(fake)) == sorted(hashes.items())
    assert longest_gap(fake) >= OUTAGE_SECONDS


async def test_past_the_deadline_the_run_stops_and_names_every_file_truly(
    tmp_path: Path, autojump_clock: object
) -> None:
    folder(tmp_path / "in", 20)
    lines: list[str] = []
    async with open_fake_discord() as fake, trio.open_nursery() as nursery:
        channel = fake.create_channel()
        nursery.start_soon(
            lambda: outage(fake, "create_message", after_messages=1, requests=1_000_000)
        )
        result = await upload_directory(
            tmp_path / "in",
            Channel(channel, fake.bot_token),
            settings=settings(upload_max_files_per_batch=5, upload_retry_deadline_seconds=60),
            api_base=fake.api_base,
            progress=LineReporter(lines.append),
            resume=False,  # counts files per message (see test_journal_wiring.py for the journal)
        )
    assert not result.success
    by_status = {s: [o for o in result.outcomes if o.status is s] for s in FileStatus}
    delivered = {a.filename for m in fake.messages for a in m.attachments}
    assert {o.path.name for o in by_status[FileStatus.DELIVERED]} == set(delivered) - {
        o.path.name for o in by_status[FileStatus.UNCERTAIN]
    }
    # the batch whose answer was lost after posting is uncertain, never "failed"
    uncertain = by_status[FileStatus.UNCERTAIN]
    assert len(uncertain) == 5
    assert {o.path.name for o in uncertain} <= delivered
    for o in by_status[FileStatus.FAILED]:
        assert o.path.name not in delivered
        assert "upload stopped" in (o.reason or "")
        assert "Discord unavailable for" in (o.reason or "")
    assert len(by_status[FileStatus.FAILED]) == 10
    assert any(line.startswith("Discord unavailable, retrying in ") for line in lines)
