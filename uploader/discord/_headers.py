"""Pure reading of Discord's answers: rate-limit headers, JSON bodies, Cloudflare-ban detection.

Nothing here raises on bad input: a header or body field that is missing, malformed, negative
where it must not be, or not finite becomes ``None`` (or ``False``), so a garbled answer can
never crash the rate limiter.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

RATE_LIMIT_HEADER_PREFIX = "x-ratelimit-"
"""Every Discord rate-limit header starts with this (compared case-insensitively)."""


@attrs.frozen
class RateLimitHeaders:
    """What one response says about rate limits.

    Attributes:
        limit: X-RateLimit-Limit, requests per window in this bucket.
        remaining: X-RateLimit-Remaining, requests left in the current window.
        reset_after: X-RateLimit-Reset-After, seconds until the window resets (never negative).
        reset_at: X-RateLimit-Reset, the reset as Unix epoch seconds (wall clock).
        bucket: X-RateLimit-Bucket, the opaque bucket hash.
        is_global: X-RateLimit-Global is true, or the JSON body says ``"global": true``.
        scope: X-RateLimit-Scope in lower case (``user``, ``global``, ``shared``).
        retry_after: seconds to wait after a 429: the body's float ``retry_after``, else the
            ``Retry-After`` header (never negative).
        via: the Via header (real Discord answers carry ``1.1 google``).
    """

    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None
    reset_at: float | None = None
    bucket: str | None = None
    is_global: bool = False
    scope: str | None = None
    retry_after: float | None = None
    via: str | None = None


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    lowered: dict[str, str] = {}
    for key, value in headers.items():
        if isinstance(key, str) and isinstance(value, str):
            lowered[key.strip().lower()] = value
    return lowered


def _parse_int(raw: str | None) -> int | None:
    if raw is None:
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _parse_float(raw: object) -> float | None:
    """A finite float from a header string or a JSON number; bools and garbage give None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:  # a JSON integer beyond float range
            return None
    elif isinstance(raw, str):
        text = raw.strip()
        # float() also accepts "nan", "inf", "1_0" and non-ASCII digits: Discord sends none.
        if not text.isascii() or "_" in text:
            return None
        try:
            value = float(text)
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def _parse_duration(raw: object) -> float | None:
    value = _parse_float(raw)
    return None if value is None else max(value, 0.0)


def _parse_text(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = raw.strip()
    return text or None


def json_or_none(body: bytes | None) -> Any:
    """A response body's JSON value, or None when it is empty or not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def decode_json_object(body: bytes | None) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is empty, not JSON, or not an object."""
    value = json_or_none(body)
    return value if isinstance(value, dict) else None


def parse_rate_limit_headers(
    headers: Mapping[str, str], body: bytes | None = None
) -> RateLimitHeaders:
    """Read the rate-limit facts from a response's headers (any case) and JSON body.

    Args:
        headers: the response headers.
        body: the raw response body; used for a 429's float ``retry_after`` and ``global``.

    Returns:
        The parsed facts; garbage values come back as None, never as an exception.
    """
    h = _lower_keys(headers)
    payload = decode_json_object(body) or {}
    retry_after = _parse_duration(payload.get("retry_after"))
    if retry_after is None:
        retry_after = _parse_duration(h.get("retry-after"))
    reset_at = _parse_float(h.get("x-ratelimit-reset"))
    scope = _parse_text(h.get("x-ratelimit-scope"))
    return RateLimitHeaders(
        limit=_parse_int(h.get("x-ratelimit-limit")),
        remaining=_parse_int(h.get("x-ratelimit-remaining")),
        reset_after=_parse_duration(h.get("x-ratelimit-reset-after")),
        reset_at=reset_at if reset_at is not None and reset_at >= 0 else None,
        bucket=_parse_text(h.get("x-ratelimit-bucket")),
        is_global=(
            h.get("x-ratelimit-global", "").strip().lower() == "true"
            or payload.get("global") is True
        ),
        scope=None if scope is None else scope.lower(),
        retry_after=retry_after,
        via=_parse_text(h.get("via")),
    )


def has_rate_limit_headers(headers: Mapping[str, str]) -> bool:
    """Whether any ``X-RateLimit-*`` header is present (a proxy may strip them all)."""
    return any(key.startswith(RATE_LIMIT_HEADER_PREFIX) for key in _lower_keys(headers))


def from_proxy(headers: Mapping[str, str]) -> bool:
    """Whether an answer was made by a proxy, not relayed from Discord: no ``X-RateLimit-*``
    header and no ``Via`` (Discord's own answers carry ``Via: 1.1 google``)."""
    h = _lower_keys(headers)
    return "via" not in h and not any(key.startswith(RATE_LIMIT_HEADER_PREFIX) for key in h)


def looks_like_ban(
    status: int, headers: Mapping[str, str], body: bytes | None, *, proxy: bool = False
) -> bool:
    """Whether a response looks like Cloudflare's temporary IP ban rather than Discord's 429.

    A ban is a 429 with an HTML / ``error code: 1015`` body, or with a JSON body whose ``code``
    is 0 and that has no ``retry_after`` (Discord's own rate-limit bodies carry code 0 too,
    always with ``retry_after``), or without any ``X-RateLimit-*`` header, or without ``Via``
    (Discord's own answers carry ``Via: 1.1 google``). In proxy mode the missing headers are
    no sign: a proxy answers its own 429s without them, so only the body tells a ban.

    Args:
        status: the HTTP status; only 429 can be a ban.
        headers: the response headers (any case).
        body: the raw response body.
        proxy: whether a rate-limit proxy stands in front of Discord (`proxy_mode_on`).
    """
    if status != 429:
        return False
    text = (body or b"").lstrip()[:512].lower()
    if text.startswith(b"<") or b"error code" in text:
        return True
    payload = decode_json_object(body)
    code = None if payload is None else payload.get("code")
    is_zero = isinstance(code, int) and not isinstance(code, bool) and code == 0
    if is_zero and payload is not None and "retry_after" not in payload:
        return True
    h = _lower_keys(headers)
    bare = not any(key.startswith(RATE_LIMIT_HEADER_PREFIX) for key in h) or "via" not in h
    return bare and not proxy


class RateLimitScope(enum.Enum):
    """What an answer was, as far as 429s go."""

    NONE = "none"
    """Not a 429 (or a ban, which is handled apart)."""
    USER = "user"
    """This bucket is spent; Discord counts it as invalid."""
    SHARED = "shared"
    """A resource shared with others is limited; not counted as invalid."""
    GLOBAL = "global"
    """The bot token's global limit; blocks every globally limited route."""
    PROXY = "proxy"
    """A rate-limit proxy's own 429 (proxy mode): Discord never saw the request, so it is not
    counted as invalid; it blocks the bucket for its ``Retry-After``."""


def rate_limit_scope(
    status: int, headers: RateLimitHeaders, *, proxy_made: bool = False
) -> RateLimitScope:
    """The scope of a 429 from its parsed headers; `RateLimitScope.NONE` for any other status.

    Args:
        status: the HTTP status.
        headers: the parsed headers.
        proxy_made: the answer is a proxy's own (proxy mode and `from_proxy`).
    """
    if status != 429:
        return RateLimitScope.NONE
    if proxy_made:
        return RateLimitScope.PROXY
    if headers.is_global or headers.scope == "global":
        return RateLimitScope.GLOBAL
    if headers.scope == "shared":
        return RateLimitScope.SHARED
    return RateLimitScope.USER


@attrs.frozen
class Reading:
    """What one answer tells the rate limiter.

    Attributes:
        headers: the parsed rate-limit headers.
        scope: what kind of 429 it was (`RateLimitScope.NONE` for anything else or a ban).
        ban: it looks like Cloudflare's ban (`looks_like_ban`).
        defer: proxy mode, and a success without any ``X-RateLimit-*`` header: the proxy strips
            them, so it limits the group and this client defers to it.
    """

    headers: RateLimitHeaders
    scope: RateLimitScope
    ban: bool
    defer: bool


def read_answer(
    status: int, headers: Mapping[str, str], body: bytes | None, *, proxy: bool = False
) -> Reading:
    """Read an answer for the rate limiter (``proxy``: proxy mode, `uploader.discord._proxy`)."""
    parsed = parse_rate_limit_headers(headers, body)
    ban = looks_like_ban(status, headers, body, proxy=proxy)
    proxy_made = proxy and from_proxy(headers)
    scope = RateLimitScope.NONE if ban else rate_limit_scope(status, parsed, proxy_made=proxy_made)
    defer = proxy and 200 <= status < 300 and not has_rate_limit_headers(headers)
    return Reading(parsed, scope, ban, defer)
