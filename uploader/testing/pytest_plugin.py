"""The pytest plugin of `uploader.testing`: a ``fake_discord`` fixture for users' bot tests.

Enable it in your root ``conftest.py`` (or with ``-p uploader.testing.pytest_plugin``)::

    pytest_plugins = ["uploader.testing.pytest_plugin"]

``fake_discord`` is async and needs pytest-trio (``trio_mode = true``, or mark tests
``@pytest.mark.trio``). ``fake_discord_thread`` serves from a thread of its own, for plain
tests that drive an asyncio bot (``asyncio.run(...)``). Each test gets a fresh fake; pass
`open_fake_discord` options with a marker::

    @pytest.mark.fake_discord(file_limit_bytes=8 * 1024 * 1024, global_limit=None)
    async def test_my_bot(fake_discord):
        channel = fake_discord.create_channel()
        ...

A gateway bot's tests use ``@pytest.mark.fake_discord(gateway=True)`` (``fake_discord.gateway``
is then served alongside), or ``fake_gateway`` for a scriptable gateway on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ._fake import FakeDiscord
from ._gateway import FakeGateway
from ._gateway_server import open_fake_gateway
from ._server import open_fake_discord
from ._threaded import FakeDiscordThread, fake_discord_in_thread


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_discord`` marker."""
    config.addinivalue_line(
        "markers",
        "fake_discord(**options): open_fake_discord options for the fake_discord fixture",
    )


@pytest.fixture
async def fake_discord(request: pytest.FixtureRequest) -> AsyncIterator[FakeDiscord]:
    """A fresh loopback Discord for one test (options from ``@pytest.mark.fake_discord``)."""
    async with open_fake_discord(**_options(request)) as fake:
        yield fake


@pytest.fixture
async def fake_gateway() -> AsyncIterator[FakeGateway]:
    """A fresh scriptable fake gateway (token `FAKE_BOT_TOKEN`) for one test."""
    async with open_fake_gateway() as gateway:
        yield gateway


@pytest.fixture
def fake_discord_thread(request: pytest.FixtureRequest) -> Iterator[FakeDiscordThread]:
    """A fresh loopback Discord on a thread of its own, for asyncio bots and plain tests."""
    with fake_discord_in_thread(**_options(request)) as fake:
        yield fake


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("fake_discord")
    return dict(marker.kwargs) if marker is not None else {}
