"""The destination options of `uploader send`, and a simple sender: scan, plan, send in order.

`destination_from` turns ``--webhook``/``--channel`` and the environment into a `Destination`
(the registered `uploader send` in ``uploader._cli_send`` uses it). `send_directory` and
`register` are the client-only sender: no compression, batches through
`DiscordClient.send_files` in order, one outcome per file; files over the per-file limit are
skipped. The per-message work (multipart body, rate limits, retries, deduplication) lives in
the client, so the pipeline reuses it unchanged.

Exit codes: 0 when every media file was delivered, 1 when some were not (each named with its
reason), 2 for usage errors. The bot token comes only from ``DISCORD_TOKEN``; the webhook URL
from ``--webhook`` or ``DISCORD_WEBHOOK_URL``. Neither is ever printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio

from .._batching import plan_batches
from .._detect import scan_media
from .._errors import UploaderError
from .._models import MIB, MediaFile, UnreadablePath
from .._settings import Settings
from ._client import DiscordClient, open_discord_client
from ._destinations import Channel, Destination, Webhook, describe
from ._errors import (
    DestinationNotFoundError,
    InvalidRequestBudgetError,
    MissingPermissionsError,
    RateLimitBanError,
    RateLimitWaitTooLongError,
    WebhookUrlError,
)

DELIVERED = "delivered"
SKIPPED = "skipped"
FAILED = "failed"

FATAL_ERRORS = (
    DestinationNotFoundError,
    MissingPermissionsError,
    RateLimitBanError,
    InvalidRequestBudgetError,
    RateLimitWaitTooLongError,
)
"""Errors after which no further batch is attempted: they would fail the same way."""


@attrs.frozen
class FileOutcome:
    """What happened to one file.

    Attributes:
        path: the file.
        status: ``delivered``, ``skipped`` or ``failed``.
        message_id: the message carrying it, when delivered.
        attachment_id: its attachment's id, when delivered.
        reason: why it was skipped or failed.
    """

    path: Path
    status: str
    message_id: str | None = None
    attachment_id: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "status": self.status,
            "message_id": self.message_id,
            "attachment_id": self.attachment_id,
            "reason": self.reason,
        }


@attrs.frozen
class SendReport:
    """Every file's outcome, in the order files were found, then the detector's notes."""

    destination: str
    outcomes: tuple[FileOutcome, ...]
    notes: tuple[FileOutcome, ...]
    messages: int

    @property
    def complete(self) -> bool:
        """True when every media file was delivered and nothing was unreadable."""
        return all(o.status == DELIVERED for o in self.outcomes) and not any(
            n.status == FAILED for n in self.notes
        )

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "messages": self.messages,
            "delivered": self.count(DELIVERED),
            "skipped": self.count(SKIPPED),
            "failed": self.count(FAILED),
            "files": [o.to_json() for o in self.outcomes],
            "not_media": [n.to_json() for n in self.notes],
        }


def register(sub: Any) -> None:
    """Add the client-only `send` command to a parser (``uploader`` registers the pipeline's)."""
    parser = sub.add_parser(
        "send",
        help="deliver a directory's media to a Discord webhook or channel",
        description=(
            "Detect media under DIR, pack it into as few messages as Discord allows and send "
            "them in order. The bot token is read from DISCORD_TOKEN (never a flag); the webhook "
            "URL may also come from DISCORD_WEBHOOK_URL."
        ),
    )
    parser.add_argument("directory", type=Path, metavar="DIR")
    where = parser.add_argument_group("destination (exactly one)")
    where.add_argument("--webhook", metavar="URL", help="webhook URL (or DISCORD_WEBHOOK_URL)")
    where.add_argument("--channel", type=int, metavar="ID", help="channel id, as the bot")
    parser.add_argument(
        "--api-base", metavar="URL", help="Discord API base, e.g. a rate-limit proxy"
    )
    parser.add_argument(
        "--limit-mb",
        type=float,
        metavar="N",
        help="per-file upload limit in MiB (default: UPLOAD_FILE_LIMIT_MB or 10)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def destination_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Destination:
    """The destination the options and environment name.

    Raises:
        UsageError: none or both given, no DISCORD_TOKEN for a channel, a malformed URL.
    """
    from ..cli import UsageError

    if args.webhook and args.channel is not None:
        raise UsageError("give either --webhook or --channel, not both")
    if args.channel is not None:
        token = environ.get("DISCORD_TOKEN", "").strip()
        if token.lower().startswith("bot "):
            token = token[4:].strip()
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


def run(args: argparse.Namespace) -> int:
    """`uploader send`: returns the exit code."""
    from ..cli import EXIT_FAILED, EXIT_OK, UsageError

    destination = destination_from(args, os.environ)
    directory: Path = args.directory
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    if args.limit_mb is not None and not args.limit_mb > 0:
        raise UsageError(f"--limit-mb must be a positive number of MiB, not {args.limit_mb}")
    api_base = args.api_base.rstrip("/") if args.api_base else None
    if api_base is not None and not api_base.startswith(("http://", "https://")):
        raise UsageError("--api-base must be an http:// or https:// URL")
    overrides = {} if args.limit_mb is None else {"upload_file_limit_mb": args.limit_mb}
    settings = Settings.from_env(**overrides)

    def progress(line: str) -> None:
        print(f"uploader send: {line}", file=sys.stderr, flush=True)

    report = trio.run(
        lambda: send_directory(
            directory, destination, settings, api_base=api_base, progress=progress
        )
    )
    print_report(report, sys.stdout, as_json=args.json)
    return EXIT_OK if report.complete else EXIT_FAILED


async def send_directory(
    directory: Path,
    destination: Destination,
    settings: Settings,
    *,
    api_base: str | None = None,
    progress: Callable[[str], None] = lambda line: None,
    client: DiscordClient | None = None,
) -> SendReport:
    """Scan ``directory``, plan the messages and send them in order.

    Args:
        directory: the folder to deliver.
        destination: the webhook or channel.
        settings: limits and batch sizes.
        api_base: an explicit API base (see `open_discord_client`).
        progress: called with one line per batch.
        client: an open client to use; by default one is opened here.
    """
    scan = await scan_media(directory, settings)
    notes = tuple(
        FileOutcome(
            issue.path,
            FAILED if isinstance(issue, UnreadablePath) else SKIPPED,
            reason=issue.reason,
        )
        for issue in scan.issues
    )
    outcomes: dict[Path, FileOutcome] = {}
    sendable: list[MediaFile] = []
    limit = settings.file_limit_bytes
    for media in scan.files:
        if media.size_bytes > limit:
            outcomes[media.path] = FileOutcome(
                media.path,
                SKIPPED,
                reason=f"over the {limit / MIB:g} MiB limit; compression lands later",
            )
        else:
            sendable.append(media)
    batches = plan_batches(
        sendable,
        max_files=settings.upload_max_files_per_batch,
        max_bytes=settings.batch_max_bytes,
    )
    messages = 0
    if batches:
        if client is None:
            async with open_discord_client(settings, api_base=api_base) as owned:
                messages = await _send_batches(
                    owned, destination, batches, outcomes, progress, settings.batch_max_bytes
                )
        else:
            messages = await _send_batches(
                client, destination, batches, outcomes, progress, settings.batch_max_bytes
            )
    ordered = tuple(outcomes[media.path] for media in scan.files)
    return SendReport(describe(destination), ordered, notes, messages)


async def _send_batches(
    client: DiscordClient,
    destination: Destination,
    batches: Sequence[Any],
    outcomes: dict[Path, FileOutcome],
    progress: Callable[[str], None],
    max_bytes: int,
) -> int:
    messages = 0
    fatal: str | None = None
    for number, batch in enumerate(batches, 1):
        label = (
            f"message {number}/{len(batches)} "
            f"({len(batch.files)} file{'s' * (len(batch.files) != 1)}, "
            f"{batch.total_bytes / MIB:.1f} MiB)"
        )
        if fatal is not None:
            _fail(batch.files, outcomes, f"not sent: {fatal}")
            continue
        if batch.oversized:
            reason = (
                f"over the {max_bytes / MIB:.1f} MiB a message may carry; compression lands later"
            )
            for media in batch.files:
                outcomes[media.path] = FileOutcome(media.path, SKIPPED, reason=reason)
            progress(f"{label}: skipped, {reason}")
            continue
        try:
            sent = await client.send_files(destination, batch.files)
        except FATAL_ERRORS as exc:
            fatal = str(exc)
            _fail(batch.files, outcomes, fatal)
            progress(f"{label}: failed, {fatal}; stopping")
            continue
        except UploaderError as exc:
            _fail(batch.files, outcomes, str(exc))
            progress(f"{label}: failed, {exc}")
            continue
        messages += 1
        attachments = list(sent.attachments)
        for index, media in enumerate(batch.files):
            attachment = attachments[index] if len(attachments) == len(batch.files) else None
            outcomes[media.path] = FileOutcome(
                media.path,
                DELIVERED,
                message_id=sent.id,
                attachment_id=attachment.id if attachment else None,
            )
        progress(f"{label}: delivered as message {sent.id}")
    return messages


def _fail(files: Sequence[MediaFile], outcomes: dict[Path, FileOutcome], reason: str) -> None:
    for media in files:
        outcomes[media.path] = FileOutcome(media.path, FAILED, reason=reason)


def print_report(report: SendReport, out: TextIO, *, as_json: bool) -> None:
    """Print the outcome: one JSON document, or a summary and one line per undelivered file."""
    if as_json:
        json.dump(report.to_json(), out, indent=2)
        out.write("\n")
        return
    total = len(report.outcomes)
    out.write(
        f"{report.count(DELIVERED)}/{total} files delivered to {report.destination} "
        f"in {report.messages} message{'s' * (report.messages != 1)}"
    )
    skipped, failed = report.count(SKIPPED), report.count(FAILED)
    extra = [f"{n} {word}" for n, word in ((skipped, "skipped"), (failed, "failed")) if n]
    out.write(f" ({', '.join(extra)})\n" if extra else "\n")
    for outcome in (*report.outcomes, *(n for n in report.notes if n.status == FAILED)):
        if outcome.status != DELIVERED:
            out.write(f"  {outcome.status}: {outcome.path}: {outcome.reason}\n")
