"""What a journal says: its records folded into per-batch state, read tolerantly.

`load` trusts every whole, valid record up to the first line that is cut short or invalid
(in form, or in sense: an outcome for a batch never announced) and ignores the rest; the
caller turns what it found into one `JournalWarning` line. Pure: bytes in, state out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs

from ._records import (
    Compressed,
    Entry,
    Intent,
    Outcome,
    Record,
    RecordError,
    RunHeader,
    Status,
    decode,
)


@attrs.define
class BatchState:
    """A batch's intent and what became of it.

    Attributes:
        intent: the batch as announced before its request.
        outcomes: every outcome written for it, in order (a resend adds one).
    """

    intent: Intent
    outcomes: list[Outcome] = attrs.Factory(list)

    @property
    def outcome(self) -> Outcome | None:
        """The outcome that counts: the first delivered one, else the latest, else None."""
        for o in self.outcomes:
            if o.status is Status.DELIVERED:
                return o
        return self.outcomes[-1] if self.outcomes else None

    @property
    def status(self) -> Status:
        """Delivered, failed, or uncertain (also when no outcome was written: a crash)."""
        outcome = self.outcome
        return Status.UNCERTAIN if outcome is None else outcome.status

    def attachment(self, index: int) -> str | None:
        """The attachment id Discord confirmed for entry ``index``, if delivered."""
        outcome = self.outcome
        if outcome is None or outcome.status is not Status.DELIVERED:
            return None
        return outcome.attachments[index]


@attrs.frozen
class EntryRef:
    """Where a user's file appears: a batch, and its entry in it."""

    batch: BatchState
    index: int

    @property
    def entry(self) -> Entry:
        return self.batch.intent.entries[self.index]


@attrs.define
class JournalState:
    """Everything a journal's trusted records say, indexed for the resume decision."""

    headers: list[RunHeader] = attrs.Factory(list)
    batches: dict[str, BatchState] = attrs.Factory(dict)
    by_path: dict[str, list[EntryRef]] = attrs.Factory(dict)
    compressed: dict[str, list[Compressed]] = attrs.Factory(dict)

    def add(self, record: Record) -> None:
        """Fold one record in.

        Raises:
            RecordError: the record makes no sense here (it is then not folded in).
        """
        if isinstance(record, RunHeader):
            self.headers.append(record)
            return
        if not self.headers:
            raise RecordError("a record before the first run header")
        if isinstance(record, Compressed):
            self.compressed.setdefault(record.path, []).append(record)
        elif isinstance(record, Intent):
            self._add_intent(record)
        else:
            self._add_outcome(record)

    def _add_intent(self, intent: Intent) -> None:
        if intent.batch in self.batches:
            raise RecordError(f"batch {intent.batch} announced twice")
        batch = BatchState(intent)
        self.batches[intent.batch] = batch
        for i, entry in enumerate(intent.entries):
            self.by_path.setdefault(entry.path, []).append(EntryRef(batch, i))

    def _add_outcome(self, outcome: Outcome) -> None:
        batch = self.batches.get(outcome.batch)
        if batch is None:
            raise RecordError(f"an outcome for batch {outcome.batch}, never announced")
        if outcome.status is Status.DELIVERED and (
            outcome.message_id is None or len(outcome.attachments) != len(batch.intent.entries)
        ):
            raise RecordError("a delivery without its message or one attachment per file")
        batch.outcomes.append(outcome)

    def refs(self, path: str) -> list[EntryRef]:
        """Every entry for this user's file, in journal order."""
        return self.by_path.get(path, [])

    def uncertain_batches(self) -> Iterator[BatchState]:
        """Batches that may or may not be in the channel, in journal order."""
        return (b for b in self.batches.values() if b.status is Status.UNCERTAIN)


@attrs.frozen
class JournalWarning:
    """Why part of a journal is not trusted: print ``str(warning)``, one line.

    Attributes:
        path: the journal file.
        line: the first line not trusted (1-based).
        problem: what is wrong with it.
    """

    path: Path
    line: int
    problem: str

    def __str__(self) -> str:
        return (
            f"journal {self.path}: line {self.line} {self.problem}; "
            f"trusting the {self.line - 1} line(s) before it and ignoring the rest"
        )


@attrs.frozen
class Loaded:
    """A journal as read.

    Attributes:
        state: what its trusted records say.
        records: those records, in order.
        valid_bytes: how many leading bytes hold those records.
        bad_line: the first untrusted line (1-based), or None when all of it is trusted.
        problem: what is wrong with that line.
        cut_short: the only problem is a last line without its end (a write was interrupted).
    """

    state: JournalState
    records: tuple[Record, ...]
    valid_bytes: int
    bad_line: int | None = None
    problem: str = ""
    cut_short: bool = False

    def warning(self, path: Path) -> JournalWarning | None:
        return None if self.bad_line is None else JournalWarning(path, self.bad_line, self.problem)


def load(data: bytes) -> Loaded:
    """Read a journal's bytes: every whole valid record up to the first bad line."""
    state = JournalState()
    records: list[Record] = []
    offset = 0
    number = 0
    while offset < len(data):
        number += 1
        end = data.find(b"\n", offset)
        if end < 0:
            problem = "is cut short (a write was interrupted)"
            return Loaded(state, tuple(records), offset, number, problem, cut_short=True)
        try:
            record = decode(data[offset:end])
            state.add(record)
        except RecordError as exc:
            problem = f"is not a valid record ({exc})"
            return Loaded(state, tuple(records), offset, number, problem)
        records.append(record)
        offset = end + 1
    return Loaded(state, tuple(records), offset)
