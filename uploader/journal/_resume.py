"""The resume decision: what a new run does with each file, given what the journal says.

Pure functions of a `JournalState`, the file as it is now (`Seen`) and a `ResumePolicy`:

* a file is `AlreadyDelivered` only when a delivered outcome confirms an attachment of it with
  the same content (size and mtime, or size and sha256): the whole file, or every part of one
  compression of it;
* an uncertain bot batch still inside Discord's nonce window is sent again with its own nonce
  (`plan_resends`): Discord answers with the message it already holds, or posts it now, never
  twice; its files decide `ResendBatch` until that is done;
* any other uncertain file (webhook path, or a nonce too old) stays `StillUncertain`, unless the
  caller asked to resend uncertain files;
* everything else is sent (`Send`): new, changed since, or not delivered before, with a
  compression to reuse when one of the same source is recorded.

Content is compared by size and mtime; only when the size matches and the mtime does not is
the sha256 needed (`NeedsHash`: hash the file and ask again).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence

import attrs

from .._limits import NONCE_WINDOW_SECONDS
from .._models import MediaFile
from ._records import Compressed, Entry, Fingerprint, StandIn, Status
from ._state import BatchState, EntryRef, JournalState


@attrs.frozen
class Seen:
    """A user's file as it is now.

    Attributes:
        path: relative to the folder, with ``/`` separators (as the journal records it).
        size: in bytes.
        mtime_ns: its modification time.
        sha256: its hash, once `NeedsHash` asked for it.
    """

    path: str
    size: int
    mtime_ns: int
    sha256: str | None = None


@attrs.frozen
class ResumePolicy:
    """How to resume.

    Attributes:
        now: the time now (Unix seconds), to tell whether a nonce still deduplicates.
        nonce_window: see `NONCE_WINDOW_SECONDS`.
        resend_uncertain: post uncertain files again (a possible duplicate over a possible gap).
        limit_bytes: the per-file limit now: a recorded compression with a larger part is
            not reused.
    """

    now: float
    nonce_window: float = NONCE_WINDOW_SECONDS
    resend_uncertain: bool = False
    limit_bytes: int | None = None


@attrs.frozen
class Delivery:
    """An attachment Discord confirmed: the whole file, or one part of its compression."""

    message_id: str
    attachment_id: str
    sent_as: str
    sent_bytes: int
    part: int = 0
    parts: int = 1


@attrs.frozen
class AlreadyDelivered:
    """In the channel already: report it delivered with these attachments, send nothing."""

    path: str
    deliveries: tuple[Delivery, ...]


@attrs.frozen
class ResendBatch:
    """In an uncertain bot batch that `plan_resends` sends again with its nonce."""

    path: str
    batch: str
    nonce: str


@attrs.frozen
class StillUncertain:
    """Maybe in the channel; not sent again (the caller did not ask to resend uncertain)."""

    path: str
    reason: str


class Why(enum.Enum):
    """Why a file is sent."""

    NEW = "new"
    CHANGED = "changed since it was sent"
    NOT_DELIVERED = "not delivered before"
    UNCERTAIN = "uncertain before; sent again as asked"


@attrs.frozen
class Send:
    """Send this file (through the usual router).

    Attributes:
        path: the user's file.
        why: new, changed, not delivered before, or uncertain and resent as asked.
        stand_ins: a recorded compression of this very content to reuse instead of encoding
            again (every part, in order), or empty. `Journal.decide` keeps it only when every
            part is still on disk with its recorded size and sha256.
        delivered_parts: the parts of that compression already delivered: send only the rest.
    """

    path: str
    why: Why
    stand_ins: tuple[StandIn, ...] = ()
    delivered_parts: tuple[Delivery, ...] = ()

    def stand_in_files(self, user: MediaFile) -> tuple[MediaFile, ...]:
        """The reused stand-ins still to send (parts not yet delivered), for the batcher."""
        done = {d.part for d in self.delivered_parts}
        return tuple(
            MediaFile(s.path, s.size, user.media_type, original_path=user.path)
            for s in self.stand_ins
            if s.part not in done
        )


@attrs.frozen
class NeedsHash:
    """The size matches a record but the mtime does not: hash the file and decide again."""

    path: str


FileDecision = AlreadyDelivered | ResendBatch | StillUncertain | Send
"""What a resumed run does with one detected file."""


def same_content(recorded: Fingerprint, seen: Seen) -> bool | None:
    """Whether a file is what was recorded; None when only its sha256 can tell."""
    if recorded.size != seen.size:
        return False
    if recorded.mtime_ns == seen.mtime_ns:
        return True
    return None if seen.sha256 is None else recorded.sha256 == seen.sha256


def in_nonce_window(batch: BatchState, policy: ResumePolicy) -> bool:
    """A bot batch whose nonce still deduplicates (a clock gone backwards says no)."""
    age = policy.now - batch.intent.at
    return batch.intent.nonce is not None and 0 <= age < policy.nonce_window


def _delivery(ref: EntryRef) -> Delivery | None:
    attachment = ref.batch.attachment(ref.index)
    outcome = ref.batch.outcome
    if attachment is None or outcome is None or outcome.message_id is None:
        return None
    entry = ref.entry
    part, parts = (entry.stand_in.part, entry.stand_in.parts) if entry.stand_in else (0, 1)
    return Delivery(outcome.message_id, attachment, entry.sent_as, entry.sent_bytes, part, parts)


def _delivered_parts(matching: Iterable[EntryRef]) -> dict[tuple[str, int], dict[int, Delivery]]:
    """Confirmed parts per compression (``("", 1)`` is the file sent as itself)."""
    sets: dict[tuple[str, int], dict[int, Delivery]] = {}
    for ref in matching:
        delivery = _delivery(ref)
        if delivery is None:
            continue
        stand_in = ref.entry.stand_in
        key = ("", 1) if stand_in is None else (stand_in.set_id, stand_in.parts)
        sets.setdefault(key, {}).setdefault(delivery.part, delivery)
    return sets


def _complete(sets: Mapping[tuple[str, int], dict[int, Delivery]]) -> tuple[Delivery, ...] | None:
    for (_, parts), found in sets.items():
        if len(found) == parts:
            return tuple(found[i] for i in range(parts))
    return None


def _uncertain_reason(batch: BatchState) -> str:
    outcome = batch.outcome
    reason = outcome.reason if outcome is not None and outcome.reason else "no answer recorded"
    if batch.intent.nonce is not None:
        reason += "; too long ago to resend with its nonce"
    return f"may already be in the channel ({reason})"


def _reusable(
    seen: Seen,
    packs: Sequence[Compressed],
    sets: Mapping[tuple[str, int], dict[int, Delivery]],
    policy: ResumePolicy,
) -> tuple[tuple[StandIn, ...], tuple[Delivery, ...]]:
    """The recorded compression of this content to reuse: the one with most parts delivered."""
    best: tuple[int, Compressed] | None = None
    for pack in packs:
        fits = policy.limit_bytes is None or all(p.size <= policy.limit_bytes for p in pack.parts)
        if fits and same_content(pack.source, seen):
            count = len(sets.get((pack.set_id, len(pack.parts)), {}))
            if best is None or count >= best[0]:
                best = (count, pack)
    if best is None:
        return (), ()
    pack = best[1]
    n = len(pack.parts)
    stand_ins = tuple(
        StandIn(p.path, p.size, p.sha256, i, n, pack.set_id) for i, p in enumerate(pack.parts)
    )
    done = sets.get((pack.set_id, n), {})
    return stand_ins, tuple(done[i] for i in sorted(done))


def decide_file(state: JournalState, seen: Seen, policy: ResumePolicy) -> FileDecision | NeedsHash:
    """What to do with one detected file (see the module's docstring)."""
    refs = state.refs(seen.path)
    packs = state.compressed.get(seen.path, [])
    verdicts = [(ref, same_content(ref.entry.source, seen)) for ref in refs]
    matching = [ref for ref, same in verdicts if same]
    sets = _delivered_parts(matching)
    complete = _complete(sets)
    if complete is not None:
        return AlreadyDelivered(seen.path, complete)
    unsure = [same_content(p.source, seen) for p in packs] + [same for _, same in verdicts]
    if any(same is None for same in unsure):
        return NeedsHash(seen.path)
    uncertain = [ref.batch for ref in matching if ref.batch.status is Status.UNCERTAIN]
    if uncertain:
        resendable = [b for b in uncertain if in_nonce_window(b, policy)]
        if resendable:
            intent = resendable[-1].intent
            assert intent.nonce is not None  # in_nonce_window: a bot batch
            return ResendBatch(seen.path, intent.batch, intent.nonce)
        if not policy.resend_uncertain:
            return StillUncertain(seen.path, _uncertain_reason(uncertain[-1]))
        why = Why.UNCERTAIN
    elif matching:
        why = Why.NOT_DELIVERED
    elif refs:
        why = Why.CHANGED
    else:
        why = Why.NEW
    stand_ins, done = _reusable(seen, packs, sets, policy)
    return Send(seen.path, why, stand_ins, done)


@attrs.frozen
class Resend:
    """An uncertain bot batch to send again now, with its own nonce.

    Attributes:
        batch: the batch's id (write its outcome under this id).
        nonce: the nonce it was first sent with.
        size: how many entries the batch has.
        entries: ``(index in the batch, entry)`` of the files to send again, in batch order:
            those still unchanged and not delivered since.
    """

    batch: str
    nonce: str
    size: int
    entries: tuple[tuple[int, Entry], ...]

    def align(self, attachment_ids: Sequence[str | None]) -> tuple[str | None, ...]:
        """Attachment ids of the files resent (in `entries` order), per entry of the batch."""
        if len(attachment_ids) != len(self.entries):
            raise ValueError("one attachment id (or None) per resent entry")
        aligned: list[str | None] = [None] * self.size
        for (index, _), attachment in zip(self.entries, attachment_ids, strict=True):
            aligned[index] = attachment
        return tuple(aligned)

    def confirm(self, attachments: Sequence[tuple[str, int]]) -> tuple[str | None, ...]:
        """Per entry of the batch, the attachment id Discord's answer confirms, else None.

        Discord answers a resend with the message it already holds (one attachment per entry
        of the batch, in batch order) or with the one it posts now (one per resent entry, in
        `entries` order). An attachment confirms an entry when its size is the entry's.

        Args:
            attachments: ``(id, size)`` of the answer's attachments, in order.
        """
        if len(attachments) == len(self.entries):
            found = list(attachments)
        elif len(attachments) == self.size:
            found = [attachments[index] for index, _ in self.entries]
        else:
            return (None,) * self.size
        return self.align(
            [
                aid if size == e.sent_bytes else None
                for (_, e), (aid, size) in zip(self.entries, found, strict=True)
            ]
        )


@attrs.frozen
class ResendPlan:
    """The resends, or which files to hash first (then plan again)."""

    resends: tuple[Resend, ...]
    needs_hash: frozenset[str] = frozenset()


def resend_candidates(state: JournalState, policy: ResumePolicy) -> set[str]:
    """The user files `plan_resends` needs to see: those of uncertain bot batches in time."""
    return {
        entry.path
        for batch in state.uncertain_batches()
        if in_nonce_window(batch, policy)
        for entry in batch.intent.entries
    }


def plan_resends(state: JournalState, seen: Mapping[str, Seen], policy: ResumePolicy) -> ResendPlan:
    """Every uncertain bot batch in its nonce window, with the entries worth sending again.

    Args:
        state: the journal.
        seen: the files as they are now, by relative path (a missing file is not resent).
        policy: the time now and the nonce window.
    """
    resends: list[Resend] = []
    needs_hash: set[str] = set()
    for batch in state.uncertain_batches():
        if not in_nonce_window(batch, policy):
            continue
        kept: list[tuple[int, Entry]] = []
        for index, entry in enumerate(batch.intent.entries):
            now = seen.get(entry.path)
            if now is None:
                continue
            decision = decide_file(state, now, policy)
            if isinstance(decision, NeedsHash):
                needs_hash.add(entry.path)
            elif isinstance(decision, ResendBatch) and same_content(entry.source, now):
                kept.append((index, entry))
        intent = batch.intent
        if kept and intent.nonce is not None:  # in_nonce_window: always a bot batch
            resends.append(Resend(intent.batch, intent.nonce, len(intent.entries), tuple(kept)))
    return ResendPlan(tuple(resends), frozenset(needs_hash))
