"""The test file server answers under an autojump clock even when the disk is slow."""

import time
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from uploader.testing import open_file_server


async def test_a_slow_disk_read_does_not_let_the_clock_jump_past_the_client_timeout(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 100_000)
    real = Path.read_bytes

    def slow_read(self: Path) -> bytes:
        time.sleep(0.3)  # a loaded machine's disk: real time passes, the mock clock must not
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", slow_read)
    async with open_file_server(tmp_path) as files, httpx.AsyncClient(timeout=1.0) as client:
        answer = await client.get(files.url("big.bin"))
    assert answer.status_code == 200 and len(answer.content) == 100_000
