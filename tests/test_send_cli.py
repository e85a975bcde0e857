"""`uploader send`: usage errors, per-file outcomes, skipping, stopping on fatal errors."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from uploader import MIB, Settings
from uploader.cli import main
from uploader.discord import Channel, Webhook, open_discord_client
from uploader.discord._cli import (
    DELIVERED,
    FAILED,
    SKIPPED,
    destination_from,
    print_report,
    send_directory,
)

HOOK = "https://hooks.example/api/webhooks/42/SECRET-token"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISCORD_TOKEN", "DISCORD_WEBHOOK_URL", "UPLOAD_FILE_LIMIT_MB"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["send", "DIR"], {}, "give --webhook URL"),
        (["send", "DIR", "--webhook", HOOK, "--channel", "5"], {}, "not both"),
        (["send", "DIR", "--channel", "5"], {}, "DISCORD_TOKEN"),
        (["send", "DIR", "--channel", "5"], {"DISCORD_TOKEN": "  "}, "DISCORD_TOKEN"),
        (["send", "DIR/missing", "--webhook", HOOK], {}, "no such directory"),
        (["send", "DIR", "--webhook", "https://x/api/hooks/1/SECRET-token"], {}, "webhook URL"),
        (["send", "DIR", "--webhook", HOOK, "--limit-mb", "0"], {}, "--limit-mb"),
        (["send", "DIR", "--webhook", HOOK, "--api-base", "ftp://x"], {}, "--api-base"),
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
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert "SECRET" not in err


def test_the_webhook_url_may_come_from_the_environment() -> None:
    args = argparse.Namespace(webhook=None, channel=None)
    destination = destination_from(args, {"DISCORD_WEBHOOK_URL": f" {HOOK} "})
    assert destination == Webhook(HOOK)
    # An explicit --channel wins over the environment's webhook; "Bot " is tolerated.
    args = argparse.Namespace(webhook=None, channel=5)
    env = {"DISCORD_WEBHOOK_URL": HOOK, "DISCORD_TOKEN": "Bot abc"}
    assert destination_from(args, env) == Channel(5, "abc")


class Scripted(httpx.AsyncBaseTransport):
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.payloads: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        n = len(self.payloads)
        start = body.index(b"\r\n\r\n") + 4
        payload = json.loads(body[start : body.index(b"\r\n--", start)])
        self.payloads.append(payload)
        status = self.statuses[n] if n < len(self.statuses) else 200
        if status != 200:
            code = {404: 10015, 400: 50035}.get(status, 0)
            return httpx.Response(status, json={"message": "no", "code": code})
        attachments = [
            {"id": f"{n}{a['id']}", "filename": a["filename"], "size": 1, "url": "https://c/x"}
            for a in payload["attachments"]
        ]
        return httpx.Response(
            200, json={"id": f"m{n}", "channel_id": "1", "attachments": attachments}
        )


def make_files(directory: Path, sizes: dict[str, int]) -> None:
    for name, size in sizes.items():
        with (directory / name).open("wb") as f:
            f.truncate(size)


async def run_send(
    directory: Path, transport: Scripted, settings: Settings
) -> tuple[Any, list[str]]:
    lines: list[str] = []
    async with (
        httpx.AsyncClient(transport=transport) as http,
        open_discord_client(settings, http=http) as client,
    ):
        report = await send_directory(
            directory, Webhook(HOOK), settings, progress=lines.append, client=client
        )
    return report, lines


async def test_every_batch_is_sent_in_order_and_each_file_gets_an_outcome(tmp_path: Path) -> None:
    make_files(tmp_path, {f"{i:02}.jpg": 1000 + i for i in range(12)} | {"big.mp4": 11 * MIB})
    (tmp_path / "readme.txt").write_text("not media")
    transport = Scripted([])
    settings = Settings(upload_max_files_per_batch=5)
    report, lines = await run_send(tmp_path, transport, settings)
    assert sorted(len(p["attachments"]) for p in transport.payloads) == [2, 5, 5]
    assert report.messages == 3 and len(lines) == 3
    assert lines[0].startswith("message 1/3 (") and "delivered as message m0" in lines[0]
    by_name = {o.path.name: o for o in report.outcomes}
    assert by_name["big.mp4"].status == SKIPPED
    assert "over the 10 MiB limit; compression lands later" in (by_name["big.mp4"].reason or "")
    delivered = [o for o in report.outcomes if o.status == DELIVERED]
    assert len(delivered) == 12
    assert len({(o.message_id, o.attachment_id) for o in delivered}) == 12
    assert not report.complete
    assert [n.path.name for n in report.notes] == ["readme.txt"]


async def test_a_failed_batch_names_its_files_and_the_next_batches_still_go(
    tmp_path: Path,
) -> None:
    make_files(tmp_path, {f"{i}.png": 10 for i in range(4)})
    transport = Scripted([400])
    report, lines = await run_send(tmp_path, transport, Settings(upload_max_files_per_batch=2))
    assert [o.status for o in report.outcomes] == [FAILED, FAILED, DELIVERED, DELIVERED]
    assert "HTTP 400" in (report.outcomes[0].reason or "")
    assert "failed" in lines[0] and "delivered" in lines[1]


async def test_a_deleted_webhook_stops_the_send_and_marks_the_rest_not_sent(
    tmp_path: Path,
) -> None:
    make_files(tmp_path, {f"{i}.png": 10 for i in range(6)})
    transport = Scripted([404])
    report, lines = await run_send(tmp_path, transport, Settings(upload_max_files_per_batch=2))
    assert len(transport.payloads) == 1
    assert all(o.status == FAILED for o in report.outcomes)
    assert all("not sent" in (o.reason or "") for o in report.outcomes[2:])
    assert "stopping" in lines[0]


async def test_the_text_report_names_each_undelivered_file_and_no_secret(tmp_path: Path) -> None:
    make_files(tmp_path, {"a.png": 10, "b.mp4": 11 * MIB})
    report, _ = await run_send(tmp_path, Scripted([]), Settings())
    text = io.StringIO()
    print_report(report, text, as_json=False)
    lines = text.getvalue().splitlines()
    assert lines[0] == "1/2 files delivered to webhook 42 in 1 message (1 skipped)"
    assert lines[1].startswith("  skipped: ") and "b.mp4" in lines[1]
    as_json = io.StringIO()
    print_report(report, as_json, as_json=True)
    assert "SECRET" not in text.getvalue() + as_json.getvalue()
    assert json.loads(as_json.getvalue())["skipped"] == 1
