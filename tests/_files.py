"""Plain files for tests: write them (sized, or of given bytes) and hash them.

The shared helpers `tests/conftest.py` points to; media made by ffmpeg live in `tests/_media.py`.
Every writer makes the missing parent folders.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of ``data`` (what the fake Discord records per attachment)."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file at ``path``."""
    return sha256_bytes(Path(path).read_bytes())


def write_sized(path: Path, size: int = 10) -> Path:
    """A file of exactly ``size`` bytes, sparse (one ``x``, then zeros): only its size matters."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)
        if size:
            f.write(b"x")
    return path


def write_data(path: Path, data: bytes) -> str:
    """Write ``data`` at ``path``; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha256_bytes(data)


def write_random(path: Path, size: int) -> str:
    """``size`` random bytes at ``path`` (no two files alike); returns their sha256."""
    return write_data(path, os.urandom(size))


def deny_folders(monkeypatch: Any, name: str) -> None:
    """Make every folder called ``name`` unreadable to the detector (permission denied).

    Root can read anything, so a chmod would not stop it: the denial is made explicit.
    """
    real_scandir = os.scandir

    def scandir(path: object) -> object:
        if Path(str(path)).name == name:
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr("uploader._detect.os.scandir", scandir)
