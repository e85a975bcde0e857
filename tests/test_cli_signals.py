"""A terminated `uploader send` leaves no ffmpeg process and no temporary file behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests._media import ffmpeg_reading, make_video
from uploader.testing import open_fake_discord


@pytest.mark.ffmpeg
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_mid_encode_cleans_up(tmp_path: Path, sig: signal.Signals) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    make_video(folder / "clip.mp4", 20, 640, 360, video_kbps=4000)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    async with open_fake_discord() as fake:
        env = {
            **os.environ,
            "TMPDIR": str(scratch),
            "DISCORD_WEBHOOK_URL": fake.create_webhook(),
            "COMPRESSION_FFMPEG_PRESET": "veryslow",  # long enough to be caught mid-encode
        }
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "uploader", "send", str(folder), "--limit-mb", "0.5"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert process.stderr is not None
        seen = b""
        with trio.fail_after(60):
            while f"compressing {folder / 'clip.mp4'}".encode() not in seen:
                seen += await process.stderr.receive_some(4096)
            while not ffmpeg_reading(folder):  # noqa: ASYNC110 (polling another process)
                await trio.sleep(0.05)
            process.send_signal(sig)
            while chunk := await process.stderr.receive_some(4096):
                seen += chunk
            code = await process.wait()
    assert code == 130, seen.decode()
    assert b"interrupted" in seen and b"Traceback" not in seen
    assert ffmpeg_reading(folder) == []
    assert list(scratch.iterdir()) == []
    assert [m for m in fake.messages if m.attachments] == []  # only the status message
