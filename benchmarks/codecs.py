"""Experiment: AV1 (SVT-AV1) and VP9 against the x264 encode the compressor runs, at its frame.

For each clip at its limit, the planner's frame and video bitrate are encoded video only by
the kept x264 two-pass (``default``: preset medium with the compressor's tuning) and by each
variant; sizes are reported against the planned video bytes because SVT-AV1's one-pass rate
control misses (Debian's ffmpeg 5.1 wrapper has no two-pass for it). Variants:
``av1-vbr-P[xM]`` SVT-AV1 preset P, variable bitrate at M times the bitrate; ``av1-cbr-P``
constant bitrate, low-delay (the one SVT-AV1 mode that lands on its rate);
``vp9-C`` libvpx-vp9 two-pass at cpu-used C. Scored as ``x264_settings.py`` scores (VMAF
mean and 5th percentile); CPU against ``default``'s.

Usage: python benchmarks/codecs.py [--keep DIR] [--variants a,b] [--clips name@MiB,...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).parent))
import compression as bench
import x264_settings as x264

from uploader import MIB, MediaFile, MediaType, Settings
from uploader.compress import describe_compression

VARIANTS = (
    "av1-vbr-8",
    "av1-vbr-10",
    "av1-vbr-10x1.4",
    "av1-vbr-10x1.65",
    "av1-vbr-9x1.65",
    "av1-cbr-10",
    "vp9-4",
)
DEFAULT_CLIPS = ["noise-720p-60s@10", "zoom-720p-60s@25", "swing-1080p-30s@10"]


def encode(variant: str, source: Path, out: Path, frame: tuple[int, int], kbps: int, fps: float):  # type: ignore[no-untyped-def]
    """Encode the source's video at ``frame`` and ``kbps`` as ``variant`` says."""
    if variant == "default":
        x264.encode(source, out, frame, kbps, "medium", x264.VARIANTS["kq10"])
        return
    quiet = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(source)]
    tail = ["-g", str(round(10 * fps)), "-vf", f"scale={frame[0]}:{frame[1]},setsar=1"]
    tail += ["-pix_fmt", "yuv420p", "-an"]
    codec, mode, rest = (
        variant.split("-", 2) if variant.count("-") == 2 else (*variant.split("-"), "")
    )
    if codec == "vp9":
        base = [*quiet, "-c:v", "libvpx-vp9", "-b:v", f"{kbps}k", "-deadline", "good"]
        base += ["-cpu-used", mode, "-row-mt", "1", "-tile-columns", "2", "-auto-alt-ref", "1"]
        base += ["-lag-in-frames", "25", *tail, "-passlogfile", str(out)]
        bench.run([*base, "-pass", "1", "-f", "null", "-"])
        bench.run([*base, "-pass", "2", str(out)])
        return
    preset, _, times = rest.partition("x")
    params = "rc=1" if mode == "vbr" else "rc=2:pred-struct=1"
    rate = f"{round(kbps * float(times or 1))}k"
    bench.run(
        [
            *quiet,
            "-c:v",
            "libsvtav1",
            "-preset",
            preset,
            "-b:v",
            rate,
            *tail[:2],
            "-svtav1-params",
            params,
            *tail[2:],
            str(out),
        ]
    )


async def measure(name: str, base: Path, variants: list[str]) -> list[tuple]:  # type: ignore[type-arg]
    clip, limit_mib = x264.CLIPS[name]
    source = bench.make_clip(clip, base)
    file = MediaFile(source, source.stat().st_size, MediaType.VIDEO)
    plan = await describe_compression(file, int(limit_mib * MIB), Settings())
    assert plan.scale is not None
    want = plan.video_kbps * 1000 / 8 * clip.seconds
    rows = []
    with tempfile.TemporaryDirectory(prefix="codecs-", dir=base) as work:
        for variant in ["default", *variants]:
            out = Path(work) / f"{variant}.{'webm' if variant.startswith('vp9') else 'mp4'}"
            cpu0 = bench.cpu_seconds()
            encode(variant, source, out, plan.scale, plan.video_kbps, clip.fps)
            cpu = bench.cpu_seconds() - cpu0
            scored = bench.vmaf(out, clip, source, Path(work) / "vmaf.json")
            mean, p5 = scored if scored else (float("nan"), float("nan"))
            frame = f"{plan.scale[1]}p {plan.video_kbps}k"
            rows.append((name, frame, variant, out.stat().st_size / want, mean, p5, cpu))
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    return rows


async def main_async(args) -> int:  # type: ignore[no-untyped-def]
    base = x264.sources(args)
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    rows = []
    for name in args.clips.split(",") if args.clips else DEFAULT_CLIPS:
        rows += await measure(name, base, variants)
    print(x264.table(rows))
    return 0


def main() -> int:
    parser = x264.parser_with_clips(__doc__)
    parser.add_argument("--variants", help=f"comma-separated, of {', '.join(VARIANTS)}")
    return trio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
