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
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).parent))
import compression as bench
import x264_settings as x264

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


def encode(
    variant: str, source: Path, work: Path, frame: tuple[int, int], kbps: int, fps: float
) -> Path:
    """Encode the source's video at ``frame`` and ``kbps`` as ``variant`` says."""
    if variant == "default":
        return x264.x264_encoder("medium")("kq10", source, work, frame, kbps, fps)
    codec, mode, *rest = variant.split("-")
    out = work / f"{variant}.{'webm' if codec == 'vp9' else 'mp4'}"
    cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(source)]
    picture = ["-g", str(round(10 * fps)), "-vf", f"scale={frame[0]}:{frame[1]},setsar=1"]
    picture += ["-pix_fmt", "yuv420p", "-an"]
    if codec == "vp9":
        cmd += ["-c:v", "libvpx-vp9", "-b:v", f"{kbps}k", "-deadline", "good", "-cpu-used", mode]
        cmd += ["-row-mt", "1", "-tile-columns", "2", "-auto-alt-ref", "1"]
        cmd += ["-lag-in-frames", "25", *picture, "-passlogfile", str(out)]
        bench.run([*cmd, "-pass", "1", "-f", "null", "-"])
        bench.run([*cmd, "-pass", "2", str(out)])
        return out
    preset, _, times = rest[0].partition("x")
    rate = f"{round(kbps * float(times or 1))}k"
    params = "rc=1" if mode == "vbr" else "rc=2:pred-struct=1"
    cmd += ["-c:v", "libsvtav1", "-preset", preset, "-b:v", rate, "-svtav1-params", params]
    bench.run([*cmd, *picture, str(out)])
    return out


async def main_async(args) -> int:  # type: ignore[no-untyped-def]
    base = x264.sources(args)
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    rows = []
    for name in args.clips.split(",") if args.clips else DEFAULT_CLIPS:
        rows += await x264.measure(name, base, ["default", *variants], encode)
    print(x264.table(rows))
    return 0


def main() -> int:
    parser = x264.parser_with_clips(__doc__)
    parser.add_argument("--variants", help=f"comma-separated, of {', '.join(VARIANTS)}")
    return trio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
