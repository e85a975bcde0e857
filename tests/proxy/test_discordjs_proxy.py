"""uploader behind the real @discordjs/proxy 2.1 (unmodified), in front of the loopback Discord.

Several senders (each its own pipeline, client and rate limiter, as separate ``uploader send``
processes are) share one channel through the proxy; the fake then forces the proxy's failure
modes: its own 429s (``rejectOnRateLimit``), an upstream 503 and an answer slower than its
timeout, after both of which it re-sends a body it already consumed. Every check is against
the fake's record: each file held exactly once, and no 429 a sender caused.

Skipped, with the reason, without node or the package (``sh .ci/install --dev`` installs it).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import attrs
import pytest
import trio
from _group import GROUP_FAKE, hashes_of, make_folders, new_destination, run_group, warm_up
from _proxy import ProxyOptions, open_discordjs_proxy, proxy_missing

from uploader import Channel, FileStatus, Settings, Webhook, upload_directory
from uploader.testing import FakeDiscord, Fault, open_fake_discord

pytestmark = pytest.mark.skipif(proxy_missing() is not None, reason=str(proxy_missing()))

SETTINGS = Settings(upload_max_files_per_batch=2, upload_enable_progress_updates=False)


def held(fake: FakeDiscord) -> Counter[str]:
    return Counter(a.sha256 for m in fake.messages for a in m.attachments)


async def test_groups_run_after_run_through_one_proxy_deliver_exactly_once_without_429s(
    tmp_path: Path,
) -> None:
    """The quick form of ``benchmarks/proxy.py --loop 50 --warm``: groups of 3 and 10 senders
    in a row, bot and webhook, each into a fresh channel or webhook, through one proxy that has
    posted before (see test_a_fresh_proxy_draws_429s_of_its_own_yet_bot_posts_land_once)."""
    async with (
        open_fake_discord(**GROUP_FAKE) as fake,  # type: ignore[arg-type]
        open_discordjs_proxy(fake.base_url) as api_base,
    ):
        await warm_up(fake, api_base, tmp_path, SETTINGS)
        for k, (senders, kind) in enumerate(
            [(3, "bot"), (10, "webhook"), (3, "webhook"), (10, "bot")]
        ):
            folders = make_folders(tmp_path / f"run{k}", senders, 3, seed=k)
            destination, _ = new_destination(fake, kind)
            run = await run_group(fake, api_base, folders, destination, SETTINGS)
            assert run.exactly_once, (k, run)
            assert run.messages == 2 * senders  # 3 files each, two by two
            assert run.fake_429s == 0, (k, run)
    assert fake.stats.client_caused_429s == 0


async def test_a_fresh_proxy_draws_429s_of_its_own_yet_bot_posts_land_once(
    tmp_path: Path,
) -> None:
    """Ten first requests at once on a route a fresh proxy has never seen: it queues them under
    a provisional key, learns the bucket from the first answer, and sends later requests through
    a second queue that knows nothing of the first: the pair can exceed the bucket. The proxy
    then re-sends the 429'd request with a consumed body (400); the nonce resend lands it once."""
    folders = make_folders(tmp_path, 10, 3)
    async with (
        open_fake_discord(**GROUP_FAKE) as fake,  # type: ignore[arg-type]
        open_discordjs_proxy(fake.base_url) as api_base,
    ):
        channel = Channel(fake.create_channel(), fake.bot_token)
        run = await run_group(fake, api_base, folders, channel, SETTINGS)
    assert run.exactly_once, run
    assert fake.stats.rate_limited_by_scope.get("user", 0) == run.fake_429s
    assert fake.stats.responses_by_status.get(400, 0) == run.fake_429s  # each re-sent empty


async def test_a_proxy_own_429_is_waited_out_not_taken_for_a_ban(tmp_path: Path) -> None:
    folders = make_folders(tmp_path, 2, 6)
    options = ProxyOptions(reject_on_rate_limit=True)
    async with open_fake_discord(**GROUP_FAKE) as fake:  # type: ignore[arg-type]
        webhook = Webhook(fake.create_webhook())
        # Discord's 429 reaches the proxy, which answers its own (Retry-After, empty, no Via).
        fake.inject(Fault("rate_limit_user", route="execute_webhook", retry_after=0.5, times=2))
        async with open_discordjs_proxy(fake.base_url, options) as api_base:
            run = await run_group(fake, api_base, folders, webhook, SETTINGS)
    assert run.exactly_once, run
    assert fake.stats.injected_429s == 2
    assert fake.stats.client_caused_429s == 0


BODY_LOSING = [
    pytest.param(Fault("status", route=None, status=503), ProxyOptions(), False, id="upstream 503"),
    pytest.param(
        Fault("slow", route=None, delay=0.8),
        ProxyOptions(timeout_ms=300),
        True,
        id="answer past the proxy's timeout",
    ),
]
"""The fault, the proxy's options, and whether the proxy's first attempt posted."""


@pytest.mark.parametrize(
    ("kind", "statuses"),
    [
        ("bot", {FileStatus.DELIVERED: 6}),  # resent with its nonce
        ("webhook", {FileStatus.DELIVERED: 4, FileStatus.UNCERTAIN: 2}),  # never failed
    ],
)
@pytest.mark.parametrize(("fault", "options", "posted"), BODY_LOSING)
async def test_a_post_whose_body_the_proxy_lost_is_resent_by_nonce_or_left_uncertain(
    tmp_path: Path,
    fault: Fault,
    options: ProxyOptions,
    posted: bool,
    kind: str,
    statuses: dict[FileStatus, int],
) -> None:
    folder = make_folders(tmp_path, 1, 6)[0]
    async with open_fake_discord(**GROUP_FAKE) as fake:  # type: ignore[arg-type]
        destination, route = new_destination(fake, kind)
        fake.inject(attrs.evolve(fault, route=route, after=1))
        async with open_discordjs_proxy(fake.base_url, options) as api_base:
            result = await upload_directory(
                folder, destination, settings=SETTINGS, api_base=api_base
            )
        landed = 3 if posted or kind == "bot" else 2
        with trio.fail_after(5):
            await fake.wait_for_messages(landed)  # a slow post lands after the proxy gave up
    assert Counter(o.status for o in result.outcomes) == statuses
    assert len(fake.messages) == landed
    assert set(held(fake).values()) == {1}  # never twice
    if landed == 3:
        assert held(fake) == Counter(hashes_of([folder]))  # every file in the channel once
    assert fake.pending_faults == ()
    assert fake.stats.responses_by_status.get(400, 0) >= 1  # the proxy did re-send it empty
    uncertain = [o for o in result.outcomes if o.status is FileStatus.UNCERTAIN]
    assert all("proxy lost the request body" in o.reason for o in uncertain)
