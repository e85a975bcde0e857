"""The pytest plugin of `uploader.testing`: a ``fake_discord`` fixture for users' bot tests.

Enable it in your root ``conftest.py`` (or with ``-p uploader.testing.pytest_plugin``)::

    pytest_plugins = ["uploader.testing.pytest_plugin"]

The fixture is async and needs pytest-trio (``trio_mode = true``, or mark tests
``@pytest.mark.trio``). Each test gets a fresh `FakeDiscord`; pass `open_fake_discord` options
with a marker::

    @pytest.mark.fake_discord(file_limit_bytes=8 * 1024 * 1024, global_limit=None)
    async def test_my_bot(fake_discord):
        channel = fake_discord.create_channel()
        ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ._fake import FakeDiscord
from ._server import open_fake_discord


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_discord`` marker."""
    config.addinivalue_line(
        "markers",
        "fake_discord(**options): open_fake_discord options for the fake_discord fixture",
    )


@pytest.fixture
async def fake_discord(request: pytest.FixtureRequest) -> AsyncIterator[FakeDiscord]:
    """A fresh loopback Discord for one test (options from ``@pytest.mark.fake_discord``)."""
    marker = request.node.get_closest_marker("fake_discord")
    options = dict(marker.kwargs) if marker is not None else {}
    async with open_fake_discord(**options) as fake:
        yield fake
