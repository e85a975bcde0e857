"""Peak memory of `uploader send` delivering 2 GiB: the body is streamed, never held whole.

Generates sparse 9.5 MiB files (no disk cost) in a temporary directory, starts the loopback
fake Discord in this process with the rate limits off, and runs ``uploader send`` (the whole
pipeline: detector, batcher, uploader, with its status message; the files fit under the 10 MiB
per-file limit, so nothing is compressed) in a child process whose peak RSS (``ru_maxrss`` of
the child alone) is measured. The baseline is the same command on an empty directory
(interpreter, imports, event loop). Goal: peak ≤ 120 MB, and every byte delivered.

Usage: ``python benchmarks/memory.py [--gib 2] [--file-mib 9.5]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import trio

from uploader import MIB
from uploader.testing import open_fake_discord

# Runs the command as its only child and prints that child's peak RSS in KiB (Linux units).
_MEASURE = (
    "import resource, subprocess, sys;"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode;"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)

GOAL_MB = 120


def make_files(directory: Path, total_bytes: int, file_bytes: int) -> int:
    count = 0
    written = 0
    while written < total_bytes:
        size = min(file_bytes, total_bytes - written)
        with (directory / f"clip-{count:04}.mp4").open("wb") as f:
            f.truncate(size)  # sparse: reads as zeros, costs no disk
        written += size
        count += 1
    return count


async def measure(directory: Path, webhook_url: str) -> tuple[int, float, float]:
    """(exit code, peak RSS in MB, seconds) of one ``uploader send`` run."""
    argv = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "uploader", "send"]
    argv += [str(directory), "--webhook", webhook_url, "--json"]
    start = time.perf_counter()
    result = await trio.run_process(argv, capture_stdout=True, check=False)
    elapsed = time.perf_counter() - start
    code, kib = result.stdout.decode().split()
    return int(code), int(kib) / 1024, elapsed


async def main(gib: float, file_mib: float) -> None:
    total = int(gib * 1024 * MIB)
    file_bytes = int(file_mib * MIB)
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp, "empty")
        full = Path(tmp, "media")
        empty.mkdir()
        full.mkdir()
        count = make_files(full, total, file_bytes)
        async with open_fake_discord(
            file_limit_bytes=64 * MIB,
            request_limit_bytes=64 * MIB,
            webhook_limit=None,
            channel_limit=None,
            global_limit=None,
            validate=False,
        ) as fake:
            url = fake.create_webhook()
            base_code, base_mb, base_s = await measure(empty, url)
            code, peak_mb, seconds = await measure(full, url)
            received = sum(a.size for m in fake.messages for a in m.attachments)
            messages = sum(1 for m in fake.messages if m.attachments)
    rows = [
        ("baseline: empty send", base_code, "-", "-", base_mb, base_s),
        (
            f"{count} x {file_mib:g} MiB ({gib:g} GiB)",
            code,
            f"{messages}",
            f"{received / MIB:.0f} MiB",
            peak_mb,
            seconds,
        ),
    ]
    print(f"{'run':<28} {'exit':>4} {'msgs':>5} {'received':>10} {'peak RSS':>10} {'time':>7}")
    for name, c, msgs, rec, mb, s in rows:
        print(f"{name:<28} {c:>4} {msgs:>5} {rec:>10} {mb:>7.1f} MB {s:>6.1f}s")
    verdict = "OK" if peak_mb <= GOAL_MB and code == 0 and received == total else "MISSED"
    print(
        f"peak over baseline: {peak_mb - base_mb:.1f} MB; goal (every byte delivered, "
        f"peak <= {GOAL_MB} MB): {verdict}; "
        f"throughput {received / MIB / seconds:.0f} MiB/s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--file-mib", type=float, default=9.5)
    args = parser.parse_args()
    os.environ.pop("DISCORD_TOKEN", None)
    trio.run(main, args.gib, args.file_mib)
