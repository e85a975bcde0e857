"""The detector actor on real temporary trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from tests._files import deny_folders, write_sized
from uploader import (
    MediaFile,
    MediaType,
    RefusedPath,
    SkippedFile,
    UnreadablePath,
    find_media_files,
    run_detector,
    scan_media,
)
from uploader._detect import classify, natural_key


def rel(root: Path, paths: object) -> list[str]:
    return [str(p.path.relative_to(root)) for p in paths]  # type: ignore[attr-defined]


async def test_finds_media_recursively_in_natural_order(tmp_path: Path) -> None:
    for name in ["b/img10.jpg", "b/img2.jpg", "a.mp4", "b/img1.PNG", "c d/ü ñ 音.MP3", "z.flac"]:
        write_sized(tmp_path / name)
    files = await find_media_files(tmp_path)
    assert rel(tmp_path, files) == [
        "a.mp4",
        "b/img1.PNG",
        "b/img2.jpg",
        "b/img10.jpg",
        "c d/ü ñ 音.MP3",
        "z.flac",
    ]
    assert [f.media_type for f in files] == [
        MediaType.VIDEO,
        MediaType.IMAGE,
        MediaType.IMAGE,
        MediaType.IMAGE,
        MediaType.AUDIO,
        MediaType.AUDIO,
    ]
    assert all(f.size_bytes == 10 for f in files)


async def test_two_walks_give_the_same_order(tmp_path: Path) -> None:
    for i in range(30):
        write_sized(tmp_path / f"d{i % 4}" / f"clip{i}.webm")
    assert await find_media_files(tmp_path) == await find_media_files(tmp_path)


async def test_skips_partial_hidden_empty_and_non_media_with_reasons(tmp_path: Path) -> None:
    write_sized(tmp_path / "ok.mp4")
    write_sized(tmp_path / "clip.mp4.part")
    write_sized(tmp_path / "clip.mp4.ytdl")
    write_sized(tmp_path / "x.tmp")
    write_sized(tmp_path / "v.f137.mp4.part-Frag12")
    write_sized(tmp_path / ".hidden.mp4")
    write_sized(tmp_path / ".cache" / "inside.mp4")
    write_sized(tmp_path / "empty.png", 0)
    write_sized(tmp_path / "info.json")
    scan = await scan_media(tmp_path)
    assert rel(tmp_path, scan.files) == ["ok.mp4"]
    reasons = {str(i.path.relative_to(tmp_path)): i.reason for i in scan.issues}
    assert reasons == {
        "clip.mp4.part": "partial download",
        "clip.mp4.ytdl": "partial download",
        "x.tmp": "partial download",
        "v.f137.mp4.part-Frag12": "partial download",
        "empty.png": "empty file",
        "info.json": "not a supported media type",
    }
    assert all(isinstance(i, SkippedFile) for i in scan.issues)


async def test_symlinks_inside_are_followed_once_outside_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = write_sized(tmp_path / "secret.jpg")
    write_sized(root / "real" / "a.jpg")
    (root / "link_to_file.jpg").symlink_to(root / "real" / "a.jpg")
    (root / "link_out.jpg").symlink_to(outside)
    (root / "dir_out").symlink_to(tmp_path)
    (root / "zlink_dir").symlink_to(root / "real")
    (root / "broken.jpg").symlink_to(root / "missing.jpg")
    scan = await scan_media(root)
    # the file reached through a link and directly is delivered once (via the first path)
    assert rel(root, scan.files) == ["link_to_file.jpg"]
    kinds = {str(i.path.relative_to(root)): (type(i), i.reason) for i in scan.issues}
    assert kinds["link_out.jpg"] == (RefusedPath, "symlink points outside the directory")
    assert kinds["dir_out"] == (RefusedPath, "symlink points outside the directory")
    assert kinds["broken.jpg"] == (SkippedFile, "broken symlink")
    assert kinds["real/a.jpg"] == (SkippedFile, "same file as link_to_file.jpg")
    assert "zlink_dir" not in kinds  # the folder was walked as real/, once is enough


async def test_symlink_loops_are_cut(tmp_path: Path) -> None:
    write_sized(tmp_path / "a" / "clip.mp4")
    (tmp_path / "a" / "up").symlink_to(tmp_path)
    (tmp_path / "self.mp4").symlink_to(tmp_path / "self.mp4")
    scan = await scan_media(tmp_path)
    assert rel(tmp_path, scan.files) == ["a/clip.mp4"]
    refused = {str(i.path.relative_to(tmp_path)): i.reason for i in scan.issues}
    assert refused == {"a/up": "symlink loop", "self.mp4": "symlink loop"}


async def test_an_unreadable_directory_is_reported_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_sized(tmp_path / "a" / "one.jpg")
    write_sized(tmp_path / "locked" / "two.jpg")
    write_sized(tmp_path / "z" / "three.jpg")
    deny_folders(monkeypatch, "locked")
    scan = await scan_media(tmp_path)
    assert rel(tmp_path, scan.files) == ["a/one.jpg", "z/three.jpg"]
    assert scan.issues == (UnreadablePath(tmp_path / "locked", "permission denied"),)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
async def test_a_chmod_000_directory_is_reported(tmp_path: Path) -> None:
    write_sized(tmp_path / "locked" / "two.jpg")
    (tmp_path / "locked").chmod(0)
    try:
        scan = await scan_media(tmp_path)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert scan.files == ()
    assert [type(i) for i in scan.issues] == [UnreadablePath]


async def test_an_unreadable_file_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_sized(tmp_path / "a.jpg")
    write_sized(tmp_path / "b.jpg")
    monkeypatch.setattr("uploader._detect.os.access", lambda path, mode: Path(path).name != "a.jpg")
    scan = await scan_media(tmp_path)
    assert rel(tmp_path, scan.files) == ["b.jpg"]
    assert scan.issues == (UnreadablePath(tmp_path / "a.jpg", "permission denied"),)


async def test_a_fifo_is_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.mp4")
    scan = await scan_media(tmp_path)
    assert scan.files == ()
    assert scan.issues == (SkippedFile(tmp_path / "pipe.mp4", "not a regular file"),)


async def test_a_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await scan_media(tmp_path / "nope")
    write_sized(tmp_path / "file.jpg")
    with pytest.raises(NotADirectoryError):
        await scan_media(tmp_path / "file.jpg")


async def test_the_actor_streams_with_backpressure(tmp_path: Path) -> None:
    for i in range(50):
        write_sized(tmp_path / f"{i}.jpg")
    send, receive = trio.open_memory_channel[object](0)
    got: list[object] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(run_detector, tmp_path, send)
        async with receive:
            first = await receive.receive()
            await trio.testing.wait_all_tasks_blocked()
            # with a zero buffer the detector waits for us: nothing else was taken yet
            got.append(first)
            async for event in receive:
                got.append(event)
    assert len(got) == 50
    assert all(isinstance(e, MediaFile) for e in got)


def test_classification_is_case_insensitive_and_complete() -> None:
    assert classify("A.MKV") is MediaType.VIDEO
    assert classify("x.Opus") is MediaType.AUDIO
    assert classify("y.TIFF") is MediaType.IMAGE
    assert classify("noext") is None
    assert classify("archive.zip") is None


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["img10.jpg", "img2.jpg", "Img1.jpg", "img1.jpg"]
    assert sorted(names, key=natural_key) == ["Img1.jpg", "img1.jpg", "img2.jpg", "img10.jpg"]
