"""The collector (`_results.py`) and the summary, fed events directly: no pipeline, no HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from uploader import (
    Channel,
    FileCompressed,
    FileDelivered,
    FileFound,
    FileSkipped,
    FileStatus,
    MediaFile,
    MediaType,
    SkippedFile,
    UnreadablePath,
    UploadBatch,
    UploadDone,
    UploadResult,
)
from uploader._limits import MAX_MESSAGE_CHARS
from uploader._models import FileOutcome
from uploader._results import Collector, failure, summarize, without_path
from uploader._uploader import batch_content
from uploader.progress import DiscordStatusReporter

KIB = 1024


def media(path: str, size: int = 100 * KIB, original: str | None = None) -> MediaFile:
    return MediaFile(Path(path), size, MediaType.VIDEO, original_path=original)


def finish(collector: Collector, stopped: str | None = None) -> UploadResult:
    return collector.result(
        stopped=stopped,
        workdir=Path("/work"),
        platform="p",
        batches=2,
        seconds=1.0,
        upload_seconds=0.5,
        file_limit_bytes=10,
    )


def result_of(collector: Collector, stopped: str | None = None) -> dict[str, FileOutcome]:
    return {str(o.path): o for o in finish(collector, stopped).outcomes}


def test_every_fate_is_gathered_in_the_detectors_order() -> None:
    a, b, c = media("in/a.mp4"), media("in/b.mp4", 900 * KIB), media("in/c.mp4")
    stand_in = media("work/b.compressed.mp4", 200 * KIB, original="in/b.mp4")
    c_ = Collector()
    for event in (
        FileFound(a),
        FileSkipped(SkippedFile(Path("in/notes.txt"), "not media")),
        FileFound(b),
        FileFound(c),
        FileSkipped(UnreadablePath(Path("in/locked"), "permission denied")),
        FileDelivered(a, "m1", "a1"),
        FileCompressed(b, (stand_in,)),
        FileDelivered(stand_in, "m2", "a2"),
        failure(Path("in/c.mp4"), "in/c.mp4: Discord said no"),
    ):
        c_.take(event)
    got = result_of(c_)
    assert list(got) == ["in/a.mp4", "in/notes.txt", "in/b.mp4", "in/c.mp4", "in/locked"]
    assert got["in/a.mp4"].status is FileStatus.DELIVERED
    assert (got["in/a.mp4"].message_id, got["in/a.mp4"].attachments) == ("m1", ("a1",))
    assert got["in/notes.txt"].status is FileStatus.SKIPPED
    assert got["in/b.mp4"].compressed and got["in/b.mp4"].sent_as == ("b.compressed.mp4",)
    assert got["in/b.mp4"].sent_bytes == 200 * KIB
    assert (got["in/c.mp4"].status, got["in/c.mp4"].reason) == (
        FileStatus.FAILED,
        "Discord said no",
    )
    assert got["in/locked"].status is FileStatus.FAILED


def test_a_split_video_is_delivered_only_when_every_part_is() -> None:
    v = media("in/v.mp4", 900 * KIB)
    parts = (
        media("w/v.part1.mp4", original="in/v.mp4"),
        media("w/v.part2.mp4", original="in/v.mp4"),
    )
    c = Collector()
    for event in (FileFound(v), FileCompressed(v, parts), FileDelivered(parts[0], "m", "1")):
        c.take(event)
    assert result_of(c)["in/v.mp4"].status is FileStatus.FAILED
    assert result_of(c, stopped="upload stopped: gone")["in/v.mp4"].reason == "upload stopped: gone"
    c.take(FileDelivered(parts[1], "m", "2"))
    assert result_of(c)["in/v.mp4"].attachments == ("1", "2")


def test_uncertain_and_first_reasons_are_kept() -> None:
    a = media("in/a.mp4")
    c = Collector()
    c.take(FileFound(a))
    c.take(failure(a.path, "may have been posted", uncertain=True))
    c.take(failure(a.path, "a later reason"))
    outcome = result_of(c)["in/a.mp4"]
    assert (outcome.status, outcome.reason) == (FileStatus.UNCERTAIN, "may have been posted")


def test_the_metadata_counts_compressions_and_files() -> None:
    a, b = media("in/a.mp4"), media("in/b.mp4")
    c = Collector()
    for event in (
        FileFound(a),
        FileFound(b),
        FileCompressed(a, (media("w/a.c.mp4", original="in/a.mp4"),)),
        failure(b.path, "ffmpeg failed", compression=True),
    ):
        c.take(event)
    result = finish(c)
    assert result.metadata["compression_attempts"] == 2
    assert result.metadata["successful_compressions"] == 1
    assert result.metadata["total_files"] == 2 and result.metadata["failed_uploads"] == 2
    assert not result.success


def test_a_folder_with_only_skipped_files_is_a_success() -> None:
    c = Collector()
    c.take(FileSkipped(SkippedFile(Path("in/notes.txt"), "not media")))
    result = finish(c)
    assert result.success and result.message == "🤷 No media files to upload"
    assert result.metadata["batches_processed"] == 2 and result.metadata["platform"] == "p"


def test_the_summary_says_what_happened_file_by_file() -> None:
    outcomes = [
        FileOutcome(
            Path("a.mp4"),
            FileStatus.DELIVERED,
            size_bytes=2048,
            sent_bytes=1024,
            sent_as=("a.compressed.mp4",),
            message_id="1",
        ),
        FileOutcome(Path("b.jpg"), FileStatus.FAILED, "too big"),
        FileOutcome(Path("c.jpg"), FileStatus.UNCERTAIN, "may have been posted"),
        FileOutcome(Path("d.txt"), FileStatus.SKIPPED, "not media"),
    ]
    assert summarize(outcomes).splitlines() == [
        "⚠️ Partial upload: 1/3 files uploaded",
        "ℹ️ Compression info:",
        "🗜️ a.compressed.mp4 (compressed from a.mp4, 2.0 KiB → 1.0 KiB)",
        "❌ b.jpg: too big",
        "❓ c.jpg: may have been posted",
    ]


def test_a_long_summary_drops_whole_lines_and_says_how_many() -> None:
    outcomes = [
        FileOutcome(Path(f"{i:04}.jpg"), FileStatus.FAILED, f"{i}" + "x" * 40) for i in range(200)
    ]
    text = summarize(outcomes)
    assert len(text) <= MAX_MESSAGE_CHARS
    last = text.splitlines()[-1]
    assert last.startswith("… and ") and last.endswith(" more")
    shown = len(text.splitlines()) - 2  # the heading and the "… and N more" line
    assert int(last.split()[2]) == 200 - shown


def test_reasons_never_name_local_folders() -> None:
    path = Path("/home/someone/in/a.mp4")
    assert without_path(f"{path}: cannot read", path) == "cannot read"
    assert failure(path, f"could not open {path}").reason == "could not open a.mp4"


def test_the_summary_groups_a_run_wide_reason_and_names_files_by_their_folder() -> None:
    root = Path("/in")
    stop = "upload stopped: Discord refused the webhook token"
    outcomes = [
        FileOutcome(
            root / "a" / "big.jpg",
            FileStatus.DELIVERED,
            size_bytes=9,
            sent_bytes=4,
            sent_as=("big.jpg",),
            message_id="1",
        ),
        FileOutcome(
            root / "b" / "big.jpg",
            FileStatus.DELIVERED,
            size_bytes=9,
            sent_bytes=5,
            sent_as=("big (2).jpg",),
            message_id="1",
        ),
        *(FileOutcome(root / f"{i}.png", FileStatus.FAILED, stop) for i in range(2000)),
        FileOutcome(root / "locked", FileStatus.FAILED, "permission denied"),
    ]
    lines = summarize(outcomes, root=root, unreadable=1).splitlines()
    assert lines == [
        "⚠️ Partial upload: 2/2002 files uploaded; 1 could not be read",
        "ℹ️ Compression info:",
        "🗜️ big.jpg (compressed from a/big.jpg, 9 B → 4 B)",
        "🗜️ big (2).jpg (compressed from b/big.jpg, 9 B → 5 B)",
        f"❌ 2000 files not sent: {stop}",
        "❌ locked: permission denied",
    ]


def test_nothing_uploaded_is_not_a_partial_upload() -> None:
    outcomes = [FileOutcome(Path(f"{i}.jpg"), FileStatus.FAILED, f"no {i}") for i in range(2)]
    assert summarize(outcomes).splitlines()[0] == "❌ Nothing uploaded: 0/2 files"
    one = [FileOutcome(Path("a.jpg"), FileStatus.DELIVERED, message_id="1")]
    assert summarize(one).splitlines()[0] == "🎉 Upload complete: 1/1 files uploaded"


def test_a_folder_given_relative_still_names_files_by_their_path_in_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from uploader._results import shown_path

    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "in" / "x" / "big.jpg", Path("in")) == "x/big.jpg"
    assert shown_path(Path("in/y/big.jpg"), tmp_path / "in") == "y/big.jpg"


def test_the_channel_summary_leaves_compression_to_the_media_messages() -> None:
    clip = media("in/clip.mp4", 900 * KIB)
    stand_in = media("w/clip.compressed.mp4", 200 * KIB, original="in/clip.mp4")
    c = Collector()
    for event in (
        FileFound(clip),
        FileCompressed(clip, (stand_in,)),
        FileDelivered(stand_in, "m", "1"),
    ):
        c.take(event)
    result = finish(c)
    said = "🗜️ clip.compressed.mp4 (compressed from clip.mp4, 900.0 KiB → 200.0 KiB)"
    assert said in result.message.splitlines()  # the terminal and --json keep the details
    assert result.channel_summary == "🎉 Upload complete: 1/1 files uploaded"
    # the media message is where the channel reads what was compressed from what
    assert "🗜️ clip.compressed.mp4 (compressed from clip.mp4)" in batch_content(
        UploadBatch((stand_in,)), ""
    )
    status = DiscordStatusReporter(Channel(1, "token"))  # never sends: only rendered here
    status.handle(UploadDone(result))
    assert status.render() == result.channel_summary
