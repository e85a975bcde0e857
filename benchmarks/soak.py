"""Soak: thousands of messages through `uploader send` into the loopback Discord, with faults.

Writes N tiny files (one message each), starts the loopback Discord in this process and runs
``uploader send DIR --channel ID --api-base URL --json`` (the bot path, as a user would) in a
child process twice: a baseline with no faults, then with faults injected into about
``--fault-rate`` of the create-message requests (5xx before and after the message is recorded,
connection drops before and after the body, 429s of each scope, slow answers; never two in a
row: no request meets today's retry count). While a run goes, the child's RSS is sampled
every ``--sample-every`` recorded messages: memory must stay flat (first, last, max, and the
least-squares slope in KiB per 1000 messages). At the end, the counts against what the fake
recorded: lost (a file not in the channel) and duplicated (a file in it twice) must be 0, and
no outcome may be false (delivered but not there, failed but there).

Rate limits: the fake keeps a per-channel bucket (``--bucket`` requests a second) and the
client its global limit (``DISCORD_GLOBAL_RATE``), both far above Discord's, so the run
measures the pipeline rather than Discord's pacing. Backoffs and retry_after are real time.

Usage: ``python benchmarks/soak.py [--messages 10000] [--fault-rate 0.04] [--seed 1]``
(default 500 messages: a smoke run of a few seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.abc

from uploader.testing import FakeDiscord, Fault, RecordedMessage, open_fake_discord

ROOT = Path(__file__).resolve().parents[1]

FAULT_MIX: tuple[tuple[str, dict[str, Any]], ...] = (
    ("status", {"status": 503}),
    ("status", {"status": 500}),
    ("status", {"status": 502}),
    ("status_after_body", {"status": 502}),
    ("drop_before_body", {}),
    ("drop_after_body", {}),
    ("rate_limit_user", {"retry_after": 0.1}),
    ("rate_limit_shared", {"retry_after": 0.1}),
    ("rate_limit_global", {"retry_after": 0.05}),
    ("slow", {"delay": 0.2}),
)


@attrs.define
class Run:
    """One `uploader send` run and what was measured during it."""

    name: str
    exit_code: int = 0
    seconds: float = 0.0
    samples: list[tuple[int, float, float]] = attrs.Factory(list)
    """(messages recorded, seconds since start, RSS in MiB)."""
    faults: Counter[str] = attrs.Factory(Counter)
    report: dict[str, Any] = attrs.Factory(dict)
    held: Counter[str] = attrs.Factory(Counter)
    stats: Any = None


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def make_files(folder: Path, count: int, rng: random.Random) -> dict[str, int]:
    """``count`` small files, each unique (its name starts it): name -> size."""
    folder.mkdir(parents=True)
    sizes = {}
    for i in range(count):
        name = f"m{i:05d}.{('png', 'jpg', 'mp4', 'mp3')[i % 4]}"
        data = name.encode() + rng.randbytes(rng.randint(100, 1500))
        (folder / name).write_bytes(data)
        sizes[name] = len(data)
    return sizes


class FaultFeeder:
    """Injects a fault after a recorded message now and then (one pending at most).

    A fault is scheduled only when none is pending and a few messages were recorded since the
    last one, so no request meets two.
    """

    COOLDOWN = 3

    def __init__(self, fake: FakeDiscord, rate: float, rng: random.Random, run: Run) -> None:
        self.fake, self.rate, self.rng, self.run = fake, rate, rng, run
        self.since = self.COOLDOWN

    def __call__(self) -> None:
        self.since += 1
        if self.since < self.COOLDOWN or self.fake.pending_faults:
            return
        # one fault per COOLDOWN + 1/p messages on average: p makes that 1/rate
        if self.rng.random() >= self.rate / max(1.0 - self.rate * self.COOLDOWN, 1e-9):
            return
        self.since = 0
        kind, extra = self.rng.choice(FAULT_MIX)
        fault = Fault(kind, route="create_message", after=self.rng.randint(0, 2), **extra)  # type: ignore[arg-type]
        self.fake.inject(fault)
        self.run.faults[kind] += 1


async def soak(
    folder: Path, run: Run, *, rate: float, rng: random.Random, sample_every: int, bucket: int
) -> None:
    process: trio.Process | None = None
    recorded = 0
    started = time.perf_counter()
    feeder: Callable[[], None] | None = None

    def on_message(message: RecordedMessage) -> None:
        nonlocal recorded
        if not message.attachments:
            return
        recorded += 1
        if process is not None and recorded % sample_every == 0:
            mib = rss_mib(process.pid)
            if mib is not None:
                run.samples.append((recorded, time.perf_counter() - started, mib))
        if feeder is not None:
            feeder()

    async with open_fake_discord(
        channel_limit=(bucket, 1.0), global_limit=None, on_message=on_message
    ) as fake:
        channel = fake.create_channel()
        if rate > 0:
            feeder = FaultFeeder(fake, rate, rng, run)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "UPLOAD_"))}
        env |= {
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": fake.bot_token,
            "DISCORD_GLOBAL_RATE": "10000",
            "UPLOAD_MAX_FILES_PER_BATCH": "1",
            "UPLOAD_LINGER_SECONDS": "0.01",
            "UPLOAD_ENABLE_PROGRESS_UPDATES": "false",
        }
        command = [sys.executable, "-m", "uploader", "send", str(folder)]
        command += ["--channel", str(channel), "--api-base", fake.api_base, "--json"]
        out = bytearray()
        started = time.perf_counter()
        process = await trio.lowlevel.open_process(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None and process.stderr is not None
        err = bytearray()

        async def drain(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
            async for chunk in stream:
                into += chunk

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, process.stdout, out)
            nursery.start_soon(drain, process.stderr, err)
        run.exit_code = await process.wait()
        run.seconds = time.perf_counter() - started
        try:
            run.report = json.loads(out)
        except ValueError:
            raise SystemExit(f"uploader send gave no result:\n{err.decode()[-3000:]}") from None
        run.held = Counter(a.filename for m in fake.messages for a in m.attachments)
        run.stats = fake.stats


def slope_kib_per_1000(samples: list[tuple[int, float, float]]) -> float:
    """Least-squares slope of RSS over messages, in KiB per 1000 messages."""
    if len(samples) < 2:
        return 0.0
    xs = [s[0] for s in samples]
    ys = [s[2] * 1024 for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return (
        1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    )


def figures(run: Run, sizes: dict[str, int]) -> dict[str, float]:
    files = {f["path"].rsplit("/", 1)[-1]: f for f in run.report["files"]}
    status = Counter(f["status"] for f in files.values())
    rss = [s[2] for s in run.samples] or [0.0]
    steady = run.samples[-1][0] - run.samples[0][0] if len(run.samples) > 1 else 0
    steady_s = run.samples[-1][1] - run.samples[0][1] if len(run.samples) > 1 else 0.0
    return {
        "exit code": run.exit_code,
        "messages recorded": sum(1 for _ in run.held.elements()),
        "wall seconds": run.seconds,
        "messages/s (whole run)": len(sizes) / run.seconds,
        "messages/s (steady)": steady / steady_s if steady_s else 0.0,
        "requests": run.stats.requests,
        "faults injected": sum(run.faults.values()),
        "429s injected": run.stats.injected_429s,
        "429s client-caused": run.stats.client_caused_429s,
        "RSS first MiB": rss[0],
        "RSS last MiB": rss[-1],
        "RSS max MiB": max(rss),
        "RSS slope KiB/1000 msgs": slope_kib_per_1000(run.samples),
        "delivered": status["delivered"],
        "failed": status["failed"],
        "uncertain": status["uncertain"],
        "lost": sum(1 for name in sizes if run.held[name] == 0),
        "duplicated": sum(1 for name in sizes if run.held[name] > 1),
        "false outcomes": sum(
            (f["status"] == "delivered") != (run.held[name] == 1) for name, f in files.items()
        ),
    }


def print_table(base: dict[str, float], faulty: dict[str, float]) -> None:
    print(f"{'':<26} {'baseline':>12} {'with faults':>12} {'ratio':>8}")
    for key, b in base.items():
        f = faulty[key]
        ratio = f"{f / b:8.2f}" if b else f"{'-':>8}"
        print(f"{key:<26} {b:>12.1f} {f:>12.1f} {ratio}")


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="uploader-soak-") as tmp:
        folder = Path(tmp, "media")
        sizes = make_files(folder, args.messages, rng)
        base, faulty = Run("baseline"), Run("faults")
        for run, rate in ((base, 0.0), (faulty, args.fault_rate)):
            await soak(
                folder, run, rate=rate, rng=rng, sample_every=args.sample_every, bucket=args.bucket
            )
    b, f = figures(base, sizes), figures(faulty, sizes)
    print(f"soak: {args.messages} files, one message each, bot path; seed {args.seed}")
    print_table(b, f)
    print(f"faults by kind: {dict(sorted(faulty.faults.items()))}")
    for run in (base, faulty):
        marks = run.samples[:: max(1, len(run.samples) // 8)]
        trail = ", ".join(f"{n}:{mib:.1f}" for n, _, mib in marks)
        print(f"RSS over time ({run.name}, messages:MiB): {trail}")
    ok = all(x["lost"] == 0 and x["duplicated"] == 0 and x["false outcomes"] == 0 for x in (b, f))
    ok = ok and f["429s client-caused"] == 0 and b["exit code"] == 0 and f["exit code"] == 0
    verdict = "OK" if ok else "MISSED"
    print(f"verdict: {verdict} (lost 0, duplicated 0, no false outcome, no client-caused 429)")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500, help="files, one message each")
    parser.add_argument("--fault-rate", type=float, default=0.04, help="faults per message")
    parser.add_argument("--sample-every", type=int, default=0, help="RSS sample interval")
    parser.add_argument("--bucket", type=int, default=500, help="fake channel bucket per second")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.sample_every <= 0:
        args.sample_every = max(10, args.messages // 40)
    sys.exit(trio.run(main, args))
