"""The bot end to end on loopback: fake Discord + its gateway, a file server, `run_bot`."""

from __future__ import annotations

import functools
import os
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import httpx
import pytest
import trio
from _media import make_video

from uploader import Settings
from uploader.bot import Bot, BotSettings, run_bot
from uploader.testing import (
    FakeDiscord,
    FileServer,
    RecordedMessage,
    open_fake_discord,
    open_file_server,
)


@functools.cache
def real_clip() -> bytes:
    """A real 1-second mp4 (the pipeline probes every video), made once per session."""
    with tempfile.TemporaryDirectory() as scratch:
        return make_video(Path(scratch) / "clip.mp4", 1, 64, 64, audio=False).read_bytes()


PNG = b"\x89PNG\r\n\x1a\n" + bytes(2000)
USER = "300000000000000007"


@attrs.frozen
class Scene:
    fake: FakeDiscord
    files: FileServer
    bot: Bot
    channel: int
    downloads: Path


def media_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(real_clip())
    (folder / "cat.png").write_bytes(PNG)
    (folder / "dog.png").write_bytes(PNG[:-1] + b"\x01")
    (folder / "big.mp4").write_bytes(bytes(3 * 1024 * 1024))
    (folder / "page.html").write_text("<html>not media</html>")
    (folder / "sneaky.mp4").write_text("text, served as a video")
    (folder / "video.html").write_text(
        '<html><head><title>A clip</title></head><body><video src="clip.mp4"></video></body></html>'
    )
    return folder


@asynccontextmanager
async def scene(
    tmp_path: Path,
    *,
    allow_private: bool = True,
    stall_after: int | None = None,
    resolve: Callable[[str, int], Sequence[str]] | None = None,
    downloads: httpx.AsyncClient | None = None,
    handle_signals: bool = False,
    **settings: object,
) -> AsyncIterator[Scene]:
    root = tmp_path / "downloads"
    bot_settings = BotSettings(
        allow_private_urls=allow_private, download_dir=root, max_download_mb=1.0
    )
    pipeline = Settings(upload_linger_seconds=0.1, **settings)  # type: ignore[arg-type]
    options: dict[str, object] = {"downloads": downloads}
    if resolve is not None:
        table = resolve

        async def resolver(host: str, port: int) -> Sequence[str]:
            return table(host, port)

        options["resolve"] = resolver
    async with (
        open_fake_discord(gateway=True) as fake,
        open_file_server(media_folder(tmp_path), stall_after=stall_after) as files,
        trio.open_nursery() as nursery,
    ):
        start = functools.partial(
            run_bot,
            fake.bot_token,
            settings=pipeline,
            bot_settings=bot_settings,
            api_base=fake.api_base,
            handle_signals=handle_signals,
            shutdown_grace=1.0,
            **options,  # type: ignore[arg-type]
        )
        bot: Bot = await nursery.start(start)
        yield Scene(fake, files, bot, fake.create_channel(), root)
        bot.stop()


async def settle(fake: FakeDiscord, predicate: Callable[[list[RecordedMessage]], bool]) -> None:
    """Wait until the messages satisfy ``predicate``: 20 s of the wall clock at most (the
    MockClock may jump far while a loaded machine runs a worker thread)."""
    give_up = time.monotonic() + 20
    while not predicate(fake.messages):
        if time.monotonic() > give_up:
            raise AssertionError([(m.content, len(m.attachments)) for m in fake.messages])
        await trio.sleep(0.02)


def bot_messages(fake: FakeDiscord) -> list[RecordedMessage]:
    return [m for m in fake.messages if m.author_id is None]


async def test_a_command_uploads_into_its_channel_with_one_status_message(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with scene(tmp_path) as s:
        other = s.fake.create_channel()
        # images: a video is probed by ffprobe, whose timeout a jumping clock would trip
        links = f"{s.files.url('dog.png')} <{s.files.url('cat.png')}>"
        s.fake.post_as_user(s.channel, f"!upload {links}", author_id=USER)
        await settle(s.fake, lambda ms: summary_of(s.fake) is not None)
        mine = bot_messages(s.fake)
        assert {m.channel_id for m in mine} == {s.channel} != {other}
        uploads = [m for m in mine if m.attachments]
        names = sorted(a.filename for m in uploads for a in m.attachments)
        assert names == ["cat.png", "dog.png"]
        [status] = [m for m in mine if not m.attachments]  # one status message, edited
        assert status.content == "🎉 Upload complete: 2/2 files uploaded"
        assert status.edits >= 1 and status.created_at <= uploads[0].created_at
        assert [c["name"] for c in s.fake.commands] == ["upload", "status"]
        request_dir = s.downloads / f"{USER}_{s.fake.messages[0].id}"
        assert sorted(p.name for p in request_dir.iterdir()) == ["cat.png", "dog.png"]
        assert oct(request_dir.stat().st_mode & 0o777) == "0o700"  # kept: cleanup is off


async def test_cleanup_after_success_removes_the_request_folder(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with scene(tmp_path, upload_cleanup_after_success=True) as s:
        s.fake.post_as_user(s.channel, f"!upload {s.files.url('cat.png')}", author_id=USER)
        await settle(s.fake, lambda ms: summary_of(s.fake) is not None)
        assert list(s.downloads.iterdir()) == []


def summary_of(fake: FakeDiscord) -> RecordedMessage | None:
    for m in fake.messages:
        if m.author_id is None and m.content.startswith(("🎉", "⚠️", "🤷")):
            return m
    return None


async def test_the_slash_command_defers_and_delivers_through_the_follow_up_webhook(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with scene(tmp_path) as s:
        body = await s.fake.run_slash_command(
            s.channel, "upload", {"url": s.files.url("cat.png")}, user_id=USER
        )
        await settle(s.fake, lambda ms: summary_of(s.fake) is not None)
        assert s.fake.interaction_callbacks(body["id"]) == [{"type": 5}]
        app = str(s.fake.bot_user_id)
        assert all(m.webhook_id == app for m in s.fake.messages)  # all through the webhook
        original, *rest = s.fake.messages
        assert original is summary_of(s.fake) or original.id == summary_of(s.fake).id  # type: ignore[union-attr]
        assert original.content.startswith("🎉") and original.edits >= 2
        assert [a.filename for m in rest for a in m.attachments] == ["cat.png"]
        assert len(rest) == 1  # no second status message


async def reply_to(s: Scene, text: str) -> str:
    s.fake.post_as_user(s.channel, text, author_id=USER)
    await settle(s.fake, lambda ms: any(m.author_id is None and "❌" in m.content for m in ms))
    [reply] = [m for m in s.fake.messages if m.author_id is None]
    return reply.content


async def test_a_download_over_the_cap_gets_a_reply_that_says_why(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with scene(tmp_path) as s:
        text = await reply_to(s, f"!upload {s.files.url('big.mp4')}")
        assert "3.0 MiB; the limit is 1.0 MiB" in text
        assert not any((s.downloads).iterdir())  # nothing kept of a refused request


async def test_a_private_address_gets_a_reply_that_says_why(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with scene(tmp_path, allow_private=False) as s:
        text = await reply_to(s, f"!upload {s.files.url('clip.mp4')}")
        assert "loopback address" in text
        assert s.files.requests == []  # never connected


async def test_a_redirect_to_a_private_address_gets_a_reply_that_says_why(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        dns = {"media.example": ["93.184.216.34"]}
        async with scene(
            tmp_path, allow_private=False, resolve=lambda h, p: dns[h], downloads=http
        ) as s:
            text = await reply_to(s, "!upload http://media.example/clip.mp4")
            assert "a cloud metadata address" in text


async def test_a_link_that_is_not_media_gets_a_reply_that_says_why(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("uploader.bot._run.ytdlp_available", lambda: False)  # not installed
    async with scene(tmp_path) as s:
        text = await reply_to(s, f"!upload {s.files.url('page.html')}")
        assert "a web page, not an image, video or audio file" in text


async def test_a_busy_user_a_bad_command_and_status_get_replies(tmp_path: Path) -> None:
    # the wall clock: the hanging downloads must hang, not time out on a jumping clock
    async with scene(tmp_path, stall_after=100) as s:
        for _ in range(3):  # two are admitted (and hang), the third is refused
            s.fake.post_as_user(s.channel, f"!upload {s.files.url('clip.mp4')}", author_id=USER)
        await settle(s.fake, lambda ms: any("already have 2" in m.content for m in ms))
        s.fake.post_as_user(s.channel, "!download", author_id=USER)
        await settle(s.fake, lambda ms: any("Usage: `!download <link>" in m.content for m in ms))
        s.fake.post_as_user(s.channel, "!status", author_id=USER)
        await settle(s.fake, lambda ms: any("2 requests running" in m.content for m in ms))


async def test_sigint_during_a_request_leaves_nothing_behind(tmp_path: Path) -> None:
    # the wall clock: a stalled download must stall, not time out on a jumping clock
    async with scene(tmp_path, stall_after=1000, handle_signals=True) as s:
        s.fake.post_as_user(s.channel, f"!upload {s.files.url('clip.mp4')}", author_id=USER)
        with trio.fail_after(20):
            await s.files.stalled.wait()
            while True:
                if list(s.downloads.glob("*/clip.mp4.part")):  # half-written now
                    break
                await trio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)
        with trio.fail_after(20):
            await s.bot.stopped.wait()
        assert list(s.downloads.iterdir()) == []
        [status] = bot_messages(s.fake)  # not left saying "Downloading" forever
        assert status.content.startswith("⏹️ Stopped"), status.content


async def test_a_download_that_is_not_really_media_is_named_in_the_summary(
    tmp_path: Path,
) -> None:
    # the wall clock: ffprobe's timeout must not trip on a jumping clock
    async with scene(tmp_path) as s:
        links = f"{s.files.url('clip.mp4')} {s.files.url('sneaky.mp4')}"
        s.fake.post_as_user(s.channel, f"!upload {links}", author_id=USER)
        await settle(s.fake, lambda ms: any("⏭️" in m.content for m in ms))
        summary = summary_of(s.fake)
        assert summary is not None
        lines = summary.content.splitlines()
        assert lines[0] == "🎉 Upload complete: 1/1 files uploaded", lines
        assert lines[1].startswith("⏭️ sneaky.mp4: not playable media"), lines


async def test_the_bot_is_started_only_once_its_slash_commands_are_registered(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with scene(tmp_path) as s:
        assert [c["name"] for c in s.fake.commands] == ["upload", "status"]
