"""The `uploader` command line: one subcommand per job, each in the module that owns the job.

Every subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable ``(args) -> int`` (the exit code). Errors a user can act on are printed as
one line on stderr, never as a traceback: exit 2 for usage errors, 1 for work that failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import trio

from ._errors import SettingsError, UploaderError, single_error
from ._version import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(UploaderError):
    """A command-line mistake: exit code 2 and one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse prints the whole usage block; one line is kinder and easier to grep.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


T = TypeVar("T")


def run_trio(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn`` under trio; SIGINT or SIGTERM cancels it cleanly, then KeyboardInterrupt.

    Cancellation is what kills ffmpeg and removes temporary files, so a terminated command
    leaves nothing behind (plain SIGTERM would end Python at once and orphan the encoders).
    """

    async def main() -> T:
        signalled = False
        outcome: list[T] = []
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                nonlocal signalled
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        signalled = True
                        nursery.cancel_scope.cancel()
                        return

            if threading.current_thread() is threading.main_thread():
                nursery.start_soon(watch)  # signal handlers can only be set from there
            outcome.append(await fn())
            nursery.cancel_scope.cancel()
        if signalled or not outcome:
            raise KeyboardInterrupt
        return outcome[0]

    with single_error():
        return trio.run(main)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="uploader",
        description="Deliver a directory of media into a Discord channel.",
    )
    parser.add_argument("--version", action="version", version=f"uploader {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    from . import _cli_plan, _cli_send
    from .compress import _cli as compress_cli
    from .testing import _cli as testing_cli

    for module in (_cli_plan, _cli_send, compress_cli, testing_cli):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Warnings from the library (e.g. a status message that could not be edited) read like the
    # rest of the command's output; an application that embeds us configures its own logging.
    logging.basicConfig(level=logging.WARNING, format="uploader: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
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
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
