"""plan_batches: every invariant under hypothesis, and optimality against brute force."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader import MediaFile, MediaType, UploadBatch, plan_batches
from uploader._batching import _first_fit_decreasing, lower_bound

CAP = 1000


def media(sizes: list[int]) -> list[MediaFile]:
    return [
        MediaFile(path=Path(f"f{i:03d}.jpg"), size_bytes=s, media_type=MediaType.IMAGE)
        for i, s in enumerate(sizes)
    ]


def check_invariants(
    files: list[MediaFile], batches: list[UploadBatch], max_files: int, max_bytes: int
) -> None:
    placed = [f for b in batches for f in b.files]
    assert sorted(placed, key=id) == sorted(files, key=id)  # every file exactly once
    index = {id(f): i for i, f in enumerate(files)}
    for b in batches:
        assert 1 <= len(b.files) <= max_files
        assert b.total_bytes == sum(f.size_bytes for f in b.files)
        if len(b.files) > 1:
            assert b.total_bytes <= max_bytes
        assert b.oversized == (b.total_bytes > max_bytes)
        order = [index[id(f)] for f in b.files]
        assert order == sorted(order)  # input order inside a batch
    firsts = [index[id(b.files[0])] for b in batches]
    assert firsts == sorted(firsts)


def brute_force_min(sizes: list[int], max_files: int, max_bytes: int) -> int:
    """The fewest bins by exhaustive search: each item into every existing bin or one new bin."""
    fitting = sorted((s for s in sizes if s <= max_bytes), reverse=True)
    best = len(fitting)
    loads: list[int] = []
    counts: list[int] = []

    def place(i: int) -> None:
        nonlocal best
        if len(loads) >= best:
            return
        if i == len(fitting):
            best = len(loads)
            return
        for b in range(len(loads)):
            if counts[b] < max_files and loads[b] + fitting[i] <= max_bytes:
                loads[b] += fitting[i]
                counts[b] += 1
                place(i + 1)
                loads[b] -= fitting[i]
                counts[b] -= 1
        loads.append(fitting[i])
        counts.append(1)
        place(i + 1)
        loads.pop()
        counts.pop()

    place(0)
    return best + (len(sizes) - len(fitting))


sizes_strategy = st.lists(st.integers(min_value=1, max_value=int(CAP * 1.3)), max_size=40)


@given(sizes=sizes_strategy, max_files=st.integers(1, 10), keep_order=st.booleans())
def test_every_invariant_holds(sizes: list[int], max_files: int, keep_order: bool) -> None:
    files = media(sizes)
    batches = plan_batches(files, max_files=max_files, max_bytes=CAP, keep_order=keep_order)
    check_invariants(files, batches, max_files, CAP)


@given(sizes=sizes_strategy, max_files=st.integers(1, 10))
def test_is_deterministic(sizes: list[int], max_files: int) -> None:
    files = media(sizes)
    first = plan_batches(files, max_files=max_files, max_bytes=CAP)
    assert plan_batches(files, max_files=max_files, max_bytes=CAP) == first


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=int(CAP * 1.2)), min_size=1, max_size=10),
    max_files=st.integers(1, 10),
)
def test_small_sets_match_the_brute_force_optimum(sizes: list[int], max_files: int) -> None:
    batches = plan_batches(media(sizes), max_files=max_files, max_bytes=CAP)
    assert len(batches) == brute_force_min(sizes, max_files, CAP)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(min_value=CAP // 5, max_value=CAP // 2), min_size=9, max_size=12))
def test_twelve_files_are_packed_optimally(sizes: list[int]) -> None:
    # Sizes between a fifth and a half of the cap are where greedy packing goes wrong.
    got = len(plan_batches(media(sizes), max_files=10, max_bytes=CAP))
    assert got == brute_force_min(sizes, 10, CAP)


def test_exact_beats_first_fit_decreasing_where_it_is_known_to_fail() -> None:
    # FFD puts 380+350+140 together and strands 140: 3 messages, where 380+300+140+140 and
    # 350+350+300 need only 2.
    sizes = [380, 350, 350, 300, 300, 140, 140]
    assert len(_first_fit_decreasing(sizes, 10, CAP)) == 3
    assert len(plan_batches(media(sizes), max_bytes=CAP)) == 2


@given(sizes=sizes_strategy, max_files=st.integers(1, 10))
def test_keep_order_is_contiguous_and_minimal(sizes: list[int], max_files: int) -> None:
    files = media(sizes)
    batches = plan_batches(files, max_files=max_files, max_bytes=CAP, keep_order=True)
    assert [f for b in batches for f in b.files] == files
    # minimal: no two neighbouring batches could have been one
    for a, b in itertools.pairwise(batches):
        merged = len(a.files) + len(b.files) <= max_files and (a.total_bytes + b.total_bytes <= CAP)
        assert not merged


@given(sizes=sizes_strategy)
def test_never_worse_than_the_original_strategy(sizes: list[int]) -> None:
    """The seed sorted ascending and filled one batch until it would overflow."""
    batches = plan_batches(media(sizes), max_bytes=CAP)
    original = 0
    load = count = 0
    for s in sorted(sizes):
        if s > CAP:
            original += 1
            continue
        if count == 0 or count == 10 or load + s > CAP:
            original += 1
            load = count = 0
        load += s
        count += 1
    assert len(batches) <= original


def test_an_oversized_file_is_alone_and_marked() -> None:
    batches = plan_batches(media([10, 2000, 20]), max_bytes=CAP)
    assert [len(b.files) for b in batches] == [2, 1]
    assert [b.oversized for b in batches] == [False, True]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_files"):
        plan_batches([], max_files=0, max_bytes=CAP)
    with pytest.raises(ValueError, match="max_bytes"):
        plan_batches([], max_bytes=0)


def test_empty_input_gives_no_batches() -> None:
    assert plan_batches([], max_bytes=CAP) == []


def test_hundred_thousand_files_plan_quickly() -> None:
    # Not a timing threshold: a sanity check that the heuristic path is not quadratic, with a
    # bound two orders of magnitude above what it takes (benchmarks/batching.py measures it).
    sizes = [(i * 7919) % (CAP // 3) + 1 for i in range(100_000)]
    start = time.process_time()
    batches = plan_batches(media(sizes), max_bytes=CAP)
    assert time.process_time() - start < 60
    assert len(batches) >= lower_bound(sizes, max_files=10, max_bytes=CAP)
