"""The README's testing examples work as written: the discord.py test passes, and the discord.js
script posts through `uploader fake-discord` where the inspection routes see it arrive."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _peers import NPM_PEERS, ROOT, node_missing

pytest_plugins = ["pytester"]

SECTION = "## Testing your bot against the loopback Discord"


def readme_block(first_line: str) -> str:
    """The fenced code block of the README's testing section that starts with ``first_line``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    for block in re.findall(r"```\w*\n(.*?)```", section, flags=re.DOTALL):
        if block.startswith(first_line):
            return str(block)
    raise AssertionError(f"no README block starts with {first_line!r}")


def test_the_readme_discord_py_example_passes_as_written(pytester: pytest.Pytester) -> None:
    pytest.importorskip("discord", minversion="2.7", reason="discord.py is a dev extra")
    conftest = readme_block("# conftest.py")
    plugins = next(line for line in conftest.splitlines() if line.startswith("pytest_plugins"))
    pytester.makeconftest(plugins)
    pytester.makepyfile(test_report=readme_block("# test_report.py"))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.fixture
def cli_fake() -> Iterator[dict[str, str]]:
    """``uploader fake-discord`` as a user runs it: what it printed, while it runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uploader", "fake-discord"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        for line in process.stdout:
            key, _, value = line.strip().partition(": ")
            printed[key.strip()] = value.strip()
            if line.startswith("Ctrl-C"):
                break
        yield printed
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    finally:
        process.kill()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_the_readme_discordjs_example_posts_and_the_inspection_routes_see_it(
    tmp_path: Path, cli_fake: dict[str, str]
) -> None:
    reason = node_missing()
    if reason is not None:
        pytest.skip(reason)
    script = tmp_path / "post.js"
    script.write_text(readme_block("// post.js"))
    base = cli_fake["api base"].removesuffix("/v10")  # http://127.0.0.1:PORT/api
    env = {
        **os.environ,
        "NODE_PATH": str(NPM_PEERS / "node_modules"),
        "DISCORD_API": base,
        "DISCORD_TOKEN": cli_fake["bot token"],
        "CHANNEL_ID": cli_fake["channel id"],
    }
    done = subprocess.run(
        ["node", str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    inspect = base.removesuffix("/api") + "/_fake"
    [message] = get_json(f"{inspect}/messages")
    assert done.stdout.strip() == f"sent {message['id']}"
    assert (message["content"], message["channel_id"]) == ("nightly report", cli_fake["channel id"])
    [attachment] = message["attachments"]
    sha = hashlib.sha256(b"all good").hexdigest()
    assert (attachment["filename"], attachment["size"], attachment["sha256"]) == (
        "report.txt",
        8,
        sha,
    )
    stats = get_json(f"{inspect}/stats")
    assert stats["requests_by_route"] == {"create_message": 1}
    assert (stats["client_caused_429s"], stats["injected_429s"]) == (0, 0)
    assert stats["responses_by_status"] == {"200": 1}


def test_the_readme_control_commands_make_a_thread_and_a_fault(cli_fake: dict[str, str]) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    base = cli_fake["api base"].removesuffix("/api/v10")
    script = readme_block("curl -s -X POST").replace("http://127.0.0.1:PORT", base)
    script = script.replace("CHANNEL_ID", cli_fake["channel id"])
    done = subprocess.run(["sh", "-e", "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    thread = json.loads(done.stdout.splitlines()[0])
    assert thread["parent_id"] == cli_fake["channel id"]
    [fault] = get_json(f"{base}/_fake/faults")
    assert (fault["kind"], fault["route"], fault["retry_after"]) == (
        "rate_limit_user",
        "create_message",
        2,
    )
