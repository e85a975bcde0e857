"""Wall time of the pipeline against the original's staged order, and against the lower bound.

Workload: a download-like folder (photos, songs, videos over the per-file limit) sent to the
loopback Discord with Discord-like rate limits and a bandwidth cap. Three runs in one process:

* pipeline: `upload_directory` (uploads start while videos are still encoding);
* staged: the original system's order — compress every oversized file (same encoder, same
  number of workers), then batch (sort ascending, fill until full), then upload one batch after
  another;
* the lower bound max(encode time / workers, bytes / bandwidth, messages / rate), with the encode
  time measured in the staged run.

Run: python3 benchmarks/pipeline.py [--videos 6] [--photos 30] [--bandwidth-mib 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import trio

from uploader import BatchSent, Channel, MediaFile, Settings, UploadBatch, upload_directory
from uploader._detect import scan_media
from uploader._models import MIB
from uploader.compress import compress_to_fit
from uploader.discord import open_discord_client
from uploader.testing import open_fake_discord


def make_workload(root: Path, videos: int, photos: int, songs: int) -> None:
    import subprocess

    (root / "photos").mkdir(parents=True)
    for i in range(photos):
        (root / "photos" / f"p{i:02d}.jpg").write_bytes(os.urandom(400 * 1024 + i * 20_000))
    for i in range(songs):
        (root / f"song{i}.mp3").write_bytes(os.urandom(1024 * 1024 + i))
    for i in range(videos):
        subprocess.run(
            [
                "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d=8,noise=alls={10 + i}:allf=t",
                "-f", "lavfi", "-i", "sine=f=440:d=8",
                "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M", "-pix_fmt", "yuv420p",
                "-c:a", "aac", str(root / f"video{i}.mp4"),
            ],
            check=True,
        )  # fmt: skip


def original_batches(files: list[MediaFile], cap: int) -> list[UploadBatch]:
    batches: list[list[MediaFile]] = []
    load = 0
    for f in sorted(files, key=lambda f: f.size_bytes):
        if not batches or len(batches[-1]) == 10 or load + f.size_bytes > cap:
            batches.append([])
            load = 0
        batches[-1].append(f)
        load += f.size_bytes
    return [UploadBatch(files=tuple(b)) for b in batches]


async def run_pipeline(root: Path, settings: Settings, bandwidth: float) -> dict[str, float]:
    async with open_fake_discord(
        file_limit_bytes=settings.file_limit_bytes, bandwidth_bytes_per_second=bandwidth
    ) as fake:
        channel = fake.create_channel()
        first: list[float] = []
        start = time.perf_counter()

        def on_event(event: object) -> None:
            if isinstance(event, BatchSent) and not first:
                first.append(time.perf_counter() - start)

        result = await upload_directory(
            root,
            Channel(channel, fake.bot_token),
            settings=settings,
            progress=on_event,
            api_base=fake.api_base,
        )
        wall = time.perf_counter() - start
        assert result.success, result.message
        return {
            "wall": wall,
            "first_upload": first[0] if first else wall,
            "messages": len([m for m in fake.messages if m.attachments]),
            "rate_limited": sum(fake.stats.rate_limited_by_scope.values()),
        }


async def run_staged(root: Path, settings: Settings, bandwidth: float) -> dict[str, float]:
    async with open_fake_discord(
        file_limit_bytes=settings.file_limit_bytes, bandwidth_bytes_per_second=bandwidth
    ) as fake:
        channel = Channel(fake.create_channel(), fake.bot_token)
        start = time.perf_counter()
        scan = await scan_media(root, settings)
        limit = settings.file_limit_bytes
        small = [f for f in scan.files if f.size_bytes <= limit]
        big = [f for f in scan.files if f.size_bytes > limit]
        workdir = Path(tempfile.mkdtemp(prefix="uploader-bench-"))
        compressed: list[MediaFile] = []
        encode_seconds = 0.0
        gate = trio.Semaphore(settings.compression_max_concurrent)

        async def compress(f: MediaFile) -> None:
            nonlocal encode_seconds
            async with gate:
                t = time.perf_counter()
                compressed.extend(
                    await compress_to_fit(
                        f, settings.compression_target_bytes, settings=settings, workdir=workdir
                    )
                )
                encode_seconds += time.perf_counter() - t

        async with trio.open_nursery() as nursery:
            for f in big:
                nursery.start_soon(compress, f)
        encoded_at = time.perf_counter() - start
        batches = original_batches(small + compressed, settings.batch_max_bytes)
        async with open_discord_client(settings, api_base=fake.api_base) as client:
            for batch in batches:
                await client.send_files(channel, batch.files)
        wall = time.perf_counter() - start
        shutil.rmtree(workdir, ignore_errors=True)
        upload_bytes = sum(f.size_bytes for b in batches for f in b.files)
        return {
            "wall": wall,
            "first_upload": encoded_at,
            "messages": len(batches),
            "encode_seconds": encode_seconds,
            "upload_bytes": upload_bytes,
            "rate_limited": sum(fake.stats.rate_limited_by_scope.values()),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--limit-mib", type=float, default=3.0)
    parser.add_argument("--bandwidth-mib", type=float, default=2.0)
    args = parser.parse_args()
    settings = Settings(
        upload_file_limit_mb=args.limit_mib,
        compression_ffmpeg_preset="veryfast",
        compression_max_concurrent=os.cpu_count() or 1,
        upload_enable_progress_updates=False,
        upload_linger_seconds=0.2,
    )
    bandwidth = args.bandwidth_mib * MIB
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "download"
        make_workload(root, args.videos, args.photos, args.songs)
        n = sum(1 for p in root.rglob("*") if p.is_file())
        print(
            f"{n} files ({args.videos} videos over the {args.limit_mib:g} MiB limit), "
            f"bandwidth {args.bandwidth_mib:g} MiB/s, channel limit 5 per 5 s, "
            f"{settings.compression_max_concurrent} encode workers"
        )
        staged = trio.run(run_staged, root, settings, bandwidth)
        ours = trio.run(run_pipeline, root, settings, bandwidth)
    workers = settings.compression_max_concurrent
    bound = max(
        staged["encode_seconds"] / workers,
        staged["upload_bytes"] / bandwidth,
        (ours["messages"] - 1) * 1.0,  # 5 messages per 5 s: one a second after the first
    )
    print()
    print(f"{'run':<28} {'wall s':>8} {'first upload s':>15} {'messages':>9} {'429s':>5}")
    print(
        f"{'pipeline (this project)':<28} {ours['wall']:>8.1f} {ours['first_upload']:>15.1f}"
        f" {ours['messages']:>9.0f} {ours['rate_limited']:>5.0f}"
    )
    print(
        f"{'staged (original order)':<28} {staged['wall']:>8.1f} {staged['first_upload']:>15.1f}"
        f" {staged['messages']:>9.0f} {staged['rate_limited']:>5.0f}"
    )
    print(f"{'lower bound':<28} {bound:>8.1f}")
    print()
    print(f"pipeline / lower bound : {ours['wall'] / bound:.2f}  (goal ≤ 1.15)")
    print(f"staged / pipeline      : {staged['wall'] / ours['wall']:.2f}  (goal ≥ 2)")
    print(
        f"(encode {staged['encode_seconds']:.1f} s over {workers} workers,"
        f" upload {staged['upload_bytes'] / MIB:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
