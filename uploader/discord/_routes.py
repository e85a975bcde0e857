"""The Discord endpoints the client calls: each route's template, written once, and its path.

Pure. A `Route` is what the rate limiter keys on; its ``major`` is what splits a bucket
(channel, guild, webhook), and for a webhook it holds a hash of the token, never the token,
because the rate limiter logs it. An `Endpoint` is a route with its ids filled in: the URL
path is built from the route's own template, so the two cannot drift apart.
"""

from __future__ import annotations

import attrs

from ._destinations import Channel, Webhook


@attrs.frozen
class Route:
    """One API route with its major parameter: what a bucket is looked up by.

    Attributes:
        method: the HTTP method, e.g. ``"POST"``.
        template: the path without ids, e.g. ``"/channels/{channel_id}/messages"``.
        major: the major parameter, e.g. ``"channel:123"`` or ``"webhook:<id>:<sha256 prefix>"``;
            never a raw token.
        global_limited: False for webhook requests sent without a bot token.
    """

    method: str
    template: str
    major: str
    global_limited: bool = True

    @property
    def key(self) -> str:
        """The bucket lookup key, ``"<method> <template>|<major>"``.

        For example ``"POST /channels/{channel_id}/messages|channel:123"``.
        """
        return f"{self.method} {self.template}|{self.major}"

    @property
    def path_key(self) -> str:
        """``"<method> <template>"``: the part that maps to a bucket hash."""
        return f"{self.method} {self.template}"


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


def _endpoint(route: Route, what: str, **ids: object) -> Endpoint:
    return Endpoint(route, route.template.format(**ids), what)


def create_message(channel: Channel) -> Endpoint:
    """``POST /channels/{channel_id}/messages``."""
    return _endpoint(
        Route("POST", "/channels/{channel_id}/messages", channel.major),
        f"create message in channel {channel.channel_id}",
        channel_id=channel.channel_id,
    )


def edit_channel_message(channel: Channel, message_id: str) -> Endpoint:
    """``PATCH /channels/{channel_id}/messages/{message_id}``."""
    return _endpoint(
        Route("PATCH", "/channels/{channel_id}/messages/{message_id}", channel.major),
        f"edit message {message_id} in channel {channel.channel_id}",
        channel_id=channel.channel_id,
        message_id=message_id,
    )


def get_channel(channel: Channel) -> Endpoint:
    """``GET /channels/{channel_id}``."""
    return _endpoint(
        Route("GET", "/channels/{channel_id}", channel.major),
        f"get channel {channel.channel_id}",
        channel_id=channel.channel_id,
    )


def get_guild(guild_id: str) -> Endpoint:
    """``GET /guilds/{guild_id}``."""
    return _endpoint(
        Route("GET", "/guilds/{guild_id}", f"guild:{guild_id}"),
        f"get guild {guild_id}",
        guild_id=guild_id,
    )


def execute_webhook(webhook: Webhook) -> Endpoint:
    """``POST /webhooks/{webhook_id}/{webhook_token}``.

    Webhook requests carry no bot token, so the per-token global limit does not apply.
    """
    return _endpoint(
        Route("POST", "/webhooks/{webhook_id}/{webhook_token}", webhook.major, False),
        f"execute webhook {webhook.webhook_id}",
        webhook_id=webhook.webhook_id,
        webhook_token=webhook.token,
    )


def edit_webhook_message(webhook: Webhook, message_id: str) -> Endpoint:
    """``PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}``."""
    return _endpoint(
        Route(
            "PATCH",
            "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
            webhook.major,
            False,
        ),
        f"edit message {message_id} of webhook {webhook.webhook_id}",
        webhook_id=webhook.webhook_id,
        webhook_token=webhook.token,
        message_id=message_id,
    )


def interaction_callback(followup: Webhook, interaction_id: str) -> Endpoint:
    """``POST /interactions/{interaction_id}/{interaction_token}/callback``.

    ``followup`` is the interaction's follow-up webhook: its token is the interaction token, so
    the callback shares its secret-free major and needs no bot token.
    """
    return _endpoint(
        Route(
            "POST",
            "/interactions/{interaction_id}/{interaction_token}/callback",
            followup.major,
            False,
        ),
        f"answer interaction {interaction_id}",
        interaction_id=interaction_id,
        interaction_token=followup.token,
    )


def bulk_overwrite_commands(application_id: str) -> Endpoint:
    """``PUT /applications/{application_id}/commands``."""
    return _endpoint(
        Route("PUT", "/applications/{application_id}/commands", f"application:{application_id}"),
        f"register the commands of application {application_id}",
        application_id=application_id,
    )
