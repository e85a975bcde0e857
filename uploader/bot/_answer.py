"""Where and how the bot answers one request: its channel, or its interaction's follow-up webhook.

A text command is answered in its channel (the bot token); a slash command through its
follow-up webhook, its deferred "thinking..." response (``@original``) being the status message.
`StatusFirst` lets the pipeline's status reporter take over the bot's status message instead of
posting a second one.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .._destination import Destination
from .._models import MediaFile
from ..discord import Channel, DiscordClient, SentMessage, Webhook
from ._commands import DEFERRED_RESPONSE, Request

ORIGINAL = "@original"
"""The message id of an interaction's own response."""


@attrs.frozen
class Answer:
    """The replies to one request.

    Attributes:
        client: the bot's Discord client.
        target: the request's channel, or its interaction's follow-up webhook.
        interaction_id: set for a slash command.
    """

    client: DiscordClient
    target: Channel | Webhook
    interaction_id: str | None = None

    @classmethod
    def to(cls, client: DiscordClient, request: Request, token: str, api_base: str) -> Answer:
        """How to answer ``request``: in its channel, or through its follow-up webhook."""
        if request.interaction is None:
            return cls(client, Channel(int(request.channel_id), token))
        followup = Webhook(api_base.rstrip("/") + request.interaction.followup_path)
        return cls(client, followup, request.interaction.id)

    async def defer(self) -> None:
        """Acknowledge a slash command at once ("thinking..."); nothing for a text command."""
        if self.interaction_id is not None:
            assert isinstance(self.target, Webhook)
            await self.client.answer_interaction(
                self.target, self.interaction_id, DEFERRED_RESPONSE
            )

    async def start(self, text: str) -> str:
        """Post the request's status message (a slash command's is its response); its id."""
        if self.interaction_id is not None:
            await self.client.edit_message(self.target, ORIGINAL, text)
            return ORIGINAL
        return (await self.client.send_message(self.target, text)).id

    async def edit(self, message_id: str, text: str) -> None:
        """Replace a message's text."""
        await self.client.edit_message(self.target, message_id, text)

    async def post(self, text: str) -> str:
        """Post one more message; its id."""
        return (await self.client.send_message(self.target, text)).id


@attrs.define
class StatusFirst:
    """A `Destination` whose first text message is an edit of an existing status message.

    So the pipeline's status reporter keeps the bot's status message up to date instead of
    posting its own: one status message per request.
    """

    inner: Destination
    status_id: str
    taken_over: bool = False

    async def send_files(
        self, files: Sequence[MediaFile], *, content: str, nonce: str | None = None
    ) -> SentMessage:
        return await self.inner.send_files(files, content=content, nonce=nonce)

    async def send_message(self, content: str) -> str:
        if not self.taken_over:
            self.taken_over = True
            await self.inner.edit_message(self.status_id, content)
            return self.status_id
        return await self.inner.send_message(content)

    async def edit_message(self, message_id: str, content: str) -> None:
        await self.inner.edit_message(message_id, content)

    async def upload_limit(self) -> int | None:
        return await self.inner.upload_limit()
