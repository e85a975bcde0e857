"""Rate-limit throughput: how close `uploader send`'s pipeline runs to Discord's limits, 429-free.

Delivers folders of tiny files through one `UploadPipeline` (what ``uploader send`` runs: one
HTTP client and rate limiter shared by every upload) to the loopback fake with Discord-like
limits (5 per 2 s per webhook, 5 per 5 s per channel, 50/s global per bot token), one message per
file (``upload_max_files_per_batch=1``) and no status message, with several uploads running at
once per destination. Prints, per scenario, the achieved messages/s, the share of the best
schedule the limits allow (goal ≥ 95%) and the 429s the fake had to send (goal 0).

The best schedule of a bucket spends its whole window at once, then waits for each reset; the
global limit's best schedule is 50 requests in every second (the limiter paces them, with a
small burst credit and a 50 ms safety margin on the window), counting every bot request,
including the reads with which a pipeline learns each channel's upload limit (once per
channel). Real clock; each scenario takes 10-20 s.

Usage: ``python benchmarks/ratelimit.py [--quick]``
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from uploader import BatchSent, Channel, ProgressEvent, Settings, Webhook, open_upload_pipeline
from uploader.testing import FakeDiscord, open_fake_discord

WEBHOOK_LIMIT = (5, 2.0)
CHANNEL_LIMIT = (5, 5.0)
GLOBAL_LIMIT = 50

SETTINGS = Settings(upload_max_files_per_batch=1, upload_enable_progress_updates=False)


def ideal_seconds(messages: int, limit: int, window: float) -> float:
    """The least time from the first to the last send: full bucket, then one window per batch."""
    return (math.ceil(messages / limit) - 1) * window


def make_folder(root: Path, files: int) -> Path:
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"dot{i:03}.png").write_bytes(b"\x89PNG tiny %d" % i)
    return root


async def run_scenario(
    name: str,
    destinations: Sequence[Webhook | Channel],
    per_destination: int,
    ideal: Callable[[int], float],
    limit_rate: float,
    fake: FakeDiscord,
    scratch: Path,
    uploads_per_destination: int = 3,
) -> tuple[str, int, float, float, float, int]:
    """Send ``per_destination`` files to each destination, split over concurrent uploads.

    ``ideal`` maps the number of requests the fake saw to the best possible span.
    """
    before = fake.stats  # a snapshot
    done_at: list[float] = []
    failed: list[str] = []

    def progress(event: ProgressEvent) -> None:
        if isinstance(event, BatchSent):
            done_at.append(time.perf_counter())

    jobs = []
    for d, destination in enumerate(destinations):
        share, extra = divmod(per_destination, uploads_per_destination)
        for i in range(uploads_per_destination):
            count = share + (i < extra)
            if count:
                folder = make_folder(scratch / name.replace(" ", "_") / f"{d}-{i}", count)
                jobs.append((folder, destination))

    async with open_upload_pipeline(SETTINGS, api_base=fake.api_base) as pipeline:

        async def upload(folder: Path, destination: Webhook | Channel) -> None:
            result = await pipeline.upload(folder, destination, progress=progress)
            failed.extend(o.reason for o in result.failed)

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for folder, destination in jobs:
                nursery.start_soon(upload, folder, destination)
        finished = time.perf_counter()
    if failed:
        raise SystemExit(f"{name}: {len(failed)} files not delivered, e.g. {failed[0]}")
    total = per_destination * len(destinations)
    assert len(done_at) == total, (len(done_at), total)
    # Time from the start to the last answer, against the best schedule the limits allow.
    span = max(done_at) - start
    after = fake.stats
    best = ideal(after.requests - before.requests)
    share_of_ideal = best / span if span > 0 else 1.0
    rate = total / (finished - start)
    rate_limited = sum(after.rate_limited_by_scope.values()) - sum(
        before.rate_limited_by_scope.values()
    )
    return name, total, rate, limit_rate, share_of_ideal, rate_limited


async def main(quick: bool) -> None:
    scale = 0.5 if quick else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        async with open_fake_discord(
            webhook_limit=WEBHOOK_LIMIT, channel_limit=CHANNEL_LIMIT, global_limit=GLOBAL_LIMIT
        ) as fake:
            rows = []
            n = int(50 * scale)  # 5 per 2 s: 18 s for 50
            rows.append(
                await run_scenario(
                    "one webhook (5 / 2 s)",
                    [Webhook(fake.create_webhook())],
                    n,
                    lambda _: ideal_seconds(n, *WEBHOOK_LIMIT),
                    WEBHOOK_LIMIT[0] / WEBHOOK_LIMIT[1],
                    fake,
                    scratch,
                )
            )
            m = int(20 * scale)  # 5 per 5 s: 15 s for 20
            rows.append(
                await run_scenario(
                    "one channel (5 / 5 s)",
                    [Channel(fake.create_channel(), fake.bot_token)],
                    m,
                    lambda _: ideal_seconds(m, *CHANNEL_LIMIT),
                    CHANNEL_LIMIT[0] / CHANNEL_LIMIT[1],
                    fake,
                    scratch,
                )
            )
            channels = [Channel(fake.create_channel(), fake.bot_token) for _ in range(100)]
            # 500 messages (and 200 reads) in one burst window per channel: the global 50/s
            # decides; every bot request counts, evenly paced at the limit at best.
            rows.append(
                await run_scenario(
                    "100 channels (global 50/s)",
                    channels,
                    5,
                    lambda requests: (requests - 1) / GLOBAL_LIMIT,
                    GLOBAL_LIMIT,
                    fake,
                    scratch,
                    uploads_per_destination=1,
                )
            )
            delivered = sum(1 for m in fake.messages if m.attachments)
    print(f"{'scenario':<28} {'msgs':>5} {'msg/s':>7} {'limit/s':>8} {'of ideal':>9} {'429s':>5}")
    for name, total, rate, limit_rate, share, limited in rows:
        print(f"{name:<28} {total:>5} {rate:>7.2f} {limit_rate:>8.2f} {share:>8.1%} {limited:>5}")
    print(f"messages recorded by the fake: {delivered}")
    ok = all(share >= 0.95 and limited == 0 for *_, share, limited in rows)
    print("goal (>= 95% of ideal, 0 unsolicited 429s):", "OK" if ok else "MISSED")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="half the messages")
    trio.run(main, parser.parse_args().quick)
    sys.exit(0)
