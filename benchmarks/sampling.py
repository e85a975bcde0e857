"""Check: does resolution sampling pick differently from the bits-per-pixel rule, and is its
pick better in a full encode?

For each clip at its limit: the planner's pick (the rule), what ``plan_samples`` would sample
(on keyframes; or why nothing), the samples' scores with each of ``--metrics`` on the system
ffmpeg and, with ``--vmaf-samples``, the same samples scored by the imageio-ffmpeg build
(VMAF); then, with ``--full-encodes``, every candidate encoded whole (two-pass at ``--preset``
with x264's defaults, the plan's video bitrate, video only) and scored with VMAF at the
source's size, as ``compression.py`` does.

Usage: python benchmarks/sampling.py [--keep DIR] [--clips name@MiB,...] [--full-encodes]
       [--vmaf-samples] [--metrics ssim,psnr]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import trio

sys.path.insert(0, str(Path(__file__).parent))
import compression as bench
from x264_settings import CLIPS, encode, parser_with_clips, sources

from uploader import MIB, MediaFile, MediaType, Settings
from uploader.compress import (
    _sample,
    describe_compression,
    probe_media,
)
from uploader.compress._sample import sample_frames
from uploader.compress._workspace import Workspace


class SizedWorkspace(Workspace):
    """A workspace noting the size of every temporary it discards (the samples first)."""

    def __init__(self, workdir: Path, source: Path) -> None:
        super().__init__(workdir, source)
        self.sizes: list[int] = []

    def discard(self, path: Path) -> None:  # type: ignore[override]
        self.sizes.append(path.stat().st_size if path.exists() else 0)
        Workspace.discard(path)


DEFAULT = ["zoom-720p-60s@10", "swing-1080p-30s@10"]


async def check(name: str, base: Path, args: argparse.Namespace) -> None:
    clip, limit_mib = CLIPS[name]
    source = bench.make_clip(clip, base)
    settings = Settings(compression_ffmpeg_preset=args.preset, compression_max_concurrent=1)
    file = MediaFile(source, source.stat().st_size, MediaType.VIDEO)
    plan = await describe_compression(file, int(limit_mib * MIB), settings)
    probe = await probe_media(source, settings)
    video = probe.video
    assert video is not None and video.display_size is not None and plan.scale is not None
    bpp = plan.bits_per_pixel
    print(f"{name}: {plan.video_kbps} kb/s, rule {plan.scale[1]}p ({bpp:.3f} bits/pixel)")
    sample = await _sample.plan_samples(plan, probe, settings)
    print(f"  sample plan: {sample}")
    if sample is None:
        return
    with tempfile.TemporaryDirectory(prefix="sampling-", dir=base) as work:
        scorers = [(metric, settings) for metric in args.metrics.split(",")]
        if args.vmaf_samples:
            vmaf = Settings(compression_ffmpeg_path=imageio_ffmpeg.get_ffmpeg_exe())
            scorers.append(("vmaf", vmaf))
        for metric, scorer in scorers:
            _sample._METRICS[scorer.compression_ffmpeg_path] = metric
            started = time.monotonic()
            space = SizedWorkspace(Path(work), source)
            result = await sample_frames(
                plan, probe, sample, space, settings=scorer, report=lambda _: None
            )
            scores = ", ".join(f"{f[0][1]}p {v:.4f}" for f, v in result.scores.items())
            want = plan.video_kbps * 125 * sample.seconds * len(sample.starts)
            sizes = ", ".join(f"{s / want:.0%}" for s in space.sizes[: len(sample.candidates)])
            print(
                f"  sampled ({result.metric}, {time.monotonic() - started:.0f} s): {scores}; "
                f"pick {result.chosen[0][1]}p; sample sizes {sizes} of the bitrate's",
                flush=True,
            )
        if not args.full_encodes:
            return
        for size, _fps in sample.candidates:
            out = Path(work) / f"{size[1]}.mp4"
            encode(source, out, size, plan.video_kbps, args.preset, "")
            scored = bench.vmaf(out, clip, source, Path(work) / "vmaf.json")
            mean, p5 = scored if scored else (float("nan"), float("nan"))
            print(
                f"  full encode {size[1]}p: size {out.stat().st_size / MIB:.2f} MiB, "
                f"VMAF {mean:.2f}, p5 {p5:.2f}",
                flush=True,
            )


async def main_async(args: argparse.Namespace) -> int:
    base = sources(args)
    for name in args.clips.split(",") if args.clips else DEFAULT:
        await check(name, base, args)
    return 0


def main() -> int:
    parser = parser_with_clips(__doc__)
    parser.add_argument("--full-encodes", action="store_true")
    parser.add_argument("--vmaf-samples", action="store_true", help="also score with VMAF")
    parser.add_argument("--metrics", default="ssim", help="system ffmpeg metrics: ssim,psnr,vif")
    return trio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
