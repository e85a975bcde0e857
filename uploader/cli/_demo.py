"""`uploader demo`: make a small media folder, send it to the loopback Discord, show what arrived.

Needs ffmpeg and no Discord account: the folder is generated with ffmpeg's test sources, the
loopback Discord plays the real limits, and the command checks every file arrived once, intact.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .._errors import UploaderError
from .._models import FileStatus, UploadResult, format_size
from .._pipeline import upload_directory
from .._settings import Settings
from ..compress import FFmpegNotFoundError
from ..discord import Channel, Webhook
from ..testing import FakeDiscord, open_fake_discord
from ._common import EXIT_FAILED, EXIT_OK, add_limit_mb, progress_reporter, run_trio
from ._demo_bot import run_bot_demo
from ._tools import describe_missing, missing_tools

if TYPE_CHECKING:
    from ._common import Subcommands


def register(subcommands: Subcommands) -> None:
    """Add `uploader demo` to the command line."""
    demo = subcommands.add_parser(
        "demo",
        help="make a small media folder and send it to a loopback Discord",
        description=(
            "Generate a realistic media folder with ffmpeg (a video over the limit, photos, "
            "audio), start the loopback Discord, send the folder with full progress and print "
            "what the channel received. Needs no Discord account."
        ),
    )
    add_limit_mb(
        demo,
        "per-file limit of the loopback Discord in MiB (default 2, so encodes are quick)",
        default=2.0,
    )
    demo.add_argument(
        "--keep", type=Path, metavar="DIR", help="generate the folder here and keep it"
    )
    demo.add_argument("--webhook", action="store_true", help="send through a webhook, not a bot")
    demo.add_argument(
        "--bot",
        action="store_true",
        help="bot mode: a user posts !upload <links> and the bot answers with the media",
    )
    demo.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """`uploader demo`: returns 0 when the loopback channel received every file intact."""
    settings = Settings.from_env(
        upload_file_limit_mb=args.limit_mb,
        compression_max_upload_size_mb=None,
        upload_linger_seconds=0.2,
    )
    missing = missing_tools(settings)
    if missing:  # the demo makes its media with ffmpeg: say so once, before anything
        raise UploaderError(f"the demo needs ffmpeg: {describe_missing(missing)}")
    if args.bot:
        return EXIT_OK if run_trio(lambda: run_bot_demo(settings)) else EXIT_FAILED
    return EXIT_OK if run_trio(lambda: _demo(args, settings)) else EXIT_FAILED


def _say(line: str) -> None:
    print(line, flush=True)


def demo_commands(folder: Path, ffmpeg: str) -> list[list[str]]:
    """The ffmpeg command lines that make the demo's media from ffmpeg's test sources."""
    quiet = [ffmpeg, "-nostdin", "-loglevel", "error", "-y"]
    clip = [
        *("-f", "lavfi", "-i", "testsrc2=s=960x540:r=30:d=12,noise=alls=25:allf=t"),
        *("-f", "lavfi", "-i", "sine=f=330:d=12:sample_rate=48000"),
        *("-map", "0", "-map", "1", "-vcodec", "libx264", "-preset", "ultrafast", "-b", "5M"),
        *("-pix_fmt", "yuv420p", "-acodec", "aac", str(folder / "clip.mp4")),
    ]
    song = ["-f", "lavfi", "-i", "sine=f=220:d=20:sample_rate=44100", "-b:a", "192k"]
    commands = [[*quiet, *clip], [*quiet, *song, str(folder / "song.mp3")]]
    for i in range(6):
        photo = f"mandelbrot=s=1280x720:start_scale={0.5 + i * 0.3}"
        target = folder / "photos" / f"photo_{i + 1:02d}.jpg"
        commands.append(
            [*quiet, "-f", "lavfi", "-i", photo, "-vframes", "1", "-q", "2", str(target)]
        )
    return commands


async def make_demo_folder(folder: Path, settings: Settings) -> None:
    """A download-like folder: a video over the limit, photos, a song, and a stray text file."""
    await trio.Path(folder / "photos").mkdir(parents=True, exist_ok=True)
    for argv in demo_commands(folder, settings.compression_ffmpeg_path):
        await trio.run_process(argv, capture_stdout=True, capture_stderr=True)
    await trio.Path(folder / "notes.txt").write_text("not media: the detector skips this\n")


async def _make_folder(folder: Path, settings: Settings) -> None:
    _say(f"1. Making a media folder with ffmpeg in {folder} ...")
    try:
        await make_demo_folder(folder, settings)
    except FileNotFoundError:
        raise FFmpegNotFoundError(folder, settings.compression_ffmpeg_path) from None
    for line in await trio.to_thread.run_sync(_listing, folder):
        _say(line)


def _listing(folder: Path) -> list[str]:
    """A line per file under ``folder``: its path and size."""
    return [
        f"   {path.relative_to(folder)}  {format_size(path.stat().st_size)}"
        for path in sorted(p for p in folder.rglob("*") if p.is_file())
    ]


async def _demo(args: argparse.Namespace, settings: Settings) -> bool:
    with tempfile.TemporaryDirectory(prefix="uploader-demo-") as scratch:
        folder = args.keep or Path(scratch) / "download"
        await _make_folder(folder, settings)
        limit = settings.file_limit_bytes
        async with open_fake_discord(file_limit_bytes=limit) as fake:
            target: Webhook | Channel
            if args.webhook:
                target = Webhook(fake.create_webhook())
                where = "a webhook"
            else:
                target = Channel(fake.create_channel(), fake.bot_token)
                where = f"channel {target.channel_id} as a bot"
            _say(
                f"2. Loopback Discord on {fake.api_base} (per-file limit {format_size(limit)},"
                f" Discord's rate limits); sending to {where} ..."
            )
            result = await upload_directory(
                folder,
                target,
                settings=settings,
                progress=progress_reporter(False, root=folder),
                api_base=fake.api_base if not args.webhook else None,
                platform="Demo",
            )
            return _show_received(fake, result)


def _show_received(fake: FakeDiscord, result: UploadResult) -> bool:
    """Print what the channel received; True when every file arrived once, intact."""
    _say("3. What the channel received:")
    for message in fake.messages:
        first, *rest = (message.content or "").splitlines() or [""]
        _say(f"   message {message.id}: {first}")
        for line in rest:  # e.g. the compression info beside a compressed file
            _say(f"     {line}")
        for a in message.attachments:
            _say(f"     📎 {a.filename}  {format_size(a.size)}  sha256 {a.sha256[:12]}…")
    sent = {o.path.name: o for o in result.outcomes if o.status is FileStatus.DELIVERED}
    intact = True
    for name, outcome in sent.items():
        if not outcome.compressed:
            digest = hashlib.sha256(outcome.path.read_bytes()).hexdigest()
            got = [a.sha256 for m in fake.messages for a in m.attachments if a.filename == name]
            intact = intact and got == [digest]
    limited = sum(fake.stats.rate_limited_by_scope.values())
    _say(f"   {fake.stats.requests} requests, {limited} answered 429")
    ok = result.success and intact
    _say("✅ every file arrived once, intact" if ok else "❌ something was not delivered")
    return ok
