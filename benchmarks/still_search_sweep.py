"""Sweep the still-image search over many limits per benchmark image: encodes and budget use.

For each image of ``still_images.IMAGES`` and ``LIMITS`` limits spread (geometrically) from
15% to 95% of the source's size, plus the benchmark's own limit, runs the real
``compress_with_details`` path and records full encodes, sample encodes and the share of the
limit the output uses. Encodes are memoised per image (same picture size and settings, same
bytes), so a sweep costs each distinct encode once; counts are of the search's calls, not of
the cache's misses. No timing: the encode count is what the search decides.

Usage: python benchmarks/still_search_sweep.py [--keep DIR] [--limits N] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import still_images
import trio
from PIL import Image as PILImage

import uploader.compress._still_image as still_image
from uploader import MediaFile, MediaType, Settings
from uploader.compress import compress_with_details
from uploader.compress._still_pillow import StillEncoding, encode_still, sample_of

LIMITS = 10
SPAN = (0.15, 0.95)


class Counter:
    """Memoised encodes of one source, counted per compression (full and sample)."""

    def __init__(self) -> None:
        self.cache: dict[tuple[tuple[int, int], str, StillEncoding], bytes] = {}
        self.samples: set[tuple[int, int]] = set()
        self.full = 0
        self.sampled = 0

    def encode(self, picture: PILImage.Image, encoding: StillEncoding, icc: bytes | None) -> bytes:
        key = (picture.size, picture.mode, encoding)
        if key not in self.cache:
            self.cache[key] = encode_still(picture, encoding, icc)
        if picture.size in self.samples:
            self.sampled += 1
        else:
            self.full += 1
        return self.cache[key]

    def sample(self, picture: PILImage.Image) -> tuple[PILImage.Image, float] | None:
        result = sample_of(picture)
        if result is not None:
            self.samples.add(result[0].size)
        return result


async def one(source: Path, limit: int, counter: Counter, work: Path) -> tuple[int, int, float]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    counter.full = counter.sampled = 0
    file = MediaFile(source, source.stat().st_size, MediaType.IMAGE)
    settings = Settings(compression_max_concurrent=1)
    outcome = await compress_with_details(file, limit, settings=settings, workdir=work)
    out = outcome.outputs[0]
    return counter.full, counter.sampled, out.size_bytes / limit


async def sweep(image: still_images.Image, base: Path, count: int) -> list[str]:
    source = base / image.name
    still_images.make_source(image, source)
    size = source.stat().st_size
    lo, hi = SPAN
    limits = {round(size * lo * (hi / lo) ** (i / (count - 1))) for i in range(count)}
    limits.add(image.limit_kib * 1024)
    counter = Counter()
    real_encode, real_sample = still_image.encode_still, still_image.sample_of
    still_image.encode_still = counter.encode  # type: ignore[assignment]
    still_image.sample_of = counter.sample  # type: ignore[assignment]
    rows, fulls, uses = [], [], []
    try:
        for limit in sorted(limits):
            full, sampled, use = await one(source, limit, counter, base / f"work-{os.getpid()}")
            fulls.append(full)
            uses.append(use)
            share = f"{limit // 1024:>6} KiB ({limit / size:4.0%})"
            rows.append(f"  {share} {full}+{sampled} {use:6.1%}")
    finally:
        still_image.encode_still, still_image.sample_of = real_encode, real_sample
    summary = (
        f"{image.name:28} mean {statistics.mean(fulls):.2f} max {max(fulls)} full encodes, "
        f"budget worst {min(uses):.1%} mean {statistics.mean(uses):.1%}"
    )
    return [summary, *rows]


async def main_async(args: argparse.Namespace) -> int:
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="uploader-sweep-"))
    base.mkdir(parents=True, exist_ok=True)
    images = still_images.IMAGES
    if args.only:
        images = [i for i in images if i.name in args.only.split(",")]
    summaries = []
    try:
        for image in images:
            lines = await sweep(image, base, args.limits)
            summaries.append(lines[0])
            print("\n".join(lines), flush=True)
    finally:
        shutil.rmtree(base / f"work-{os.getpid()}", ignore_errors=True)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print("\n".join(summaries))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="keep sources in DIR (reused next run)")
    parser.add_argument("--limits", type=int, default=LIMITS, help="limits per image")
    parser.add_argument("--only", help="comma-separated image names")
    return trio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
