"""Where messages go: a webhook URL or a bot channel, both holding secrets they never print.

A webhook URL carries its token in the path, so the URL itself is a secret; a bot channel
carries the bot token. Their ``repr``/``str`` show ``***`` in place of either.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse

import attrs

from ._errors import WebhookUrlError

_WEBHOOK_PATH = re.compile(r"^(?P<before>.*)/webhooks/(?P<id>\d+)/(?P<token>[^/]+)/?$")


def _split_webhook_url(url: str) -> tuple[str, str, str, int | None]:
    """``(prefix, webhook_id, token, thread_id from the query)`` of a webhook URL."""
    parts = urllib.parse.urlsplit(url.strip())
    match = _WEBHOOK_PATH.match(parts.path)
    if parts.scheme not in ("http", "https") or not parts.netloc or match is None:
        raise WebhookUrlError(
            "a webhook URL must look like https://discord.com/api/webhooks/<id>/<token>"
        )
    prefix = f"{parts.scheme}://{parts.netloc}{match['before']}"
    query = urllib.parse.parse_qs(parts.query)
    thread = query.get("thread_id", [None])[0]
    thread_id = int(thread) if thread is not None and thread.isdigit() else None
    return prefix, match["id"], urllib.parse.unquote(match["token"]), thread_id


def _check_webhook_url(instance: object, attribute: object, value: str) -> None:
    _split_webhook_url(value)


def short_hash(secret: str) -> str:
    """A short SHA-256 of a secret: tells two tokens apart without revealing either."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@attrs.frozen(repr=False)
class Webhook:
    """A webhook to post through (no bot needed).

    Attributes:
        url: ``<base>/webhooks/<id>/<token>``, e.g. Discord's "Copy Webhook URL" text.
        thread_id: post into this thread of the webhook's channel (or forum post).

    Raises:
        WebhookUrlError: the URL is not a webhook URL (the message does not repeat it).
    """

    url: str = attrs.field(validator=_check_webhook_url)
    thread_id: int | None = None

    @property
    def prefix(self) -> str:
        """The URL up to ``/webhooks``, e.g. ``https://discord.com/api``."""
        return _split_webhook_url(self.url)[0]

    @property
    def webhook_id(self) -> str:
        """The webhook's snowflake."""
        return _split_webhook_url(self.url)[1]

    @property
    def token(self) -> str:
        """The webhook's token: a secret."""
        return _split_webhook_url(self.url)[2]

    @property
    def effective_thread_id(self) -> int | None:
        """`thread_id`, else a ``thread_id`` given in the URL's query."""
        return self.thread_id if self.thread_id is not None else _split_webhook_url(self.url)[3]

    @property
    def major(self) -> str:
        """The rate-limit major parameter: the id and a hash of the token, never the token."""
        return f"webhook:{self.webhook_id}:{short_hash(self.token)}"

    def __repr__(self) -> str:
        return (
            f"Webhook(url='{self.prefix}/webhooks/{self.webhook_id}/***', "
            f"thread_id={self.thread_id!r})"
        )

    __str__ = __repr__


@attrs.frozen(repr=False)
class Channel:
    """A channel to post into as a bot.

    Attributes:
        channel_id: the channel's snowflake.
        token: the bot token (without the ``Bot`` prefix): a secret.
    """

    channel_id: int
    token: str

    @property
    def major(self) -> str:
        """The rate-limit major parameter."""
        return f"channel:{self.channel_id}"

    def __repr__(self) -> str:
        return f"Channel(channel_id={self.channel_id!r}, token='***')"

    __str__ = __repr__


Target = Webhook | Channel
"""Where `DiscordClient` posts: a webhook or a bot channel."""


def describe(destination: Target) -> str:
    """A secret-free name for error messages, e.g. ``"webhook 123"`` or ``"channel 456"``."""
    if isinstance(destination, Webhook):
        return f"webhook {destination.webhook_id}"
    return f"channel {destination.channel_id}"
