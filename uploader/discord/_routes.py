"""The Discord endpoints the client calls: rate-limit route (template + major) and URL path.

Pure functions. A route's ``major`` is what splits a rate-limit bucket (channel, guild, webhook);
for a webhook it holds a hash of the token, never the token, because the rate limiter logs it.
"""

from __future__ import annotations

import attrs

from ._destinations import Channel, Webhook
from ._ratelimit import Route


@attrs.frozen
class Endpoint:
    """One request target.

    Attributes:
        route: what the rate limiter keys on.
        path: the URL path below the API base (may contain a webhook token: a secret).
        what: a secret-free description for errors and logs.
    """

    route: Route
    path: str
    what: str


def create_message(channel: Channel) -> Endpoint:
    """``POST /channels/{channel_id}/messages``."""
    return Endpoint(
        Route("POST", "/channels/{channel_id}/messages", channel.major),
        f"/channels/{channel.channel_id}/messages",
        f"create message in channel {channel.channel_id}",
    )


def edit_channel_message(channel: Channel, message_id: str) -> Endpoint:
    """``PATCH /channels/{channel_id}/messages/{message_id}``."""
    return Endpoint(
        Route("PATCH", "/channels/{channel_id}/messages/{message_id}", channel.major),
        f"/channels/{channel.channel_id}/messages/{message_id}",
        f"edit message {message_id} in channel {channel.channel_id}",
    )


def get_channel(channel: Channel) -> Endpoint:
    """``GET /channels/{channel_id}``."""
    return Endpoint(
        Route("GET", "/channels/{channel_id}", channel.major),
        f"/channels/{channel.channel_id}",
        f"get channel {channel.channel_id}",
    )


def get_guild(guild_id: str) -> Endpoint:
    """``GET /guilds/{guild_id}``."""
    return Endpoint(
        Route("GET", "/guilds/{guild_id}", f"guild:{guild_id}"),
        f"/guilds/{guild_id}",
        f"get guild {guild_id}",
    )


def execute_webhook(webhook: Webhook) -> Endpoint:
    """``POST /webhooks/{webhook_id}/{webhook_token}``.

    Webhook requests carry no bot token, so the per-token global limit does not apply.
    """
    return Endpoint(
        Route("POST", "/webhooks/{webhook_id}/{webhook_token}", webhook.major, False),
        f"/webhooks/{webhook.webhook_id}/{webhook.token}",
        f"execute webhook {webhook.webhook_id}",
    )


def edit_webhook_message(webhook: Webhook, message_id: str) -> Endpoint:
    """``PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}``."""
    return Endpoint(
        Route(
            "PATCH",
            "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
            webhook.major,
            False,
        ),
        f"/webhooks/{webhook.webhook_id}/{webhook.token}/messages/{message_id}",
        f"edit message {message_id} of webhook {webhook.webhook_id}",
    )
