"""The resume decision, pure: hypothesis journals against what must never happen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader import MediaFile, MediaType
from uploader.journal import (
    AlreadyDelivered,
    Compressed,
    DestinationKey,
    Entry,
    Fingerprint,
    Intent,
    JournalState,
    NeedsHash,
    Outcome,
    Part,
    ResendBatch,
    ResumePolicy,
    RunHeader,
    Seen,
    Send,
    StandIn,
    Status,
    StillUncertain,
    Why,
    decide_file,
    plan_resends,
)

PATHS = ("a.mp4", "b.jpg", "c/d.mp3")
WINDOW = 240.0


def fingerprint(path: str, version: int, touch: int = 0) -> Fingerprint:
    """Versions 0 and 1 have the same size (only the hash tells them apart); mtimes are unique
    per version, so the same size and mtime always mean the same content."""
    size = 100 if version < 2 else 200 + version
    return Fingerprint(size, 1_000 * version + touch, f"{path}#{version}")


def seen_of(path: str, version: int, touch: int, hashed: bool) -> Seen:
    fp = fingerprint(path, version, touch)
    return Seen(path, fp.size, fp.mtime_ns, fp.sha256 if hashed else None)


def compression(path: str, version: int, k: int, n: int) -> Compressed:
    parts = tuple(
        Part(f"/w/{path}.{version}.{k}.{i}", 10 + i, f"{path}#{version}/{k}/{i}") for i in range(n)
    )
    return Compressed("r", path, fingerprint(path, version), parts)


@st.composite
def journals(draw: st.DrawFn) -> JournalState:
    """A journal of batches over three files in a few versions, compressed or not, with every
    kind of outcome (or none: a crash), on the bot path (nonce) or the webhook path."""
    state = JournalState()
    state.add(RunHeader("r", 0.0, "/f", DestinationKey("channel", "1", "h"), "0"))
    packs: list[Compressed] = []
    for path in PATHS:
        for version in range(3):
            for k in range(draw(st.integers(0, 2))):
                pack = compression(path, version, k, draw(st.integers(1, 3)))
                packs.append(pack)
                state.add(pack)
    for b in range(draw(st.integers(0, 7))):
        entries = []
        for _ in range(draw(st.integers(1, 4))):
            path = draw(st.sampled_from(PATHS))
            version = draw(st.integers(0, 2))
            source = fingerprint(path, version, draw(st.integers(0, 1)))
            ours = [p for p in packs if p.path == path and p.source.sha256 == source.sha256]
            stand_in = None
            compressed: bool = draw(st.booleans())
            if ours and compressed:
                pack = draw(st.sampled_from(ours))
                i = draw(st.integers(0, len(pack.parts) - 1))
                p = pack.parts[i]
                stand_in = StandIn(p.path, p.size, p.sha256, i, len(pack.parts), pack.set_id)
            entries.append(Entry(path, "video", source, stand_in))
        nonce = draw(st.sampled_from([None, f"n{b}"]))
        at = draw(st.floats(0, 1_000))
        state.add(Intent("r", f"b{b}", at, nonce, tuple(entries)))
        for _ in range(draw(st.integers(0, 2))):
            status = draw(st.sampled_from(list(Status)))
            if status is Status.DELIVERED:
                ids = [draw(st.sampled_from([None, f"att{b}.{i}"])) for i in range(len(entries))]
                state.add(Outcome(f"b{b}", status, f"m{b}", tuple(ids)))
            else:
                state.add(Outcome(f"b{b}", status, reason="boom"))
    return state


@st.composite
def now_seen(draw: st.DrawFn) -> dict[str, tuple[int, int]]:
    return {
        path: (draw(st.integers(0, 3)), draw(st.integers(0, 1)))
        for path in PATHS
        if draw(st.integers(0, 5))  # sometimes the file is gone
    }


def decide(state: JournalState, seen: Seen, policy: ResumePolicy) -> Any:
    """Like Journal.decide: hash only when asked."""
    decision = decide_file(state, seen, policy)
    if isinstance(decision, NeedsHash):
        assert seen.sha256 is None, "a hashed file never needs a hash"
        return decide_file(
            state, attrs.evolve(seen, sha256=f"{seen.path}#{version_of(seen)}"), policy
        )
    return decision


def version_of(seen: Seen) -> int:
    return seen.mtime_ns // 1_000


def hashed(seen: Seen) -> Seen:
    return attrs.evolve(seen, sha256=f"{seen.path}#{version_of(seen)}")


def truly_same(entry: Entry, seen: Seen) -> bool:
    return entry.source.sha256 == f"{seen.path}#{version_of(seen)}"


def in_nonce_window(batch: Any, policy: ResumePolicy) -> bool:
    age = policy.now - batch.intent.at
    return batch.intent.nonce is not None and 0 <= age < WINDOW


policies = st.builds(
    ResumePolicy,
    now=st.floats(0, 1_500),
    nonce_window=st.just(WINDOW),
    resend_uncertain=st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(journals(), now_seen(), policies, st.booleans())
def test_the_resume_decision_keeps_its_promises(
    state: JournalState, files: dict[str, tuple[int, int]], policy: ResumePolicy, hash_all: bool
) -> None:
    seen = {p: seen_of(p, v, t, hash_all) for p, (v, t) in files.items()}
    decisions = {p: decide(state, s, policy) for p, s in seen.items()}
    plan = plan_resends(state, {p: hashed(s) for p, s in seen.items()}, policy)
    resent = {(r.batch, index) for r in plan.resends for index, _ in r.entries}
    for path, decision in decisions.items():
        now = seen[path]
        refs = state.refs(path)
        if isinstance(decision, AlreadyDelivered):
            # never delivered without a delivered outcome for a batch holding this content
            for d in decision.deliveries:
                assert any(
                    ref.batch.status is Status.DELIVERED
                    and ref.batch.attachment(ref.index) == d.attachment_id
                    and ref.batch.outcome is not None
                    and ref.batch.outcome.message_id == d.message_id
                    and truly_same(ref.entry, now)
                    for ref in refs
                )
            assert sorted(d.part for d in decision.deliveries) == list(
                range(decision.deliveries[0].parts)
            )
            # ... and never scheduled again
            assert not any(state.batches[b].intent.entries[i].path == path for b, i in resent)
        else:
            # a whole delivered file of the same content is always recognised
            assert not any(
                ref.entry.stand_in is None
                and ref.batch.attachment(ref.index) is not None
                and truly_same(ref.entry, now)
                for ref in refs
            )
        if isinstance(decision, ResendBatch):
            batch = state.batches[decision.batch]
            assert batch.status is Status.UNCERTAIN and in_nonce_window(batch, policy)
            assert decision.nonce == batch.intent.nonce
            assert any(e.path == path and truly_same(e, now) for e in batch.intent.entries)
        if isinstance(decision, StillUncertain):
            assert not policy.resend_uncertain
        if isinstance(decision, Send) and decision.why is Why.NEW:
            assert not refs
    # every uncertain bot batch in its window is resent with its own nonce, with each entry
    # that is unchanged and not delivered since
    by_batch = {r.batch: r for r in plan.resends}
    for batch in state.batches.values():
        intent = batch.intent
        wanted = [
            i
            for i, e in enumerate(intent.entries)
            if batch.status is Status.UNCERTAIN
            and in_nonce_window(batch, policy)
            and e.path in seen
            and truly_same(e, seen[e.path])
            and not isinstance(decisions[e.path], AlreadyDelivered)
        ]
        if wanted:
            resend = by_batch[intent.batch]
            assert resend.nonce == intent.nonce
            assert [i for i, _ in resend.entries] == wanted
        else:
            assert intent.batch not in by_batch
    for r in plan.resends:
        for _, entry in r.entries:
            assert isinstance(decisions[entry.path], ResendBatch)


def journal_with(*records: Any) -> JournalState:
    state = JournalState()
    state.add(RunHeader("r", 0.0, "/f", DestinationKey("channel", "1", "h"), "0"))
    for r in records:
        state.add(r)
    return state


def raw(path: str = "a.mp4", version: int = 0) -> Entry:
    return Entry(path, "video", fingerprint(path, version))


def test_a_new_file_is_sent_as_new() -> None:
    decision = decide_file(journal_with(), seen_of("a.mp4", 0, 0, False), ResumePolicy(now=0))
    assert decision == Send("a.mp4", Why.NEW)


def test_a_delivered_file_is_reported_with_its_ids() -> None:
    state = journal_with(
        Intent("r", "b", 10.0, None, (raw(),)), Outcome("b", Status.DELIVERED, "m1", ("a1",))
    )
    decision = decide_file(state, seen_of("a.mp4", 0, 0, False), ResumePolicy(now=20))
    assert isinstance(decision, AlreadyDelivered)
    assert [(d.message_id, d.attachment_id, d.sent_as) for d in decision.deliveries] == [
        ("m1", "a1", "a.mp4")
    ]


def test_a_touched_file_needs_its_hash_and_same_size_other_content_is_changed() -> None:
    state = journal_with(
        Intent("r", "b", 10.0, None, (raw(),)), Outcome("b", Status.DELIVERED, "m1", ("a1",))
    )
    policy = ResumePolicy(now=20)
    touched = seen_of("a.mp4", 0, 1, False)
    assert decide_file(state, touched, policy) == NeedsHash("a.mp4")
    assert isinstance(decide_file(state, hashed(touched), policy), AlreadyDelivered)
    other = seen_of("a.mp4", 1, 0, True)  # same size, other content
    assert decide_file(state, other, policy) == Send("a.mp4", Why.CHANGED)
    bigger = seen_of("a.mp4", 2, 0, False)  # no hash needed when the size differs
    assert decide_file(state, bigger, policy) == Send("a.mp4", Why.CHANGED)


def test_an_uncertain_bot_batch_is_resent_with_its_nonce_only_inside_the_window() -> None:
    state = journal_with(Intent("r", "b", 100.0, "nonce1", (raw(), raw("b.jpg"))))
    seen = {p: seen_of(p, 0, 0, False) for p in ("a.mp4", "b.jpg")}
    inside = ResumePolicy(now=100 + WINDOW - 1, nonce_window=WINDOW)
    assert decide_file(state, seen["a.mp4"], inside) == ResendBatch("a.mp4", "b", "nonce1")
    (resend,) = plan_resends(state, seen, inside).resends
    assert (resend.batch, resend.nonce, [i for i, _ in resend.entries]) == ("b", "nonce1", [0, 1])
    assert resend.align(["x", None]) == ("x", None)
    late = ResumePolicy(now=100 + WINDOW, nonce_window=WINDOW)
    decision = decide_file(state, seen["a.mp4"], late)
    assert isinstance(decision, StillUncertain) and "too long ago" in decision.reason
    assert plan_resends(state, seen, late).resends == ()
    backwards = ResumePolicy(now=50, nonce_window=WINDOW)  # the clock went back: not trusted
    assert isinstance(decide_file(state, seen["a.mp4"], backwards), StillUncertain)


def test_a_resend_leaves_out_files_delivered_since_or_changed() -> None:
    state = journal_with(
        Intent("r", "b1", 100.0, "n", (raw("a.mp4"), raw("b.jpg"), raw("c/d.mp3"))),
        Intent("r", "b2", 101.0, None, (raw("a.mp4"),)),
        Outcome("b2", Status.DELIVERED, "m", ("att",)),
    )
    seen = {
        "a.mp4": seen_of("a.mp4", 0, 0, True),
        "b.jpg": seen_of("b.jpg", 2, 0, True),  # changed
        "c/d.mp3": seen_of("c/d.mp3", 0, 0, True),
    }
    (resend,) = plan_resends(state, seen, ResumePolicy(now=110)).resends
    assert [e.path for _, e in resend.entries] == ["c/d.mp3"]
    assert resend.align(["z"]) == (None, None, "z")
    size = fingerprint("c/d.mp3", 0).size
    # Discord posts it now: one attachment per resent entry
    assert resend.confirm([("z", size)]) == (None, None, "z")
    # Discord answers with the message it already held: one attachment per entry of the batch
    held = [("x", 1), ("y", 2), ("z", size)]
    assert resend.confirm(held) == (None, None, "z")
    assert resend.confirm([("x", 1), ("z", size + 1), ("q", 3)]) == (None, None, None)
    assert resend.confirm([]) == (None, None, None)


def test_webhook_uncertain_stays_uncertain_unless_asked() -> None:
    state = journal_with(
        Intent("r", "b", 100.0, None, (raw(),)), Outcome("b", Status.UNCERTAIN, reason="HTTP 502")
    )
    seen = seen_of("a.mp4", 0, 0, False)
    decision = decide_file(state, seen, ResumePolicy(now=110))
    assert decision == StillUncertain("a.mp4", "may already be in the channel (HTTP 502)")
    asked = ResumePolicy(now=110, resend_uncertain=True)
    assert decide_file(state, seen, asked) == Send("a.mp4", Why.UNCERTAIN)
    assert plan_resends(state, {"a.mp4": seen}, asked).resends == ()


def test_failed_is_sent_again_with_its_compression_reused() -> None:
    pack = compression("a.mp4", 0, 0, 2)
    parts = [StandIn(p.path, p.size, p.sha256, i, 2, pack.set_id) for i, p in enumerate(pack.parts)]
    state = journal_with(
        pack,
        Intent("r", "b", 100.0, None, tuple(attrs.evolve(raw(), stand_in=s) for s in parts)),
        Outcome("b", Status.DELIVERED, "m", ("att0", None)),  # the second part not confirmed
    )
    decision = decide_file(state, seen_of("a.mp4", 0, 0, False), ResumePolicy(now=110))
    assert isinstance(decision, Send) and decision.why is Why.NOT_DELIVERED
    assert decision.stand_ins == tuple(parts)
    assert [(d.part, d.attachment_id) for d in decision.delivered_parts] == [(0, "att0")]
    user = MediaFile(Path("/f/a.mp4"), 100, MediaType.VIDEO)
    assert decision.stand_in_files(user) == (
        MediaFile(parts[1].path, parts[1].size, MediaType.VIDEO, original_path=user.path),
    )
    too_big = ResumePolicy(now=110, limit_bytes=10)  # a part is now over the limit
    assert decide_file(state, seen_of("a.mp4", 0, 0, False), too_big) == Send(
        "a.mp4", Why.NOT_DELIVERED
    )
    # the missing part goes out in a later batch: now the whole file is in the channel
    state.add(Intent("r", "b2", 120.0, None, (attrs.evolve(raw(), stand_in=parts[1]),)))
    state.add(Outcome("b2", Status.DELIVERED, "m2", ("att1",)))
    assert isinstance(
        decide_file(state, seen_of("a.mp4", 0, 0, False), ResumePolicy(now=110)),
        AlreadyDelivered,
    )
