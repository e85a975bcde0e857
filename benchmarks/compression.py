"""Benchmark: uploader.compress against the original system's one-pass method, same clips.

Generates a clip set (calm and noisy, with and without audio, 360p-1080p, 10 s-10 min) whose
sources are larger than the limits, compresses each at 10 MiB and 25 MiB with both methods,
and prints: share of outputs within the limit, share fitting on the first encode, mean
size/limit, mean SSIM (ffmpeg's ssim filter; VMAF when ffmpeg has libvmaf) and encode time.

The original method: target = 0.95 x limit, total kb/s = (target - 2 MB) x 8000 / duration,
90/10 video/audio split, one-pass ABR libx264 + AAC at the source resolution, never re-checked.

Sets: the default (about 8 minutes on two cores) spans 10 s to 10 min and includes the 10-minute
360p calm clip at 25 MiB that once lost a resolution rung; ``--quick`` (about 2 minutes) three
short clips; ``--full`` (about 20 minutes) heavier clips, every one at both limits.

Usage: python benchmarks/compression.py [--quick | --full] [--preset veryfast] [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import trio

from uploader import MIB, MediaFile, MediaType, Settings
from uploader.compress import CompressionError, compress_with_details, probe_media


@dataclass(frozen=True)
class Clip:
    name: str
    seconds: int
    height: int
    noisy: bool
    audio: bool
    limits_mib: tuple[int, ...] = (10, 25)

    @property
    def width(self) -> int:
        return round(self.height * 16 / 9 / 2) * 2


FULL = [
    Clip("10s-1080p-calm-audio", 10, 1080, False, True),
    Clip("20s-1080p-noisy-audio", 20, 1080, True, True),
    Clip("60s-720p-noisy-silent", 60, 720, True, False),
    Clip("180s-480p-calm-audio", 180, 480, False, True),
    Clip("600s-360p-calm-audio", 600, 360, False, True),
]
DEFAULT = [  # the same span on lighter frames; the 10-minute clip only where it is at stake
    Clip("10s-1080p-calm-audio", 10, 1080, False, True),
    Clip("20s-720p-noisy-audio", 20, 720, True, True),
    Clip("60s-480p-noisy-silent", 60, 480, True, False),
    Clip("180s-360p-calm-audio", 180, 360, False, True),
    Clip("600s-360p-calm-audio", 600, 360, False, True, limits_mib=(25,)),
]
QUICK = [
    Clip("10s-720p-calm-audio", 10, 720, False, True),
    Clip("30s-480p-noisy-audio", 30, 480, True, True),
    Clip("60s-360p-calm-silent", 60, 360, False, False),
]
LIMITS_MIB = (10, 25)


@dataclass
class Row:
    method: str
    clip: str
    limit: int
    size: int | None
    first_try: bool
    seconds: float
    ssim: float | None
    note: str = ""

    @property
    def within(self) -> bool:
        return self.size is not None and self.size <= self.limit


@dataclass
class Summary:
    rows: list[Row] = field(default_factory=list)


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def make_source(clip: Clip, directory: Path) -> Path:
    """A source bigger than the largest limit: CBR at 1.6 x 25 MiB over the clip (≥ 2 Mb/s)."""
    path = directory / f"{clip.name}.mp4"
    if path.exists():
        return path
    kbps = max(2000, int(1.6 * max(LIMITS_MIB) * MIB * 8 / clip.seconds / 1000))  # 25 MiB
    src = f"testsrc2=s={clip.width}x{clip.height}:r=30:d={clip.seconds}"
    if clip.noisy:
        src += ",noise=alls=40:allf=t+u"
    cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i", src]
    if clip.audio:
        cmd += ["-f", "lavfi", "-i", f"sine=f=440:d={clip.seconds}:sample_rate=48000"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", f"{kbps}k", "-minrate",
            f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k", "-x264-params",
            "nal-hrd=cbr:force-cfr=1", "-pix_fmt", "yuv420p"]  # fmt: skip
    if clip.audio:
        cmd += ["-c:a", "aac", "-b:a", "192k", "-ac", "2", "-shortest"]
    run([*cmd, str(path)])
    return path


def have_libvmaf() -> bool:
    filters = run(["ffmpeg", "-hide_banner", "-filters"]).stdout
    return " libvmaf " in filters


def quality(distorted: Path, reference: Path, clip: Clip, vmaf: bool) -> float | None:
    """Mean SSIM (or VMAF) of ``distorted`` against ``reference`` at the reference's size/fps."""
    metric = "libvmaf" if vmaf else "ssim"
    graph = (
        f"[0:v]fps=30,scale={clip.width}:{clip.height}:flags=bicubic,setsar=1[d];"
        f"[1:v]setsar=1[r];[d][r]{metric}"
    )
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(distorted), "-i", str(reference),
           "-lavfi", graph, "-f", "null", "-"]  # fmt: skip
    err = subprocess.run(cmd, capture_output=True, text=True).stderr
    pattern = r"VMAF score: ([\d.]+)" if vmaf else r"All:([\d.]+)"
    match = re.search(pattern, err)
    return float(match.group(1)) if match else None


def original_method(source: Path, clip: Clip, limit: int, out: Path, preset: str) -> Row:
    limit_mb = limit / MIB  # the original worked in "MB" and did not tell MB from MiB
    target_mb = 0.95 * limit_mb
    total_kbps = (target_mb - 2) * 8000 / clip.seconds
    video_kbps = max(1, int(total_kbps * 0.9))
    audio_kbps = max(1, int(total_kbps * 0.1))
    cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(source), "-c:v",
           "libx264", "-preset", preset, "-b:v", f"{video_kbps}k"]  # fmt: skip
    cmd += ["-c:a", "aac", "-b:a", f"{audio_kbps}k"] if clip.audio else ["-an"]
    started = time.monotonic()
    try:
        run([*cmd, str(out)])
    except subprocess.CalledProcessError as exc:
        return Row("original", clip.name, limit, None, False, time.monotonic() - started, None,
                   exc.stderr.strip().splitlines()[-1][:60])  # fmt: skip
    seconds = time.monotonic() - started
    size = out.stat().st_size
    return Row("original", clip.name, limit, size, size <= limit, seconds, None)


async def our_method(source: Path, clip: Clip, limit: int, workdir: Path, preset: str) -> Row:
    settings = Settings(compression_ffmpeg_preset=preset, compression_max_concurrent=1)
    file = MediaFile(source, source.stat().st_size, MediaType.VIDEO)
    started = time.monotonic()
    try:
        outcome = await compress_with_details(file, limit, settings=settings, workdir=workdir)
    except CompressionError as exc:
        return Row("uploader", clip.name, limit, None, False, time.monotonic() - started, None,
                   type(exc).__name__)  # fmt: skip
    seconds = time.monotonic() - started
    (out,) = outcome.outputs
    plan = outcome.plan
    note = f"{plan.scale[0]}x{plan.scale[1]}@{plan.fps:g} v{plan.video_kbps}" if plan.scale else ""
    note += f", {outcome.attempts} encodes" if outcome.attempts > 1 else ""
    return Row("uploader", clip.name, limit, out.size_bytes, outcome.first_fit, seconds, None,
               note)  # fmt: skip


def table(rows: list[Row], vmaf: bool) -> str:
    metric = "VMAF" if vmaf else "SSIM"
    lines = [f"{'method':9} {'clip':24} {'limit':>6} {'size/limit':>10} {'fits':>5} "
             f"{'1st':>4} {metric:>6} {'time s':>7}  note"]  # fmt: skip
    for r in rows:
        ratio = f"{r.size / r.limit:.1%}" if r.size is not None else "-"
        score = f"{r.ssim:.4f}" if r.ssim is not None else "-"
        lines.append(
            f"{r.method:9} {r.clip:24} {r.limit // MIB:>4}Mi {ratio:>10} "
            f"{'yes' if r.within else 'NO':>5} {'yes' if r.first_try else 'no':>4} {score:>6} "
            f"{r.seconds:>7.1f}  {r.note}"
        )
    lines.append("")
    lines.append(f"{'method':9} {'limit':>6} {'within':>7} {'1st try':>8} {'mean size/limit':>16} "
                 f"{'mean ' + metric:>10} {'mean time s':>12}")  # fmt: skip
    for method in ("original", "uploader"):
        for limit in sorted({r.limit for r in rows}):
            group = [r for r in rows if r.method == method and r.limit == limit]
            if not group:
                continue
            sized = [r.size / r.limit for r in group if r.size is not None]
            scores = [r.ssim for r in group if r.ssim is not None and r.within]
            lines.append(
                f"{method:9} {limit // MIB:>4}Mi {sum(r.within for r in group) / len(group):>7.0%} "
                f"{sum(r.first_try for r in group) / len(group):>8.0%} "
                f"{statistics.mean(sized) if sized else 0:>16.1%} "
                f"{statistics.mean(scores) if scores else 0:>10.4f} "
                f"{statistics.mean(r.seconds for r in group):>12.1f}"
            )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    clips = QUICK if args.quick else FULL if args.full else DEFAULT
    vmaf = have_libvmaf()
    if not vmaf:
        print("ffmpeg has no libvmaf: quality is SSIM (1.0 = identical)", file=sys.stderr)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="uploader-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    try:
        for clip in clips:
            t0 = time.monotonic()
            source = make_source(clip, base)
            probe = await probe_media(source, Settings())
            print(f"{clip.name}: source {probe.size_bytes / MIB:.1f} MiB "
                  f"(made in {time.monotonic() - t0:.0f} s)", file=sys.stderr)  # fmt: skip
            for limit_mib in clip.limits_mib:
                limit = limit_mib * MIB
                workdir = base / f"work-{clip.name}-{limit_mib}"
                workdir.mkdir(exist_ok=True)
                theirs = original_method(source, clip, limit, workdir / "original.mp4", args.preset)
                ours = await our_method(source, clip, limit, workdir, args.preset)
                for row, out in ((theirs, workdir / "original.mp4"),
                                 (ours, workdir / f"{clip.name}.compressed.mp4")):  # fmt: skip
                    if row.size is not None and out.exists():
                        row.ssim = quality(out, source, clip, vmaf)
                    rows.append(row)
                    print(f"  {row.method:9} {limit_mib} MiB: "
                          f"{(row.size or 0) / limit:.1%} in {row.seconds:.0f} s {row.note}",
                          file=sys.stderr)  # fmt: skip
                shutil.rmtree(workdir)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(table(rows, vmaf))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="three short clips (~2 min)")
    size.add_argument("--full", action="store_true", help="heavier clips, all limits (~20 min)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset for both methods")
    parser.add_argument("--keep", metavar="DIR", help="keep sources in DIR (reused next run)")
    return trio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
