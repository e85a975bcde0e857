"""Experiment: x264 adaptive-quantisation and psy settings against x264's defaults, at equal size.

For each clip at its limit, the planner's video bitrate and frame (the bits-per-pixel rule's
pick; no sampling) are encoded two-pass at ``--preset`` once per variant of ``-x264-params``,
video only, so every variant aims at the same bytes; each output is scored with VMAF (mean and
5th percentile, every 5th frame, at the source's size) by ``compression.py``'s scorer. Printed:
per clip and variant the video size against the planned video bytes, VMAF, p5 and their
difference from ``default`` (x264's defaults, which the compressor used before it took ``psy0``),
then per variant the median and worst difference on the hard clips (``default`` under 90 VMAF)
and on the others.

Usage: python benchmarks/x264_settings.py [--keep DIR] [--preset medium] [--variants a,b]
       [--clips name@MiB,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).parent))
import compression as bench

from uploader import MIB, MediaFile, MediaType, Settings
from uploader.compress import describe_compression

VARIANTS = {
    "default": "",
    "aq2": "aq-mode=2",
    "aq3": "aq-mode=3",
    "psy0": "psy-rd=0.0,0.0",
    "psy1:.15": "psy-rd=1.0,0.15",
    "aq3+psy0": "aq-mode=3:psy-rd=0.0,0.0",
    "psy0+aqs.7": "psy-rd=0.0,0.0:aq-strength=0.7",
    "psy0+aqs1.3": "psy-rd=0.0,0.0:aq-strength=1.3",
    "psy0+kf600": "psy-rd=0.0,0.0:keyint=600",
    "psy0+qc.7": "psy-rd=0.0,0.0:qcomp=0.7",
    "psy0+qc.5": "psy-rd=0.0,0.0:qcomp=0.5",
    "psy0+db1": "psy-rd=0.0,0.0:deblock=1,1",
    "psy0+fps20": "psy-rd=0.0,0.0|fps=20",
    "psy0+fps24": "psy-rd=0.0,0.0|fps=24",
    "psy0+dn": "psy-rd=0.0,0.0|hqdn3d=2:1.5:3:2.25",
    "psy0+combo": "psy-rd=0.0,0.0:keyint=600:qcomp=0.5:aq-strength=0.7",
    "psy0+kq": "psy-rd=0.0,0.0:keyint=600:qcomp=0.5",
    "psy0+nr300": "psy-rd=0.0,0.0:nr=300",
    "psy0+umh": "psy-rd=0.0,0.0:me=umh",
    "psy0+ref5": "psy-rd=0.0,0.0:ref=5",
    "psy0+sub8": "psy-rd=0.0,0.0:subme=8",
    "psy0+bf5": "psy-rd=0.0,0.0:bframes=5:b-adapt=2",
    "kq10": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5",
    "kq10+ref5": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:ref=5",
    "kq10+bf5": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:bframes=5:b-adapt=2",
    "kq10+ref5+bf5": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:ref=5:bframes=5:b-adapt=2",
    "kq10+bf5a1": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:bframes=5:b-adapt=1",
    "kq10+ba2": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:b-adapt=2",
    "kq10+la60": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:rc-lookahead=60",
    "kq10+dirauto": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:direct=auto",
    "kq10+nombtree": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:mbtree=0",
    "kq10+trellis2": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:trellis=2",
    "kq10+fullfirst": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5#fullfirst",
    "kq10+umh": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:me=umh",
    "kq10+sub8": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:subme=8",
    "kq10+umh+sub8": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:me=umh:subme=8",
    "kq10+umh+ref5": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5:me=umh:ref=5",
    "kq10+umh2": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5#pass2:me=umh",
    "kq10+umh2+ref5": "psy-rd=0.0,0.0:keyint=300:qcomp=0.5#pass2:me=umh:ref=5",
    "tuned": "psy-rd=0.0,0.0:me=umh:ref=5:subme=8:keyint=600:qcomp=0.5",
    "tuned-umh": "psy-rd=0.0,0.0:ref=5:subme=8:keyint=600:qcomp=0.5",
    "tuned+bf5": "psy-rd=0.0,0.0:me=umh:ref=5:subme=8:keyint=600:qcomp=0.5:bframes=5:b-adapt=2",
    "psy0+slow": "psy-rd=0.0,0.0:ref=5:bframes=5:b-adapt=2:me=umh:subme=8",
}
CLIPS = {f"{c.name}@{c.limits_mib[0]:g}": (c, c.limits_mib[0]) for c in bench.DEFAULT}
CLIPS.update({f"{c.name}@{m:g}": (c, m) for c in bench.FULL for m in c.limits_mib})
DEFAULT_CLIPS = [f"{c.name}@{c.limits_mib[0]:g}" for c in bench.DEFAULT]
HARD_VMAF = 90.0


def encode(source: Path, out: Path, scale: tuple[int, int], kbps: int, preset: str, params: str):  # type: ignore[no-untyped-def]
    """Two-pass x264 of the source's video at ``scale`` and ``kbps`` with extra ``params``
    (``-x264-params``, then ``|`` and a filter to run first; ``#fullfirst``: pass 1 without
    x264's fast first-pass analysis; ``#pass2`` and more ``-x264-params`` for pass 2 only)."""
    params, full_first, rest = params.partition("#fullfirst")
    params, _, second_only = (params + rest).partition("#pass2")
    params, _, prefilter = params.partition("|")
    graph = f"{prefilter + ',' if prefilter else ''}scale={scale[0]}:{scale[1]},setsar=1"
    base = [*bench.x264(source, preset, kbps), "-vf", graph]
    base += ["-pix_fmt", "yuv420p", "-an", "-passlogfile", str(out)]
    first = ["-fastfirstpass", "0"] if full_first else []  # x264's whole analysis in pass 1
    for number, own, output in ((1, first, ["-f", "null", "-"]), (2, [], [str(out)])):
        wanted = params + second_only if number == 2 else params
        extra = ["-x264-params", wanted.lstrip(":")] if wanted else []
        bench.run([*base, *extra, *own, "-pass", str(number), *output])


Encoder = Callable[[str, Path, Path, tuple[int, int], int, float], Path]
"""(variant, source, work folder, frame, video kb/s, fps) -> the encoded file, video only."""


def x264_encoder(preset: str) -> Encoder:
    """The encoder of this experiment's variants: two-pass x264 at ``preset``."""

    def encoder(
        variant: str, source: Path, work: Path, scale: tuple[int, int], kbps: int, fps: float
    ) -> Path:
        out = work / f"{variant.replace(':', '_')}.mp4"
        encode(source, out, scale, kbps, preset, VARIANTS[variant])
        return out

    return encoder


async def measure(name: str, base: Path, variants: list[str], encoder: Encoder) -> list[tuple]:  # type: ignore[type-arg]
    """Each variant of clip ``name`` (``clip@MiB``) encoded at the plan's frame and video
    bitrate, scored: (clip, frame, variant, size / planned video bytes, VMAF, p5, CPU s)."""
    clip, limit_mib = CLIPS[name]
    source = bench.make_clip(clip, base)
    limit = int(limit_mib * MIB)
    file = MediaFile(source, source.stat().st_size, MediaType.VIDEO)
    plan = await describe_compression(file, limit, Settings())
    assert plan.scale is not None
    want = plan.video_kbps * 1000 / 8 * clip.seconds
    frame = f"{plan.scale[1]}p {plan.video_kbps}k"
    rows = []
    with tempfile.TemporaryDirectory(prefix="x264-", dir=base) as work:
        for variant in variants:
            cpu0 = bench.cpu_seconds()
            out = encoder(variant, source, Path(work), plan.scale, plan.video_kbps, clip.fps)
            cpu = bench.cpu_seconds() - cpu0
            scored = bench.vmaf(out, clip, source, Path(work) / "vmaf.json")
            mean, p5 = scored if scored else (float("nan"), float("nan"))
            rows.append((name, frame, variant, out.stat().st_size / want, mean, p5, cpu))
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def table(rows: list[tuple]) -> str:  # type: ignore[type-arg]
    base = {r[0]: r for r in rows if r[2] == "default"}
    lines = [
        f"{'clip@MiB':24} {'frame':13} {'variant':9} {'size':>6} {'VMAF':>6} {'p5':>6} "
        f"{'dVMAF':>6} {'dp5':>6} {'CPU':>6}"
    ]
    for clip, frame, variant, size, mean, p5, cpu in rows:
        o = base.get(clip)
        d = f"{mean - o[4]:+6.2f} {p5 - o[5]:+6.2f}" if o else f"{'-':>6} {'-':>6}"
        c = f"{cpu / o[6]:>5.2f}x" if o else f"{'-':>6}"
        lines.append(
            f"{clip:24} {frame:13} {variant:10} {size:>6.1%} {mean:>6.2f} {p5:>6.2f} {d} {c}"
        )
    lines.append("")
    for title, keep in (
        ("hard (default < 90)", lambda v: v < HARD_VMAF),
        ("others", lambda v: v >= HARD_VMAF),
    ):
        for variant in dict.fromkeys(r[2] for r in rows):
            if variant == "default":
                continue
            pairs = [
                (r, base[r[0]])
                for r in rows
                if r[2] == variant and r[0] in base and keep(base[r[0]][4])
            ]
            if not pairs:
                continue
            dm = [r[4] - o[4] for r, o in pairs]
            dp = [r[5] - o[5] for r, o in pairs]
            lines.append(
                f"{title:17} {variant:9} VMAF median {statistics.median(dm):+.2f} "
                f"(worst {min(dm):+.2f}); p5 median {statistics.median(dp):+.2f} "
                f"(worst {min(dp):+.2f}); {len(pairs)} clips"
            )
    return "\n".join(lines)


def sources(args: argparse.Namespace) -> Path:
    """The sources' folder: ``--keep`` or a fresh temporary one."""
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="x264-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    return base


def parser_with_clips(doc: str) -> argparse.ArgumentParser:
    """A parser with the options both experiments take: preset, sources, clips."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--keep", metavar="DIR", help="sources in DIR (made there if missing)")
    parser.add_argument("--clips", help=f"comma-separated, of {', '.join(CLIPS)}")
    return parser


async def main_async(args: argparse.Namespace) -> int:
    base = sources(args)
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    rows = []
    for name in args.clips.split(",") if args.clips else DEFAULT_CLIPS:
        rows += await measure(name, base, variants, x264_encoder(args.preset))
    print(table(rows))
    return 0


def main() -> int:
    parser = parser_with_clips(__doc__)
    parser.add_argument("--variants", help=f"comma-separated, of {', '.join(VARIANTS)}")
    return trio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
