"""Many senders on one bot token: through the real @discordjs/proxy, and each straight to Discord.

N senders (each its own pipeline, HTTP client and rate limiter, as separate ``uploader send``
processes are) deliver a folder of small files each into one channel of the loopback Discord
(Discord's rules with 1 s windows: 5 messages per second per channel, 50/s global), two files
per message: through a fresh @discordjs/proxy 2.1 (unmodified, default options, upstream
pointed at the fake), through one that already posted a message ("warm": it knows the route's
bucket), and each sender straight to the fake. Prints wall time, messages, the 429s that
reached the fake (all caused by exceeding a limit: none are injected) and whether every file
arrived exactly once.

``--loop K`` runs only the proxy side K times in a row per sender count, each with a fresh fake
and a fresh proxy, and prints how many runs delivered every file exactly once, and the 429s the
fake saw over all runs. ``--warm`` first posts one message through each fresh proxy (not
counted), as through a proxy that has served for a while.

Needs node and ``sh .ci/install --dev`` (which installs the proxy into .cache/npm-peers/proxy).

Usage: ``python benchmarks/proxy.py [--senders 1 3 10] [--files 20] [--loop K [--warm]]
[--webhook] [--reject-on-rate-limit]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "proxy"))

from _group import GROUP_FAKE, GroupRun, make_folders, new_destination, run_group, warm_up
from _proxy import ProxyOptions, open_discordjs_proxy, proxy_missing

from uploader import Settings
from uploader.testing import open_fake_discord

BATCH = 2
"""Files per message: small messages make many requests, which is what limits bite on."""


async def one_run(
    senders: int,
    files: int,
    *,
    proxy: ProxyOptions | None,
    webhook: bool,
    seed: int,
    warm: bool = False,
) -> GroupRun:
    """One group run against a fresh fake; through a fresh proxy unless ``proxy`` is None.

    ``warm``: one message goes through first (see `warm_up`); it is not counted.
    """
    settings = Settings(
        upload_max_files_per_batch=BATCH,
        upload_enable_progress_updates=False,
        discord_proxy_mode="auto" if proxy is not None else "off",
    )
    with tempfile.TemporaryDirectory() as tmp:
        folders = make_folders(Path(tmp), senders, files, seed=seed)
        async with open_fake_discord(**GROUP_FAKE) as fake:  # type: ignore[arg-type]
            destination, _ = new_destination(fake, "webhook" if webhook else "bot")
            if proxy is None:
                return await run_group(fake, fake.api_base, folders, destination, settings)
            async with open_discordjs_proxy(fake.base_url, proxy) as api_base:
                if warm:
                    await warm_up(fake, api_base, Path(tmp), settings)
                return await run_group(fake, api_base, folders, destination, settings)


def row(label: str, run: GroupRun) -> str:
    once = "yes" if run.exactly_once else f"NO ({run.statuses}, {run.twice} twice)"
    return (
        f"{label:<8} {run.senders:>7} {run.files:>5} {run.messages:>8} {run.seconds:>7.1f}"
        f" {run.fake_429s:>11} {once}"
    )


async def compare(senders: list[int], files: int, options: ProxyOptions, webhook: bool) -> None:
    print(
        f"{'path':<8} {'senders':>7} {'files':>5} {'messages':>8} {'wall s':>7} {'429s@fake':>11}"
        " delivered once"
    )
    for n in senders:
        fresh = await one_run(n, files, proxy=options, webhook=webhook, seed=n)
        print(row("proxy", fresh), flush=True)
        warm = await one_run(n, files, proxy=options, webhook=webhook, seed=n, warm=True)
        print(row("warm", warm), flush=True)
        direct = await one_run(n, files, proxy=None, webhook=webhook, seed=n)
        print(row("direct", direct), flush=True)


async def loop(
    senders: list[int], files: int, runs: int, options: ProxyOptions, webhook: bool, warm: bool
) -> None:
    for n in senders:
        good = 0
        fake_429s = 0
        seconds = 0.0
        for k in range(runs):
            seed = 1000 * n + k
            run = await one_run(n, files, proxy=options, webhook=webhook, seed=seed, warm=warm)
            good += run.exactly_once
            fake_429s += run.fake_429s
            seconds += run.seconds
            if not run.exactly_once:
                print(f"  run {k + 1}: {run}", flush=True)
        state = "a warm" if warm else "a fresh"
        print(
            f"{n} senders x {runs} runs through {state} proxy: {good}/{runs} delivered every file"
            f" exactly once; 429s at the fake over all runs: {fake_429s};"
            f" mean wall {seconds / runs:.1f} s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--files", type=int, default=20, help="files per sender")
    parser.add_argument("--loop", type=int, metavar="K", help="K proxy runs per sender count")
    parser.add_argument("--webhook", action="store_true", help="post through one webhook")
    parser.add_argument("--reject-on-rate-limit", action="store_true")
    parser.add_argument(
        "--warm", action="store_true", help="loop: one message through each proxy first"
    )
    args = parser.parse_args()
    missing = proxy_missing()
    if missing is not None:
        sys.exit(f"cannot run: {missing}")
    options = ProxyOptions(reject_on_rate_limit=args.reject_on_rate_limit)
    if args.loop:
        trio.run(loop, args.senders, args.files, args.loop, options, args.webhook, args.warm)
    else:
        trio.run(compare, args.senders, args.files, options, args.webhook)


if __name__ == "__main__":
    main()
