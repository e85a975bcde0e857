"""The 413 decision (`decide_too_large`) as a table and as properties, without HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from uploader import MediaFile, MediaType, UploadBatch
from uploader._limits import MIB
from uploader._too_large import MAX_SPLITS, decide_too_large, learnt_limit

KIB = 1024


def files(*sizes: int) -> tuple[MediaFile, ...]:
    return tuple(
        MediaFile(Path(f"f{i}.mp4"), size, MediaType.VIDEO) for i, size in enumerate(sizes)
    )


def names(fs: tuple[MediaFile, ...]) -> list[str]:
    return [f.path.stem for f in fs]


@pytest.mark.parametrize(
    ("sizes", "stated", "limit", "depth", "new_limit", "recompress", "resend", "fail"),
    [
        # a lone file, no stated limit: the largest known limit below it (8 MiB under 9 MiB)
        ((9 * MIB,), None, 10 * MIB, 0, 8 * MIB, ["f0"], [], []),
        # a lone file below every known limit: half of it
        ((200 * KIB,), None, 10 * MIB, 0, 100 * KIB, ["f0"], [], []),
        # Discord said the limit: files over it are recompressed, the rest resent
        ((300 * KIB, 100 * KIB), 150 * KIB, 10 * MIB, 0, 150 * KIB, ["f0"], [["f1"]], []),
        # several files that each fit, no stated limit: the largest alone first (refused, it
        # teaches the per-file limit), the rest in halves (if the request was too big)
        ((300 * KIB,) * 4, None, 10 * MIB, 0, 10 * MIB, [], [["f0"], ["f1", "f2"], ["f3"]], []),
        (
            (100 * KIB, 300 * KIB, 200 * KIB),
            None,
            10 * MIB,
            0,
            10 * MIB,
            [],
            [["f1"], ["f0", "f2"]],
            [],
        ),
        # a stated limit above what the run uses never raises it
        ((300 * KIB,), 50 * MIB, 10 * MIB, 0, 10 * MIB, [], [], ["f0"]),
        # a lone file within the stated limit was refused: resending cannot help
        ((1 * MIB,), 10 * MIB, 10 * MIB, 0, 10 * MIB, [], [], ["f0"]),
        # too many rounds: give up on every file
        ((300 * KIB, 100 * KIB), None, 10 * MIB, MAX_SPLITS, 10 * MIB, [], [], ["f0", "f1"]),
    ],
)
def test_the_413_decision(
    sizes: tuple[int, ...],
    stated: int | None,
    limit: int,
    depth: int,
    new_limit: int,
    recompress: list[str],
    resend: list[list[str]],
    fail: list[str],
) -> None:
    decision = decide_too_large(
        UploadBatch(files(*sizes)),
        stated_limit=stated,
        file_limit=limit,
        max_files=10,
        max_bytes=25 * MIB,
        depth=depth,
    )
    assert decision.limit == new_limit
    assert names(decision.recompress) == recompress
    assert [names(b.files) for b in decision.resend] == resend
    assert names(decision.fail) == fail


def test_only_a_lone_file_teaches_a_limit_discord_did_not_state() -> None:
    assert learnt_limit(files(300 * KIB, 100 * KIB), None) is None
    assert learnt_limit(files(300 * KIB, 100 * KIB), 123) == 123
    assert learnt_limit(files(26 * MIB), None) == 25 * MIB


@given(
    sizes=st.lists(st.integers(0, 30 * MIB), min_size=1, max_size=10),
    stated=st.none() | st.integers(1, 30 * MIB),
    limit=st.integers(1, 30 * MIB),
    max_files=st.integers(1, 10),
    depth=st.integers(0, MAX_SPLITS),
)
@example(sizes=[0, 0], stated=None, limit=MIB, max_files=10, depth=0)  # sizes that cannot halve
def test_every_file_is_placed_once_and_nothing_loops(
    sizes: list[int], stated: int | None, limit: int, max_files: int, depth: int
) -> None:
    batch = UploadBatch(files(*sizes)[:max_files])
    d = decide_too_large(
        batch,
        stated_limit=stated,
        file_limit=limit,
        max_files=max_files,
        max_bytes=25 * MIB,
        depth=depth,
    )
    resent = [f for b in d.resend for f in b.files]
    placed = [*d.recompress, *resent, *d.fail]
    assert sorted(names(tuple(placed))) == sorted(names(batch.files))  # each exactly once
    assert d.limit <= limit  # never raised
    assert all(f.size_bytes > d.limit for f in d.recompress)
    assert all(f.size_bytes <= d.limit for f in resent)  # never sent over a known limit
    for b in d.resend:
        # no loop: a resend is strictly smaller, or the limit strictly lower
        assert len(b.files) < len(batch.files) or d.limit < limit
        assert len(b.files) <= max_files
    if depth >= MAX_SPLITS:
        assert not d.resend and not d.recompress
