"""Shared test set-up: hypothesis's profile (no per-example deadline: CI and these machines are
shared, and a slow example is not a failing one; the properties still bound their own sizes)."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("uploader", deadline=None)
settings.load_profile("uploader")
