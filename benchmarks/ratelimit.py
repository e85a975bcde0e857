"""Rate-limit throughput: how close `DiscordClient` runs to Discord's limits without a 429.

Sends many one-tiny-file messages through the loopback fake with Discord-like limits (5 per 2 s
per webhook, 5 per 5 s per channel, 50/s global per bot token) from several concurrent tasks,
and prints, per scenario, the achieved messages/s, the share of the best schedule the limits
allow (goal ≥ 95%) and the 429s the fake had to send (goal 0). The best schedule of a bucket
spends its whole window at once, then waits for each reset; the global limit's best schedule
is one request every 1/50 s (the limiter paces it rather than bursting). Real clock; each
scenario takes 10-20 s.

Usage: ``python benchmarks/ratelimit.py [--quick]``
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from uploader import MediaFile, MediaType, Settings
from uploader.discord import Channel, Destination, Webhook, open_discord_client
from uploader.testing import open_fake_discord

WEBHOOK_LIMIT = (5, 2.0)
CHANNEL_LIMIT = (5, 5.0)
GLOBAL_LIMIT = 50


def ideal_seconds(messages: int, limit: int, window: float) -> float:
    """The least time from the first to the last send: full bucket, then one window per batch."""
    return (math.ceil(messages / limit) - 1) * window


async def run_scenario(
    name: str,
    destinations: Sequence[Destination],
    per_destination: int,
    ideal: float,
    limit_rate: float,
    media: MediaFile,
    fake: object,
    tasks_per_destination: int = 3,
) -> tuple[str, int, float, float, float, int]:
    stats = fake.stats  # type: ignore[attr-defined]
    before = sum(stats.rate_limited_by_scope.values())
    done_at: list[float] = []
    async with open_discord_client(Settings(), api_base=fake.api_base) as client:  # type: ignore[attr-defined]

        async def sender(destination: Destination, count: int) -> None:
            for _ in range(count):
                await client.send_files(destination, [media])
                done_at.append(time.perf_counter())

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for destination in destinations:
                share, extra = divmod(per_destination, tasks_per_destination)
                for i in range(tasks_per_destination):
                    nursery.start_soon(sender, destination, share + (i < extra))
        finished = time.perf_counter()
    total = per_destination * len(destinations)
    # Time from the start to the last answer, against the best schedule the limits allow.
    span = max(done_at) - start
    share_of_ideal = ideal / span if span > 0 else 1.0
    rate = total / (finished - start)
    rate_limited = sum(stats.rate_limited_by_scope.values()) - before
    return name, total, rate, limit_rate, share_of_ideal, rate_limited


async def main(quick: bool) -> None:
    scale = 0.5 if quick else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "dot.png")
        path.write_bytes(b"\x89PNG tiny")
        media = MediaFile(path, path.stat().st_size, MediaType.IMAGE)
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
                    ideal_seconds(n, *WEBHOOK_LIMIT),
                    WEBHOOK_LIMIT[0] / WEBHOOK_LIMIT[1],
                    media,
                    fake,
                )
            )
            n = int(20 * scale)  # 5 per 5 s: 15 s for 20
            rows.append(
                await run_scenario(
                    "one channel (5 / 5 s)",
                    [Channel(fake.create_channel(), fake.bot_token)],
                    n,
                    ideal_seconds(n, *CHANNEL_LIMIT),
                    CHANNEL_LIMIT[0] / CHANNEL_LIMIT[1],
                    media,
                    fake,
                )
            )
            channels = [Channel(fake.create_channel(), fake.bot_token) for _ in range(100)]
            n = 5  # 500 messages in one burst window per channel: the global 50/s decides
            rows.append(
                await run_scenario(
                    "100 channels (global 50/s)",
                    channels,
                    n,
                    (n * len(channels) - 1) / GLOBAL_LIMIT,  # evenly paced at the limit
                    GLOBAL_LIMIT,
                    media,
                    fake,
                    tasks_per_destination=1,
                )
            )
            delivered = len(fake.messages)
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
