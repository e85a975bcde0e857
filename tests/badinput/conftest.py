"""The environment of every bad-input case: no settings from the shell, the media check on."""

from __future__ import annotations

import pytest

from uploader._settings import ENV_VARIABLES


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_VARIABLES, "DISCORD_TOKEN", "DISCORD_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UPLOAD_ENABLE_PROGRESS_UPDATES", "false")
    monkeypatch.setenv("UPLOAD_CHECK_MEDIA", "true")  # as in real use
