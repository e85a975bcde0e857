"""The JSON shapes of Discord's objects as the fake returns them: message, channel, guild, user.

Each matches Discord's OpenAPI response schema (the tests check them against it).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ._cdn import content_type_of
from ._limits import to_ns
from ._records import RecordedAttachment, RecordedMessage
from ._world import Channel, Guild, Webhook, World


def _user(user_id: str, username: str, *, bot: bool = True) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": username,
        "discriminator": "0000",
        "avatar": None,
        "global_name": None,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
        "bot": bot,
    }


BOT_NAME = "fake-bot"
WEBHOOK_NAME = "Fake Webhook"


def message_json(world: World, message: RecordedMessage, *, nested: bool = False) -> dict[str, Any]:
    """A message object (a webhook's message is authored by the webhook).

    A reply is type 19 with its ``message_reference`` and, unless ``nested``, the
    ``referenced_message``.
    """
    edited = world.log.edited_ns.get(message.id)
    channel_id = message.thread_id if message.thread_id is not None else message.channel_id
    if message.author_id is not None:
        author = _user(message.author_id, f"user{message.author_id[-4:]}", bot=False)
    elif message.webhook_id is None:
        author = _user(str(world.bot_user_id), BOT_NAME)
    else:
        author = _webhook_author(message)
    body: dict[str, Any] = {
        "type": 19 if message.reply_to is not None else 0,
        "content": message.content,
        "mentions": [],
        "mention_roles": [],
        "attachments": [
            attachment_json(world.base_url, channel_id, attachment)
            for attachment in message.attachments
        ],
        "embeds": [dict(embed) for embed in message.embeds],
        "timestamp": world.clock.iso(to_ns(message.created_at)),
        "edited_timestamp": world.clock.iso(edited) if edited is not None else None,
        "flags": message.flags,
        "components": [],
        "id": message.id,
        "channel_id": str(channel_id),
        "author": author,
        "pinned": False,
        "mention_everyone": False,
        "tts": message.tts,
    }
    if message.webhook_id is not None:
        body["webhook_id"] = message.webhook_id
    if message.id in world.log.raw_nonces:
        body["nonce"] = world.log.raw_nonces[message.id]
    if message.reactions:
        body["reactions"] = [_reaction_json(emoji) for emoji in message.reactions]
    if message.reply_to is not None:
        body["message_reference"] = {
            "type": 0,
            "channel_id": str(channel_id),
            "message_id": message.reply_to,
            "guild_id": str(world.channels[message.channel_id].guild_id),
        }
        if not nested:
            target = world.log.live(message.reply_to)
            body["referenced_message"] = (
                message_json(world, target, nested=True) if target is not None else None
            )
    return body


def _webhook_author(message: RecordedMessage) -> dict[str, Any]:
    """A webhook message's author, with the ``username`` and ``avatar_url`` it was sent with.

    Discord shows an ``avatar_url`` override as an avatar hash; the fake's is the URL's MD5.
    """
    assert message.webhook_id is not None
    author = _user(message.webhook_id, message.username or WEBHOOK_NAME)
    if message.avatar_url is not None:
        digest = hashlib.md5(message.avatar_url.encode(), usedforsecurity=False).hexdigest()
        author["avatar"] = digest
    return author


def _reaction_json(emoji: str) -> dict[str, Any]:
    """A reaction of the bot alone, with a unicode emoji (or ``name:id`` of a custom one)."""
    name, _, emoji_id = emoji.partition(":")
    return {
        "emoji": {"id": emoji_id or None, "name": name},
        "count": 1,
        "count_details": {"burst": 0, "normal": 1},
        "burst_colors": [],
        "me_burst": False,
        "me": True,
    }


def user_json(world: World) -> dict[str, Any]:
    """The bot's user, as ``GET /users/@me`` answers it."""
    return {
        **_user(str(world.bot_user_id), BOT_NAME),
        "mfa_enabled": False,
        "locale": "en-US",
        "verified": True,
        "email": None,
        "banner": None,
        "accent_color": None,
    }


def reaction_user_json(world: World) -> dict[str, Any]:
    """The bot's user, as a reaction's list of users shows it."""
    return _user(str(world.bot_user_id), BOT_NAME)


def application_json(world: World) -> dict[str, Any]:
    """The bot's application, as ``GET /oauth2/applications/@me`` answers it."""
    bot = _user(str(world.bot_user_id), BOT_NAME)
    return {
        "id": str(world.bot_user_id),
        "name": BOT_NAME,
        "icon": None,
        "description": "",
        "type": None,
        "bot": bot,
        "bot_public": False,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": 0,
        "flags_new": "0",
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "owner": {**bot, "bot": False},
        "approximate_guild_count": len(world.guilds),
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "team": None,
        "eligible_oauth2_scopes": [],
    }


def webhook_json(world: World, webhook: Webhook, *, with_token: bool) -> dict[str, Any]:
    """An incoming webhook; its ``token`` (a secret) only when asked with it or as its owner."""
    channel = world.channels[webhook.channel_id]
    body: dict[str, Any] = {
        "application_id": None,
        "avatar": None,
        "channel_id": str(channel.id),
        "guild_id": str(channel.guild_id),
        "id": str(webhook.id),
        "name": WEBHOOK_NAME,
        "type": 1,
        "user": _user(str(world.bot_user_id), BOT_NAME),
    }
    if with_token:
        body["token"] = webhook.token
        body["url"] = f"{world.base_url}/api/webhooks/{webhook.id}/{webhook.token}"
    return body


def attachment_json(
    base_url: str, channel_id: int, attachment: RecordedAttachment
) -> dict[str, Any]:
    """An attachment object, its URLs under the fake's ``/cdn`` and ``/media``."""
    content_type = attachment.content_type or content_type_of(attachment.filename)
    path = f"attachments/{channel_id}/{attachment.id}/{attachment.filename}"
    body: dict[str, Any] = {
        "id": attachment.id,
        "filename": attachment.filename,
        "size": attachment.size,
        "url": f"{base_url}/cdn/{path}",
        "proxy_url": f"{base_url}/media/{path}",
        "content_type": content_type,
    }
    if attachment.description is not None:
        body["description"] = attachment.description
    return body


def channel_json(world: World, channel: Channel) -> dict[str, Any]:
    """A guild text channel object, or a public thread's."""
    if channel.parent_id is not None:
        return _thread_json(world, channel)
    return {
        "id": str(channel.id),
        "type": 0,
        "flags": 0,
        "guild_id": str(channel.guild_id),
        "name": f"fake-{channel.id}",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
    }


def _thread_json(world: World, thread: Channel) -> dict[str, Any]:
    return {
        "id": str(thread.id),
        "type": 11,
        "flags": 0,
        "guild_id": str(thread.guild_id),
        "parent_id": str(thread.parent_id),
        "name": f"fake-thread-{thread.id}",
        "owner_id": str(world.bot_user_id),
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "thread_metadata": {
            "archived": False,
            "archive_timestamp": world.clock.iso_of(thread.id),
            "auto_archive_duration": 1440,
            "locked": False,
        },
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
    }


def guild_json(guild: Guild, owner_id: int) -> dict[str, Any]:
    """A guild object (the bot owns every guild)."""
    return {
        "id": str(guild.id),
        "name": f"fake-guild-{guild.id}",
        "icon": None,
        "owner_id": str(owner_id),
        "features": [],
        "premium_tier": guild.premium_tier,
        "premium_subscription_count": (0, 2, 7, 14)[guild.premium_tier],
        "preferred_locale": "en-US",
        "nsfw": False,
        "nsfw_level": 0,
        "roles": [],
        "emojis": [],
        "stickers": [],
    }


def gateway_bot_json(world: World) -> dict[str, Any]:
    """The answer of ``GET /gateway/bot``: the fake gateway's, when one runs alongside."""
    if world.gateway_payload is not None:
        return world.gateway_payload
    port = world.port
    return {
        "url": f"ws://127.0.0.1:{port}/gateway",
        "shards": 1,
        "session_start_limit": {
            "total": 1000,
            "remaining": 1000,
            "reset_after": 0,
            "max_concurrency": 1,
        },
    }
