"""How a failed HTTP exchange is said to a person: in words, never as an exception class."""

from __future__ import annotations

import httpx

_WORDS: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "the connection timed out"),
    (httpx.ConnectError, "could not connect"),
    (httpx.ReadTimeout, "the server stopped answering"),
    (httpx.WriteTimeout, "sending timed out"),
    (httpx.PoolTimeout, "no connection was free in time"),
    (httpx.TimeoutException, "it timed out"),
    (httpx.RemoteProtocolError, "the server broke the connection"),
    (httpx.ReadError, "the connection broke while reading"),
    (httpx.WriteError, "the connection broke while sending"),
    (httpx.ProxyError, "the proxy refused the connection"),
    (httpx.UnsupportedProtocol, "the address is not an http(s) link"),
    (httpx.TooManyRedirects, "too many redirects"),
)


def http_failure(exc: BaseException) -> str:
    """``exc`` in words ("could not connect"); the most specific kind known wins."""
    for kind, words in _WORDS:
        if isinstance(exc, kind):
            return words
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return "the connection failed"
