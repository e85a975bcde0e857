"""What every subcommand shares: exit codes, usage errors, the parser, `run_trio`, argument types.

A mistake a user can fix is one line on stderr and exit 2, whether argparse finds it (an
argument type) or the command does (a `UsageError`); work that failed is exit 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import attrs
import trio

from .._errors import SettingsError, UploaderError, single_error
from .._settings import parse_env_value
from ..progress import LineReporter, ProgressArg, TerminalReporter

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

T = TypeVar("T")


class UsageError(UploaderError):
    """A command-line mistake: exit code 2 and one line."""


class ArgumentsRefused(SystemExit):
    """argparse refused the command line; the one line is printed already (exit code 2)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block; one line is kinder and easier to grep.
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise ArgumentsRefused(EXIT_USAGE)


@attrs.frozen
class MiB:
    """An argparse type: a size in MiB, within what the setting ``field`` accepts.

    Every size option takes its range from the environment variable it stands for (so
    ``--limit-mb`` accepts exactly what ``UPLOAD_FILE_LIMIT_MB`` does): ``inf``, ``nan``, zero,
    negative and oversized values are one usage line, never a traceback.
    """

    field: str = attrs.field(default="upload_file_limit_mb")
    """The `Settings` field (a ``*_mb`` size) whose variable's range applies."""

    @field.validator
    def _a_size(self, _: object, field: str) -> None:
        if not field.endswith("_mb"):
            raise ValueError(f"MiB parses sizes in MiB; {field} is not one")

    def __call__(self, raw: str) -> float:
        try:
            return float(parse_env_value(self.field, raw))
        except SettingsError as exc:
            raise argparse.ArgumentTypeError(
                f"expected {exc.accepted} MiB (as {exc.name}), not {raw!r}"
            ) from None


def add_limit_mb(parser: argparse.ArgumentParser, help: str, default: float | None = None) -> None:
    """Add ``--limit-mb N``: a size limit in MiB, accepted as UPLOAD_FILE_LIMIT_MB would be."""
    parser.add_argument(
        "--limit-mb", type=MiB("upload_file_limit_mb"), default=default, metavar="N", help=help
    )


def require_directory(path: Path) -> None:
    """Refuse a ``path`` that is not a directory, saying what it is instead.

    Raises:
        UsageError: ``path`` is a file or does not exist.
    """
    if not path.is_dir():
        what = "is a file, not a directory" if path.exists() else "no such directory"
        raise UsageError(f"{path}: {what}")


def require_file(path: Path) -> None:
    """Refuse a ``path`` that is not a regular file, saying what it is instead.

    Raises:
        UsageError: ``path`` is a directory, missing, or not a regular file.
    """
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, not a file")
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a regular file")


def progress_reporter(
    quiet: bool, *, summary: bool = True, root: Path | None = None
) -> ProgressArg:
    """Bars on a terminal, plain ``uploader: ...`` lines on stderr otherwise, none if ``quiet``.

    ``summary=False``: the bars end without the summary (the command prints its own result).
    ``root``: the folder sent, which the bars name files relative to.
    """
    if quiet:
        return None
    if sys.stderr.isatty():
        return TerminalReporter(summary=summary, root=root)
    return LineReporter(lambda line: print(f"uploader: {line}", file=sys.stderr, flush=True))


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
