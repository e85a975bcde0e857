"""What every test shares: the shipped ``fake_discord`` fixture, the helper modules, and
hypothesis's profile.

The fixture is enabled the way `uploader.testing` tells its users to, so our suite runs it as
they do. Shared helpers are plain modules (pytest advises against importing conftest itself):

- `tests._files`: write sized or random files, sha256 of bytes and files;
- `tests._media`: real videos, audio and images made with ffmpeg;
- `tests._memory`: an in-memory Destination and the small settings pipeline tests run with;
- `tests._encoder`: a quick, counted stand-in for the real encoder;
- `tests._clock`: the autojumping clock that waits for worker threads, which the
  ``autojump_clock`` fixture below hands out in place of pytest-trio's.

Hypothesis runs without a per-example deadline: CI and these machines are shared, and a slow
example is not a failing one (the properties bound their own sizes).
"""

from __future__ import annotations

import pytest
import trio.testing
from hypothesis import settings

from tests._clock import thread_aware_clock
from uploader.testing import FakeDiscord

pytest_plugins = ["uploader.testing.pytest_plugin"]

settings.register_profile("uploader", deadline=None)
settings.load_profile("uploader")


@pytest.fixture(autouse=True)
def private_state_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journals (and their working folders) of each test in its own state directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """pytest-trio's autojumping clock, but one that never jumps while a worker thread runs
    (a loaded machine must not turn a slow file read into a fired timeout)."""
    return thread_aware_clock()


@pytest.fixture
async def fake(fake_discord: FakeDiscord) -> FakeDiscord:
    """The shipped ``fake_discord`` fixture by the short name the fake's own tests use
    (options from ``@pytest.mark.fake_discord``)."""
    return fake_discord
