"""Several senders on one token at once, as separate `uploader send` processes would be.

Each sender runs its own pipeline (its own HTTP client, rate limiter and nonces) on its own
folder of random files, all into one channel or webhook of the loopback Discord; `run_group`
then reads the fake's record: which files arrived exactly once, which twice or never, and how
many 429s reached it.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

from uploader import Channel, FileStatus, Settings, UploadResult, Webhook, upload_directory
from uploader.testing import FakeDiscord, RouteName

GROUP_FAKE = {"channel_limit": (5, 1.0), "webhook_limit": (5, 1.0), "global_limit": 50}
"""The fake a group meets: Discord's rules, with 1 s windows to keep runs short."""


def new_destination(fake: FakeDiscord, kind: str) -> tuple[Channel | Webhook, RouteName]:
    """A fresh bot channel (``kind == "bot"``) or webhook of the fake, and its post route."""
    if kind == "bot":
        return Channel(fake.create_channel(), fake.bot_token), "create_message"
    return Webhook(fake.create_webhook()), "execute_webhook"


def make_folders(root: Path, senders: int, files: int, seed: int = 12) -> list[Path]:
    """One folder of ``files`` random images (1-40 KB) per sender; no two files alike."""
    rng = random.Random(seed)
    folders = []
    for s in range(senders):
        folder = root / f"sender{s}"
        folder.mkdir(parents=True)
        for i in range(files):
            (folder / f"{s:02}-{i:03}.png").write_bytes(rng.randbytes(rng.randint(1_000, 40_000)))
        folders.append(folder)
    return folders


async def warm_up(fake: FakeDiscord, api_base: str, root: Path, settings: Settings) -> None:
    """Post one bot message and one webhook message through ``api_base`` before a group runs,
    as through a proxy that has served for a while: it learns a route's bucket once for every
    channel or webhook, and keeps it a day."""
    folder = make_folders(root / "warm-up", 1, 1, seed=99)[0]
    channel = Channel(fake.create_channel(), fake.bot_token)
    for target in (channel, Webhook(fake.create_webhook())):
        result = await upload_directory(folder, target, settings=settings, api_base=api_base)
        if not result.success:
            raise RuntimeError(f"the warm-up message failed: {result.message}")


def hashes_of(folders: Sequence[Path]) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for f in folders for p in f.iterdir()}


@attrs.frozen
class GroupRun:
    """What one run of a group did, from the senders' results and the fake's record.

    Attributes:
        senders: how many ran at once.
        files: files sent in all.
        once: files the fake holds exactly once.
        twice: files it holds more than once (must be 0).
        missing: files it does not hold.
        messages: messages it recorded during the run.
        seconds: wall time from the first sender's start to the last one's end.
        fake_429s: 429s the fake answered during the run (all scopes, injected ones included).
        caused_429s: 429s earned by exceeding a limit (a well-behaved group causes none).
        statuses: the senders' file outcomes by status (``delivered``, ``uncertain``...).
    """

    senders: int
    files: int
    once: int
    twice: int
    missing: int
    messages: int
    seconds: float
    fake_429s: int
    caused_429s: int
    statuses: dict[str, int]

    @property
    def exactly_once(self) -> bool:
        """Every file arrived once, and every sender reported it delivered."""
        sent = self.statuses.get(FileStatus.DELIVERED.value, 0)
        return self.once == self.files and self.twice == 0 and sent == self.files


async def run_group(
    fake: FakeDiscord,
    api_base: str,
    folders: Sequence[Path],
    destination: Channel | Webhook,
    settings: Settings,
) -> GroupRun:
    """Run one sender per folder at once against ``api_base``; read the outcome.

    Only what happened during the run counts: messages and 429s from before are left out.
    """
    results: list[UploadResult] = []
    before = fake.stats
    earlier = len(fake.messages)

    async def sender(folder: Path) -> None:
        results.append(
            await upload_directory(folder, destination, settings=settings, api_base=api_base)
        )

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for folder in folders:
            nursery.start_soon(sender, folder)
    seconds = trio.current_time() - started
    after = fake.stats
    held = Counter(a.sha256 for m in fake.messages[earlier:] for a in m.attachments)
    expected = hashes_of(folders)
    statuses = Counter(o.status.value for r in results for o in r.outcomes)
    return GroupRun(
        senders=len(folders),
        files=len(expected),
        once=sum(1 for h in expected if held[h] == 1),
        twice=sum(1 for h in expected if held[h] > 1),
        missing=sum(1 for h in expected if held[h] == 0),
        messages=len(fake.messages) - earlier,
        seconds=seconds,
        fake_429s=after.responses_by_status.get(429, 0) - before.responses_by_status.get(429, 0),
        caused_429s=after.client_caused_429s - before.client_caused_429s,
        statuses=dict(statuses),
    )
