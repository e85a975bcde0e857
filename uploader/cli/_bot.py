"""`uploader bot`: run the Discord bot (``!upload <link>``, ``/upload``) until Ctrl-C.

The token comes only from ``DISCORD_TOKEN``; ``--api-base`` (or ``DISCORD_API_BASE``) points it
at another Discord, e.g. ``uploader fake-discord``. The bot's own settings are the ``BOT_*``
variables, the pipeline's the usual ``UPLOAD_*``/``COMPRESSION_*`` ones. The first SIGINT or
SIGTERM lets running requests finish (10 s at most), a second cancels them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import trio

from .._errors import single_error
from .._settings import Settings
from ..bot import BOT_ENV_VARIABLES, Bot, BotSettings, run_bot
from ._common import EXIT_OK, UsageError

if TYPE_CHECKING:
    from ._common import Subcommands


def register(subcommands: Subcommands) -> None:
    """Add `uploader bot` to the command line."""
    parser = subcommands.add_parser(
        "bot",
        help="run the Discord bot: post a link, get the media back",
        description=(
            "Connect to Discord's gateway as a bot and answer `!upload <link> [<link> ...]`, "
            "`!status` and the /upload slash command: download each link (size-capped, public "
            "addresses only), compress what must be and post the media into that channel with "
            "one live status message. The token is read from DISCORD_TOKEN (never a flag). "
            f"Bot settings: {', '.join(BOT_ENV_VARIABLES)}. Stop with Ctrl-C."
        ),
    )
    parser.add_argument(
        "--api-base", metavar="URL", help="Discord API base (or DISCORD_API_BASE), e.g. a fake's"
    )
    parser.set_defaults(func=run_bot_command)


def token_from(environ: Mapping[str, str]) -> str:
    """The bot token in ``DISCORD_TOKEN`` (a ``Bot `` prefix is tolerated).

    Raises:
        UsageError: it is not set.
    """
    token = environ.get("DISCORD_TOKEN", "").strip()
    scheme, _, rest = token.partition(" ")
    if scheme.lower() == "bot":
        token = rest.strip()
    if not token:
        raise UsageError("the bot token must be in the DISCORD_TOKEN variable")
    return token


def run_bot_command(args: argparse.Namespace) -> int:
    """`uploader bot`: runs until SIGINT/SIGTERM; exit code 0 after a clean stop."""
    token = token_from(os.environ)
    api_base = args.api_base.rstrip("/") if args.api_base else None
    if api_base is not None and not api_base.startswith(("http://", "https://")):
        raise UsageError("--api-base must be an http:// or https:// URL")
    settings = Settings.from_env()
    bot_settings = BotSettings.from_env()
    logging.getLogger("uploader.bot").setLevel(logging.INFO)
    logging.getLogger("uploader.gateway").setLevel(logging.INFO)
    with single_error():
        trio.run(_run, token, settings, bot_settings, api_base)
    print("uploader bot: stopped", file=sys.stderr, flush=True)
    return EXIT_OK


async def _run(
    token: str, settings: Settings, bot_settings: BotSettings, api_base: str | None
) -> None:
    async with trio.open_nursery() as nursery:
        bot: Bot = await nursery.start(
            lambda task_status: run_bot(
                token,
                settings=settings,
                bot_settings=bot_settings,
                api_base=api_base,
                task_status=task_status,
            )
        )
        print(
            f"uploader bot: ready as user {bot.user_id} on "
            f"{api_base or settings.discord_api_base}; commands: "
            f"{bot_settings.command_prefix}upload <link>, {bot_settings.command_prefix}status, "
            "/upload. Ctrl-C to stop.",
            file=sys.stderr,
            flush=True,
        )
