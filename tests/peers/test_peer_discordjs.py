"""@discordjs/rest 2.6, unmodified but for its ``api`` option, driven by one node script.

``discordjs_peer.js`` runs every scenario once against a fake served from a thread and prints
what the client saw as JSON; each test here checks one scenario and what the fake recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from _peers import FILE_LIMIT, NPM_PEERS, PEER_OPTIONS, node_missing

from uploader.testing import FakeStats, Fault, RecordedMessage, fake_discord_in_thread

SCRIPT = Path(__file__).with_name("discordjs_peer.js")
CONCURRENT = 12


@attrs.frozen
class PeerRun:
    seen: dict[str, Any]
    messages: list[RecordedMessage]
    stats: FakeStats
    channel: int
    webhook_id: str
    bot_user_id: int


@pytest.fixture(scope="module")
def peer() -> Iterator[PeerRun]:
    reason = node_missing()
    if reason is not None:
        pytest.skip(reason)
    with fake_discord_in_thread(**PEER_OPTIONS) as fake:
        channel = fake.create_channel()
        webhook_id, token = fake.create_webhook(channel_id=channel).split("/")[-2:]
        fake.inject(Fault("rate_limit_user", route="trigger_typing", retry_after=1.0))
        setup = {
            "api": f"{fake.base_url}/api",
            "token": fake.bot_token,
            "channel": str(channel),
            "webhook": {"id": webhook_id, "token": token},
            "file_limit": FILE_LIMIT,
            "concurrent": CONCURRENT,
        }
        env = {**os.environ, "NODE_PATH": str(NPM_PEERS / "node_modules")}
        done = subprocess.run(
            ["node", str(SCRIPT), json.dumps(setup)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        yield PeerRun(
            json.loads(done.stdout),
            fake.messages,
            fake.stats,
            channel,
            webhook_id,
            fake.bot_user_id,
        )


def scenario(peer: PeerRun, name: str) -> Any:
    seen = peer.seen[name]
    assert "failed" not in seen, seen.get("failed")
    return seen


def by_id(peer: PeerRun, message_id: str) -> RecordedMessage:
    [message] = [m for m in peer.messages if m.id == message_id]
    return message


def test_it_logs_in_and_a_wrong_token_is_401(peer: PeerRun) -> None:
    assert scenario(peer, "login") == {"id": str(peer.bot_user_id), "bot": True}
    assert scenario(peer, "bad_token") == {"refused": True, "status": 401, "code": 0}


def test_the_bot_sends_text_one_file_and_ten_files(peer: PeerRun) -> None:
    text, one, ten = (scenario(peer, n) for n in ("text", "one_file", "ten_files"))
    assert (text["content"], text["attachments"]) == ("hello", [])
    assert one["attachments"] == [["f0.bin", 16]]
    assert ten["attachments"] == [[f"f{i}.bin", 16] for i in range(10)]
    recorded = by_id(peer, ten["id"])
    assert [a.size for a in recorded.attachments] == [16] * 10


def test_eleven_files_and_a_file_over_the_limit_are_refused(peer: PeerRun) -> None:
    assert scenario(peer, "eleven_files") == {"refused": True, "status": 400, "code": 30015}
    assert scenario(peer, "too_large") == {"refused": True, "status": 413, "code": 40005}
    assert all(len(m.attachments) <= 10 for m in peer.messages)


def test_edit_reply_and_embed_come_back_as_sent(peer: PeerRun) -> None:
    edited = scenario(peer, "edit")
    assert edited["content"] == "v2" and by_id(peer, edited["id"]).edits == 1
    reply = scenario(peer, "reply")
    assert reply["reply"]["type"] == 19
    assert reply["reply"]["message_reference"]["message_id"] == reply["to"]
    assert by_id(peer, reply["reply"]["id"]).reply_to == reply["to"]
    [embed] = scenario(peer, "embed")["embeds"]
    assert embed == {
        "type": "rich",
        "title": "Report",
        "description": "all good",
        "color": 0x00FF00,
        "fields": [{"name": "a", "value": "b", "inline": False}],
    }


def test_a_nonce_sent_twice_makes_one_message(peer: PeerRun) -> None:
    seen = scenario(peer, "nonce")
    assert seen["first"] == seen["again"]
    assert seen["nonce"] == "peer-js-1"
    assert [m.nonce for m in peer.messages].count("peer-js-1") == 1


def test_an_unknown_channel_is_10003(peer: PeerRun) -> None:
    assert scenario(peer, "unknown_channel") == {"refused": True, "status": 404, "code": 10003}


def test_a_webhook_sends_one_and_ten_files_and_edits(peer: PeerRun) -> None:
    seen = scenario(peer, "webhook_files")
    assert len(seen["one"]["attachments"]) == 1 and len(seen["ten"]["attachments"]) == 10
    assert seen["edited"]["content"] == "edited"
    recorded = by_id(peer, seen["one"]["id"])
    assert (recorded.webhook_id, recorded.content) == (peer.webhook_id, "edited")


def test_it_waits_out_a_429_and_earns_none_under_concurrency(peer: PeerRun) -> None:
    assert scenario(peer, "obeys_injected_429")["waited_ms"] >= 1000
    assert scenario(peer, "concurrent") == {"sent": 2 * CONCURRENT, "distinct": 2 * CONCURRENT}
    assert peer.stats.requests_by_route["trigger_typing"] == 2
    assert peer.stats.injected_429s == 1
    assert peer.stats.client_caused_429s == 0
