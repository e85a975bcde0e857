"""The delivery journal: its record format, tolerant reading, and the file on disk."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader import Channel, MediaFile, MediaType, Webhook
from uploader.journal import (
    AlreadyDelivered,
    Compressed,
    DestinationKey,
    Entry,
    Fingerprint,
    Intent,
    JournalBusyError,
    JournalError,
    JournalMismatchError,
    Outcome,
    Part,
    Record,
    RecordError,
    ResendBatch,
    RunHeader,
    Send,
    StandIn,
    Status,
    StillUncertain,
    Why,
    _files,
    decode,
    default_journal_dir,
    destination_key,
    encode,
    journal_name,
    load,
    open_journal,
)

BOT_TOKEN = "MTAx.bot-token-SECRET"
WEBHOOK_TOKEN = "hook-token-SECRET_abc"
WEBHOOK = Webhook(f"https://discord.com/api/webhooks/123/{WEBHOOK_TOKEN}")
CHANNEL = Channel(channel_id=456, token=BOT_TOKEN)
BOT = destination_key(CHANNEL, "https://discord.com/api/v10")


# --- records ---------------------------------------------------------------------------------

names = st.text(max_size=12) | st.sampled_from(["a\nb.mp4", "x\udcff.jpg", "-é 'q\";.mp3", "../x"])
hexes = st.text("0123456789abcdef", min_size=1, max_size=6)
sizes = st.integers(0, 2**40)
fingerprints = st.builds(Fingerprint, sizes, st.integers(-(2**62), 2**62), hexes)
times = st.floats(0, 2e9, allow_nan=False)
stand_ins = st.builds(
    lambda path, size, sha, n, i, sid: StandIn(path, size, sha, i % n, n, sid),
    names,
    sizes,
    hexes,
    st.integers(1, 4),
    st.integers(0, 3),
    hexes,
)
entries = st.builds(
    Entry, names, st.sampled_from(["video", "image"]), fingerprints, st.none() | stand_ins
)
keys = st.builds(
    DestinationKey, st.sampled_from(["webhook", "channel"]), hexes, names, st.none() | hexes
)


@st.composite
def journals(draw: st.DrawFn) -> list[Record]:
    """A valid journal: a header first, outcomes only for announced batches."""
    records: list[Record] = [draw(st.builds(RunHeader, hexes, times, names, keys, hexes))]
    batches: dict[str, int] = {}
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["run", "compressed", "intent", "outcome"]))
        if kind == "run":
            records.append(attrs_evolve(records[0], run=draw(hexes), at=draw(times)))
        elif kind == "compressed":
            parts = draw(st.lists(st.builds(Part, names, sizes, hexes), min_size=1, max_size=3))
            records.append(Compressed("r", draw(names), draw(fingerprints), tuple(parts)))
        elif kind == "intent" or not batches:
            batch = f"b{len(batches)}"
            batch_entries = tuple(draw(st.lists(entries, min_size=1, max_size=3)))
            batches[batch] = len(batch_entries)
            nonce = draw(st.none() | hexes)
            records.append(Intent("r", batch, draw(times), nonce, batch_entries))
        else:
            batch = draw(st.sampled_from(sorted(batches)))
            status = draw(st.sampled_from(list(Status)))
            if status is Status.DELIVERED:
                ids = tuple(draw(st.none() | hexes) for _ in range(batches[batch]))
                records.append(Outcome(batch, status, draw(hexes), ids))
            else:
                records.append(Outcome(batch, status, reason=draw(names)))
    return records


def attrs_evolve(record: Any, **changes: Any) -> Any:
    import attrs

    return attrs.evolve(record, **changes)


@settings(max_examples=200, deadline=None)
@given(journals())
def test_every_record_is_one_ascii_line_that_decodes_to_itself(records: list[Record]) -> None:
    for record in records:
        line = encode(record)
        assert line.endswith(b"\n") and line.count(b"\n") == 1 and line.isascii()
        assert decode(line[:-1]) == record


@settings(max_examples=200, deadline=None)
@given(journals(), st.data())
def test_a_journal_cut_at_any_byte_reads_back_as_its_whole_records(
    records: list[Record], data: st.DataObject
) -> None:
    raw = b"".join(encode(r) for r in records)
    cut = data.draw(st.integers(0, len(raw)))
    loaded = load(raw[:cut])
    whole = raw[:cut].count(b"\n")
    assert loaded.records == tuple(records[:whole])
    assert loaded.valid_bytes == raw[:cut].rfind(b"\n") + 1
    if loaded.valid_bytes == cut:
        assert loaded.bad_line is None
    else:
        assert loaded.cut_short and loaded.bad_line == whole + 1


@settings(max_examples=200, deadline=None)
@given(journals(), st.data())
def test_a_corrupt_byte_is_never_trusted_past_its_line(
    records: list[Record], data: st.DataObject
) -> None:
    raw = bytearray(b"".join(encode(r) for r in records))
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] = data.draw(st.sampled_from([0x00, 0xFF, ord("{"), ord("x")]))
    line = raw[:at].count(b"\n")  # 0-based index of the damaged line
    loaded = load(bytes(raw))
    assert loaded.records[:line] == tuple(records[:line])
    if loaded.bad_line is not None:
        # nothing after a reported bad line is trusted. (A byte that leaves its record valid
        # JSON, e.g. a letter of a batch id, can only show up at a later line that no longer
        # makes sense: records carry no checksum.)
        assert len(loaded.records) == loaded.bad_line - 1


def test_reading_stops_at_a_record_that_makes_no_sense() -> None:
    header = RunHeader("r", 1.0, "/f", BOT, "0")
    lost = Outcome("nope", Status.FAILED, reason="x")
    loaded = load(encode(header) + encode(lost) + encode(header))
    assert loaded.records == (header,) and loaded.bad_line == 2
    warning = loaded.warning(Path("/j/x.jsonl"))
    assert str(warning) == (
        "journal /j/x.jsonl: line 2 is not a valid record (an outcome for batch nope, never "
        "announced); trusting the 1 line(s) before it and ignoring the rest"
    )
    newer = encode(header).replace(b'"v":1', b'"v":2')
    assert "version 2" in load(newer).problem
    with pytest.raises(RecordError):
        decode(
            b'{"v":1,"type":"outcome","batch":"b","status":"delivered","message_id":true,'
            b'"attachments":[],"reason":""}'
        )


def test_a_destination_is_named_without_its_secrets() -> None:
    hook = Webhook(f"https://canary.discord.com/api/webhooks/123/{WEBHOOK_TOKEN}?thread_id=9")
    assert destination_key(hook) == DestinationKey("webhook", "123", "canary.discord.com", "9")
    proxied = destination_key(CHANNEL, "http://user:pass-SECRET@127.0.0.1:8443/api")
    assert proxied == DestinationKey("channel", "456", "127.0.0.1:8443")
    assert str(proxied) == "channel 456 on 127.0.0.1:8443"


def test_the_default_folder_follows_xdg() -> None:
    assert default_journal_dir({"XDG_STATE_HOME": "/s", "HOME": "/h"}) == Path(
        "/s/uploader/journals"
    )
    for env in ({"HOME": "/h"}, {"XDG_STATE_HOME": "rel", "HOME": "/h"}):
        assert default_journal_dir(env) == Path("/h/.local/state/uploader/journals")


# --- on disk ---------------------------------------------------------------------------------


def media(path: Path, data: bytes = b"0123456789", kind: MediaType = MediaType.IMAGE) -> MediaFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return MediaFile(path, len(data), kind)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


@pytest.fixture
def jdir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "uploader" / "journals"


async def test_a_delivered_batch_is_skipped_next_run_with_its_ids(folder: Path, jdir: Path) -> None:
    a, b = media(folder / "a.jpg"), media(folder / "sub" / "b.jpg", b"bb")
    async with open_journal(folder, BOT, directory=jdir) as journal:
        assert journal.warning is None and journal.path.parent == jdir
        batch = await journal.intent([a, b], nonce="n1")
        await journal.delivered(batch, "m1", ["at1", None])
    async with open_journal(folder, BOT, directory=jdir) as journal:
        done = await journal.decide(a)
        assert isinstance(done, AlreadyDelivered)
        assert [(d.message_id, d.attachment_id) for d in done.deliveries] == [("m1", "at1")]
        assert await journal.decide(b.path) == Send("sub/b.jpg", Why.NOT_DELIVERED)
        (folder / "new.jpg").write_bytes(b"n")
        assert await journal.decide(folder / "new.jpg") == Send("new.jpg", Why.NEW)
    assert len(load(journal.path.read_bytes()).state.headers) == 2


async def test_files_are_private_and_folders_are_created_0700(folder: Path, tmp_path: Path) -> None:
    jdir = tmp_path / "x" / "y"
    old = os.umask(0)
    try:
        async with open_journal(folder, BOT, directory=jdir) as journal:
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(jdir.stat().st_mode) == 0o700
    assert stat.S_IMODE(jdir.parent.stat().st_mode) == 0o700
    assert journal.path.name == journal_name(folder.resolve(), BOT)


async def test_no_secret_ever_reaches_the_journal(folder: Path, jdir: Path) -> None:
    a = media(folder / "a.jpg")
    secret_url = f"https://discord.com/api/webhooks/123/{WEBHOOK_TOKEN}"
    proxied = destination_key(CHANNEL, "https://user:pass-SECRET@proxy.example:8443/api")
    for key in (destination_key(WEBHOOK), proxied):
        async with open_journal(folder, key, directory=jdir) as journal:
            batch = await journal.intent([a])
            await journal.uncertain(batch, f"POST {secret_url} failed: HTTP 502")
            for text in (repr(journal), str(journal.state), str(key)):
                assert "SECRET" not in text
        data = journal.path.read_bytes()
        for secret in (WEBHOOK_TOKEN, BOT_TOKEN, "pass-SECRET", secret_url, "SECRET"):
            assert secret.encode() not in data
        # what is kept: the reason with its token masked, and the proxy's host without userinfo
        assert b"POST https://discord.com/api/webhooks/123/*** failed" in data
        assert (b"proxy.example:8443" in data) is (key is proxied)


async def test_touched_but_same_content_is_hashed_and_still_delivered(
    folder: Path, jdir: Path
) -> None:
    a = media(folder / "a.jpg")
    async with open_journal(folder, BOT, directory=jdir) as journal:
        batch = await journal.intent([a])
        await journal.delivered(batch, "m", ["at"])
    st_ = a.path.stat()
    os.utime(a.path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 5_000_000_000))
    async with open_journal(folder, BOT, directory=jdir) as journal:
        assert isinstance(await journal.decide(a), AlreadyDelivered)
        a.path.write_bytes(b"9876543210")  # same size, other content
        assert await journal.decide(a) == Send("a.jpg", Why.CHANGED)
        with pytest.raises(FileNotFoundError):
            await journal.decide(folder / "gone.jpg")


async def test_a_bot_batch_killed_before_its_answer_is_resent_with_its_nonce(
    folder: Path, jdir: Path
) -> None:
    a, b = media(folder / "a.jpg"), media(folder / "b.jpg", b"bb")
    clock = Clock()
    async with open_journal(folder, BOT, directory=jdir, clock=clock) as journal:
        await journal.intent([a, b], nonce="nonce-1")  # then SIGKILL: no outcome
    clock.now += 60
    async with open_journal(folder, BOT, directory=jdir, clock=clock) as journal:
        (resend,) = await journal.resends()
        assert resend.nonce == "nonce-1"
        assert await journal.resend_files(resend) == (a, b)
        assert await journal.decide(a) == ResendBatch("a.jpg", resend.batch, "nonce-1")
        await journal.delivered(resend.batch, "m", resend.align(["x", "y"]))
        assert isinstance(await journal.decide(b), AlreadyDelivered)
        assert await journal.resends() == ()


async def test_too_late_for_the_nonce_or_on_a_webhook_it_stays_uncertain(
    folder: Path, jdir: Path
) -> None:
    a = media(folder / "a.jpg")
    clock = Clock()
    async with open_journal(folder, BOT, directory=jdir, clock=clock) as journal:
        await journal.intent([a], nonce="n")
    clock.now += 3_600
    async with open_journal(folder, BOT, directory=jdir, clock=clock) as journal:
        assert await journal.resends() == ()
        assert isinstance(await journal.decide(a), StillUncertain)
    hook = destination_key(WEBHOOK)
    async with open_journal(folder, hook, directory=jdir, clock=clock) as journal:
        batch = await journal.intent([a])
        await journal.uncertain(batch, "HTTP 502")
    async with open_journal(folder, hook, directory=jdir, clock=clock) as journal:
        assert await journal.resends() == ()
        decision = await journal.decide(a)
        assert decision == StillUncertain("a.jpg", "may already be in the channel (HTTP 502)")
        resend = await journal.decide(a, resend_uncertain=True)
        assert resend == Send("a.jpg", Why.UNCERTAIN)


async def test_a_compression_is_reused_while_source_and_stand_in_are_intact(
    folder: Path, jdir: Path, tmp_path: Path
) -> None:
    video = media(folder / "v.mp4", b"v" * 100, MediaType.VIDEO)
    work = tmp_path / "work"
    parts = [media(work / f"v.part{i}of2.mp4", bytes([i]) * 10, MediaType.VIDEO) for i in (1, 2)]
    parts = [MediaFile(p.path, p.size_bytes, p.media_type, original_path=video.path) for p in parts]
    async with open_journal(folder, BOT, directory=jdir) as journal:
        with pytest.raises(ValueError, match="record its compression"):
            await journal.intent(parts[:1])
        await journal.record_compressed(video, parts)
        batch = await journal.intent(parts[:1], nonce="n")
        await journal.delivered(batch, "m", ["att1"])
    async with open_journal(folder, BOT, directory=jdir) as journal:
        decision = await journal.decide(video)
        assert isinstance(decision, Send) and decision.why is Why.NOT_DELIVERED
        assert [Path(s.path) for s in decision.stand_ins] == [p.path for p in parts]
        assert [d.attachment_id for d in decision.delivered_parts] == ["att1"]
        # the reused stand-in may be sent without recording its compression again
        batch = await journal.intent(parts[1:], nonce="n2")
        await journal.delivered(batch, "m2", ["att2"])
        done = await journal.decide(video)
        assert isinstance(done, AlreadyDelivered)
        assert [d.sent_as for d in done.deliveries] == ["v.part1of2.mp4", "v.part2of2.mp4"]
        parts[1].path.write_bytes(b"X" * 10)  # altered: same size, other bytes
        video.path.write_bytes(b"w" * 100)
        os.utime(video.path, ns=(0, 1))
        assert await journal.decide(video) == Send("v.mp4", Why.CHANGED)


async def test_an_altered_stand_in_is_not_reused(folder: Path, jdir: Path, tmp_path: Path) -> None:
    video = media(folder / "v.mp4", b"v" * 100, MediaType.VIDEO)
    out = media(tmp_path / "work" / "v.compressed.mp4", b"c" * 10, MediaType.VIDEO)
    out = MediaFile(out.path, out.size_bytes, out.media_type, original_path=video.path)
    async with open_journal(folder, BOT, directory=jdir) as journal:
        await journal.record_compressed(video, [out])
    async with open_journal(folder, BOT, directory=jdir) as journal:
        assert len((await journal.decide(video)).stand_ins) == 1  # type: ignore[union-attr]
        out.path.write_bytes(b"d" * 10)
        assert await journal.decide(video) == Send("v.mp4", Why.NEW)
        out.path.unlink()
        assert await journal.decide(video) == Send("v.mp4", Why.NEW)


async def test_a_cut_short_journal_warns_once_and_is_repaired(folder: Path, jdir: Path) -> None:
    a = media(folder / "a.jpg")
    async with open_journal(folder, BOT, directory=jdir) as journal:
        batch = await journal.intent([a])
        await journal.delivered(batch, "m", ["at"])
    whole = journal.path.read_bytes()
    journal.path.write_bytes(whole + b'{"v":1,"type":"int')  # SIGKILL mid-write
    async with open_journal(folder, BOT, directory=jdir) as journal:
        assert str(journal.warning) == (
            f"journal {journal.path}: line 4 is cut short (a write was interrupted); "
            "trusting the 3 line(s) before it and ignoring the rest"
        )
        assert isinstance(await journal.decide(a), AlreadyDelivered)
    again = load(journal.path.read_bytes())
    assert again.bad_line is None and len(again.state.headers) == 2
    assert not journal.path.with_suffix(".damaged.jsonl").exists()


async def test_a_corrupt_record_is_kept_aside_and_not_trusted(folder: Path, jdir: Path) -> None:
    a = media(folder / "a.jpg")
    async with open_journal(folder, BOT, directory=jdir) as journal:
        batch = await journal.intent([a])
        await journal.delivered(batch, "m", ["at"])
    lines = journal.path.read_bytes().splitlines(keepends=True)
    damaged = b"".join([lines[0], b"garbage\n", *lines[1:]])
    journal.path.write_bytes(damaged)
    async with open_journal(folder, BOT, directory=jdir) as journal:
        assert journal.warning is not None and journal.warning.line == 2
        assert await journal.decide(a) == Send("a.jpg", Why.NEW)
    assert journal.path.with_suffix(".damaged.jsonl").read_bytes() == damaged
    assert load(journal.path.read_bytes()).bad_line is None


async def test_a_journal_of_another_folder_is_refused(
    folder: Path, jdir: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    async with open_journal(other, BOT, directory=jdir) as theirs:
        pass
    ours = jdir / journal_name(folder.resolve(), BOT)
    ours.write_bytes(theirs.path.read_bytes())
    with pytest.raises(JournalMismatchError) as caught:
        async with open_journal(folder, BOT, directory=jdir):
            pass  # pragma: no cover
    assert str(caught.value).startswith(f"journal {ours} belongs to '{other}' sent to channel 456")
    async with open_journal(folder, BOT, directory=jdir, fresh=True) as journal:
        assert len(journal.state.headers) == 1
    assert ours.with_suffix(".previous.jsonl").read_bytes() == theirs.path.read_bytes()


async def test_fresh_ignores_what_was_delivered(folder: Path, jdir: Path) -> None:
    a = media(folder / "a.jpg")
    async with open_journal(folder, BOT, directory=jdir) as journal:
        batch = await journal.intent([a])
        await journal.delivered(batch, "m", ["at"])
    async with open_journal(folder, BOT, directory=jdir, fresh=True) as journal:
        assert await journal.decide(a) == Send("a.jpg", Why.NEW)


async def test_two_runs_cannot_share_a_journal(folder: Path, jdir: Path) -> None:
    async with open_journal(folder, BOT, directory=jdir):
        with pytest.raises(JournalBusyError, match="in use by another run"):
            async with open_journal(folder, BOT, directory=jdir):
                pass  # pragma: no cover
    async with open_journal(folder, BOT, directory=jdir):
        pass  # the lock went with the first run


async def test_a_failed_write_leaves_only_whole_records(
    folder: Path, jdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = media(folder / "a.jpg")
    real = _files._write_all

    def half_then_full_disk(fd: int, data: bytes) -> None:
        real(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    async with open_journal(folder, BOT, directory=jdir) as journal:
        before = journal.path.read_bytes()
        monkeypatch.setattr(_files, "_write_all", half_then_full_disk)
        with pytest.raises(JournalError, match="No space left on device"):
            await journal.intent([a])
        assert journal.path.read_bytes() == before
        monkeypatch.setattr(_files, "_write_all", real)
        batch = await journal.intent([a])
        await journal.failed(batch, "HTTP 400")
    assert load(journal.path.read_bytes()).bad_line is None


async def test_outcomes_need_a_known_batch(folder: Path, jdir: Path) -> None:
    a = media(folder / "a.jpg")
    async with open_journal(folder, BOT, directory=jdir) as journal:
        with pytest.raises(ValueError):
            await journal.failed("nope", "x")
        batch = await journal.intent([a])
        with pytest.raises(ValueError):
            await journal.delivered(batch, "m", ["a", "b"])


WRITER = """
import sys, trio
from pathlib import Path
from uploader import MediaFile, MediaType
from uploader.journal import DestinationKey, open_journal

async def main():
    folder = Path(sys.argv[1])
    key = DestinationKey("channel", "1", "h")
    async with open_journal(folder, key, directory=sys.argv[2]) as journal:
        n = 0
        while True:
            f = MediaFile(folder / "a.jpg", 10, MediaType.IMAGE)
            batch = await journal.intent([f] * 8, nonce="n%d" % n)
            await journal.delivered(batch, "m%d" % n, ["x"] * 8)
            n += 1
            print(n, flush=True)

trio.run(main)
"""


async def test_sigkill_while_appending_never_breaks_the_journal(folder: Path, jdir: Path) -> None:
    media(folder / "a.jpg")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    async with trio.open_nursery() as nursery:
        command = [sys.executable, "-c", WRITER, str(folder), str(jdir)]
        run = partial(trio.run_process, command, stdout=subprocess.PIPE, env=env, check=False)
        process: trio.Process = await nursery.start(run)
        assert process.stdout is not None
        seen = b""
        while seen.count(b"\n") < 20:
            seen += await process.stdout.receive_some()
        process.kill()
    key = DestinationKey("channel", "1", "h")
    async with open_journal(folder, key, directory=jdir) as journal:
        delivered = [b for b in journal.state.batches.values() if b.status is Status.DELIVERED]
        assert len(delivered) >= 20
    assert load(journal.path.read_bytes()).bad_line is None
