"""The streaming batcher: early batches, every file once, and close to the offline optimum."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader import MediaFile, MediaType, UploadBatch, plan_batches
from uploader._batching import (
    AllFound,
    BatchAssembler,
    BatcherInput,
    Pending,
    Ready,
    Resolved,
    run_batcher,
)

CAP = 1000
TARGET = 400


def f(name: str, size: int) -> MediaFile:
    return MediaFile(path=Path(name), size_bytes=size, media_type=MediaType.IMAGE)


@st.composite
def streams(
    draw: st.DrawFn, smallest: int = TARGET // 2
) -> tuple[list[BatcherInput], list[MediaFile]]:
    """A random arrival order of ready files and compressions that resolve later.

    Stand-ins are between ``smallest`` and TARGET bytes (a compressor aiming at 95% of its
    budget lands in the top tenth; the wider default range stresses the bookkeeping).
    """
    n = draw(st.integers(0, 30))
    events: list[BatcherInput] = []
    finals: list[MediaFile] = []
    open_pending: list[Path] = []
    for i in range(n):
        if draw(st.booleans()) or i % 7 == 3:
            file = f(f"r{i}.jpg", draw(st.integers(1, CAP)))
            events.append(Ready(file))
            finals.append(file)
        else:
            key = Path(f"big{i}.mp4")
            events.append(Pending(key, TARGET))
            open_pending.append(key)
        if open_pending and draw(st.booleans()):
            key = open_pending.pop(draw(st.integers(0, len(open_pending) - 1)))
            parts = tuple(
                f(f"{key.stem}.part{j}.mp4", draw(st.integers(smallest, TARGET)))
                for j in range(draw(st.integers(0, 2)))
            )
            events.append(Resolved(key, parts))
            finals.extend(parts)
    events.append(AllFound())
    for key in open_pending:
        part = f(f"{key.stem}.compressed.mp4", draw(st.integers(smallest, TARGET)))
        events.append(Resolved(key, (part,)))
        finals.append(part)
    return events, finals


def drive(
    events: list[BatcherInput], linger_every: int, idle: list[bool] | None = None
) -> list[UploadBatch]:
    state = BatchAssembler(max_files=10, max_bytes=CAP)
    out: list[UploadBatch] = []
    for i, event in enumerate(events):
        state.add(event)
        for batch in state.take(linger_expired=linger_every > 0 and i % linger_every == 0):
            state.record(batch)
            out.append(batch)
        if idle and idle[i % len(idle)] and (early := state.take_early()) is not None:
            state.commit_early(early)
            out.append(early)
    state.upstream_done = True
    out += state.take()
    assert state.ready == [] and state.pending == {}
    return out


@settings(max_examples=120, deadline=None)
@given(stream=streams(), linger_every=st.integers(0, 5))
def test_every_file_exactly_once_in_valid_messages(
    stream: tuple[list[BatcherInput], list[MediaFile]], linger_every: int
) -> None:
    events, finals = stream
    batches = drive(events, linger_every)
    sent = [file for b in batches for file in b.files]
    assert sorted(sent, key=id) == sorted(finals, key=id)
    for b in batches:
        assert 1 <= len(b.files) <= 10
        assert len(b.files) == 1 or b.total_bytes <= CAP


@settings(max_examples=120, deadline=None)
@given(stream=streams(smallest=TARGET * 9 // 10))
def test_without_linger_it_stays_within_one_of_the_offline_plan(
    stream: tuple[list[BatcherInput], list[MediaFile]],
) -> None:
    events, finals = stream
    batches = drive(events, linger_every=0)
    assert len(batches) <= len(plan_batches(finals, max_bytes=CAP)) + 1


@settings(max_examples=120, deadline=None)
@given(
    stream=streams(smallest=TARGET * 9 // 10),
    idle=st.lists(st.booleans(), min_size=1, max_size=8),
)
def test_early_sends_to_an_idle_uploader_cost_at_most_one_message(
    stream: tuple[list[BatcherInput], list[MediaFile]], idle: list[bool]
) -> None:
    events, finals = stream
    batches = drive(events, linger_every=0, idle=idle)
    sent = [file for b in batches for file in b.files]
    assert sorted(sent, key=id) == sorted(finals, key=id)
    assert len(batches) <= len(plan_batches(finals, max_bytes=CAP)) + 1


def test_an_idle_uploader_gets_ready_files_while_videos_encode() -> None:
    state = BatchAssembler(max_files=10, max_bytes=CAP)
    state.add(Pending(Path("big.mp4"), TARGET))
    state.add(Ready(f("a.jpg", 100)))
    assert state.take_early() is None  # the detector may still find files to pack with a.jpg
    state.add(AllFound())
    assert state.take() == []  # the stand-in could join a.jpg: waiting would save a message...
    early = state.take_early()  # ...but one extra message is worth not idling
    assert early is not None and [x.filename for x in early.files] == ["a.jpg"]
    state.commit_early(early)
    assert state.take_early() is None


def test_a_full_message_goes_before_upstream_is_done() -> None:
    state = BatchAssembler(max_files=10, max_bytes=CAP)
    for i in range(10):
        state.add(Ready(f(f"{i}.jpg", 10)))
    [batch] = state.take()
    assert len(batch.files) == 10


def test_files_no_pending_file_could_join_go_once_detection_is_done() -> None:
    state = BatchAssembler(max_files=10, max_bytes=CAP)
    state.add(Ready(f("a.jpg", 900)))  # no 400-byte stand-in can join this one
    state.add(Ready(f("b.jpg", 150)))
    state.add(Pending(Path("big.mp4"), TARGET))
    assert state.take() == []  # the detector is still running: more files may come
    assert state.take_early() is None
    state.add(AllFound())
    assert state.take() == []  # with stand-ins pending, sends wait for an idle uploader
    early = state.take_early()  # the heaviest goes first; b.jpg stays back as a filler
    assert early is not None and [x.filename for x in early.files] == ["a.jpg"]
    state.commit_early(early)
    # b.jpg alone costs one message more than the offline plan: still affordable, once
    second = state.take_early()
    assert second is not None and [x.filename for x in second.files] == ["b.jpg"]
    state.commit_early(second)
    state.add(Resolved(Path("big.mp4"), (f("big.compressed.mp4", 380),)))
    [last] = state.take()
    assert [x.filename for x in last.files] == ["big.compressed.mp4"]
    assert state.messages_sent + 1 == 3  # the offline plan needs 2


async def test_the_actor_lingers_then_sends_a_partial_message(autojump_clock: object) -> None:
    in_send, in_recv = trio.open_memory_channel[BatcherInput](0)
    out_send, out_recv = trio.open_memory_channel[UploadBatch](0)
    got: list[tuple[float, list[str]]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_batcher(in_recv, out_send, max_files=10, max_bytes=CAP, linger=0.5)
        )

        async def consume() -> None:
            async with out_recv:
                async for b in out_recv:
                    got.append((trio.current_time(), [x.filename for x in b.files]))

        nursery.start_soon(consume)
        async with in_send:
            await in_send.send(Ready(f("a.jpg", 10)))
            await trio.sleep(2)
            await in_send.send(Ready(f("b.jpg", 10)))
    assert got == [(0.5, ["a.jpg"]), (2.0, ["b.jpg"])]


async def test_a_stalled_consumer_stops_the_producer(autojump_clock: object) -> None:
    in_send, in_recv = trio.open_memory_channel[BatcherInput](0)
    out_send, out_recv = trio.open_memory_channel[UploadBatch](0)
    sent = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_batcher(in_recv, out_send, max_files=2, max_bytes=CAP, linger=0.1)
        )

        async def produce() -> None:
            nonlocal sent
            async with in_send:
                for i in range(100):
                    await in_send.send(Ready(f(f"{i}.jpg", 1)))
                    sent += 1

        nursery.start_soon(produce)
        await trio.sleep(5)
        # nobody reads batches: the batcher holds one full batch and blocks, so does the producer
        assert sent <= 4
        nursery.cancel_scope.cancel()
    out_recv.close()


async def test_a_zero_linger_still_packs_what_is_already_waiting(autojump_clock: object) -> None:
    in_send, in_recv = trio.open_memory_channel[BatcherInput](64)
    out_send, out_recv = trio.open_memory_channel[UploadBatch](64)
    for i in range(12):
        in_send.send_nowait(Ready(f(f"{i}.jpg", 10)))
    in_send.close()
    await run_batcher(in_recv, out_send, max_files=10, max_bytes=CAP, linger=0)
    sizes = [len(b.files) async for b in out_recv]
    assert sizes == [10, 2]
