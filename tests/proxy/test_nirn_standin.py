"""uploader behind a stand-in for nirn-proxy (tests/proxy/_standin.py) in front of the fake.

Such a proxy relays Discord's headers, so proxy mode changes nothing while it answers as
Discord would: uploader still learns the buckets. What it does change: the proxy's own 408,
when Discord is slower than its timeout, is a 504 to uploader, not a final error.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from _group import GROUP_FAKE, make_folders, new_destination, run_group
from _standin import open_nirn_like

from uploader import FileStatus, Settings, upload_directory
from uploader.testing import Fault, open_fake_discord

SETTINGS = Settings(upload_max_files_per_batch=2, upload_enable_progress_updates=False)


@pytest.mark.parametrize("kind", ["bot", "webhook"])
async def test_three_senders_through_a_nirn_like_proxy_deliver_exactly_once(
    tmp_path: Path, kind: str
) -> None:
    folders = make_folders(tmp_path, 3, 6)
    async with (
        open_fake_discord(**GROUP_FAKE) as fake,  # type: ignore[arg-type]
        open_nirn_like(fake.base_url) as api_base,
    ):
        destination, _ = new_destination(fake, kind)
        run = await run_group(fake, api_base, folders, destination, SETTINGS)
    assert run.exactly_once, run
    assert run.fake_429s == 0


@pytest.mark.parametrize(
    ("kind", "statuses"),
    [
        ("bot", {FileStatus.DELIVERED: 6}),
        ("webhook", {FileStatus.DELIVERED: 4, FileStatus.UNCERTAIN: 2}),
    ],
)
async def test_the_proxys_408_is_retried_with_the_nonce_or_left_uncertain(
    tmp_path: Path, kind: str, statuses: dict[FileStatus, int]
) -> None:
    folder = make_folders(tmp_path, 1, 6)[0]
    async with (
        open_fake_discord(**GROUP_FAKE) as fake,  # type: ignore[arg-type]
        open_nirn_like(fake.base_url, request_timeout=0.3) as api_base,
    ):
        destination, route = new_destination(fake, kind)
        fake.inject(Fault("slow", route=route, delay=0.8, after=1))  # posted, after the 408
        result = await upload_directory(folder, destination, settings=SETTINGS, api_base=api_base)
        await fake.wait_for_messages(3)
    assert Counter(o.status for o in result.outcomes) == statuses
    held = Counter(a.sha256 for m in fake.messages for a in m.attachments)
    assert sorted(held.values()) == [1] * 6  # every file in the channel once
