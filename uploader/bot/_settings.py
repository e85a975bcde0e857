"""The bot's settings, with the original system's names: ``BOT_*`` environment variables.

Kept apart from `uploader.Settings` (the pipeline's settings) so the library needs none of them;
parsed with the same helpers, so errors read the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._errors import SettingsError
from .._settings import _parse_bool, _parse_number, mib_to_bytes


@attrs.frozen
class BotSettings:
    """What the bot can be told.

    Attributes:
        command_prefix: BOT_COMMAND_PREFIX, what starts a text command (``!``).
        max_download_mb: BOT_MAX_DOWNLOAD_MB, the most one request may download, in MiB.
        allow_private_urls: BOT_ALLOW_PRIVATE_URLS, allow links to private, loopback and
            link-local addresses (for tests and loopback demos only).
        download_dir: BOT_DOWNLOAD_DIR, where the per-request folders are made.
        max_requests_per_user: BOT_MAX_REQUESTS_PER_USER, requests one user may have running.
        max_concurrent_requests: BOT_MAX_CONCURRENT_REQUESTS, requests running at once; the
            others wait in one queue, in arrival order.
    """

    command_prefix: str = "!"
    max_download_mb: float = 100.0
    allow_private_urls: bool = False
    download_dir: Path = Path("downloads")
    max_requests_per_user: int = 2
    max_concurrent_requests: int = 2

    def __attrs_post_init__(self) -> None:
        if not self.command_prefix or any(c.isspace() for c in self.command_prefix):
            raise SettingsError(
                "BOT_COMMAND_PREFIX", self.command_prefix, "a non-empty prefix without spaces"
            )

    @property
    def max_download_bytes(self) -> int:
        """``max_download_mb`` in bytes."""
        return mib_to_bytes(self.max_download_mb)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> BotSettings:
        """Read the ``BOT_*`` variables (unset ones keep their defaults).

        Raises:
            SettingsError: a variable has a value outside its accepted range.
        """
        env = os.environ if environ is None else environ
        given = {name: env.get(var, "").strip() for name, (var, _) in _ENV_PARSERS.items()}
        values = {name: _ENV_PARSERS[name][1](raw) for name, raw in given.items() if raw}
        return cls(**{**values, **overrides})


def _count(name: str) -> Callable[[str], int]:
    return lambda raw: int(_parse_number(name, raw, minimum=1, maximum=1000, integer=True))


_ENV_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "command_prefix": ("BOT_COMMAND_PREFIX", str.strip),
    "max_download_mb": (
        "BOT_MAX_DOWNLOAD_MB",
        lambda raw: _parse_number("BOT_MAX_DOWNLOAD_MB", raw, minimum=0.001, maximum=1024 * 1024),
    ),
    "allow_private_urls": (
        "BOT_ALLOW_PRIVATE_URLS",
        lambda raw: _parse_bool("BOT_ALLOW_PRIVATE_URLS", raw),
    ),
    "download_dir": ("BOT_DOWNLOAD_DIR", lambda raw: Path(raw.strip())),
    "max_requests_per_user": ("BOT_MAX_REQUESTS_PER_USER", _count("BOT_MAX_REQUESTS_PER_USER")),
    "max_concurrent_requests": (
        "BOT_MAX_CONCURRENT_REQUESTS",
        _count("BOT_MAX_CONCURRENT_REQUESTS"),
    ),
}

BOT_ENV_VARIABLES: tuple[str, ...] = tuple(var for var, _ in _ENV_PARSERS.values())
"""Every environment variable `BotSettings.from_env` reads."""
