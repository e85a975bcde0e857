"""The journal of one run: `open_journal`, its fsync'd appends, and its resume decisions.

One file per (folder, destination), named by a hash of the resolved folder and the
destination's secret-free identity, in ``$XDG_STATE_HOME/uploader/journals/`` (files 0600,
folders 0700), locked for the run. Every file operation runs in a worker thread (`_files`);
nothing here blocks the event loop.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

from .._limits import NONCE_WINDOW_SECONDS
from .._models import MediaFile, MediaType
from .._version import __version__
from ..discord._errors import redact
from ._files import (
    JournalError,
    append,
    default_journal_dir,
    journal_name,
    make_dirs,
    matches_on_disk,
    open_locked,
    sha256_of,
    stat_of,
)
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
from ._state import JournalState, JournalWarning


@attrs.define(eq=False)
class Journal:
    """An open journal: a run's records go in, resume decisions come out.

    Open it with `open_journal`. Attributes:
        path: the journal file.
        folder: the user's folder, as the run names it.
        root: the same folder, resolved (as the journal's header names it).
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
    state: JournalState = attrs.field(repr=False)
    warning: JournalWarning | None
    _fd: int = attrs.field(repr=False)
    _length: int = attrs.field(repr=False)
    _clock: Callable[[], float] = attrs.field(repr=False)
    _nonce_window: float = attrs.field(default=NONCE_WINDOW_SECONDS, repr=False)
    _lock: trio.Lock = attrs.field(factory=trio.Lock, repr=False)
    _hashes: dict[tuple[str, int, int], str] = attrs.field(factory=dict, repr=False)
    _stand_ins: dict[str, StandIn] = attrs.field(factory=dict, repr=False)

    async def _write(self, record: Record) -> None:
        data = encode(record)
        async with self._lock:
            try:
                await trio.to_thread.run_sync(append, self._fd, data, self._length)
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
                digest = self._hashes[key] = sha256_of(path)
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
        return ResumePolicy(self._clock(), self._nonce_window, resend_uncertain, limit_bytes)

    async def _seen(self, path: Path, *, hashed: bool = False) -> Seen | None:
        stat = await trio.to_thread.run_sync(stat_of, path)
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
            if not await trio.to_thread.run_sync(matches_on_disk, stand_in):
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
            elif await trio.to_thread.run_sync(matches_on_disk, stand_in):
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
    nonce_window: float = NONCE_WINDOW_SECONDS,
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
        nonce_window: how long a bot nonce is trusted to deduplicate (`NONCE_WINDOW_SECONDS`).

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
        await trio.to_thread.run_sync(make_dirs, where)
        fd, loaded = await trio.to_thread.run_sync(open_locked, path, root, destination, fresh)
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
        nonce_window,
    )
    try:
        header = RunHeader(journal.run, clock(), str(root), destination, __version__)
        await journal._write(header)
        yield journal
    finally:
        os.close(fd)  # releases the lock
