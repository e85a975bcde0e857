"""The `uploader` subcommands owned by `uploader.discord` (placeholder until implemented)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this package's subcommands to the `uploader` parser."""
    del sub


def _unused(args: argparse.Namespace) -> int:  # pragma: no cover
    return 0
