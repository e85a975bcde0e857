"""The pipeline end to end against an in-memory Destination, with real ffmpeg where needed.

These tests assert on what the destination received (names, sizes, hashes), not on what the
pipeline meant to do. The HTTP path is covered by tests/test_pipeline_discord.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.lowlevel
import trio.testing

from tests._encoder import FakeEncoder
from tests._files import sha256_file, write_random
from tests._media import make_video
from tests._memory import MemoryDestination, small_settings
from tests.test_ratelimit import ends
from uploader import (
    CompressionProgress,
    CompressionStarted,
    FileCompressed,
    MediaFile,
    UploaderError,
    open_upload_pipeline,
)
from uploader._events import (
    BatchSent,
    FileFound,
    UploadDone,
)
from uploader._models import FileStatus
from uploader._pipeline import BATCHER_BUFFER, upload_directory
from uploader.discord import (
    DestinationNotFoundError,
    MissingPermissionsError,
    SentMessage,
)


def make_folder(root: Path, images: int = 12) -> dict[str, str]:
    hashes = {
        f"p{i}.jpg": write_random(root / "photos" / f"p{i}.jpg", 20_000 + i) for i in range(images)
    }
    (root / "notes.txt").write_text("not media")
    return hashes


async def test_small_files_arrive_exactly_once_in_few_messages(tmp_path: Path) -> None:
    hashes = make_folder(tmp_path / "in", images=23)
    dest = MemoryDestination()
    events: list[object] = []

    def progress(event: object) -> None:
        events.append(event)
        if isinstance(event, FileFound) and event.file.path.name in ("p4.jpg", "p14.jpg"):
            time.sleep(0.2)  # a loaded machine pauses the process mid-run (the wall clock runs)

    # The wall clock, so no linger ends early while nothing waits: a linger this long never
    # ends before the detector is done, and then only full messages and the rest go (a 0.05 s
    # one split the burst around such a pause: [5, 10, 8] files).
    settings = small_settings(tmp_path, upload_linger_seconds=60)
    result = await upload_directory(tmp_path / "in", dest, settings=settings, progress=progress)
    assert result.success
    got = {name: digest for name, _, digest in dest.received}
    assert got == hashes
    assert len(dest.received) == len(hashes)  # nothing twice
    assert [len(files) for _, files in dest.messages] == [10, 10, 3]  # 23 files, 10 a message
    assert [o.status for o in result.outcomes].count(FileStatus.SKIPPED) == 1  # notes.txt
    assert result.workdir is None  # our temporary folder is gone after full success
    assert isinstance(events[-1], UploadDone)
    assert sum(isinstance(e, BatchSent) for e in events) == 3
    assert result.metadata["batches_processed"] == 3
    assert "23/23 files uploaded" in result.message


@pytest.mark.ffmpeg
async def test_an_oversized_video_is_compressed_and_sent_with_the_rest(tmp_path: Path) -> None:
    make_folder(tmp_path / "in", images=3)
    video = make_video(tmp_path / "in" / "clip.mp4", 4, 320, 240, video_kbps=2000)
    before = sha256_file(video)
    dest = MemoryDestination(limit=256 * 1024)
    result = await upload_directory(tmp_path / "in", dest, settings=small_settings(tmp_path))
    assert result.success, result.message
    names = [name for name, _, _ in dest.received]
    assert sorted(names) == sorted(["clip.compressed.mp4", "p0.jpg", "p1.jpg", "p2.jpg"])
    size = next(size for name, size, _ in dest.received if name == "clip.compressed.mp4")
    assert size <= 256 * 1024
    assert sha256_file(video) == before  # the user's file is untouched
    [outcome] = [o for o in result.outcomes if o.path == video]
    assert outcome.compressed and outcome.sent_as == ("clip.compressed.mp4",)
    assert result.metadata["successful_compressions"] == 1
    assert "compressed from clip.mp4" in result.message


@pytest.mark.ffmpeg
async def test_a_413_teaches_the_limit_and_the_file_is_compressed_again(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    video = make_video(root / "clip.mp4", 4, 320, 240, video_kbps=150)  # under the 256 KiB limit
    dest = MemoryDestination(limit=video.stat().st_size // 2)
    result = await upload_directory(root, dest, settings=small_settings(tmp_path))
    assert result.success, result.message
    [(name, size, _)] = dest.received
    assert name.endswith(".compressed.mp4") and size <= video.stat().st_size // 2
    assert result.metadata["file_limit_bytes"] < video.stat().st_size


async def test_a_fatal_error_stops_the_run_and_names_every_file(tmp_path: Path) -> None:
    make_folder(tmp_path / "in", images=15)
    dest = MemoryDestination(fatal=DestinationNotFoundError("unknown channel (10003)"))
    result = await upload_directory(tmp_path / "in", dest, settings=small_settings(tmp_path))
    assert not result.success
    failed = result.failed
    assert len(failed) == 15
    assert all("unknown channel" in o.reason for o in failed)
    assert dest.messages == []  # and nothing claimed failed had arrived
    assert result.workdir is None  # nothing was compressed: no empty folder left behind


async def test_a_stalled_uploader_stops_the_detector(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    for i in range(200):
        (root / f"{i:03d}.jpg").write_bytes(b"x" * 100)
    dest = MemoryDestination(gate=trio.Event())
    found = 0

    def count(event: object) -> None:
        nonlocal found
        found += isinstance(event, FileFound)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: upload_directory(root, dest, settings=small_settings(tmp_path), progress=count)
        )
        # Until the pipeline settles, threads included: on a loaded machine one quiet cushion
        # can pass while the detector's thread is still listing, so ask for several in a row.
        previous, quiet = -1, 0
        with trio.move_on_after(60):  # a guard against a hang, not a timing assertion
            while quiet < 5 or found < 10:
                quiet = quiet + 1 if found == previous else 0
                previous = found
                await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        nursery.cancel_scope.cancel()
    # The uploader never returned, so at most a few batches' worth of files were taken in:
    # the batcher's inbox, one batch waiting for the uploader, a few in flight between actors.
    assert 10 <= found <= BATCHER_BUFFER + 3 * 10


async def test_cleanup_removes_only_after_everything_was_delivered(tmp_path: Path) -> None:
    hashes = make_folder(tmp_path / "ok", images=3)
    (tmp_path / "ok" / "empty before").mkdir()  # the user's, not emptied by us: it stays
    dest = MemoryDestination()
    result = await upload_directory(
        tmp_path / "ok",
        dest,
        settings=small_settings(tmp_path, upload_cleanup_after_success=True),
    )
    assert result.success
    assert {name: digest for name, _, digest in dest.received} == hashes  # delivered, then removed
    assert not (tmp_path / "ok" / "photos").exists()
    assert (tmp_path / "ok" / "notes.txt").exists()  # not delivered, so not ours to delete
    assert (tmp_path / "ok" / "empty before").is_dir()

    only_media = tmp_path / "only"  # everything delivered: the folder our deletions emptied goes
    write_random(only_media / "a" / "b.jpg", 1000)
    result = await upload_directory(
        only_media,
        MemoryDestination(),
        settings=small_settings(tmp_path, upload_cleanup_after_success=True),
    )
    assert result.success and not only_media.exists()

    make_folder(tmp_path / "bad", images=3)
    bad = tmp_path / "bad" / "photos" / "broken.mp4"
    bad.write_bytes(b"not a video" * 100_000)  # over the limit and not decodable
    result = await upload_directory(
        tmp_path / "bad",
        MemoryDestination(),
        settings=small_settings(tmp_path, upload_cleanup_after_success=True),
    )
    assert not result.success
    assert len(list((tmp_path / "bad" / "photos").iterdir())) == 4  # nothing removed
    [failure] = result.failed
    assert failure.path == bad and "ffprobe cannot read it" in failure.reason


@pytest.mark.ffmpeg
@pytest.mark.parametrize("delay", [0.05, 0.3, 0.8])
async def test_cancellation_leaves_no_ffmpeg_and_no_temporary_file(
    tmp_path: Path, delay: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    make_video(root / "clip.mp4", 6, 320, 240, video_kbps=3000)
    scratch = tmp_path / "tmp"  # our own temp root: other runs' folders cannot interfere
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with trio.move_on_after(delay):
        await upload_directory(root, MemoryDestination(), settings=small_settings(tmp_path))
    assert list(scratch.iterdir()) == []
    children = [
        p for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == os.getpid()
    ]
    assert children == []


def test_a_run_cancelled_while_it_opens_ends(tmp_path: Path) -> None:
    """A cancellation that is already due when the pipeline opens (the 0.05 s case above on a
    loaded machine: opening the HTTP client alone can take that long) ends the run; it used to
    wait forever for the shielded rate-limit actor."""
    make_folder(tmp_path / "in", images=1)

    async def cancelled_while_opening() -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            await upload_directory(tmp_path / "in", MemoryDestination())
        assert scope.cancelled_caught

    assert ends(cancelled_while_opening)


def _parent(proc: Path) -> int | None:
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1])


async def test_a_missing_directory_raises_plainly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await upload_directory(tmp_path / "nope", MemoryDestination())


@pytest.mark.ffmpeg
async def test_after_a_failure_compressed_files_are_kept_and_named(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    make_video(root / "clip.mp4", 3, 320, 240, video_kbps=2000)
    dest = MemoryDestination(fatal=MissingPermissionsError("missing permissions (50013)"))
    result = await upload_directory(root, dest, settings=small_settings(tmp_path))
    assert not result.success
    assert result.workdir is not None
    kept = [p.name for p in result.workdir.iterdir()]
    shutil.rmtree(result.workdir)  # ours to inspect, then to tidy
    assert kept == ["clip.compressed.mp4"]


async def test_a_workdir_inside_the_folder_is_refused(tmp_path: Path) -> None:
    make_folder(tmp_path / "in", images=1)
    with pytest.raises(UploaderError, match="must not be inside"):
        await upload_directory(
            tmp_path / "in", MemoryDestination(), workdir=tmp_path / "in" / "work"
        )
    assert not (tmp_path / "in" / "work").exists()


async def test_reasons_in_the_channel_never_show_local_folders(
    tmp_path: Path, autojump_clock: object
) -> None:
    root = tmp_path / "secret-home" / "in"
    make_folder(root, images=1)
    (root / "broken.mp4").write_bytes(b"not a video" * 100_000)
    dest = MemoryDestination()
    result = await upload_directory(
        root, dest, settings=small_settings(tmp_path, upload_enable_progress_updates=True)
    )
    assert not result.success
    assert "secret-home" not in result.message
    assert dest.texts  # the status message was written
    assert all("secret-home" not in text for text in dest.texts.values())
    assert "❌ broken.mp4: " in result.message


async def test_concurrent_requests_share_the_encoder_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    """A bot's requests together never run more encodes than COMPRESSION_MAX_CONCURRENT."""
    encoder = FakeEncoder().install(monkeypatch)
    folders = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        for i in range(3):
            (root / f"{name}{i}.mp4").write_bytes(os.urandom(300 * 1024))  # over 0.25 MiB
        folders.append(root)
    settings = small_settings(tmp_path, compression_max_concurrent=2)
    destinations = [MemoryDestination(), MemoryDestination()]
    async with open_upload_pipeline(settings) as pipeline, trio.open_nursery() as nursery:
        for root, dest in zip(folders, destinations, strict=True):
            nursery.start_soon(pipeline.upload, root, dest)
    assert encoder.peak == 2  # two requests with two workers each, yet never more than two encodes
    for dest in destinations:
        assert len(dest.received) == 3


async def test_413_recompressions_while_other_encodes_are_queued_cannot_deadlock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files that fit our limit but not Discord's are compressed again by the uploader while
    the pool's single encoder slot is contended and its results wait on the batcher.

    The real clock on purpose: the autojump clock would jump to the guard's deadline while
    the detector's thread runs. Encodes take 10 ms; the guard only catches a deadlock.
    """
    encoder = FakeEncoder(seconds=0.01).install(monkeypatch)
    root = tmp_path / "in"
    root.mkdir()
    for i in range(5):
        (root / f"big{i}.mp4").write_bytes(os.urandom(300 * 1024))  # over 0.25 MiB: the pool
        (root / f"mid{i}.mp4").write_bytes(os.urandom(200 * 1024))  # fits ours, not Discord's
    dest = MemoryDestination(limit=150 * 1024)
    events: list[object] = []
    settings = small_settings(tmp_path, compression_max_concurrent=1, upload_max_files_per_batch=2)
    with trio.fail_after(60):  # a deadlock guard, not a timing assertion
        result = await upload_directory(root, dest, settings=settings, progress=events.append)
    assert result.success, result.message
    assert sorted(name.split(".")[0] for name, _, _ in dest.received) == sorted(
        f"in-{p}{i}" for p in ("big", "mid") for i in range(5)
    )
    assert all(size <= 150 * 1024 for _, size, _ in dest.received)
    assert encoder.peak == 1  # recompressions share the pool's encoder cap
    # every recompression told its story like the pool's encodes: started, progress, done
    for i in range(5):
        path = root / f"mid{i}.mp4"
        assert [type(e) for e in events if getattr(e, "file", None) and e.file.path == path] == [
            FileFound,
            CompressionStarted,
            CompressionProgress,
            CompressionProgress,
            FileCompressed,
        ]
    assert result.metadata["file_limit_bytes"] == 150 * 1024
    assert isinstance(events[-1], UploadDone)


async def test_after_a_failure_the_kept_folder_holds_only_what_was_not_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    # issue 13 #16: stand-ins already in the channel are not kept (10 MB a run otherwise)
    FakeEncoder().install(monkeypatch)
    root = tmp_path / "in"
    root.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (root / name).write_bytes(os.urandom(300 * 1024))

    class SecondRefused(MemoryDestination):
        async def send_files(self, files: Sequence[MediaFile], *, content: str) -> SentMessage:
            if self.messages:
                raise UploaderError("refused")
            return await super().send_files(files, content=content)

    dest = SecondRefused()
    settings = small_settings(tmp_path, upload_max_files_per_batch=1)
    result = await upload_directory(root, dest, settings=settings, workdir=tmp_path / "work")
    assert not result.success and result.workdir is not None
    delivered = [o for o in result.outcomes if o.status is FileStatus.DELIVERED]
    assert len(delivered) == 1 and len(dest.messages) == 1
    kept = sorted(p.name for p in result.workdir.iterdir())
    assert len(kept) == 1 and kept[0] not in delivered[0].sent_as
