"""Shared test set-up: hypothesis's profile (no per-example deadline: CI and these machines are
shared, and a slow example is not a failing one; the properties still bound their own sizes)."""

from __future__ import annotations

import pytest
from hypothesis import settings

settings.register_profile("uploader", deadline=None)
settings.load_profile("uploader")


@pytest.fixture(autouse=True)
def private_state_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journals (and their working folders) of each test in its own state directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
