"""The fake's read-only inspection routes under ``/_fake``: what arrived, and the counters.

Served beside the API on the same loopback port, without auth and outside the stats, so a test
in any language (or a shell script with curl) can check what a client did:

- ``GET /_fake/messages`` (optionally ``?channel_id=``): every recorded message in creation
  order, latest state, with its attachments' names, sizes and SHA-256.
- The control routes (``/_fake/faults``, ``/_fake/channels/{id}/threads``) are in `_control`.
- ``GET /_fake/stats``: request counts (by route too), answers by status, and 429s by scope and
  by cause (``injected_429s``, ``client_caused_429s``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from ._limits import to_ns
from ._records import FakeStats, RecordedMessage
from ._responses import Response, error, http_error, json_response
from ._world import World

PREFIX = "/_fake"


def is_inspection(target: str) -> bool:
    """Whether a request target is for the inspection routes."""
    path = urlsplit(target).path
    return path == PREFIX or path.startswith(PREFIX + "/")


def inspect(world: World, stats: FakeStats, method: str, target: str) -> Response:
    """Answer a request to an inspection route (never counted in the stats)."""
    url = urlsplit(target)
    path = url.path.rstrip("/")
    if method not in ("GET", "HEAD"):
        known = path in (PREFIX, PREFIX + "/messages", PREFIX + "/stats")
        return attrs.evolve(http_error(405 if known else 404), counted=False)
    if path == PREFIX + "/messages":
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        unknown = sorted(set(query) - {"channel_id"})
        channel = query.get("channel_id")
        if unknown or (channel is not None and not channel.isdigit()):
            # A typo must not read as "nothing arrived" in someone's shell script.
            what = f"unknown parameter {unknown[0]!r}" if unknown else "channel_id is not an id"
            return attrs.evolve(error(400, 50035, f"{what}"), counted=False)
        body: object = messages_json(world, channel)
    elif path == PREFIX + "/stats":
        body = stats_json(stats)
    elif path == PREFIX:
        body = {
            "messages": f"{PREFIX}/messages",
            "stats": f"{PREFIX}/stats",
            "faults": f"{PREFIX}/faults",
            "threads": f"{PREFIX}/channels/{{channel_id}}/threads",
        }
    else:
        return attrs.evolve(http_error(404), counted=False)
    return attrs.evolve(json_response(200, body), counted=False)


def messages_json(world: World, channel_id: str | None = None) -> list[dict[str, Any]]:
    """The recorded messages (of one channel or thread, if given) as JSON."""
    out = []
    for message in world.log.messages:
        shown = message.thread_id if message.thread_id is not None else message.channel_id
        if channel_id is None or channel_id in (str(shown), str(message.channel_id)):
            out.append(message_record_json(world, message))
    return out


def message_record_json(world: World, message: RecordedMessage) -> dict[str, Any]:
    """One recorded message: snowflakes as strings, its time as ISO 8601."""
    return {
        "id": message.id,
        "channel_id": str(message.channel_id),
        "thread_id": str(message.thread_id) if message.thread_id is not None else None,
        "webhook_id": message.webhook_id,
        "author_id": message.author_id,
        "content": message.content,
        "nonce": message.nonce,
        "attachments": [attrs.asdict(a) for a in message.attachments],
        "embeds": [dict(e) for e in message.embeds],
        "reply_to": message.reply_to,
        "reactions": list(message.reactions),
        "flags": message.flags,
        "tts": message.tts,
        "username": message.username,
        "avatar_url": message.avatar_url,
        "edits": message.edits,
        "deleted": message.deleted,
        "timestamp": world.clock.iso(to_ns(message.created_at)),
    }


def stats_json(stats: FakeStats) -> dict[str, Any]:
    """The counters as JSON (status codes as string keys)."""
    body = attrs.asdict(stats)
    body["responses_by_status"] = {str(k): v for k, v in stats.responses_by_status.items()}
    return body
