"""What to do when Discord answers 413: a pure decision, tested as a table and as properties.

A 413 says the request was too large, and sometimes by how much (the per-file limit). The
decision lowers the per-file limit when the refusal teaches one, sends every file over it back
to compression, and resends the rest in smaller messages. It never loops: a resent message
always holds fewer files than the refused one, or the limit went down.
"""

from __future__ import annotations

import attrs

from ._batching import plan_batches
from ._limits import KNOWN_FILE_LIMITS
from ._models import MediaFile, UploadBatch

MAX_SPLITS = 4
"""How many times one batch may be split or recompressed after 413s."""


@attrs.frozen
class TooLarge:
    """What follows a 413.

    Attributes:
        limit: the per-file limit from now on (never above the one before).
        recompress: files over ``limit``: their user's file is compressed again for it.
        resend: the other files, in smaller messages.
        fail: files given up on (too many rounds, or refused although within the limit).
    """

    limit: int
    recompress: tuple[MediaFile, ...] = ()
    resend: tuple[UploadBatch, ...] = ()
    fail: tuple[MediaFile, ...] = ()


def learnt_limit(files: tuple[MediaFile, ...], stated: int | None) -> int | None:
    """The per-file limit a 413 on ``files`` teaches, if any.

    Discord's stated limit if it gave one; for a lone file without one, the largest limit
    Discord has used that is below the file (else half the file), so a few rounds at most find
    the real one; for several files nothing (the request as a whole may be what was too big).
    """
    if stated is not None or len(files) != 1:
        return stated
    size = files[0].size_bytes
    return max((k for k in KNOWN_FILE_LIMITS if k < size), default=size // 2)


def decide_too_large(
    batch: UploadBatch,
    *,
    stated_limit: int | None,
    file_limit: int,
    max_files: int,
    max_bytes: int,
    depth: int,
) -> TooLarge:
    """Decide what follows Discord's 413 for ``batch``.

    Args:
        batch: the refused message's files.
        stated_limit: the limit Discord named, if it did.
        file_limit: the per-file limit the run used until now.
        max_files: the most attachments in a message.
        max_bytes: the most bytes of files in a message.
        depth: how many 413 rounds this batch's files went through already.
    """
    files = batch.files
    learnt = learnt_limit(files, stated_limit)
    limit = file_limit if learnt is None else min(learnt, file_limit)
    if depth >= MAX_SPLITS:
        return TooLarge(limit, fail=files)
    over = tuple(f for f in files if f.size_bytes > limit)
    fitting = [f for f in files if f.size_bytes <= limit]
    if len(fitting) == 1 and not over:
        # A lone file within the limit was refused: sending it again would be refused again.
        return TooLarge(limit, fail=files)
    if len(fitting) <= 1:
        return TooLarge(limit, recompress=over, resend=_plan(fitting, max_files, max_bytes))
    # Several files that each fit as far as we know: either the request as a whole was too
    # big, or one file is over a per-file limit Discord did not state. The largest goes first,
    # alone: refused alone, it teaches the limit (and every file over it is compressed before
    # it is sent); the rest go in halves (never all in one message again, even when their
    # sizes cannot halve).
    if learnt is None:
        largest = max(fitting, key=lambda f: f.size_bytes)
        rest = [f for f in fitting if f is not largest]
        half = max(sum(f.size_bytes for f in fitting) // 2, 1)
        fewer = min(max_files, len(fitting) - 1)
        resend = (UploadBatch((largest,)), *_plan(rest, fewer, min(half, max_bytes)))
        return TooLarge(limit, recompress=over, resend=resend)
    half = max(sum(f.size_bytes for f in fitting) // 2, 1)
    fewer = min(max_files, len(fitting) - 1)
    return TooLarge(limit, recompress=over, resend=_plan(fitting, fewer, min(half, max_bytes)))


def _plan(files: list[MediaFile], max_files: int, max_bytes: int) -> tuple[UploadBatch, ...]:
    if not files:
        return ()
    return tuple(plan_batches(files, max_files=max_files, max_bytes=max_bytes))
