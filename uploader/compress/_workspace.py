"""The files one compression creates in the workdir: temporaries, reserved final names, cleanup.

Every output is written under a temporary name and renamed to a reserved final name once it was
measured under the limit; on any error or cancellation the temporaries, pass logs and reserved
names are removed. The user's file is never written.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from ._errors import CompressionError


def size_of(path: Path) -> int:
    """An output's size in bytes (a stat of a file just written: not worth a thread)."""
    return path.stat().st_size


class Workspace:
    """The files one compression creates in ``workdir``, removed unless kept.

    Args:
        workdir: the only directory written to.
        source: the user's file (its stem names the outputs).
    """

    def __init__(self, workdir: Path, source: Path) -> None:
        self.workdir = workdir
        self.stem = source.stem
        self._temps: list[Path] = []
        self._reserved: list[Path] = []

    def temp(self, suffix: str) -> Path:
        """A fresh name; it and anything starting with it (pass logs) is removed at the end."""
        path = self.workdir / f".uploader-{secrets.token_hex(6)}{suffix}"
        self._temps.append(path)
        return path

    def reserve(self, names: Callable[[str], list[str]]) -> list[Path]:
        """Claim final names (``names(stem)``), adding ``-2``, ``-3``... to the stem if taken."""
        for n in range(1, 1000):
            stem = self.stem if n == 1 else f"{self.stem}-{n}"
            claimed: list[Path] = []
            try:
                for name in names(stem):
                    path = self.workdir / name
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                    claimed.append(path)
            except FileExistsError:
                for path in claimed:
                    path.unlink(missing_ok=True)
                continue
            self._reserved.extend(claimed)
            return claimed
        raise CompressionError(self.workdir, "cannot find a free output name")  # pragma: no cover

    def keep(self, temps: list[Path], names: Callable[[str], list[str]]) -> list[Path]:
        """Reserve final names for ``temps`` and move each temporary onto its name."""
        finals = self.reserve(names)
        for temp, final in zip(temps, finals, strict=True):
            os.replace(temp, final)
        return finals

    @staticmethod
    def discard(path: Path) -> None:
        """Remove one temporary now (a rejected encode)."""
        path.unlink(missing_ok=True)

    def remove_temps(self) -> None:
        """Remove every temporary and pass log (the outputs were kept)."""
        for temp in self._temps:
            for leftover in temp.parent.glob(temp.name + "*"):
                leftover.unlink(missing_ok=True)

    def remove_all(self) -> None:
        """Remove the temporaries and the reserved names (the compression failed)."""
        self.remove_temps()
        for path in self._reserved:
            path.unlink(missing_ok=True)
