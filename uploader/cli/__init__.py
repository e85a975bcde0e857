"""The `uploader` command line: registers one subcommand per module and runs the chosen one.

Every subcommand module exposes ``register(subcommands)``, which adds its parser and sets
``func`` to a callable ``(args) -> int`` (the exit code); what they share lives in `_common`.
Errors a user can act on are printed as one line on stderr, never as a traceback: exit 2 for
usage errors, 1 for work that failed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .._errors import SettingsError, UploaderError
from .._version import __version__
from . import _bot, _compress, _demo, _fake_discord, _plan, _send
from ._common import EXIT_FAILED as EXIT_FAILED
from ._common import EXIT_INTERRUPTED as EXIT_INTERRUPTED
from ._common import EXIT_OK as EXIT_OK
from ._common import EXIT_USAGE as EXIT_USAGE
from ._common import ArgumentsRefused, Parser
from ._common import UsageError as UsageError
from ._common import run_trio as run_trio

_COMMANDS = (_plan, _send, _demo, _compress, _fake_discord, _bot)
"""In the order `uploader --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The `uploader` parser with every subcommand registered."""
    parser = Parser(
        prog="uploader",
        description="Deliver a directory of media into a Discord channel.",
    )
    parser.add_argument("--version", action="version", version=f"uploader {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    subcommands.required = True
    for command in _COMMANDS:
        command.register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv``); returns the exit code."""
    # Warnings from the library (e.g. a status message that could not be edited) read like the
    # rest of the command's output; an application that embeds us configures its own logging.
    logging.basicConfig(level=logging.WARNING, format="uploader: %(message)s")
    try:
        args = build_parser().parse_args(argv)
    except ArgumentsRefused as refused:  # its one line is printed already
        return int(refused.code or EXIT_USAGE)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed subcommand, turning the errors a user can act on into one line."""
    try:
        code: int = args.func(args)
    except (UsageError, SettingsError) as exc:
        print(f"uploader {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UploaderError as exc:
        print(f"uploader {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # the reader went away (`uploader plan DIR --json | head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"uploader {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
    "run_trio",
]
