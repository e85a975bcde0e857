"""The JSON shapes of Discord's objects as the fake returns them: message, channel, guild.

Each matches Discord's OpenAPI response schema (the tests check them against it).
"""

from __future__ import annotations

import mimetypes
from typing import Any

from ._limits import to_ns
from ._records import RecordedAttachment, RecordedMessage
from ._world import Channel, Guild, World


def _user(user_id: str, username: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": username,
        "discriminator": "0000",
        "avatar": None,
        "global_name": None,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
        "bot": True,
    }


def message_json(world: World, message: RecordedMessage) -> dict[str, Any]:
    """A message object (a webhook's message is authored by the webhook)."""
    edited = world.log.edited_ns.get(message.id)
    channel_id = message.thread_id if message.thread_id is not None else message.channel_id
    if message.webhook_id is None:
        author = _user(str(world.bot_user_id), "fake-bot")
    else:
        author = _user(message.webhook_id, "Fake Webhook")
    body: dict[str, Any] = {
        "type": 0,
        "content": message.content,
        "mentions": [],
        "mention_roles": [],
        "attachments": [
            attachment_json(world.base_url, channel_id, attachment)
            for attachment in message.attachments
        ],
        "embeds": [],
        "timestamp": world.clock.iso(to_ns(message.created_at)),
        "edited_timestamp": world.clock.iso(edited) if edited is not None else None,
        "flags": 0,
        "components": [],
        "id": message.id,
        "channel_id": str(channel_id),
        "author": author,
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
    }
    if message.webhook_id is not None:
        body["webhook_id"] = message.webhook_id
    if message.id in world.log.raw_nonces:
        body["nonce"] = world.log.raw_nonces[message.id]
    return body


def attachment_json(
    base_url: str, channel_id: int, attachment: RecordedAttachment
) -> dict[str, Any]:
    """An attachment object, its URLs under the fake's ``/cdn`` and ``/media``."""
    content_type = (
        attachment.content_type
        or mimetypes.guess_type(attachment.filename)[0]
        or "application/octet-stream"
    )
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


def channel_json(channel: Channel) -> dict[str, Any]:
    """A guild text channel object."""
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


def gateway_bot_json(port: int) -> dict[str, Any]:
    """The answer of ``GET /gateway/bot``."""
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
