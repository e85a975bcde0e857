"""`uploader demo --bot`: the whole bot conversation on loopback, printed.

The loopback Discord runs with its gateway, a loopback file server serves media made with
ffmpeg, the bot connects, and a fake user posts ``!upload <links>``. The demo prints the
channel's conversation once the bot's status message shows its summary; it succeeds when every
file arrived.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import attrs
import trio

from .._models import format_size
from .._settings import Settings
from ..bot import Bot, BotSettings, run_bot
from ..compress import FFmpegNotFoundError
from ..testing import FakeDiscord, RecordedMessage, open_fake_discord, open_file_server

DEMO_TIMEOUT = 300.0
"""Seconds of the wall clock the bot gets to answer."""
SUMMARY_MARKS = ("🎉", "⚠️", "🤷", "❌")


def _say(line: str) -> None:
    print(line, flush=True)


def bot_demo_commands(folder: Path, ffmpeg: str) -> list[list[str]]:
    """The ffmpeg command lines making the demo's media: a clip over 2 MiB and a photo."""
    quiet = [ffmpeg, "-nostdin", "-loglevel", "error", "-y"]
    clip = [
        *("-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=6,noise=alls=20:allf=t"),
        *("-f", "lavfi", "-i", "sine=f=330:d=6:sample_rate=48000"),
        *("-map", "0", "-map", "1", "-vcodec", "libx264", "-preset", "ultrafast", "-b:v", "5M"),
        *("-pix_fmt", "yuv420p", "-acodec", "aac", str(folder / "clip.mp4")),
    ]
    photo = ["-f", "lavfi", "-i", "mandelbrot=s=1280x720", "-vframes", "1", "-q:v", "2"]
    return [[*quiet, *clip], [*quiet, *photo, str(folder / "photo.jpg")]]


async def run_bot_demo(settings: Settings) -> bool:
    """Run the conversation; True when every file the user linked arrived in the channel."""
    with tempfile.TemporaryDirectory(prefix="uploader-bot-demo-") as scratch:
        www = Path(scratch) / "www"
        await trio.Path(www).mkdir()
        _say(f"1. Making media with ffmpeg in {www} ...")
        try:
            for argv in bot_demo_commands(www, settings.compression_ffmpeg_path):
                await trio.run_process(argv, capture_stdout=True, capture_stderr=True)
        except FileNotFoundError:
            raise FFmpegNotFoundError(
                www, "ffmpeg is not installed (Debian: apt-get install ffmpeg)"
            ) from None
        names = sorted(p.name for p in www.iterdir())
        for name in names:
            _say(f"   {name}  {format_size((www / name).stat().st_size)}")
        bot_settings = BotSettings(
            allow_private_urls=True,  # the file server is on loopback
            download_dir=Path(scratch) / "downloads",
        )
        narrator = _Narrator()
        async with (
            open_fake_discord(
                file_limit_bytes=settings.file_limit_bytes, gateway=True, on_message=narrator
            ) as fake,
            open_file_server(www) as files,
            trio.open_nursery() as nursery,
        ):
            fake.on_update = narrator
            channel = fake.create_channel()
            _say(
                f"2. Loopback Discord with its gateway on {fake.api_base}; files on {files.url('')}"
            )
            start = functools.partial(
                run_bot,
                fake.bot_token,
                settings=settings,
                bot_settings=bot_settings,
                api_base=fake.api_base,
                handle_signals=False,
            )
            bot: Bot = await nursery.start(start)
            _say(
                f"3. The bot is connected as user {bot.user_id}; a user posts in channel {channel}:"
            )
            links = " ".join(files.url(name) for name in names)
            fake.post_as_user(channel, f"!upload {links}")
            with trio.move_on_after(DEMO_TIMEOUT):
                await narrator.summarised.wait()
            bot.stop()
            return _show_conversation(fake, names)


@attrs.define
class _Narrator:
    """Says each new line of the bot's status message when the fake records it (created or
    edited): every state it passes through is said, however quickly the bot works (polling
    missed them all when the summary came before the first look)."""

    shown: set[str] = attrs.Factory(set)
    summarised: trio.Event = attrs.Factory(trio.Event)

    def __call__(self, message: RecordedMessage) -> None:
        if message.author_id is not None or message.attachments:
            return
        if _is_summary(message):
            self.summarised.set()
            return
        for line in message.content.splitlines():
            if line not in self.shown and not line.startswith("📤"):
                _say(f"   … {line}")
                self.shown.add(line)


def _is_summary(message: RecordedMessage) -> bool:
    return message.author_id is None and message.content.startswith(SUMMARY_MARKS)


def _show_conversation(fake: FakeDiscord, names: list[str]) -> bool:
    """Print the channel as a chat; True when every name arrived as an attachment."""
    for message in fake.messages:
        who = f"👤 user {message.author_id}" if message.author_id else "🤖 bot"
        edited = f"  (edited {message.edits}x)" if message.edits else ""
        files = [
            f"📎 {a.filename}  {format_size(a.size)}  sha256 {a.sha256[:12]}…"
            for a in message.attachments
        ]
        lines = [*message.content.splitlines(), *files] or [""]
        _say(f"   {who}: {lines[0]}{edited}")
        for line in lines[1:]:
            _say(f"      {line}")
    arrived = {a.filename for m in fake.messages for a in m.attachments}
    ok = all(any(got.startswith(Path(name).stem) for got in arrived) for name in names)
    _say("✅ the bot answered with the media" if ok else "❌ the media did not arrive")
    return ok
