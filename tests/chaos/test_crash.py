"""SIGKILL a real `uploader send` at a random point, run it again: the channel holds each file once.

The loopback Discord runs in the test's event loop (real clock: the sender is another process);
`uploader send DIR --channel ID --api-base URL` runs as a child with ``DISCORD_TOKEN`` and its
own state and temporary folders. The kill comes at one of these points, chosen at random with
the message it hits (alternating by seed, so the quick form tries both):

* ``recorded``: the fake has recorded the message and not yet answered (the worst moment:
  the sender cannot know it was posted);
* ``in_flight``: the request's head arrived and the fake holds it (a slow answer); nothing is
  recorded yet.

Then `uploader send` runs again to the end, and a third time: the channel must hold every file
exactly once, the second run must finish the job, and the third must send nothing. Quick form:
two kills; ``UPLOADER_CHAOS=long``: twenty.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.abc

from tests.chaos._scenario import LONG
from uploader.testing import FakeDiscord, Fault, RecordedMessage, open_fake_discord
from uploader.testing._app import RequestHead

FILES = 12
PER_MESSAGE = 2
SEEDS = range(20) if LONG else range(2)
WORKTREE = Path(__file__).resolve().parents[2]


def make_folder(folder: Path, rng: random.Random) -> dict[str, str]:
    folder.mkdir(parents=True)
    hashes = {}
    for i in range(FILES):
        data = f"file {i}\n".encode() + rng.randbytes(rng.randint(10, 20_000))
        name = f"m{i:03d}.{rng.choice(['png', 'jpg'])}"  # random bytes: no playable mp4/mp3
        (folder / name).write_bytes(data)
        hashes[name] = hashlib.sha256(data).hexdigest()
    return hashes


def environment(fake: FakeDiscord, root: Path) -> dict[str, str]:
    state, tmp = root / "state", root / "tmp"
    state.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "UPLOAD_"))}
    return {
        **keep,
        "PYTHONPATH": str(WORKTREE),
        "DISCORD_TOKEN": fake.bot_token,
        "XDG_STATE_HOME": str(state),
        "TMPDIR": str(tmp),
        "UPLOAD_MAX_FILES_PER_BATCH": str(PER_MESSAGE),
        "UPLOAD_LINGER_SECONDS": "0.05",
        "UPLOAD_ENABLE_PROGRESS_UPDATES": "false",
    }


def send_command(folder: Path, fake: FakeDiscord, channel: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uploader",
        "send",
        str(folder),
        "--channel",
        str(channel),
        "--api-base",
        fake.api_base,
        "--json",
    ]


class Killer:
    """Kills the sender at its chosen point, from inside the fake (so nothing is timed)."""

    def __init__(self, mode: str, at_message: int) -> None:
        self.mode = mode
        self.at = at_message
        self.process: trio.Process | None = None
        self.recorded = 0
        self.creates = 0
        self.killed = trio.Event()

    def kill(self) -> None:
        if self.process is not None and not self.killed.is_set():
            self.process.send_signal(signal.SIGKILL)
            self.killed.set()

    def on_message(self, message: RecordedMessage) -> None:
        if not message.attachments:
            return
        self.recorded += 1
        if self.mode == "recorded" and self.recorded == self.at:
            self.kill()  # recorded, and the answer is not sent yet

    def watch(self, fake: FakeDiscord) -> None:
        """See each request head as it arrives (the in-flight kill point)."""
        app = fake._app  # the only way to see a request before its answer
        receive = app.receive

        def seen(head: RequestHead, now: float) -> Any:
            step = receive(head, now)
            if head.method == "POST" and head.target.endswith("/messages"):
                self.creates += 1
                if self.mode == "in_flight" and self.creates == self.at:
                    self.kill()
            return step

        app.receive = seen  # type: ignore[method-assign]


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_killed_send_run_again_posts_each_file_once(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    hashes = make_folder(tmp_path / "in", rng)
    messages = -(-FILES // PER_MESSAGE)
    mode = ("recorded", "in_flight")[seed % 2]
    killer = Killer(mode, at_message=rng.randint(1, messages - 1))
    async with open_fake_discord(channel_limit=(50, 1.0), on_message=killer.on_message) as fake:
        channel = fake.create_channel()
        env = environment(fake, tmp_path)
        command = send_command(tmp_path / "in", fake, channel)
        killer.watch(fake)
        if mode == "in_flight":  # hold the request: the fake answers only after the kill
            fake.inject(Fault("slow", route="create_message", after=killer.at - 1, delay=3600))
        first = await _send(command, env, killer)
        assert killer.killed.is_set(), first.stderr.decode()[-2000:]
        assert first.returncode == -signal.SIGKILL
        fake.clear_faults()
        second = await _send(command, env, None)
        held = Counter(a.sha256 for m in fake.messages for a in m.attachments)
        wrong = {n: held[h] for n, h in hashes.items() if held[h] != 1}
        assert not wrong, f"copies in the channel after a {mode} kill at {killer.at}: {wrong}"
        assert second.returncode == 0, second.stderr.decode()[-2000:]
        before = len(fake.messages)
        third = await _send(command, env, None)
        assert third.returncode == 0
        assert len(fake.messages) == before, "a third run sends nothing"
        report = json.loads(third.stdout)
        assert report["delivered"] == FILES


@attrs.frozen
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes


async def _send(command: list[str], env: dict[str, str], killer: Killer | None) -> Finished:
    """Run `uploader send` until it ends (by itself, or killed by ``killer``)."""
    out, err = bytearray(), bytearray()

    async def drain(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
        async for chunk in stream:
            into += chunk

    process = await trio.lowlevel.open_process(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        if killer is not None:
            killer.process = process
        assert process.stdout is not None and process.stderr is not None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, process.stdout, out)
            nursery.start_soon(drain, process.stderr, err)
        await process.wait()
    finally:
        if process.returncode is None:  # the test failed or was cancelled: leave nothing
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
    assert process.returncode is not None
    return Finished(process.returncode, bytes(out), bytes(err))
