"""The root of every error this package raises on purpose.

Every error carries a message a user can act on, and never a secret (bot token, webhook URL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio


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


@contextmanager
def single_error() -> Iterator[None]:
    """Let the caller see the one real error rather than a group from a hidden nursery.

    Since trio 0.25 nurseries raise ExceptionGroup; a library that hides its nursery unwraps a
    group holding one real error (Cancelled aside) so callers can ``except`` it plainly.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        real = [e for e in _leaves(group) if not isinstance(e, trio.Cancelled)]
        if len(real) == 1:
            raise real[0] from group
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc
