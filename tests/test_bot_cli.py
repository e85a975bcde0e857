"""`uploader bot`: its usage errors, and a real run against the fake until SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
from test_bot_run import real_clip

from uploader.cli import main
from uploader.cli._bot import token_from
from uploader.cli._common import UsageError
from uploader.testing import open_fake_discord, open_file_server


def test_the_token_comes_from_discord_token_only() -> None:
    assert token_from({"DISCORD_TOKEN": " Bot abc "}) == "abc"
    with pytest.raises(UsageError, match="DISCORD_TOKEN"):
        token_from({})


def test_usage_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert main(["bot"]) == 2
    assert "DISCORD_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    assert main(["bot", "--api-base", "ftp://nope"]) == 2
    assert "--api-base" in capsys.readouterr().err


async def test_the_bot_answers_a_posted_link_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "clip.mp4").write_bytes(real_clip())
    async with open_fake_discord(gateway=True) as fake, open_file_server(www) as files:
        channel = fake.create_channel()
        env = {
            **os.environ,
            "DISCORD_TOKEN": fake.bot_token,
            "BOT_ALLOW_PRIVATE_URLS": "true",
            "BOT_DOWNLOAD_DIR": str(tmp_path / "downloads"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        argv = [sys.executable, "-m", "uploader", "bot", "--api-base", fake.api_base]
        process = await trio.lowlevel.open_process(argv, env=env, stderr=subprocess.PIPE)
        try:
            give_up = time.monotonic() + 90  # a loaded machine starts Python slowly
            while not fake.commands:  # registered at start: the bot is up
                assert time.monotonic() < give_up and process.poll() is None
                await trio.sleep(0.05)
            fake.post_as_user(channel, f"!upload {files.url('clip.mp4')}")
            while not any(m.attachments for m in fake.messages):
                assert time.monotonic() < give_up
                await trio.sleep(0.05)
            process.send_signal(signal.SIGINT)
            with trio.fail_after(20):
                code = await process.wait()
        finally:
            if process.poll() is None:
                process.kill()
        assert process.stderr is not None
        err = (await process.stderr.receive_some(65536)).decode()
        assert code == 0, err
        assert "ready as user" in err and "stopped" in err
        [upload] = [m for m in fake.messages if m.attachments]
        assert (upload.channel_id, upload.attachments[0].filename) == (channel, "clip.mp4")


async def test_a_refused_token_is_one_line_and_exit_1(tmp_path: Path) -> None:
    async with open_fake_discord(gateway=True) as fake:
        env = {
            **os.environ,
            "DISCORD_TOKEN": "not-the-token",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        argv = [sys.executable, "-m", "uploader", "bot", "--api-base", fake.api_base]
        with trio.fail_after(60):
            done = await trio.run_process(argv, env=env, capture_stderr=True, check=False)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert err.strip() == (
        "uploader bot: error: GET /gateway/bot answered 401: the bot token was refused "
        "(check DISCORD_TOKEN)"
    )
    assert "not-the-token" not in err
