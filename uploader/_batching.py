"""Packing files into Discord messages: `plan_batches` (pure) and the streaming batcher actor.

Each message carries at most ``max_files`` attachments and ``max_bytes`` bytes of files. The
planner uses as few messages as possible: the exact optimum for small sets (a dynamic programme
over subsets), and for larger sets the best of first fit in two orders (largest first; large and
small alternating) and best-fit-decreasing, each O(n log n), so 100,000 files plan in under a
second and the result is never worse than first-fit-decreasing.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
import trio

from ._models import MediaFile, MediaType, UploadBatch

EXACT_LIMIT = 12
"""Up to this many files (that share messages) the planner finds the proven optimum."""
BEST_FIT_LIMIT = 20_000
"""Above this many files best-fit's sorted-list upkeep costs more than it can win."""


def lower_bound(sizes: Sequence[int], *, max_files: int, max_bytes: int) -> int:
    """The fewest messages any packing of ``sizes`` (each ≤ max_bytes) can use.

    The largest of: total bytes over the cap, files over the count limit, and the number of
    files larger than half the cap (no two of those share a message).
    """
    if not sizes:
        return 0
    by_bytes = -(-sum(sizes) // max_bytes)
    by_count = -(-len(sizes) // max_files)
    over_half = sum(1 for s in sizes if 2 * s > max_bytes)
    return max(by_bytes, by_count, over_half)


def plan_batches(
    files: Iterable[MediaFile],
    *,
    max_files: int = 10,
    max_bytes: int,
    keep_order: bool = False,
) -> list[UploadBatch]:
    """Pack ``files`` into the fewest messages Discord will accept.

    Every file appears in exactly one batch; no batch has more than ``max_files`` files; no batch
    of several files exceeds ``max_bytes``; a file larger than ``max_bytes`` is alone in its batch,
    marked ``oversized``. Files inside a batch keep their input order, and batches are ordered by
    their first file, so the result is deterministic.

    Args:
        files: the files to send.
        max_files: the most attachments in one message (Discord allows 10).
        max_bytes: the most bytes of files in one message.
        keep_order: keep the input order across messages (contiguous runs of files); still the
            fewest messages possible under that constraint.

    Returns:
        The batches, in order.

    Raises:
        ValueError: ``max_files`` or ``max_bytes`` is below 1.
    """
    if max_files < 1:
        raise ValueError(f"max_files must be at least 1, not {max_files}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
    items = list(files)
    sizes = [f.size_bytes for f in items]
    if keep_order:
        groups = _pack_in_order(sizes, max_files, max_bytes)
    else:
        fitting = [i for i, s in enumerate(sizes) if s <= max_bytes]
        packed = pack_sizes([sizes[i] for i in fitting], max_files=max_files, max_bytes=max_bytes)
        groups = [[fitting[j] for j in group] for group in packed]
        groups += [[i] for i, s in enumerate(sizes) if s > max_bytes]
        for group in groups:
            group.sort()
        groups.sort(key=lambda group: group[0])
    return [
        UploadBatch(
            files=tuple(items[i] for i in group),
            oversized=len(group) == 1 and sizes[group[0]] > max_bytes,
        )
        for group in groups
    ]


def _pack_in_order(sizes: Sequence[int], max_files: int, max_bytes: int) -> list[list[int]]:
    """Contiguous runs: greedy filling is optimal because any sub-run of a valid run is valid."""
    groups: list[list[int]] = []
    current: list[int] = []
    load = 0
    for i, size in enumerate(sizes):
        if size > max_bytes:
            if current:
                groups.append(current)
            groups.append([i])
            current, load = [], 0
            continue
        if current and (len(current) == max_files or load + size > max_bytes):
            groups.append(current)
            current, load = [], 0
        current.append(i)
        load += size
    if current:
        groups.append(current)
    return groups


def pack_sizes(sizes: Sequence[int], *, max_files: int, max_bytes: int) -> list[list[int]]:
    """Pack item sizes (each ≤ max_bytes) into the fewest bins; returns lists of item indices."""
    if not sizes:
        return []
    bound = lower_bound(sizes, max_files=max_files, max_bytes=max_bytes)
    best = _first_fit_decreasing(sizes, max_files, max_bytes)
    if len(best) > bound:
        # When both the count and the byte limits bind (photos of a few MiB), mixing large and
        # small files in each message beats largest-first by up to ~10% of the messages.
        best = min(best, _first_fit(sizes, _zigzag(sizes), max_files, max_bytes), key=len)
    if len(best) > bound and len(sizes) <= BEST_FIT_LIMIT:
        best = min(best, _best_fit_decreasing(sizes, max_files, max_bytes), key=len)
    if len(best) > bound and len(sizes) <= EXACT_LIMIT:
        best = _exact(sizes, max_files, max_bytes)
    return best


def _decreasing(sizes: Sequence[int]) -> list[int]:
    # Stable: equal sizes keep their input order, so results are deterministic.
    return sorted(range(len(sizes)), key=lambda i: -sizes[i])


def _zigzag(sizes: Sequence[int]) -> list[int]:
    """Largest, smallest, second largest, second smallest...: mixes sizes within messages."""
    order = _decreasing(sizes)
    mixed: list[int] = []
    lo, hi = 0, len(order) - 1
    while lo <= hi:
        mixed.append(order[lo])
        lo += 1
        if lo <= hi:
            mixed.append(order[hi])
            hi -= 1
    return mixed


def _first_fit_decreasing(sizes: Sequence[int], max_files: int, max_bytes: int) -> list[list[int]]:
    """First fit over files sorted by size, largest first."""
    return _first_fit(sizes, _decreasing(sizes), max_files, max_bytes)


def _first_fit(
    sizes: Sequence[int], order: Sequence[int], max_files: int, max_bytes: int
) -> list[list[int]]:
    """First fit in the given order, with a max-tree over bins' free bytes (full bins: -1)."""
    n = len(sizes)
    width = 1
    while width < n:
        width *= 2
    tree = [max_bytes] * (2 * width)  # every bin, used or not, starts with max_bytes free
    free = [max_bytes] * n
    count = [0] * n
    bins: list[list[int]] = []
    for item in order:
        size = sizes[item]
        node = 1
        while node < width:  # descend to the leftmost bin with room
            node = 2 * node if tree[2 * node] >= size else 2 * node + 1
        b = node - width
        if b == len(bins):
            bins.append([])
        bins[b].append(item)
        count[b] += 1
        free[b] -= size
        tree[node] = free[b] if count[b] < max_files else -1
        node //= 2
        while node:
            left, right = tree[2 * node], tree[2 * node + 1]
            tree[node] = left if left > right else right
            node //= 2
    return bins


def _best_fit_decreasing(sizes: Sequence[int], max_files: int, max_bytes: int) -> list[list[int]]:
    """BFD: each item goes to the open bin it fills the most (sorted list of free bytes)."""
    bins: list[list[int]] = []
    free: list[int] = []  # sorted free bytes of the bins that can still take a file
    owner: list[int] = []  # owner[k] = bin index of free[k]
    room: list[int] = []
    for item in _decreasing(sizes):
        size = sizes[item]
        k = bisect.bisect_left(free, size)
        if k == len(free):
            b = len(bins)
            bins.append([])
            room.append(max_bytes)
        else:
            b = owner[k]
            del free[k], owner[k]
        bins[b].append(item)
        room[b] -= size
        if len(bins[b]) < max_files:
            k = bisect.bisect_left(free, room[b])
            free.insert(k, room[b])
            owner.insert(k, b)
    return bins


def _exact(sizes: Sequence[int], max_files: int, max_bytes: int) -> list[list[int]]:
    """The optimum by dynamic programming over subsets of items.

    A state is (subset packed, files in the open bin) → the best (bins used, bytes in the open
    bin), reached by adding one item at a time either to the open bin or to a new one. For a
    fixed subset and open-bin count, fewer bins is at least as good (a new bin can always be
    opened), and with equal bins a lighter open bin is, so keeping only the best loses nothing.
    """
    n = len(sizes)
    full = (1 << n) - 1
    # best[mask][open-bin count] = (bins, load, previous mask, previous count, item added)
    best: list[dict[int, tuple[int, int, int, int, int]]] = [{} for _ in range(full + 1)]
    best[0][max_files] = (0, max_bytes, -1, -1, -1)  # no bin yet: the first item must open one
    for mask in range(full):
        for c, (used, load, _, _, _) in best[mask].items():
            for i in range(n):
                bit = 1 << i
                if mask & bit:
                    continue
                size = sizes[i]
                moves = [(used + 1, size, 1)]
                if c < max_files and load + size <= max_bytes:
                    moves.append((used, load + size, c + 1))
                target = best[mask | bit]
                for new_used, new_load, new_c in moves:
                    old = target.get(new_c)
                    if old is None or (new_used, new_load) < old[:2]:
                        target[new_c] = (new_used, new_load, mask, c, i)
    ends = best[full]
    mask, c = full, min(ends, key=lambda k: ends[k][:2])
    bins: list[list[int]] = []
    current: list[int] = []
    while mask:
        used, _, prev_mask, prev_c, item = best[mask][c]
        current.append(item)
        if used != best[prev_mask][prev_c][0]:  # this item opened its bin
            bins.append(current)
            current = []
        mask, c = prev_mask, prev_c
    return bins


# --- the streaming batcher --------------------------------------------------------------------


@attrs.frozen
class Ready:
    """A file that fits and can go into a message now."""

    file: MediaFile


@attrs.frozen
class Pending:
    """A file is being made to fit; its stand-ins will be at most ``bound`` bytes each."""

    key: Path
    bound: int


@attrs.frozen
class Resolved:
    """A pending file is done: these stand-ins are ready (none if compression failed)."""

    key: Path
    files: tuple[MediaFile, ...]


@attrs.frozen
class AllFound:
    """The detector is done: from now on only pending files can still arrive."""


BatcherInput = Ready | Pending | Resolved | AllFound


@attrs.define
class BatchAssembler:
    """The pure state of the streaming batcher: what is ready, what is still being compressed.

    It emits a batch as soon as waiting cannot reduce the number of messages: a message full by
    count, or — once no new files can appear (all found, or the linger expired) — every
    message of the plan that no pending file could join. When the uploader is idle it may also
    send ready files early, at the cost of at most one message over the offline plan. Pending
    files are planned as placeholders of their upper-bound size, so a stand-in always fits where
    its placeholder was (stand-ins far below their bound can cost a message more).
    """

    max_files: int
    max_bytes: int
    ready: list[MediaFile] = attrs.Factory(list)
    pending: dict[Path, int] = attrs.Factory(dict)
    upstream_done: bool = False
    all_found: bool = False
    sent_files: list[MediaFile] = attrs.Factory(list)
    messages_sent: int = 0

    def record(self, batch: UploadBatch) -> None:
        """Count a batch that went out (for the early-send budget)."""
        self.messages_sent += 1
        self.sent_files.extend(batch.files)

    def _placeholders(self) -> list[MediaFile]:
        return [
            MediaFile(path=key, size_bytes=bound, media_type=MediaType.VIDEO)
            for key, bound in self.pending.items()
        ]

    def _plan(self, files: list[MediaFile]) -> list[UploadBatch]:
        return plan_batches(files, max_files=self.max_files, max_bytes=self.max_bytes)

    def take_early(self) -> UploadBatch | None:
        """A batch worth sending now that the uploader is idle, if the run can afford it.

        Once every file was found, waiting for stand-ins only ever saves messages; when the
        uploader has nothing to do, the heaviest message of the ready files goes now if what
        remains, planned with stand-ins at their bound, still ends the run within one message
        of a lower bound on any packing of the files.
        Sending the heaviest first keeps light files back as fillers for the stand-ins, so the
        last message after the last encode is small. Returns the batch (not yet removed: see
        `commit_early`), or None.
        """
        if not self.ready or not (self.all_found or self.upstream_done):
            return None  # more files may come: nothing to budget against yet
        placeholders = self._placeholders()
        candidate = max(self._plan(self.ready), key=lambda b: (b.total_bytes, len(b.files)))
        chosen = {id(f) for f in candidate.files}
        rest = [f for f in self.ready if id(f) not in chosen]
        after = len(self._plan([*rest, *placeholders])) if rest or placeholders else 0
        # No packing of the final files can beat this, whatever size the stand-ins turn out:
        sizes = [f.size_bytes for f in (*self.sent_files, *self.ready)] + [1] * len(placeholders)
        floor = lower_bound(sizes, max_files=self.max_files, max_bytes=self.max_bytes)
        if self.messages_sent + 1 + after > floor + 1:
            return None
        return candidate

    def commit_early(self, batch: UploadBatch) -> None:
        """The early batch went out: forget its files and count it."""
        gone = {id(f) for f in batch.files}
        self.ready = [f for f in self.ready if id(f) not in gone]
        self.record(batch)

    def add(self, event: BatcherInput) -> None:
        if isinstance(event, AllFound):
            self.all_found = True
        elif isinstance(event, Ready):
            self.ready.append(event.file)
        elif isinstance(event, Pending):
            self.pending[event.key] = event.bound
        else:
            self.pending.pop(event.key, None)
            self.ready.extend(event.files)

    @property
    def finished(self) -> bool:
        return self.upstream_done and not self.pending and not self.ready

    def take(self, *, linger_expired: bool = False) -> list[UploadBatch]:
        """Remove and return the batches that should be sent now, whether or not anyone waits.

        Everything, once nothing more can arrive; full-by-count messages while the detector
        runs (and, when the linger expired, every message no pending file could join). Once all
        files were found but stand-ins are pending, `take_early` decides instead.
        """
        if not self.ready:
            return []
        if (self.upstream_done or self.all_found) and not self.pending:
            batches = self._plan(self.ready)
            self.ready = []
            return batches
        if self.upstream_done or self.all_found:
            return []
        if linger_expired:
            placeholders = self._placeholders()
            holders = {id(p) for p in placeholders}
            plan = self._plan([*self.ready, *placeholders])
            emit = [b for b in plan if not any(id(f) in holders for f in b.files)]
        else:
            emit = [b for b in self._plan(self.ready) if len(b.files) == self.max_files]
        sent = {id(f) for b in emit for f in b.files}
        self.ready = [f for f in self.ready if id(f) not in sent]
        return emit


async def run_batcher(
    receive_channel: trio.MemoryReceiveChannel[BatcherInput],
    send_channel: trio.MemorySendChannel[UploadBatch],
    *,
    max_files: int,
    max_bytes: int,
    linger: float,
) -> None:
    """The streaming batcher actor: files in, batches out, as early as packing allows.

    Owns both channel ends. Upstream is done when every sender of ``receive_channel`` has closed
    its clone; then the rest is flushed. With an unbuffered ``send_channel``, a ``send_nowait``
    succeeds only while the uploader waits for work: that is when an early batch is offered.
    """
    state = BatchAssembler(max_files=max_files, max_bytes=max_bytes)
    deadline = math.inf
    async with receive_channel, send_channel:
        while not state.upstream_done:
            linger_expired = False
            try:
                # What is already in the inbox is taken at once: the linger only runs while
                # nothing arrives (so even a zero linger packs a burst of files together).
                state.add(receive_channel.receive_nowait())
                await trio.lowlevel.checkpoint()
            except trio.WouldBlock:
                with trio.move_on_at(deadline) as scope:
                    try:
                        state.add(await receive_channel.receive())
                    except trio.EndOfChannel:
                        state.upstream_done = True
                linger_expired = scope.cancelled_caught
            except trio.EndOfChannel:
                state.upstream_done = True
            for batch in state.take(linger_expired=linger_expired):
                await send_channel.send(batch)
                state.record(batch)
            while (early := state.take_early()) is not None:
                try:
                    send_channel.send_nowait(early)
                except trio.WouldBlock:
                    break  # the uploader is busy: waiting costs nothing
                state.commit_early(early)
            waiting = bool(state.ready)
            if not waiting:
                deadline = math.inf
            elif deadline == math.inf or linger_expired:
                deadline = trio.current_time() + linger
        state.pending.clear()  # every sender has closed: nothing more can resolve
        state.all_found = True
        for batch in state.take():
            await send_channel.send(batch)
            state.record(batch)
