"""`uploader demo --bot`: the loopback conversation ends with the media in the channel."""

from __future__ import annotations

import attrs
import pytest

from uploader import Settings
from uploader.cli import build_parser
from uploader.cli._demo_bot import _Narrator, run_bot_demo
from uploader.testing import RecordedMessage


def test_the_demo_takes_the_bot_flag() -> None:
    assert build_parser().parse_args(["demo", "--bot"]).bot is True


async def test_the_bot_demo_shows_the_conversation_and_the_media_arrives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a limit over the clip's size: no encode, so the test stays quick
    settings = Settings(upload_file_limit_mb=25, upload_linger_seconds=0.1)
    assert await run_bot_demo(settings) is True
    out = capsys.readouterr().out
    assert "👤 user" in out and "!upload http://127.0.0.1:" in out
    assert "🤖 bot: 🎉 Upload complete: 2/2 files uploaded" in out
    assert "📎 clip.mp4" in out and "📎 photo.jpg" in out
    assert "🤖 bot: \n" not in out and not any(
        line.endswith("🤖 bot:") for line in out.splitlines()
    )
    assert "\n   … " in out  # the bot's work is shown while it works
    assert out.rstrip().endswith("✅ the bot answered with the media")


def test_every_state_of_the_status_message_is_said_however_quick_the_bot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo hears each creation and edit from the fake: a status message edited into its
    summary before a poll could look at it (a fast machine) is still narrated."""
    narrator = _Narrator()
    status = RecordedMessage("1", 2, None, "⬇️ Downloading 2 links...", None, ())
    narrator(RecordedMessage("0", 2, None, "!upload x", None, (), author_id="7"))  # the user's
    narrator(status)
    narrator(attrs.evolve(status, content="🎉 Upload complete: 2/2 files uploaded", edits=1))
    assert narrator.summarised.is_set()
    assert capsys.readouterr().out == "   … ⬇️ Downloading 2 links...\n"
