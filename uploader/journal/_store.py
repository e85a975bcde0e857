"""The journal on disk: where it lives, fsync'd appends, and resume decisions for a run.

One file per (folder, destination), named by a hash of the resolved folder and the
destination's secret-free identity, in ``$XDG_STATE_HOME/uploader/journals/`` (files 0600,
folders 0700). A run holds an exclusive lock on it. Every append is one ``write`` of whole
lines followed by ``fsync``, in a worker thread; a write that fails is cut back off, and a
line cut short by a crash is cut off when the journal is next opened, so the file only ever
grows by whole records. Nothing here blocks the event loop.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import attrs
import trio

from .._errors import UploaderError
from .._models import MediaFile, MediaType
from .._version import __version__
from ..discord._errors import redact
from ._records import (
    Compressed,
    DestinationKey,
    Entry,
    Fingerprint,
    Intent,
    Outcome,
    Part,
    Record,
    RunHeader,
    StandIn,
    Status,
    encode,
)
from ._resume import (
    NONCE_WINDOW_SECONDS,
    FileDecision,
    NeedsHash,
    Resend,
    ResumePolicy,
    Seen,
    Send,
    decide_file,
    plan_resends,
    resend_candidates,
)
from ._state import JournalState, JournalWarning, Loaded, load


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


# --- blocking helpers (always in a worker thread) ----------------------------------------------


def _make_dirs(directory: Path) -> None:
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


def _open(path: Path, folder: Path, destination: DestinationKey, fresh: bool) -> tuple[int, Loaded]:
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


def _append(fd: int, data: bytes, length: int) -> None:
    """Append whole lines and fsync; on failure cut the file back to ``length`` and raise."""
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except OSError:
        with suppress(OSError):
            os.ftruncate(fd, length)
        raise


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _matches_on_disk(stand_in: StandIn) -> bool:
    path = Path(stand_in.path)
    stat = _stat(path)
    if stat is None or stat[0] != stand_in.size:
        return False
    try:
        return _sha256(path) == stand_in.sha256
    except OSError:
        return False


# --- the journal of one run -------------------------------------------------------------------


@attrs.define(eq=False)
class Journal:
    """An open journal: a run's records go in, resume decisions come out.

    Open it with `open_journal`. Attributes:
        path: the journal file.
        folder: the user's folder, as the run names it.
        destination: where the run posts, without secrets.
        run: this run's id.
        state: everything the journal says so far, this run's records included.
        warning: why part of the journal was not trusted, to print once; None if all was.
    """

    path: Path
    folder: Path
    root: Path
    destination: DestinationKey
    run: str
    state: JournalState
    warning: JournalWarning | None
    _fd: int
    _length: int
    _clock: Callable[[], float]
    _lock: trio.Lock = attrs.Factory(trio.Lock)
    _hashes: dict[tuple[str, int, int], str] = attrs.Factory(dict)
    _stand_ins: dict[str, StandIn] = attrs.Factory(dict)

    async def _write(self, record: Record) -> None:
        data = encode(record)
        async with self._lock:
            try:
                await trio.to_thread.run_sync(_append, self._fd, data, self._length)
            except OSError as exc:
                raise JournalError(
                    f"cannot write journal {self.path}: {exc.strerror or exc}"
                ) from None
            self._length += len(data)
            self.state.add(record)

    def _relative(self, user: Path) -> str:
        try:
            return user.relative_to(self.folder).as_posix()
        except ValueError:
            return user.relative_to(self.root).as_posix()

    async def _fingerprint(self, path: Path) -> Fingerprint:
        """Size, mtime and sha256 of a file (the hash is remembered per size and mtime)."""

        def work() -> Fingerprint:
            st = path.stat()
            key = (str(path), st.st_size, st.st_mtime_ns)
            digest = self._hashes.get(key)
            if digest is None:
                digest = self._hashes[key] = _sha256(path)
            return Fingerprint(st.st_size, st.st_mtime_ns, digest)

        return await trio.to_thread.run_sync(work)

    async def record_compressed(self, source: MediaFile, outputs: Sequence[MediaFile]) -> None:
        """Record a compression as soon as its stand-ins exist (before any is sent).

        Args:
            source: the user's file.
            outputs: its stand-ins, in order (the parts of a split video).
        """
        fingerprint = await self._fingerprint(source.path)
        parts = []
        for output in outputs:
            done = await self._fingerprint(output.path)
            parts.append(Part(str(output.path), done.size, done.sha256))
        record = Compressed(self.run, self._relative(source.path), fingerprint, tuple(parts))
        await self._write(record)
        for i, part in enumerate(record.parts):
            stand_in = StandIn(part.path, part.size, part.sha256, i, len(parts), record.set_id)
            self._stand_ins[part.path] = stand_in

    async def intent(self, files: Sequence[MediaFile], *, nonce: str | None = None) -> str:
        """Announce a batch right before its request; returns its id for the outcome.

        Args:
            files: the batch's files in the order they are attached.
            nonce: the request's nonce on the bot path (write it here first, then send it).

        Raises:
            ValueError: a stand-in whose compression was not recorded (`record_compressed`)
                nor reused (`decide`).
        """
        entries = []
        for f in files:
            user = f.original_path if f.original_path is not None else f.path
            stand_in = None
            if f.original_path is not None:
                stand_in = self._stand_ins.get(str(f.path))
                if stand_in is None:
                    raise ValueError(f"{f.filename}: record its compression before sending it")
            source = await self._fingerprint(user)
            entries.append(Entry(self._relative(user), f.media_type.value, source, stand_in))
        batch = secrets.token_hex(8)
        await self._write(Intent(self.run, batch, self._clock(), nonce, tuple(entries)))
        return batch

    async def delivered(
        self, batch: str, message_id: str, attachments: Sequence[str | None]
    ) -> None:
        """Discord posted the batch: its message and, per file, the attachment it confirmed."""
        known = self.state.batches.get(batch)
        if known is None or len(attachments) != len(known.intent.entries):
            raise ValueError("a known batch, and one attachment id (or None) per file")
        outcome = Outcome(batch, Status.DELIVERED, message_id, tuple(attachments))
        await self._write(outcome)

    async def failed(self, batch: str, reason: str) -> None:
        """The batch was provably not posted."""
        await self._end(batch, Status.FAILED, reason)

    async def uncertain(self, batch: str, reason: str) -> None:
        """The batch may or may not have been posted."""
        await self._end(batch, Status.UNCERTAIN, reason)

    async def _end(self, batch: str, status: Status, reason: str) -> None:
        if batch not in self.state.batches:
            raise ValueError(f"unknown batch {batch}")
        await self._write(Outcome(batch, status, reason=redact(reason)))

    def policy(
        self, *, resend_uncertain: bool = False, limit_bytes: int | None = None
    ) -> ResumePolicy:
        """The resume policy for now."""
        return ResumePolicy(self._clock(), NONCE_WINDOW_SECONDS, resend_uncertain, limit_bytes)

    async def _seen(self, path: Path, *, hashed: bool = False) -> Seen | None:
        stat = await trio.to_thread.run_sync(_stat, path)
        if stat is None:
            return None
        digest = (await self._fingerprint(path)).sha256 if hashed else None
        return Seen(self._relative(path), stat[0], stat[1], digest)

    async def decide(
        self,
        file: MediaFile | Path,
        *,
        resend_uncertain: bool = False,
        limit_bytes: int | None = None,
    ) -> FileDecision:
        """What to do with a detected file (see `decide_file`); hashes it only when needed.

        A `Send` keeps its ``stand_ins`` only when every part is still on disk with its
        recorded size and sha256; they may then be sent without a new `record_compressed`.

        Raises:
            FileNotFoundError: the file is gone.
        """
        path = file.path if isinstance(file, MediaFile) else file
        policy = self.policy(resend_uncertain=resend_uncertain, limit_bytes=limit_bytes)
        seen = await self._seen(path)
        if seen is None:
            raise FileNotFoundError(path)
        decision = decide_file(self.state, seen, policy)
        if isinstance(decision, NeedsHash):
            seen = await self._seen(path, hashed=True)
            if seen is None:
                raise FileNotFoundError(path)
            decision = decide_file(self.state, seen, policy)
        assert not isinstance(decision, NeedsHash)
        if isinstance(decision, Send) and decision.stand_ins:
            return await self._verified(decision)
        return decision

    async def _verified(self, decision: Send) -> Send:
        for stand_in in decision.stand_ins:
            if not await trio.to_thread.run_sync(_matches_on_disk, stand_in):
                return attrs.evolve(decision, stand_ins=(), delivered_parts=())
        for stand_in in decision.stand_ins:
            self._stand_ins[stand_in.path] = stand_in
        return decision

    async def resends(self) -> tuple[Resend, ...]:
        """The uncertain bot batches to send again now, with their nonces (`plan_resends`)."""
        policy = self.policy()
        seen: dict[str, Seen] = {}
        for rel in sorted(resend_candidates(self.state, policy)):
            now = await self._seen(self.root / rel)
            if now is not None:
                seen[rel] = now
        plan = plan_resends(self.state, seen, policy)
        if plan.needs_hash:
            for rel in plan.needs_hash:
                hashed = await self._seen(self.root / rel, hashed=True)
                if hashed is not None:
                    seen[rel] = hashed
            plan = plan_resends(self.state, seen, policy)
        return plan.resends

    async def resend_files(self, resend: Resend) -> tuple[MediaFile | None, ...]:
        """The files to attach for a resend, in its order; None for a stand-in that is gone
        or altered (compress the user's file again, `record_compressed`, and send that)."""
        files: list[MediaFile | None] = []
        for _, entry in resend.entries:
            user = self.root / entry.path
            kind = MediaType(entry.media_type)
            stand_in = entry.stand_in
            if stand_in is None:
                files.append(MediaFile(user, entry.source.size, kind))
            elif await trio.to_thread.run_sync(_matches_on_disk, stand_in):
                self._stand_ins[stand_in.path] = stand_in
                files.append(MediaFile(stand_in.path, stand_in.size, kind, original_path=user))
            else:
                files.append(None)
        return tuple(files)


@asynccontextmanager
async def open_journal(
    folder: Path | str,
    destination: DestinationKey,
    *,
    directory: Path | str | None = None,
    fresh: bool = False,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Journal]:
    """Open (creating it if need be) the journal of ``folder`` sent to ``destination``.

    The journal is locked for the block and a run header is written first.

    Args:
        folder: the user's folder.
        destination: `destination_key` of the Webhook or Channel (no secrets).
        directory: where journals live; `default_journal_dir` by default.
        fresh: ignore what the journal says and start it anew (the old one is kept as
            ``<name>.previous.jsonl``).
        clock: the wall clock (Unix seconds), for the nonce window.

    Raises:
        JournalMismatchError: the journal file belongs to another folder or destination.
        JournalBusyError: another run holds it.
        JournalError: it cannot be created, read or written.
    """
    folder = Path(folder)
    root = Path(await trio.Path(folder).resolve())
    where = default_journal_dir() if directory is None else Path(directory)
    path = where / journal_name(root, destination)
    try:
        await trio.to_thread.run_sync(_make_dirs, where)
        fd, loaded = await trio.to_thread.run_sync(_open, path, root, destination, fresh)
    except OSError as exc:
        raise JournalError(f"cannot open journal {path}: {exc.strerror or exc}") from None
    journal = Journal(
        path,
        folder,
        root,
        destination,
        secrets.token_hex(6),
        loaded.state,
        loaded.warning(path),
        fd,
        loaded.valid_bytes,
        clock,
    )
    try:
        header = RunHeader(journal.run, clock(), str(root), destination, __version__)
        await journal._write(header)
        yield journal
    finally:
        os.close(fd)  # releases the lock
