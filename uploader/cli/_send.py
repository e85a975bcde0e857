"""`uploader send DIR`: the whole pipeline from the command line.

`send` delivers a folder to a webhook or a bot channel with live progress (bars on a terminal,
plain lines otherwise, nothing but the result with ``--json``).

Exit codes: 0 when every media file was delivered, 1 when some were not (each named with its
reason), 2 for usage errors. The bot token comes only from ``DISCORD_TOKEN``; the webhook URL
from ``--webhook`` or ``DISCORD_WEBHOOK_URL``. Neither is ever printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .._models import FileStatus, UploadResult
from .._pipeline import upload_directory
from .._settings import Settings
from ..discord import Channel, Webhook, WebhookUrlError
from ..discord._destinations import describe
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_limit_mb,
    progress_reporter,
    require_directory,
    run_trio,
)

if TYPE_CHECKING:
    from ._common import Subcommands


def register(subcommands: Subcommands) -> None:
    """Add `uploader send` to the command line."""
    send = subcommands.add_parser(
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
    add_limit_mb(send, "per-file upload limit in MiB (default: UPLOAD_FILE_LIMIT_MB or 10)")
    send.add_argument(
        "--split",
        action="store_true",
        help="split a video too long to fit into parts (COMPRESSION_SPLIT_LONG)",
    )
    send.add_argument("--api-base", metavar="URL", help="Discord API base, e.g. a proxy")
    send.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="where compressed files go (default: a fresh private temporary folder)",
    )
    send.add_argument("--platform", default="", help='label messages "🎯 <platform> media files"')
    send.add_argument("--json", action="store_true", help="print one JSON document")
    _add_delivery_options(send)
    send.set_defaults(func=run_send)


def _add_delivery_options(send: argparse.ArgumentParser) -> None:
    delivery = send.add_argument_group("delivery")
    delivery.add_argument(
        "--resend-uncertain",
        action="store_true",
        help=(
            "webhooks only: post a batch once more when Discord's answer was lost, trading a "
            "possible duplicate for a possible gap (UPLOAD_RESEND_UNCERTAIN; the default keeps "
            "such files 'uncertain' for you to check). Bot posts never need it: their nonce "
            "makes a repeat harmless"
        ),
    )
    delivery.add_argument(
        "--fresh",
        action="store_true",
        help=(
            "ignore this folder's delivery journal and send everything again (by default a "
            "second send of the same folder to the same place sends only what is not yet "
            "delivered; UPLOAD_RESUME=false turns journaling off)"
        ),
    )
    delivery.add_argument(
        "--journal-dir",
        type=Path,
        metavar="DIR",
        help="where delivery journals live (UPLOAD_JOURNAL_DIR; default "
        "$XDG_STATE_HOME/uploader/journals); they hold no token and no webhook URL",
    )


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.limit_mb is not None:
        overrides["upload_file_limit_mb"] = args.limit_mb
    if args.split:
        overrides["compression_split_long"] = True
    if args.resend_uncertain:
        overrides["upload_resend_uncertain"] = True
    if args.journal_dir is not None:
        overrides["upload_journal_dir"] = str(args.journal_dir)
    return Settings.from_env(**overrides)


def destination_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Webhook | Channel:
    """The destination ``--webhook``/``--channel`` and the environment name.

    ``--channel`` wins over a ``DISCORD_WEBHOOK_URL`` in the environment; a ``Bot `` prefix on
    ``DISCORD_TOKEN`` is tolerated.

    Raises:
        UsageError: none or both given, no DISCORD_TOKEN for a channel, a malformed URL.
    """
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
    destination = destination_from(args, os.environ)
    require_directory(args.directory)
    api_base = args.api_base.rstrip("/") if args.api_base else None
    if api_base is not None and not api_base.startswith(("http://", "https://")):
        raise UsageError("--api-base must be an http:// or https:// URL")
    if args.workdir is not None and args.workdir.resolve().is_relative_to(args.directory.resolve()):
        raise UsageError(f"--workdir {args.workdir} must not be inside {args.directory}")
    settings = _settings(args)
    result = run_trio(
        lambda: upload_directory(
            args.directory,
            destination,
            settings=settings,
            progress=progress_reporter(args.json),
            workdir=args.workdir,
            platform=args.platform,
            api_base=api_base,
            fresh=args.fresh,
        )
    )
    nothing = nothing_to_send(result)
    if args.json:
        json.dump(result_to_json(result, describe(destination)), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif nothing is not None:
        print(nothing)
    elif not sys.stderr.isatty():
        print_result(result, sys.stdout)
    return EXIT_OK if result.success else EXIT_FAILED


def nothing_to_send(result: UploadResult) -> str | None:
    """The one line for a run whose every file an earlier run delivered, else None."""
    earlier = result.metadata.get("already_delivered", 0)
    if not result.success or not earlier or earlier != result.metadata.get("total_files"):
        return None
    return (
        f"nothing to send: {earlier} files already delivered "
        f"(journal {result.metadata.get('journal')}; --fresh sends them again)"
    )


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
