"""`uploader fake-discord`: run the loopback Discord standalone until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import TYPE_CHECKING, Any

import trio

from .._errors import UploaderError
from .._limits import BOOSTED_FILE_LIMITS, file_limit_for_tier
from .._models import MIB, format_size
from ..testing import RecordedMessage, discord_com_url, open_fake_discord
from ._common import EXIT_OK, add_limit_mb

if TYPE_CHECKING:
    from ._common import Subcommands


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def register(subcommands: Subcommands) -> None:
    """Add `uploader fake-discord` to the command line."""
    parser = subcommands.add_parser(
        "fake-discord",
        help="run a loopback Discord to try the uploader against",
        description=(
            "Serve a fake Discord API on 127.0.0.1: it records every message and attachment "
            "(logged here) and plays Discord's rate and size limits. Stop with Ctrl-C."
        ),
    )
    parser.add_argument("--port", type=_port, default=0, help="TCP port (default: a free one)")
    add_limit_mb(
        parser, "per-file upload limit in MiB (default: 10, Discord's default)", default=10.0
    )
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="answer every request at once: no webhook, channel or global limits",
    )
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run the fake until SIGINT or SIGTERM; exit code 0."""
    try:
        trio.run(_serve, args)
    except OSError as exc:
        raise UploaderError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from exc
    return EXIT_OK


def _print(text: str) -> None:
    print(text, flush=True)


def premium_tier_for(file_limit: int) -> int:
    """The lowest boost tier whose per-file limit is at least ``file_limit`` (3 at most).

    The fake's channel gets this tier, so a client that reads the guild (discord.py's
    ``guild.filesize_limit``) sees what the fake accepts.
    """
    for tier in (0, *sorted(BOOSTED_FILE_LIMITS)):
        if file_limit_for_tier(tier) >= file_limit:
            return tier
    return max(BOOSTED_FILE_LIMITS)


def _log_message(message: RecordedMessage) -> None:
    if message.author_id is not None:
        source = f"user {message.author_id}"
    else:
        source = f"webhook {message.webhook_id}" if message.webhook_id else "bot"
    preview = message.content if len(message.content) <= 60 else message.content[:57] + "..."
    files = len(message.attachments)
    _print(
        f"message {message.id} in channel {message.channel_id} from {source}: "
        f"{preview!r}, {files} attachment{'s' if files != 1 else ''}"
    )
    for attachment in message.attachments:
        _print(
            f"    {attachment.filename}  {format_size(attachment.size)}  "
            f"sha256 {attachment.sha256[:16]}"
        )


def _log_update(message: RecordedMessage) -> None:
    if message.deleted:
        _print(f"message {message.id} in channel {message.channel_id} deleted")
        return
    preview = message.content if len(message.content) <= 60 else message.content[:57] + "..."
    _print(f"message {message.id} in channel {message.channel_id} edited: {preview!r}")


async def _serve(args: argparse.Namespace) -> None:
    file_limit = round(args.limit_mb * MIB)
    limits: dict[str, Any] = {}
    if args.no_rate_limits:
        limits = {"webhook_limit": None, "channel_limit": None, "global_limit": None}
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_fake_discord(
            port=args.port,
            file_limit_bytes=file_limit,
            request_limit_bytes=max(25 * MIB, file_limit + MIB),
            on_message=_log_message,
            gateway=True,
            **limits,
        ) as fake:
            fake.on_update = _log_update
            tier = premium_tier_for(file_limit)
            channel = fake.create_channel(premium_tier=tier)
            webhook = fake.create_webhook(channel_id=channel)
            _print(f"fake Discord listening on {fake.base_url}")
            _print(f"  api base:    {fake.api_base}")
            _print(f"  bot token:   {fake.bot_token}")
            _print(f"  channel id:  {channel}")
            _print(f"  webhook URL: {webhook}")
            _print(f"  discord.com: {discord_com_url(webhook)}")
            _print(
                "               (for discord.py's Webhook.from_url; "
                f"set discord.http.Route.BASE = {fake.api_base!r})"
            )
            limit = format_size(fake.file_limit_of(channel))
            _print(f"  file limit:  {limit} per attachment (guild boost tier {tier})")
            control = f"POST {fake.inspect_url}/faults, POST .../_fake/channels/ID/threads"
            _print(f"  control:     {control}  (faults and threads, see the README)")
            _print(f"  inspect:     {fake.inspect_url}/messages  (and /stats; read-only JSON)")
            _print(f"  discord.js:  api option {fake.base_url}/api")
            if fake.gateway is not None:
                _print(f"  gateway:     {fake.gateway.url}  (GET /gateway/bot hands it out)")
            _print("try:")
            _print(
                f"  DISCORD_TOKEN={fake.bot_token} uploader send DIR --channel {channel} "
                f"--api-base {fake.api_base}"
            )
            _print(f"  uploader send DIR --webhook {webhook}")
            _print(
                f"  DISCORD_TOKEN={fake.bot_token} BOT_ALLOW_PRIVATE_URLS=true "
                f"uploader bot --api-base {fake.api_base}"
            )
            _print("  serve a folder of media on loopback for the bot to fetch:")
            _print("  python3 -m http.server 8000 --bind 127.0.0.1 --directory DIR")
            _print("  then post as a user (the bot answers in the channel; FILE is in DIR):")
            _print(
                f"  curl -s {fake.user_post_url(channel)} -H 'Content-Type: application/json' "
                """-d '{"content": "!upload http://127.0.0.1:8000/FILE"}'"""
            )
            _print("Ctrl-C to stop.")
            async for _ in signals:
                break
    print("fake Discord stopped.", file=sys.stderr, flush=True)
