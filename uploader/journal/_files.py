"""Where journals live, and the blocking file work on them (always run in a worker thread).

A journal is opened read-write with ``O_APPEND`` and locked (``flock``) for its run; reading it
checks whose it is and cuts off an untrusted tail (keeping a copy when it was more than a line
cut short by a crash). An append is whole lines and an ``fsync``; if it fails, the file is cut
back to its previous length, so it only ever holds whole records.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from .._errors import UploaderError
from ._records import DestinationKey, StandIn
from ._state import Loaded, load


class JournalError(UploaderError):
    """The journal cannot be used (unreadable, unwritable, locked, or someone else's)."""


class JournalMismatchError(JournalError):
    """The journal file's header names another folder or destination."""


class JournalBusyError(JournalError):
    """Another run holds this journal."""


def default_journal_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/uploader/journals``, else ``~/.local/state/uploader/journals``."""
    env = os.environ if environ is None else environ
    state = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):  # the XDG spec: a relative value is ignored
        home = env.get("HOME") or str(Path.home())
        state = os.path.join(home, ".local", "state")
    return Path(state) / "uploader" / "journals"


def journal_name(folder: Path, destination: DestinationKey) -> str:
    """The journal's file name: a hash of the resolved folder and the destination."""
    d = destination
    identity = json.dumps([str(folder), d.kind, d.id, d.thread_id, d.host], ensure_ascii=True)
    return hashlib.sha256(identity.encode()).hexdigest()[:32] + ".jsonl"


def make_dirs(directory: Path) -> None:
    """Create the missing folders of ``directory``, each 0700 (existing ones are left alone)."""
    missing = []
    for folder in (directory, *directory.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with suppress(FileExistsError):
            folder.mkdir(mode=0o700)


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_copy(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_owner(path: Path, loaded: Loaded, folder: Path, destination: DestinationKey) -> None:
    for header in loaded.state.headers:
        if header.folder != str(folder) or header.destination != destination:
            raise JournalMismatchError(
                f"journal {path} belongs to {header.folder!r} sent to {header.destination}, "
                f"not to {str(folder)!r} sent to {destination}; it was not used "
                "(move it away, or start afresh)"
            )


def open_locked(
    path: Path, folder: Path, destination: DestinationKey, fresh: bool
) -> tuple[int, Loaded]:
    """Open and lock the journal, check whose it is, and cut off an untrusted tail."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalBusyError(f"journal {path} is in use by another run") from None
        _fsync_dir(path.parent)
        data = _read_all(fd)
        if fresh:
            if data:
                _keep_copy(path.with_suffix(".previous.jsonl"), data)
            os.ftruncate(fd, 0)
            os.fsync(fd)
            return fd, load(b"")
        loaded = load(data)
        _check_owner(path, loaded, folder, destination)
        if loaded.bad_line is not None:
            if not loaded.cut_short:  # keep what a person may want to look at
                _keep_copy(path.with_suffix(".damaged.jsonl"), data)
            os.ftruncate(fd, loaded.valid_bytes)
            os.fsync(fd)
        return fd, loaded
    except BaseException:
        os.close(fd)
        raise


def append(fd: int, data: bytes, length: int) -> None:
    """Append whole lines and fsync; on failure cut the file back to ``length`` and raise."""
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except OSError:
        with suppress(OSError):
            os.ftruncate(fd, length)
        raise


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def stat_of(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def matches_on_disk(stand_in: StandIn) -> bool:
    path = Path(stand_in.path)
    stat = stat_of(path)
    if stat is None or stat[0] != stand_in.size:
        return False
    try:
        return sha256_of(path) == stand_in.sha256
    except OSError:
        return False
