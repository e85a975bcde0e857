"""The run's delivery journal as the actors use it: intents, outcomes, compressions, resume.

`Ledger` wraps an open `Journal` (or none: a custom Destination, ``resume=False``) so the
router and the uploader call it unconditionally. It writes an intent before each request
and the outcome after, records every compression before its outputs travel on, sends the
journal's uncertain bot batches again with their nonces at the start of a run, and turns the
journal's decision about each detected file into what the router does with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs

from ._destination import Destination, DiscordDestination
from ._events import FileAlreadyDelivered, FileDelivered, ProgressEvent, StandInsReused
from ._models import MediaFile
from ._results import failure
from .discord import SentMessage
from .journal import (
    AlreadyDelivered,
    Journal,
    ResendBatch,
    Send,
    StillUncertain,
    destination_key,
    open_journal,
)

RESEND_PENDING = "may already be in the channel (its resend with the same nonce did not settle it)"


@attrs.frozen
class Placement:
    """What the router does with a detected file after asking the journal.

    Attributes:
        events: what to announce (already delivered, reused stand-ins, uncertain).
        send: the files to hand to the batcher as ready (the user's file, or the reused
            stand-ins still to send); None: route the user's file as usual.
    """

    events: tuple[ProgressEvent, ...] = ()
    send: tuple[MediaFile, ...] | None = None


@attrs.define
class Ledger:
    """The run's journal, if it has one; every method is a no-op without.

    Attributes:
        journal: the open journal, or None.
        resend_uncertain: resend uncertain webhook batches of earlier runs too.
    """

    journal: Journal | None = None
    resend_uncertain: bool = False

    async def intent(self, files: Sequence[MediaFile], nonce: str | None) -> str | None:
        """Announce a batch before its request (raises OSError if a file vanished)."""
        if self.journal is None:
            return None
        return await self.journal.intent(files, nonce=nonce)

    async def delivered(
        self, batch: str | None, message: SentMessage, confirmed: Sequence[bool]
    ) -> None:
        """Discord answered: the message, and the attachments it confirmed."""
        if self.journal is None or batch is None:
            return
        ids = [a.id if ok else None for a, ok in zip(message.attachments, confirmed, strict=False)]
        ids += [None] * (len(confirmed) - len(ids))
        await self.journal.delivered(batch, message.id, ids)

    async def failed(self, batch: str | None, reason: str) -> None:
        """The batch was provably not posted."""
        if self.journal is not None and batch is not None:
            await self.journal.failed(batch, reason)

    async def uncertain(self, batch: str | None, reason: str) -> None:
        """The batch may have been posted."""
        if self.journal is not None and batch is not None:
            await self.journal.uncertain(batch, reason)

    async def compressed(self, source: MediaFile, outputs: Sequence[MediaFile]) -> None:
        """Record a compression of the user's file ``source`` before its outputs are sent."""
        if self.journal is not None and outputs:
            await self.journal.record_compressed(source, outputs)

    async def reattribute(
        self, parts: Sequence[MediaFile], sent: dict[Path, tuple[str, str]]
    ) -> None:
        """After a part was compressed again (a new set of parts was recorded), record the
        parts already delivered as delivered in that set too, with their message and
        attachment: nothing is posted, and a resumed run sees the whole set delivered."""
        if self.journal is None:
            return
        for part in parts:
            known = sent.get(part.path)
            if known is not None:
                batch = await self.journal.intent([part])
                await self.journal.delivered(batch, known[0], [known[1]])

    async def place(self, file: MediaFile, limit_bytes: int) -> Placement:
        """Ask the journal about a detected file (see `Placement`).

        Raises:
            OSError: the file vanished or cannot be read.
        """
        if self.journal is None:
            return Placement()
        decision = await self.journal.decide(
            file, resend_uncertain=self.resend_uncertain, limit_bytes=limit_bytes
        )
        if isinstance(decision, AlreadyDelivered):
            d = decision.deliveries
            event = FileAlreadyDelivered(
                file,
                tuple(x.message_id for x in d),
                tuple(x.attachment_id for x in d),
                tuple(x.sent_as for x in d),
                sum(x.sent_bytes for x in d),
            )
            return Placement((event,), ())
        if isinstance(decision, StillUncertain):
            return Placement((failure(file.path, decision.reason, uncertain=True),), ())
        if isinstance(decision, ResendBatch):
            return Placement((failure(file.path, RESEND_PENDING, uncertain=True),), ())
        return _reuse(file, decision)


def _reuse(file: MediaFile, decision: Send) -> Placement:
    """A file to send: as usual, or as the recorded stand-ins not yet delivered."""
    if not decision.stand_ins:
        return Placement()
    outputs = tuple(
        MediaFile(Path(s.path), s.size, file.media_type, original_path=file.path)
        for s in decision.stand_ins
    )
    events: list[ProgressEvent] = [StandInsReused(file, outputs)]
    for d in decision.delivered_parts:
        events.append(FileDelivered(outputs[d.part], d.message_id, d.attachment_id))
    return Placement(tuple(events), decision.stand_in_files(file))


@asynccontextmanager
async def open_ledger(
    folder: Path,
    target: Destination,
    *,
    resume: bool,
    fresh: bool,
    journal_dir: Path | None,
    resend_uncertain: bool,
) -> AsyncIterator[Ledger]:
    """The run's ledger: its journal open (and locked) for the block, or none.

    A custom Destination has no secret-free identity to key a journal by, so its runs are
    not journaled (nor resumed); neither are runs with ``resume`` off.

    Raises:
        JournalMismatchError, JournalBusyError, JournalError: the journal cannot be used.
    """
    if not resume or not isinstance(target, DiscordDestination):
        yield Ledger(None, resend_uncertain)
        return
    key = destination_key(target.target, target.client.base_url(target.target))
    async with open_journal(folder, key, directory=journal_dir, fresh=fresh) as journal:
        yield Ledger(journal, resend_uncertain)
