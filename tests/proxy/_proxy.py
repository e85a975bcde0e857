"""The real ``@discordjs/proxy`` in front of the loopback Discord, for tests and benchmarks.

``.ci/install --dev`` installs the proxy (pinned in ``tests/proxy/package.json``) into
``.cache/npm-peers/proxy``; ``discordjs_proxy.js`` serves it, unmodified, on a free port with
its upstream (``api``) pointed at the fake. Without node or the package, `proxy_missing` says
why, and the tests skip with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

ROOT = Path(__file__).resolve().parents[2]
NPM_PROXY = ROOT / ".cache" / "npm-peers" / "proxy"
"""Where ``.ci/install --dev`` puts @discordjs/proxy (``node_modules`` inside)."""
SCRIPT = Path(__file__).with_name("discordjs_proxy.js")


def proxy_missing() -> str | None:
    """Why the real proxy cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (the @discordjs/proxy tests need node and npm)"
    if not (NPM_PROXY / "node_modules" / "@discordjs" / "proxy").is_dir():
        return f"@discordjs/proxy is not installed in {NPM_PROXY}: run `sh .ci/install --dev`"
    return None


@attrs.frozen
class ProxyOptions:
    """@discordjs/rest's options the proxy runs with (its defaults unless set).

    Attributes:
        timeout_ms: how long it waits for Discord's answer before aborting and retrying (15 s).
        retries: how often it retries after a 5xx, a reset or its timeout (3).
        reject_on_rate_limit: answer a rate limit with its own 429 instead of waiting it out.
    """

    timeout_ms: int | None = None
    retries: int | None = None
    reject_on_rate_limit: bool = False

    def setup(self, upstream: str) -> str:
        setup: dict[str, object] = {
            "api": upstream,
            "reject_on_rate_limit": self.reject_on_rate_limit,
        }
        if self.timeout_ms is not None:
            setup["timeout"] = self.timeout_ms
        if self.retries is not None:
            setup["retries"] = self.retries
        return json.dumps(setup)


@asynccontextmanager
async def open_discordjs_proxy(
    upstream: str, options: ProxyOptions = ProxyOptions()
) -> AsyncIterator[str]:
    """Run @discordjs/proxy in front of ``upstream`` (the fake's ``base_url``); yield its API base.

    Yields:
        ``http://127.0.0.1:PORT/api/v10``: what to give uploader as ``--api-base``.
    """
    env = {**os.environ, "NODE_PATH": str(NPM_PROXY / "node_modules")}
    command = ["node", str(SCRIPT), options.setup(f"{upstream}/api")]
    process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, env=env)
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(20):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(64)
                if not chunk:
                    raise RuntimeError("@discordjs/proxy exited before it listened")
                line += chunk
        port = int(line.split()[1])
        yield f"http://127.0.0.1:{port}/api/v10"
    finally:
        process.terminate()
        with trio.move_on_after(5) as waited:
            await process.wait()
        if waited.cancelled_caught:
            process.kill()
            await process.wait()
