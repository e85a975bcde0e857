"""What the peer suites share: where the npm peers live, and the fake both peers meet.

The peer suite runs real third-party clients, unmodified but for their API base, against the
loopback Discord; these tests are its specification. discord.py comes with the dev extra;
@discordjs/rest is installed by ``sh .ci/install --dev`` into ``.cache/npm-peers``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from uploader import MIB

ROOT = Path(__file__).resolve().parents[2]
NPM_PEERS = ROOT / ".cache" / "npm-peers"
"""Where ``.ci/install --dev`` puts the npm packages (``node_modules`` inside)."""

FILE_LIMIT = 64 * 1024
PEER_OPTIONS = {
    "file_limit_bytes": FILE_LIMIT,
    "request_limit_bytes": MIB,
    "channel_limit": (5, 1.0),
    "webhook_limit": (5, 1.0),
}
"""The fake both peers meet: Discord's rules, with short windows and a small file limit."""


def node_missing() -> str | None:
    """Why the discord.js peers cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed (the discord.js peers need node and npm)"
    if not (NPM_PEERS / "node_modules" / "@discordjs" / "rest").is_dir():
        return f"@discordjs/rest is not installed in {NPM_PEERS}: run `sh .ci/install --dev`"
    return None
