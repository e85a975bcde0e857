"""Discord's limits, each defined once (a leaf module: it imports nothing of ours).

Every other module (settings, client, batcher, summaries, the loopback Discord) reads these
names rather than writing the numbers again.
"""

from __future__ import annotations

MIB = 1024 * 1024
"""One mebibyte: Discord's "MB" limits are binary."""

MAX_MESSAGE_CHARS = 2000
"""Characters in one message's text."""

MAX_ATTACHMENTS = 10
"""Attachments in one message."""

DEFAULT_FILE_LIMIT = 10 * MIB
"""The per-file upload limit of an unboosted server (and of DMs)."""

DEFAULT_REQUEST_LIMIT = 25 * MIB
"""What one request body may carry in all."""

BOOSTED_FILE_LIMITS = {2: 50 * MIB, 3: 100 * MIB}
"""Per-file upload limits by a guild's premium (boost) tier, where above the default."""

KNOWN_FILE_LIMITS = (100 * MIB, 50 * MIB, 25 * MIB, 10 * MIB, 8 * MIB)
"""Per-file limits Discord has applied (by boost tier, and over the years), largest first."""


def file_limit_for_tier(premium_tier: int) -> int:
    """The per-file upload limit of a guild with this premium (boost) tier."""
    return BOOSTED_FILE_LIMITS.get(premium_tier, DEFAULT_FILE_LIMIT)


INVALID_REQUEST_WINDOW = 600.0
"""Seconds over which Discord counts 401, 403 and non-shared 429 answers (a sliding 10 minutes)."""

NONCE_WINDOW_SECONDS = 240.0
"""Seconds a create-message ``nonce`` is trusted to deduplicate a repeat.

Discord promises "a few minutes" for ``enforce_nonce``; four minutes stays inside that. A bot
post is retried only within this window of its first attempt, a journal resends an uncertain
bot batch only within it of its intent, and the loopback Discord deduplicates for exactly this
long, so all three share this one number.
"""

DEFAULT_RETRY_DEADLINE_SECONDS = 180.0
"""How long a request keeps retrying through 5xx answers and connection failures by default."""
