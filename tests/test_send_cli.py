"""`uploader send` on the command line: usage errors, exit codes, the report, no secrets.

Runs ``uploader.cli.main`` in the main thread, as a shell would (it runs its own event loop and
listens for signals), against the loopback fake Discord on its own event loop in a worker
thread. Nothing here waits on a rate limit or a backoff, so the real clock costs little.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests._files import write_random
from tests._media import make_video
from uploader import MIB
from uploader._settings import ENV_VARIABLES
from uploader.cli import main
from uploader.cli._send import destination_from
from uploader.discord import Channel, Webhook
from uploader.testing import FakeDiscord, FakeDiscordThread, Fault, fake_discord_in_thread

HOOK = "https://hooks.example/api/webhooks/42/SECRET-token"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_VARIABLES, "DISCORD_TOKEN", "DISCORD_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UPLOAD_ENABLE_PROGRESS_UPDATES", "false")  # no status message
    monkeypatch.setenv("UPLOAD_CHECK_MEDIA", "false")  # random bytes stand in for media here


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["send", "DIR"], {}, "give --webhook URL"),
        (["send", "DIR", "--webhook", HOOK, "--channel", "5"], {}, "not both"),
        (["send", "DIR", "--channel", "5"], {}, "DISCORD_TOKEN"),
        (["send", "DIR", "--channel", "5"], {"DISCORD_TOKEN": "  "}, "DISCORD_TOKEN"),
        (["send", "DIR", "--channel", "5"], {"DISCORD_TOKEN": "Bot "}, "DISCORD_TOKEN"),
        (["send", "DIR/missing", "--webhook", HOOK], {}, "no such directory"),
        (["send", "DIR", "--webhook", "https://x/api/hooks/1/SECRET-token"], {}, "webhook URL"),
        (["send", "DIR", "--webhook", HOOK, "--limit-mb", "0"], {}, "--limit-mb"),
        (["send", "DIR", "--webhook", HOOK, "--api-base", "ftp://x"], {}, "--api-base"),
        (["send", "DIR", "--webhook", HOOK], {"UPLOAD_MAX_FILES_PER_BATCH": "11"}, "UPLOAD_MAX"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = [a.replace("DIR", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err
    assert captured.err.startswith("uploader send: error: ")
    assert "Traceback" not in captured.err and "SECRET" not in captured.err


def test_the_webhook_url_may_come_from_the_environment() -> None:
    args = argparse.Namespace(webhook=None, channel=None)
    destination = destination_from(args, {"DISCORD_WEBHOOK_URL": f" {HOOK} "})
    assert destination == Webhook(HOOK)
    # An explicit --channel wins over the environment's webhook; "Bot " is tolerated.
    args = argparse.Namespace(webhook=None, channel=5)
    env = {"DISCORD_WEBHOOK_URL": HOOK, "DISCORD_TOKEN": "Bot abc"}
    assert destination_from(args, env) == Channel(5, "abc")


# --- against the loopback Discord -----------------------------------------------------------

T = TypeVar("T")


class FakeThread:
    """The shipped `fake_discord_in_thread`, with the `FakeDiscord` object at hand: `call` runs
    any code on the fake's loop (these tests reach past its narrower method set)."""

    def __init__(self, served: FakeDiscordThread) -> None:
        self.served = served
        self.fake: FakeDiscord = served.call(lambda fake: fake)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        return self.served.call(lambda _: fn(*args))

    def recorded(self) -> Counter[str]:
        """How many times each attachment's sha256 arrived."""
        messages = self.call(lambda: list(self.fake.messages))
        return Counter(a.sha256 for m in messages for a in m.attachments)


@contextmanager
def fake_discord(**options: Any) -> Iterator[FakeThread]:
    """`open_fake_discord` in a worker thread, for as long as the block runs."""
    with fake_discord_in_thread(**options) as served:
        yield FakeThread(served)


def make_files(directory: Path, count: int) -> dict[str, str]:
    """``count`` small media-named files of random bytes; returns sha256 → name."""
    directory.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for i in range(count):
        name = f"{i:02}.{('jpg', 'png', 'mp3')[i % 3]}"
        hashes[write_random(directory / name, 2000 + i)] = name
    return hashes


def send(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["send", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_exit_0_when_every_media_file_is_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = make_files(tmp_path, 12)
    (tmp_path / "readme.txt").write_text("not media: skipped, and no reason to fail")
    monkeypatch.setenv("UPLOAD_MAX_FILES_PER_BATCH", "5")
    with fake_discord() as served:
        fake = served.fake
        channel = served.call(fake.create_channel)
        monkeypatch.setenv("DISCORD_TOKEN", f"Bot {fake.bot_token}")
        argv = [str(tmp_path), "--channel", str(channel), "--api-base", fake.api_base + "/"]
        code, out, err = send(argv, capsys)
        assert code == 0, err
        assert served.recorded() == Counter(hashes.keys())  # each file once, bytes intact
        messages = served.call(lambda: list(fake.messages))
    # 12 files, at most 5 a message: 3 messages (the batcher may send one early, never more)
    assert all(len(m.attachments) <= 5 for m in messages) and len(messages) <= 4
    assert all(m.channel_id == channel and m.nonce for m in messages)
    # the skipped file is named too (issue 13 #4)
    assert out == (
        "12 delivered, 0 not delivered, 1 skipped\n"
        f"  skipped: {tmp_path / 'readme.txt'}: not a supported media type\n"
    )
    assert "🎉 Upload complete: 12/12 files uploaded" in err
    assert fake.bot_token not in out + err


def test_a_second_send_of_the_same_folder_sends_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = make_files(tmp_path / "in", 5)
    journals = tmp_path / "journals"
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        argv = [str(tmp_path / "in"), "--webhook", url, "--journal-dir", str(journals)]
        assert send(argv, capsys)[0] == 0
        code, out, _ = send(argv, capsys)
        assert served.recorded() == Counter(hashes.keys())  # once, though sent twice
        [journal] = journals.glob("*.jsonl")
        assert send([*argv, "--fresh"], capsys)[0] == 0
        assert sum(served.recorded().values()) == 10  # --fresh sends everything again
    assert code == 0
    said = f"nothing to send: 5 files already delivered (journal {journal};"
    assert out == f"{said} --fresh sends them again)\n"
    assert url.rsplit("/", 1)[1] not in journal.read_text()


def test_a_damaged_journal_is_one_line_and_its_whole_records_still_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_files(tmp_path / "in", 3)
    journals = tmp_path / "journals"
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        argv = [str(tmp_path / "in"), "--webhook", url, "--journal-dir", str(journals)]
        assert send(argv, capsys)[0] == 0
        [journal] = journals.glob("*.jsonl")
        with journal.open("ab") as f:
            f.write(b'{"cut short')  # a crash in the middle of a write
        code, out, err = send(argv, capsys)
        assert sum(served.recorded().values()) == 3
    assert code == 0
    assert out.startswith("nothing to send: 3 files already delivered")
    warnings = [line for line in err.splitlines() if "journal" in line]
    assert len(warnings) == 1 and str(journal) in warnings[0]


def test_exit_1_names_every_file_a_deleted_webhook_left_undelivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = make_files(tmp_path, 6)
    monkeypatch.setenv("UPLOAD_MAX_FILES_PER_BATCH", "2")
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        gone = url.rsplit("/", 2)[0] + "/1234/SECRET-gone-token"
        code, out, err = send([str(tmp_path), "--webhook", gone], capsys)
        requests = served.call(lambda: served.fake.stats.requests)
        assert served.recorded() == Counter()
    assert code == 1
    assert requests == 1  # the first 404 stops the run: no batch after it is tried
    lines = out.splitlines()
    assert lines[0] == "0 delivered, 6 not delivered, 0 skipped"
    # one run-wide reason, said once, then every file it stopped
    assert lines[1].startswith("  failed (6 files): upload stopped: ")
    named = sorted(Path(line.strip()).name for line in lines[2:])
    assert named == sorted(hashes.values())
    assert "SECRET" not in out + err


def test_a_refused_bot_token_fails_every_file_and_is_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = make_files(tmp_path, 3)
    monkeypatch.setenv("DISCORD_TOKEN", "SECRET.not-the-bots-token")
    with fake_discord() as served:
        channel = served.call(served.fake.create_channel)
        argv = [str(tmp_path), "--channel", str(channel), "--api-base", served.fake.api_base]
        code, out, err = send([*argv, "--json"], capsys)
    assert code == 1
    report = json.loads(out)
    assert {Path(f["path"]).name: f["status"] for f in report["files"]} == dict.fromkeys(
        hashes.values(), "failed"
    )
    assert all(f["reason"] for f in report["files"])
    assert "SECRET" not in out + err


def test_exit_1_when_a_webhook_answer_is_lost_and_nothing_is_posted_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = make_files(tmp_path, 6)
    monkeypatch.setenv("UPLOAD_MAX_FILES_PER_BATCH", "2")
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        served.call(served.fake.inject, Fault("drop_after_body", route="execute_webhook"))
        code, out, err = send([str(tmp_path), "--webhook", url, "--json"], capsys)
        assert served.recorded() == Counter(hashes.keys())  # the lost answer's files: once
    assert code == 1
    report = json.loads(out)
    assert report["success"] is False
    uncertain = [f for f in report["files"] if f["status"] == "uncertain"]
    assert 1 <= len(uncertain) <= 2 and report["uncertain"] == len(uncertain)
    assert report["delivered"] == 6 - len(uncertain)
    assert all("may have been posted" in f["reason"] for f in uncertain)
    assert err == ""  # --json prints no progress
    assert url.rsplit("/", 1)[1] not in out


def test_resend_uncertain_reposts_a_lost_webhook_batch_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = make_files(tmp_path, 6)
    monkeypatch.setenv("UPLOAD_MAX_FILES_PER_BATCH", "2")
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        served.call(served.fake.inject, Fault("drop_after_body", route="execute_webhook"))
        argv = [str(tmp_path), "--webhook", url, "--json", "--resend-uncertain"]
        code, out, _ = send(argv, capsys)
        recorded = served.recorded()
    assert code == 0
    assert json.loads(out)["delivered"] == 6
    assert set(recorded) == set(hashes)
    assert sum(recorded.values()) in (7, 8)  # the lost batch's files twice: the trade asked for


def test_json_gives_every_files_outcome_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = make_files(tmp_path / "album", 3)
    (tmp_path / "notes.txt").write_text("not media")
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        monkeypatch.setenv("DISCORD_WEBHOOK_URL", url)  # the fake's URL works as printed
        code, out, err = send([str(tmp_path), "--json", "--platform", "Test"], capsys)
        messages = served.call(lambda: list(served.fake.messages))
    assert code == 0 and err == ""
    report = json.loads(out)
    assert (report["success"], report["delivered"], report["skipped"]) == (True, 3, 1)
    assert report["failed"] == report["uncertain"] == 0
    assert report["destination"].startswith("webhook ")
    assert report["messages"] == len(messages) and report["workdir"] is None
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert set(by_name) == {*hashes.values(), "notes.txt"}
    assert by_name["notes.txt"]["status"] == "skipped" and by_name["notes.txt"]["reason"]
    ids = {m.id: {a.id for a in m.attachments} for m in messages}
    for name in hashes.values():
        f = by_name[name]
        assert f["status"] == "delivered" and f["reason"] is None
        assert f["sent_as"] == [name] and f["sent_bytes"] == f["size_bytes"]
        assert set(f["attachments"]) <= ids[f["message_id"]]
    assert all((m.content or "").startswith("🎯 Test media files") for m in messages)
    assert url.rsplit("/", 1)[1] not in out


@pytest.mark.ffmpeg
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH")
def test_a_video_over_the_limit_is_compressed_and_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Changed on purpose: the old client-only send skipped files over the limit.
    media = tmp_path / "media"
    media.mkdir()
    big = make_video(media / "clip.mp4", 3, 320, 240, video_kbps=2000)
    small = make_files(media, 2)
    limit = MIB // 4
    assert big.stat().st_size > limit
    with fake_discord(file_limit_bytes=limit) as served:  # the fake refuses anything over it
        fake = served.fake
        channel = served.call(fake.create_channel)
        monkeypatch.setenv("DISCORD_TOKEN", fake.bot_token)
        argv = [str(media), "--channel", str(channel), "--api-base", fake.api_base]
        argv += ["--limit-mb", "0.25", "--json", "--workdir", str(tmp_path / "work")]
        code, out, err = send(argv, capsys)
        messages = served.call(lambda: list(fake.messages))
        recorded = served.recorded()
    assert code == 0, out + err
    report = json.loads(out)
    clip: dict[str, Any] = {Path(f["path"]).name: f for f in report["files"]}["clip.mp4"]
    assert clip["status"] == "delivered"
    assert clip["size_bytes"] == big.stat().st_size and 0 < clip["sent_bytes"] <= limit
    assert clip["sent_as"] and clip["sent_as"] != ["clip.mp4"]
    arrived = {a.filename: a.size for m in messages for a in m.attachments}
    assert arrived[clip["sent_as"][0]] == clip["sent_bytes"]
    assert all(size <= limit for size in arrived.values())
    assert all(recorded[digest] == 1 for digest in small)
    assert report["metadata"]["successful_compressions"] == 1
    assert (tmp_path / "work" / clip["sent_as"][0]).stat().st_size == clip["sent_bytes"]
    assert fake.bot_token not in out + err


def test_a_refused_webhook_token_is_said_once_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_files(tmp_path, 3)
    monkeypatch.setenv("UPLOAD_ENABLE_PROGRESS_UPDATES", "true")  # its post is refused too
    monkeypatch.setenv("UPLOAD_CHECK_MEDIA", "false")
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        code, out, err = send([str(tmp_path), "--webhook", url + "-SECRET-wrong"], capsys)
    assert code == 1
    assert err.count("Discord refused the webhook token") == 1, err
    assert "SECRET" not in out + err
