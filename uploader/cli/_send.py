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
from typing import TYPE_CHECKING, Any

import attrs

from .._events import ProgressEvent
from .._models import UploadResult
from .._pipeline import upload_directory
from .._results import Collector
from .._settings import Settings
from ..discord import Channel, Webhook, WebhookUrlError
from ..discord._destinations import describe
from ..progress import as_reporters
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_limit_mb,
    progress_reporter,
    require_directory,
    run_trio,
)
from ._output import has_media, interrupted_result, print_result, result_to_json
from ._tools import warn_missing_tools

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
    warn_missing_tools("send", settings)
    collector = Collector()  # what is known if the run is interrupted
    progress = progress_reporter(args.json, summary=False, root=args.directory)
    reporters = [_Taker(collector), *as_reporters(progress)]
    try:
        result = run_trio(
            lambda: upload_directory(
                args.directory,
                destination,
                settings=settings,
                progress=reporters,
                workdir=args.workdir,
                platform=args.platform,
                api_base=api_base,
                fresh=args.fresh,
            )
        )
    except KeyboardInterrupt:
        _report(interrupted_result(collector), args, destination)
        raise
    _report(result, args, destination)
    if not has_media(result):
        print(
            f"uploader send: nothing to send: no media files in {args.directory}", file=sys.stderr
        )
        return EXIT_FAILED
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


@attrs.frozen
class _Taker:
    """A reporter that hands every event to a collector."""

    collector: Collector

    def handle(self, event: ProgressEvent) -> None:
        self.collector.take(event)

    async def run(self) -> None:
        return None


def _report(result: UploadResult, args: argparse.Namespace, destination: Webhook | Channel) -> None:
    """The result on stdout: one JSON document with ``--json``, else the text report."""
    nothing = nothing_to_send(result)
    if args.json:
        json.dump(result_to_json(result, describe(destination)), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif nothing is not None:
        print(nothing)
    else:
        print_result(result, sys.stdout)
    sys.stdout.flush()
