"""Page links through yt-dlp (the optional ``ytdlp`` extra), on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from test_bot_run import USER, media_folder, scene, settle, summary_of

from uploader.bot import NotMediaError, PrivateAddressError, TooLargeError, fetch_page
from uploader.testing import open_file_server

pytest.importorskip("yt_dlp", reason="the ytdlp extra is not installed")


async def test_yt_dlp_fetches_the_media_of_a_page_into_the_request_folder(tmp_path: Path) -> None:
    async with open_file_server(media_folder(tmp_path)) as files:
        out = tmp_path / "out"
        out.mkdir()
        [got] = await fetch_page(
            files.url("video.html"), out, max_bytes=1024 * 1024, allow_private=True
        )
        assert got.path.parent == out and got.path.suffix == ".mp4"
        assert got.path.read_bytes() == (tmp_path / "www" / "clip.mp4").read_bytes()
        assert [p.name for p in out.iterdir()] == [got.path.name]


async def test_yt_dlp_keeps_the_caps_and_the_address_checks(tmp_path: Path) -> None:
    async with open_file_server(media_folder(tmp_path)) as files:
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(TooLargeError):
            await fetch_page(files.url("video.html"), out, max_bytes=100, allow_private=True)
        with pytest.raises(NotMediaError, match="no media I can fetch"):
            await fetch_page(files.url("page.html"), out, max_bytes=10**6, allow_private=True)
        with pytest.raises(PrivateAddressError):
            await fetch_page(files.url("video.html"), out, max_bytes=10**6)
        assert list(out.iterdir()) == []  # nothing half-written, nothing that is not media


async def test_the_bot_posts_the_media_of_a_page_link(tmp_path: Path) -> None:
    async with scene(tmp_path) as s:
        s.fake.post_as_user(s.channel, f"!upload {s.files.url('video.html')}", author_id=USER)
        await settle(s.fake, lambda ms: summary_of(s.fake) is not None)
        uploads = [a for m in s.fake.messages for a in m.attachments]
        assert len(uploads) == 1 and uploads[0].filename.endswith(".mp4")
        assert summary_of(s.fake).content.startswith("🎉")  # type: ignore[union-attr]


async def test_cancelling_yt_dlp_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("uploader.bot._ytdlp.SOCKET_TIMEOUT", 1.0)  # the stall ends its wait
    async with open_file_server(media_folder(tmp_path), stall_after=1000) as files:
        out = tmp_path / "out"
        out.mkdir()
        with trio.move_on_after(30) as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    lambda: fetch_page(
                        files.url("video.html"), out, max_bytes=10**6, allow_private=True
                    )
                )
                await files.stalled.wait()
                nursery.cancel_scope.cancel()
        assert not scope.cancelled_caught  # it stopped when told, not at the deadline
        assert list(out.iterdir()) == []
