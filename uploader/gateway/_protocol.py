"""The gateway's wire vocabulary: opcodes, payloads, and what each close code allows.

Pure data and decisions; nothing here does I/O. Payload builders take the token as an argument
and return plain dicts for ``json.dumps``; nothing here logs.
"""

from __future__ import annotations

import enum
import platform
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._errors import GatewayClosedError

GATEWAY_VERSION = 10
LIBRARY_NAME = "uploader"


class Op(enum.IntEnum):
    """Gateway opcodes `uploader` uses."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    RESUME = 6
    RECONNECT = 7
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


FATAL_CLOSE_CODES: dict[int, str] = {
    4004: "authentication failed: the bot token was refused (check DISCORD_TOKEN)",
    4010: "invalid shard: the shard id is not below the shard count",
    4011: "sharding required: the bot is in too many guilds for one connection",
    4012: "invalid API version: this gateway version is no longer served",
    4013: "invalid intents: the intents value is not a valid bit set",
    4014: (
        "disallowed intents: a privileged intent (message content) is not enabled for this "
        "bot in the developer portal"
    ),
}
"""Close codes after which Discord must not be reconnected to, with what they mean."""

SESSION_ENDING_CLOSE_CODES = frozenset({4007, 4009})
"""Close codes after which the session cannot be resumed (invalid sequence, timed out)."""

SESSION_KEEPING_CLOSE_CODE = 4000
"""The code the client closes with when it means to resume (1000 and 1001 end the session)."""


def check_reconnect(code: int | None) -> None:
    """Raise if the connection closed with a code after which reconnecting cannot help.

    Raises:
        GatewayClosedError: ``code`` is 4004 or 4010 to 4014.
    """
    if code is not None and code in FATAL_CLOSE_CODES:
        raise GatewayClosedError(code, FATAL_CLOSE_CODES[code])


def session_survives(code: int | None) -> bool:
    """Whether a session may be resumed after the connection closed with ``code``."""
    return code not in SESSION_ENDING_CLOSE_CODES and code not in FATAL_CLOSE_CODES


def reconnect_delay(failures: int, random: Callable[[], float]) -> float:
    """Seconds to wait before connecting again.

    Args:
        failures: connections in a row that ended before the session was ready (0 after a
            connection that worked).
        random: a uniform [0, 1) source, for jitter.

    Returns:
        Up to 1 s after a working connection; then 1, 2, 4 ... capped at 60 s, each jittered
        down by up to half, so many bots dropped at once do not return at once.
    """
    if failures <= 0:
        return random()
    return min(60.0, 2.0 ** (failures - 1)) * (1.0 - random() / 2)


def invalid_session_delay(random: Callable[[], float]) -> float:
    """Discord's advice after op 9: wait a random 1 to 5 seconds."""
    return 1.0 + 4.0 * random()


def connect_url(base: str) -> str:
    """``base`` with the query this client speaks: ``?v=10&encoding=json``."""
    parts = urlsplit(base)
    path = parts.path or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, f"v={GATEWAY_VERSION}&encoding=json", ""))


def identify_payload(token: str, intents: int, shard: tuple[int, int] | None) -> dict[str, Any]:
    """Op 2: start a fresh session."""
    data: dict[str, Any] = {
        "token": token,
        "intents": int(intents),
        "properties": {
            "os": platform.system().lower() or "unknown",
            "browser": LIBRARY_NAME,
            "device": LIBRARY_NAME,
        },
    }
    if shard is not None:
        data["shard"] = [shard[0], shard[1]]
    return {"op": Op.IDENTIFY, "d": data}


def resume_payload(token: str, session_id: str, seq: int | None) -> dict[str, Any]:
    """Op 6: continue ``session_id`` after event ``seq``."""
    return {"op": Op.RESUME, "d": {"token": token, "session_id": session_id, "seq": seq}}


def heartbeat_payload(seq: int | None) -> dict[str, Any]:
    """Op 1: the last sequence number seen (None before the first dispatch)."""
    return {"op": Op.HEARTBEAT, "d": seq}
