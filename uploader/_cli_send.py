"""`uploader send DIR` and `uploader demo`: the whole pipeline from the command line.

`send` delivers a folder to a webhook or a bot channel with live progress (bars on a terminal,
plain lines otherwise, nothing but the result with ``--json``). `demo` makes a small realistic
media folder with ffmpeg, starts the loopback Discord, sends the folder and shows what the
channel received.

Exit codes: 0 when every media file was delivered, 1 when some were not (each named with its
reason), 2 for usage errors. The bot token comes only from ``DISCORD_TOKEN``; the webhook URL
from ``--webhook`` or ``DISCORD_WEBHOOK_URL``. Neither is ever printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import trio

from ._models import FileStatus, UploadResult, format_size
from ._pipeline import upload_directory
from ._settings import Settings
from .discord import Channel, Webhook, WebhookUrlError
from .discord._destinations import describe
from .progress import LineReporter, ProgressArg, TerminalReporter


def register(sub: Any) -> None:
    """Add `uploader send` and `uploader demo` to the command line."""
    send = sub.add_parser(
        "send",
        help="deliver a directory's media to a Discord webhook or channel",
        description=(
            "Detect media under DIR, compress what is over the per-file limit, pack everything "
            "into as few messages as Discord allows and send them, uploading while compressing. "
            "The bot token is read from DISCORD_TOKEN (never a flag); the webhook URL may also "
            "come from DISCORD_WEBHOOK_URL."
        ),
    )
    send.add_argument("directory", type=Path, metavar="DIR")
    where = send.add_argument_group("destination (exactly one)")
    where.add_argument("--webhook", metavar="URL", help="webhook URL (or DISCORD_WEBHOOK_URL)")
    where.add_argument("--channel", type=int, metavar="ID", help="channel id, as the bot")
    _common_options(send)
    send.add_argument("--api-base", metavar="URL", help="Discord API base, e.g. a proxy")
    send.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="where compressed files go (default: a fresh private temporary folder)",
    )
    send.add_argument("--platform", default="", help='label messages "🎯 <platform> media files"')
    send.add_argument("--json", action="store_true", help="print one JSON document")
    send.set_defaults(func=run_send)

    demo = sub.add_parser(
        "demo",
        help="make a small media folder and send it to a loopback Discord",
        description=(
            "Generate a realistic media folder with ffmpeg (a video over the limit, photos, "
            "audio), start the loopback Discord, send the folder with full progress and print "
            "what the channel received. Needs no Discord account."
        ),
    )
    demo.add_argument(
        "--limit-mb",
        type=float,
        default=2.0,
        metavar="N",
        help="per-file limit of the loopback Discord in MiB (default 2, so encodes are quick)",
    )
    demo.add_argument(
        "--keep", type=Path, metavar="DIR", help="generate the folder here and keep it"
    )
    demo.add_argument("--webhook", action="store_true", help="send through a webhook, not a bot")
    demo.set_defaults(func=run_demo)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit-mb",
        type=float,
        metavar="N",
        help="per-file upload limit in MiB (default: UPLOAD_FILE_LIMIT_MB or 10)",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="split a video too long to fit into parts (COMPRESSION_SPLIT_LONG)",
    )


def _settings(args: argparse.Namespace, **more: Any) -> Settings:
    from .cli import UsageError

    overrides: dict[str, Any] = dict(more)
    if args.limit_mb is not None:
        if not args.limit_mb > 0:
            raise UsageError(f"--limit-mb must be a positive number of MiB, not {args.limit_mb}")
        overrides["upload_file_limit_mb"] = args.limit_mb
    if getattr(args, "split", False):
        overrides["compression_split_long"] = True
    return Settings.from_env(**overrides)


def _reporter(quiet: bool) -> ProgressArg:
    if quiet:
        return None
    if sys.stderr.isatty():
        return TerminalReporter()
    return LineReporter(lambda line: print(f"uploader: {line}", file=sys.stderr, flush=True))


def destination_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Webhook | Channel:
    """The destination ``--webhook``/``--channel`` and the environment name.

    ``--channel`` wins over a ``DISCORD_WEBHOOK_URL`` in the environment; a ``Bot `` prefix on
    ``DISCORD_TOKEN`` is tolerated.

    Raises:
        UsageError: none or both given, no DISCORD_TOKEN for a channel, a malformed URL.
    """
    from .cli import UsageError

    if args.webhook and args.channel is not None:
        raise UsageError("give either --webhook or --channel, not both")
    if args.channel is not None:
        token = environ.get("DISCORD_TOKEN", "").strip()
        scheme, _, rest = token.partition(" ")
        if scheme.lower() == "bot":
            token = rest.strip()
        if not token:
            raise UsageError("--channel needs the bot token in the DISCORD_TOKEN variable")
        return Channel(args.channel, token)
    url = args.webhook or environ.get("DISCORD_WEBHOOK_URL", "").strip()
    if not url:
        raise UsageError("give --webhook URL (or DISCORD_WEBHOOK_URL) or --channel ID")
    try:
        return Webhook(url)
    except WebhookUrlError as exc:
        raise UsageError(str(exc)) from None


def run_send(args: argparse.Namespace) -> int:
    """`uploader send`: returns the exit code."""
    from .cli import EXIT_FAILED, EXIT_OK, UsageError

    destination = destination_from(args, os.environ)
    if not args.directory.is_dir():
        what = "is a file, not a directory" if args.directory.exists() else "no such directory"
        raise UsageError(f"{args.directory}: {what}")
    api_base = args.api_base.rstrip("/") if args.api_base else None
    if api_base is not None and not api_base.startswith(("http://", "https://")):
        raise UsageError("--api-base must be an http:// or https:// URL")
    if args.workdir is not None and args.workdir.resolve().is_relative_to(args.directory.resolve()):
        raise UsageError(f"--workdir {args.workdir} must not be inside {args.directory}")
    settings = _settings(args)
    from .cli import run_trio

    result = run_trio(
        lambda: upload_directory(
            args.directory,
            destination,
            settings=settings,
            progress=_reporter(args.json),
            workdir=args.workdir,
            platform=args.platform,
            api_base=api_base,
        )
    )
    if args.json:
        json.dump(result_to_json(result, describe(destination)), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not sys.stderr.isatty():
        print_result(result, sys.stdout)
    return EXIT_OK if result.success else EXIT_FAILED


def print_result(result: UploadResult, out: TextIO) -> None:
    """The counts, then every media file that was not delivered, grouped by reason.

    A run-wide failure (a wrong token, an unknown channel, Discord unreachable) is one reason
    followed by the files it stopped, not the same line forty times.
    """
    out.write(
        f"{result.successful_uploads} delivered, {result.failed_uploads} not delivered,"
        f" {len(result.skipped)} skipped\n"
    )
    groups: dict[tuple[str, str], list[str]] = {}
    for o in result.failed:
        groups.setdefault((o.status.value, o.reason), []).append(str(o.path))
    for (status, reason), paths in groups.items():
        if len(paths) == 1:
            out.write(f"  {status}: {paths[0]}: {reason}\n")
            continue
        out.write(f"  {status} ({len(paths)} files): {reason}\n")
        out.writelines(f"    {path}\n" for path in paths)
    if result.workdir is not None and not result.success:
        out.write(f"compressed files kept in {result.workdir}\n")


def result_to_json(result: UploadResult, destination: str) -> dict[str, Any]:
    """The result as one JSON-ready document (no secrets: the destination is by id only)."""
    counts = {s.value: 0 for s in FileStatus}
    for o in result.outcomes:
        counts[o.status.value] += 1
    return {
        "destination": destination,
        "success": result.success,
        **counts,
        "messages": result.metadata.get("batches_processed", 0),
        "workdir": None if result.workdir is None else str(result.workdir),
        "files": [
            {
                "path": str(o.path),
                "status": o.status.value,
                "reason": o.reason or None,
                "message_id": o.message_id,
                "attachments": list(o.attachments),
                "sent_as": list(o.sent_as),
                "size_bytes": None if o.status is FileStatus.SKIPPED else o.size_bytes,
                "sent_bytes": o.sent_bytes,
            }
            for o in result.outcomes
        ],
        "metadata": result.metadata,
        "summary": result.message,
    }


# --- demo -----------------------------------------------------------------------------------


async def make_demo_folder(folder: Path, settings: Settings) -> None:
    """A download-like folder: a video over the limit, photos, a song, and a stray text file."""
    import ffmpeg

    await trio.Path(folder / "photos").mkdir(parents=True, exist_ok=True)
    ff = settings.compression_ffmpeg_path

    def lavfi(spec: str) -> Any:
        return ffmpeg.input(spec, f="lavfi")

    commands = [
        ffmpeg.output(
            lavfi("testsrc2=s=960x540:r=30:d=12,noise=alls=25:allf=t"),
            lavfi("sine=f=330:d=12:sample_rate=48000"),
            str(folder / "clip.mp4"),
            vcodec="libx264",
            preset="ultrafast",
            b="5M",
            pix_fmt="yuv420p",
            acodec="aac",
        ),
        ffmpeg.output(
            lavfi("sine=f=220:d=20:sample_rate=44100"),
            str(folder / "song.mp3"),
            audio_bitrate="192k",
        ),
    ]
    for i in range(6):
        commands.append(
            ffmpeg.output(
                lavfi(f"mandelbrot=s=1280x720:start_scale={0.5 + i * 0.3}"),
                str(folder / "photos" / f"photo_{i + 1:02d}.jpg"),
                vframes=1,
                q=2,
            )
        )
    for command in commands:
        argv = (
            command.global_args("-nostdin", "-loglevel", "error").overwrite_output().compile(cmd=ff)
        )
        await trio.run_process(argv, capture_stdout=True, capture_stderr=True)
    await trio.Path(folder / "notes.txt").write_text("not media: the detector skips this\n")


def run_demo(args: argparse.Namespace) -> int:
    """`uploader demo`: returns 0 when the loopback channel received every file intact."""
    from .cli import EXIT_FAILED, EXIT_OK, UsageError

    if not args.limit_mb > 0:
        raise UsageError(f"--limit-mb must be a positive number of MiB, not {args.limit_mb}")
    settings = Settings.from_env(
        upload_file_limit_mb=args.limit_mb,
        compression_max_upload_size_mb=None,
        upload_linger_seconds=0.2,
    )
    from .cli import run_trio

    return EXIT_OK if run_trio(lambda: _demo(args, settings)) else EXIT_FAILED


async def _demo(args: argparse.Namespace, settings: Settings) -> bool:
    from .compress import FFmpegNotFoundError
    from .testing import open_fake_discord

    def say(line: str) -> None:
        print(line, flush=True)

    with tempfile.TemporaryDirectory(prefix="uploader-demo-") as scratch:
        folder = args.keep or Path(scratch) / "download"
        say(f"1. Making a media folder with ffmpeg in {folder} ...")
        try:
            await make_demo_folder(folder, settings)
        except FileNotFoundError:
            raise FFmpegNotFoundError(
                folder, "ffmpeg is not installed (Debian: apt-get install ffmpeg)"
            ) from None
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            say(f"   {path.relative_to(folder)}  {format_size(path.stat().st_size)}")
        limit = settings.file_limit_bytes
        async with open_fake_discord(file_limit_bytes=limit) as fake:
            target: Webhook | Channel
            if args.webhook:
                target = Webhook(fake.create_webhook())
                where = "a webhook"
            else:
                target = Channel(fake.create_channel(), fake.bot_token)
                where = f"channel {target.channel_id} as a bot"
            say(
                f"2. Loopback Discord on {fake.api_base} (per-file limit {format_size(limit)},"
                f" Discord's rate limits); sending to {where} ..."
            )
            result = await upload_directory(
                folder,
                target,
                settings=settings,
                progress=_reporter(False),
                api_base=fake.api_base if not args.webhook else None,
                platform="Demo",
            )
            say("3. What the channel received:")
            sent = {o.path.name: o for o in result.outcomes if o.status is FileStatus.DELIVERED}
            intact = True
            for message in fake.messages:
                first = (message.content or "").splitlines()[:1]
                say(f"   message {message.id}: {first[0] if first else ''}")
                for a in message.attachments:
                    say(f"     📎 {a.filename}  {format_size(a.size)}  sha256 {a.sha256[:12]}…")
            for name, outcome in sent.items():
                if not outcome.compressed:
                    digest = hashlib.sha256(outcome.path.read_bytes()).hexdigest()
                    got = [
                        a.sha256 for m in fake.messages for a in m.attachments if a.filename == name
                    ]
                    intact = intact and got == [digest]
            limited = sum(fake.stats.rate_limited_by_scope.values())
            say(f"   {fake.stats.requests} requests, {limited} answered 429")
            ok = result.success and intact
            say("✅ every file arrived once, intact" if ok else "❌ something was not delivered")
            return ok
