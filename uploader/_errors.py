"""The root of every error this package raises on purpose.

Every error carries a message a user can act on, and never a secret (bot token, webhook URL).
"""

from __future__ import annotations


class UploaderError(Exception):
    """Base class of every error `uploader` raises on purpose."""


class SettingsError(UploaderError, ValueError):
    """A setting (environment variable or option) has a value outside its accepted range.

    Args:
        name: the variable or option name, e.g. ``UPLOAD_MAX_FILES_PER_BATCH``.
        value: the raw value given.
        accepted: what would have been accepted, e.g. ``"a whole number from 1 to 10"``.
    """

    def __init__(self, name: str, value: object, accepted: str) -> None:
        self.name = name
        self.value = value
        self.accepted = accepted
        super().__init__(f"{name}={value!s}: expected {accepted}")
