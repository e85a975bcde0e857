"""Messages used by `plan_batches` against the original strategy and the lower bound.

The original (Boss-Bot) sorted files by size, ascending, and filled one batch until the next file
would overflow its size or count, then opened the next. The lower bound is
max(⌈Σsize / cap⌉, ⌈n / 10⌉): no packing can do better. Also times planning 1k/10k/100k files.

Run: python3 benchmarks/batching.py [--trials N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from pathlib import Path

from uploader import MediaFile, MediaType, Settings, plan_batches
from uploader._batching import lower_bound

SETTINGS = Settings()
CAP = SETTINGS.batch_max_bytes
FILE_LIMIT = SETTINGS.file_limit_bytes
MAX_FILES = 10


def original_strategy(sizes: list[int]) -> int:
    messages = load = count = 0
    for size in sorted(sizes):
        if count == 0 or count == MAX_FILES or load + size > CAP:
            messages += 1
            load = count = 0
        load += size
        count += 1
    return messages


Distribution = Callable[[random.Random], int]

DISTRIBUTIONS: dict[str, Distribution] = {
    "uniform up to the file limit": lambda r: r.randint(1, FILE_LIMIT),
    "phone photos (0.5-5 MiB)": lambda r: r.randint(512 * 1024, 5 * 1024 * 1024),
    "tiny (50 KiB-2 MiB; count-bound)": lambda r: r.randint(50 * 1024, 2 * 1024 * 1024),
    "near a quarter of the cap": lambda r: int(CAP / 4 * r.uniform(0.9, 1.1)),
    "near a third of the cap": lambda r: int(CAP / 3 * r.uniform(0.85, 1.05)),
    "mixed (photos + clips at the limit)": lambda r: (
        r.randint(100 * 1024, 3 * 1024 * 1024)
        if r.random() < 0.6
        else r.randint(FILE_LIMIT // 2, FILE_LIMIT)
    ),
}


def files_of(sizes: list[int]) -> list[MediaFile]:
    return [
        MediaFile(path=Path(f"{i}.jpg"), size_bytes=s, media_type=MediaType.IMAGE)
        for i, s in enumerate(sizes)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(2026)
    print(f"cap {CAP} bytes per message, {MAX_FILES} files; {args.trials} trials per row")
    header = (
        f"{'distribution':<38} {'n':>5} {'ours':>7} {'original':>9} {'bound':>7}"
        f" {'ours/orig':>9} {'ours/bound':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, draw in DISTRIBUTIONS.items():
        for n in (8, 12, 40, 200):
            ours = orig = bound = 0
            for _ in range(args.trials):
                sizes = [min(draw(rng), FILE_LIMIT) for _ in range(n)]
                ours += len(plan_batches(files_of(sizes), max_files=MAX_FILES, max_bytes=CAP))
                orig += original_strategy(sizes)
                bound += lower_bound(sizes, max_files=MAX_FILES, max_bytes=CAP)
            print(
                f"{name:<38} {n:>5} {ours:>7} {orig:>9} {bound:>7}"
                f" {ours / orig:>9.3f} {ours / bound:>10.3f}"
            )
    print()
    print(f"{'planning time':<38} {'n':>7} {'seconds':>9} {'per file (µs)':>14}")
    for n in (1_000, 10_000, 100_000):
        files = files_of([rng.randint(1, FILE_LIMIT) for _ in range(n)])
        start = time.perf_counter()
        plan_batches(files, max_files=MAX_FILES, max_bytes=CAP)
        elapsed = time.perf_counter() - start
        per_file = elapsed / n * 1e6
        print(f"{'uniform up to the file limit':<38} {n:>7} {elapsed:>9.3f} {per_file:>14.2f}")


if __name__ == "__main__":
    main()
