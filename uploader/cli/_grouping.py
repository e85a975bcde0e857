"""How `send` will group files into messages, replayed offline for `uploader plan` (pure).

`send`'s streaming batcher groups by arrival: files that fit as the walk finds them, each
compressed stand-in when its encode ends (encodes run ``COMPRESSION_MAX_CONCURRENT`` at a time,
so they end in their own order), and, once every file was found, it feeds an idle uploader
the heaviest message it can afford while encodes run (at the cost of at most one message).
`replay` feeds one `BatchAssembler` the same inputs in that order, with the uploader idle
whenever the batcher offers (an encode takes longer than sending a message).

What cannot be known before encoding is the stand-ins' real sizes and the order encodes end
in, nor whether a slow media check (a long video's packets are listed) outlasts the batcher's
linger, which then sends the files that wait. `predict` replays the plan's sizes and expected
order, then the extremes (every stand-in at its bound, at half its planned size; encodes ending
in the walk's order; the linger running out before each file whose check was slow here): when
they group alike the prediction is exact, else it is "about" that many messages.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

from .._batching import AllFound, BatchAssembler, Pending, Ready, Resolved
from .._models import MediaFile, MediaType, UploadBatch
from .._settings import Settings
from ..compress import EncodePlan
from ..compress._effort import encode_seconds, preset_of, with_preset

Entry = EncodePlan | str
"""Per oversized file: its encode plan, or why it cannot be compressed."""

AUDIO_SPEED = 50.0
"""Seconds of audio one encode of an audio file gets through per second (a rough guess)."""
IMAGE_SECONDS = 1.0
"""A rough guess of one image's quality search."""


@attrs.frozen
class Grouping:
    """The messages `send` is expected to make, and whether that is sure."""

    batches: tuple[UploadBatch, ...]
    exact: bool
    """False when the stand-ins' real sizes or the order encodes end in could change it."""


def stand_ins(
    file: MediaFile, entry: Entry | None, target: int, scale: float = 1.0
) -> tuple[MediaFile, ...]:
    """What compressing ``file`` is expected to give: its parts at ``scale`` times their
    planned size (at most the target; the target when unknown), or nothing when it cannot be
    compressed."""
    if isinstance(entry, str):
        return ()
    if entry is None:
        parts, size, kind = 1, target, file.media_type
    else:
        parts, kind = entry.parts, entry.kind
        size = max(1, int(min(entry.planned_bytes * scale, target)))
    return tuple(MediaFile(file.path, size, kind, original_path=file.path) for _ in range(parts))


def encode_estimate(entry: Entry | None, settings: Settings, cores: int) -> float:
    """Roughly how long an encode takes, in seconds: only the order of the estimates is used."""
    if isinstance(entry, str):
        return 0.0  # refused at its probe, before any encode
    if entry is None:
        return 1.0
    if entry.kind is MediaType.IMAGE:
        return IMAGE_SECONDS
    if entry.scale is None or entry.video_kbps == 0:
        return entry.duration * entry.parts / AUDIO_SPEED
    return encode_seconds(entry, preset_of(with_preset(settings, entry, cores)), cores)


def encode_order(
    oversized: Sequence[MediaFile],
    compression: Mapping[Path, Entry],
    settings: Settings,
    cores: int | None = None,
) -> list[MediaFile]:
    """The order encodes are expected to end in: jobs start in the walk's order on
    ``COMPRESSION_MAX_CONCURRENT`` workers, each as long as `encode_estimate` says."""
    cores = cores or os.cpu_count() or 1
    free = [0.0] * settings.compression_max_concurrent  # when each worker is free again
    ends: list[tuple[float, int]] = []
    for i, file in enumerate(oversized):
        start = heapq.heappop(free)
        end = start + encode_estimate(compression.get(file.path), settings, cores)
        heapq.heappush(free, end)
        ends.append((end, i))
    return [oversized[i] for _, i in sorted(ends)]


def replay(
    files: Sequence[MediaFile],
    settings: Settings,
    order: Sequence[MediaFile],
    outputs: Callable[[MediaFile], tuple[MediaFile, ...]],
    *,
    never_sent: frozenset[Path] = frozenset(),
    linger_before: frozenset[Path] = frozenset(),
) -> list[UploadBatch]:
    """The messages the live batcher makes of ``files`` (in the walk's order) when the files
    over the limit resolve in ``order`` to ``outputs(file)``, the uploader idle whenever the
    batcher offers a message. Files in ``never_sent`` are refused before they reach it; the
    batcher's linger runs out while it waits for each file in ``linger_before``."""
    limit, target = settings.file_limit_bytes, settings.compression_target_bytes
    state = BatchAssembler(settings.upload_max_files_per_batch, settings.batch_max_bytes)
    batches: list[UploadBatch] = []

    def take(*, linger_expired: bool = False) -> None:  # what the batcher hands on
        for batch in state.take(linger_expired=linger_expired):
            state.record(batch)
            batches.append(batch)
        while (early := state.take_early()) is not None:
            state.commit_early(early)
            batches.append(early)

    for f in files:
        if f.path in linger_before:
            take(linger_expired=True)
        if f.path not in never_sent:
            state.add(Pending(f.path, target) if f.size_bytes > limit else Ready(f))
            take()
    state.add(AllFound())
    take()
    for f in order:
        if f.path not in never_sent:
            state.add(Resolved(f.path, outputs(f)))
            take()
    return batches


def _groups(batches: Sequence[UploadBatch]) -> list[list[Path]]:
    return [[f.path for f in b.files] for b in batches]


def predict(
    files: Sequence[MediaFile],
    settings: Settings,
    compression: Mapping[Path, Entry],
    *,
    never_sent: frozenset[Path] = frozenset(),
    check_seconds: Mapping[Path, float] | None = None,
) -> Grouping:
    """The messages `send` is expected to make, and whether the unknowns could change them.

    ``check_seconds``: how long each file's media check took; `send`'s batcher stops waiting
    for a file whose check outlasts its linger (expected at one linger, possible from half
    of it, sure at twice: `send` checks while it encodes).
    """
    limit, target = settings.file_limit_bytes, settings.compression_target_bytes
    oversized = [f for f in files if f.size_bytes > limit and f.path not in never_sent]
    expected = encode_order(oversized, compression, settings)

    def at(scale: float) -> Callable[[MediaFile], tuple[MediaFile, ...]]:
        return lambda f: stand_ins(f, compression.get(f.path), target, scale)

    linger = settings.upload_linger_seconds
    seconds = check_seconds or {}

    def slower(share: float) -> frozenset[Path]:
        return frozenset(p for p, s in seconds.items() if s >= share * linger)

    def run(order: Sequence[MediaFile], scale: float, late: frozenset[Path]) -> list[UploadBatch]:
        return replay(files, settings, order, at(scale), never_sent=never_sent, linger_before=late)

    late = slower(1.0)
    best = run(expected, 1.0, late)
    extremes = [run(expected, 1.0, slower(share)) for share in (0.5, 2.0)]
    if oversized:
        extremes += [
            run(expected, float("inf"), late),
            run(expected, 0.5, late),
            run(oversized, 1.0, late),
        ]
    exact = all(_groups(other) == _groups(best) for other in extremes)
    return Grouping(tuple(best), exact)
