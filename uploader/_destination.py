"""Destinations: where a pipeline delivers. The built-in wraps a Webhook or a bot Channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from ._models import MediaFile
from .discord import Channel, DiscordClient, SentMessage, Webhook


@runtime_checkable
class Destination(Protocol):
    """Where a pipeline delivers: the built-ins wrap a `Webhook` or a bot `Channel`.

    Implement these four methods to deliver somewhere else (the original system's
    ``register_processor``); pass the object wherever a Webhook or Channel is accepted.
    A custom destination has no idempotency key and no journal: it is never passed a
    ``nonce`` and a run to it is not resumed.
    """

    async def send_files(
        self, files: Sequence[MediaFile], *, content: str, nonce: str | None = None
    ) -> SentMessage:
        """Post one message with these attachments; return it with its attachments in order.

        ``nonce`` (passed only to destinations that deduplicate, `dedupes`) makes a repeat of
        the same batch return the first message.
        """
        ...

    async def send_message(self, content: str) -> str:
        """Post a text message; return its id."""
        ...

    async def edit_message(self, message_id: str, content: str) -> None:
        """Replace a message's text."""
        ...

    async def upload_limit(self) -> int | None:
        """The per-file upload limit in bytes, if the destination knows it."""
        ...


@attrs.frozen
class DiscordDestination:
    """A `Webhook` or `Channel` bound to a `DiscordClient`: the built-in Destination."""

    client: DiscordClient
    target: Webhook | Channel

    async def send_files(
        self, files: Sequence[MediaFile], *, content: str, nonce: str | None = None
    ) -> SentMessage:
        return await self.client.send_files(self.target, files, content=content, nonce=nonce)

    async def send_message(self, content: str) -> str:
        return (await self.client.send_message(self.target, content)).id

    async def edit_message(self, message_id: str, content: str) -> None:
        await self.client.edit_message(self.target, message_id, content)

    async def upload_limit(self) -> int | None:
        return await self.client.fetch_upload_limit(self.target)


def dedupes(destination: Destination) -> bool:
    """Whether a repeat of a post with the same nonce returns the first message (bot channels)."""
    return isinstance(destination, DiscordDestination) and isinstance(destination.target, Channel)
