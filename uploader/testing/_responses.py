"""The fake's answers as values: JSON and error responses, 429s, injected 5xx pages, the ban."""

from __future__ import annotations

import http
import json
from typing import Literal

import attrs

from ._forms import Problem
from ._limits import WindowState, ceil_ms, ceil_seconds

Header = tuple[str, str]
Scope = Literal["user", "global", "shared"]

EDGE_ERROR_PHRASES = {
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    524: "A Timeout Occurred",
}
"""The reason phrases of the edge's errors (524 is Cloudflare's own)."""

VIA: Header = ("Via", "1.1 google")
_JSON: Header = ("Content-Type", "application/json")
_HTML: Header = ("Content-Type", "text/html")
_TEXT: Header = ("Content-Type", "text/plain")
_BAN_BODY = b"error code: 1015"


@attrs.frozen
class Response:
    """One answer, ready for the wire (Content-Length is added when it is sent).

    Attributes:
        status: the HTTP status.
        body: the body bytes.
        headers: the headers, in order.
        scope: a 429's scope (``user``, ``global``, ``shared`` or ``ban``), for the stats.
        injected: whether an injected fault asked for this 429 (rather than the client
            exceeding a limit).
        counted: whether the stats count it (the inspection routes' answers are not).
    """

    status: int
    body: bytes = b""
    headers: tuple[Header, ...] = ()
    scope: str | None = None
    injected: bool = False
    counted: bool = True

    @property
    def reason(self) -> str:
        """The status line's reason phrase."""
        try:
            return http.HTTPStatus(self.status).phrase
        except ValueError:
            return EDGE_ERROR_PHRASES.get(self.status, "")


def json_response(status: int, body: object, headers: tuple[Header, ...] = ()) -> Response:
    """A JSON answer (compact, as Discord's), after ``headers``."""
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(status, data, (*headers, _JSON, VIA))


def no_content(headers: tuple[Header, ...] = ()) -> Response:
    """A 204 after ``headers``."""
    return Response(204, b"", (*headers, VIA))


def error(status: int, code: int, message: str, headers: tuple[Header, ...] = ()) -> Response:
    """A Discord JSON error: ``{"message": ..., "code": ...}``."""
    return json_response(status, {"message": message, "code": code}, headers)


def http_error(status: int) -> Response:
    """A plain HTTP error with code 0 (e.g. an unknown route's 404)."""
    return error(status, 0, f"{status}: {http.HTTPStatus(status).phrase}")


def problem_response(problem: Problem, headers: tuple[Header, ...] = ()) -> Response:
    """A refused request's answer."""
    return json_response(problem.status, problem.body(), headers)


def bucket_headers(bucket: str, state: WindowState, reset_epoch: float) -> tuple[Header, ...]:
    """The five ``X-RateLimit-*`` headers of a bucket's state (reset as Unix time)."""
    return (
        ("X-RateLimit-Limit", str(state.limit)),
        ("X-RateLimit-Remaining", str(state.remaining)),
        ("X-RateLimit-Reset", f"{reset_epoch:.3f}"),
        ("X-RateLimit-Reset-After", f"{ceil_ms(state.reset_after_ns) / 1000:.3f}"),
        ("X-RateLimit-Bucket", bucket),
    )


def rate_limited(
    scope: Scope, retry_after_ns: int, shown: tuple[Header, ...] = (), *, injected: bool = False
) -> Response:
    """A 429 of a scope; ``shown`` are the bucket headers it carries (none for global).

    Args:
        scope: ``user`` (a bucket), ``global`` (the bot's global limit) or ``shared``.
        retry_after_ns: how long the client must wait.
        shown: the bucket headers.
        injected: True when a fault asked for it, False when the client exceeded a limit.
    """
    headers: tuple[Header, ...] = (
        *shown,
        ("Retry-After", str(ceil_seconds(retry_after_ns))),
        ("X-RateLimit-Scope", scope),
    )
    if scope == "global":
        headers = (*headers, ("X-RateLimit-Global", "true"))
    body = {
        "message": "You are being rate limited.",
        "retry_after": ceil_ms(retry_after_ns) / 1000,
        "global": scope == "global",
        "code": 0,
    }
    return attrs.evolve(json_response(429, body, headers), scope=scope, injected=injected)


_ENVOY_503 = "upstream connect error or disconnect/reset before headers. reset reason: "


def server_error(status: int, *, forwarded: bool = False) -> Response:
    """An injected server error: 500 as Discord's JSON, 503 as its front end's (Envoy's) text,
    the others as the edge's HTML page.

    Args:
        status: the status.
        forwarded: whether a backend had the request (a ``status_after_body`` fault): a 503 then
            says ``connection termination``, otherwise ``overflow`` (the circuit breaker
            refused it), as Discord's front end does.
    """
    if status == 500:
        return error(500, 0, "500: Internal Server Error")
    if status == 503:
        reason = "connection termination" if forwarded else "overflow"
        return Response(503, (_ENVOY_503 + reason).encode(), (_TEXT, VIA))
    phrase = EDGE_ERROR_PHRASES[status]
    page = f"<html><head><title>{status} {phrase}</title></head><body>{phrase}</body></html>"
    return Response(status, page.encode(), (_HTML, VIA))


BANNED = Response(429, _BAN_BODY, (_HTML,), scope="ban")
"""Cloudflare's answer to a banned client: HTML, no Via, no rate-limit headers."""
