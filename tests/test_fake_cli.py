"""Tests of ``uploader fake-discord`` and of the ``fake_discord`` pytest fixture."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from uploader.cli import build_parser
from uploader.testing import FakeDiscord

pytest_plugins = ["pytester", "uploader.testing.pytest_plugin"]


async def test_the_fixture_yields_a_running_fake(fake_discord: FakeDiscord) -> None:
    channel = fake_discord.create_channel()
    async with httpx.AsyncClient(verify=False) as client:
        response = await client.get(
            f"{fake_discord.api_base}/channels/{channel}",
            headers={"Authorization": f"Bot {fake_discord.bot_token}"},
        )
    assert response.status_code == 200


def test_a_root_conftest_enables_the_fixture_and_its_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\naddopts = --strict-markers\n")
    pytester.makeconftest('pytest_plugins = ["uploader.testing.pytest_plugin"]\n')
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.fake_discord(file_limit_bytes=123, global_limit=None)
        async def test_options(fake_discord):
            assert fake_discord.file_limit_bytes == 123

        async def test_fresh_each_time(fake_discord):
            assert fake_discord.messages == []
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_the_subcommand_parses_its_options() -> None:
    args = build_parser().parse_args(
        ["fake-discord", "--port", "8080", "--limit-mb", "25", "--no-rate-limits"]
    )
    assert (args.port, args.limit_mb, args.no_rate_limits) == (8080, 25.0, True)


def test_a_bad_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["fake-discord", "--port", "70000"])
    assert exit_info.value.code == 2
    assert "65535" in capsys.readouterr().err


def test_the_command_prints_what_to_use_logs_messages_and_stops_cleanly_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "uploader", "fake-discord", "--limit-mb", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        printed = ""
        for line in process.stdout:
            printed += line
            key, _, value = line.strip().partition(": ")
            lines[key.strip()] = value.strip()
            if line.startswith("Ctrl-C"):
                break
        token, channel = lines["bot token"], lines["channel id"]
        assert lines["webhook URL"].startswith("http://127.0.0.1:")
        hook_id, hook_token = lines["webhook URL"].split("/")[-2:]
        assert lines["discord.com"] == f"https://discord.com/api/webhooks/{hook_id}/{hook_token}"
        assert "Route.BASE" in printed
        assert "/_fake/faults" in lines["control"]
        assert f"DISCORD_TOKEN={token} uploader send DIR --channel {channel}" in printed
        assert "example.com" not in printed  # a link the bot could fetch on loopback
        assert "!upload http://127.0.0.1:8000/FILE" in printed and "http.server 8000" in printed
        response = httpx.post(
            f"{lines['api base']}/channels/{channel}/messages",
            headers={"Authorization": f"Bot {token}"},
            data={"payload_json": '{"content": "hi"}'},
            files=[("files[0]", ("a.mp4", b"video"))],
            timeout=10,
        )
        assert response.status_code == 200
        logged = [process.stdout.readline(), process.stdout.readline()]
        assert f"in channel {channel}" in logged[0]
        assert "'hi'" in logged[0]
        assert "a.mp4" in logged[1]
        message_id = response.json()["id"]
        edited = httpx.patch(
            f"{lines['api base']}/channels/{channel}/messages/{message_id}",
            headers={"Authorization": f"Bot {token}"},
            json={"content": "hi again"},
            timeout=10,
        )
        assert edited.status_code == 200
        assert process.stdout.readline().strip() == (
            f"message {message_id} in channel {channel} edited: 'hi again'"
        )
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "Traceback" not in err
