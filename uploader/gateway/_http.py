"""GET /gateway/bot: where to connect, and the identify budget.

A minimal call of its own: the HTTP client in `uploader.discord` sends messages and has no
generic GET. 429 and 5xx answers and connection failures are retried a few times; every error
names the status and never the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import trio

from .._http_words import http_failure
from .._version import __version__
from ._errors import GatewayUnavailableError
from ._models import GatewayInfo, SessionStartLimit

USER_AGENT = f"DiscordBot (https://github.com/uploader-project/uploader, {__version__})"
ATTEMPTS = 4


async def fetch_gateway_info(http: httpx.AsyncClient, token: str, *, api_base: str) -> GatewayInfo:
    """Ask Discord where the bot's gateway is.

    Args:
        http: the client to send with (kept open).
        token: the bot token.
        api_base: e.g. ``https://discord.com/api/v10``.

    Raises:
        GatewayUnavailableError: the token was refused, or no usable answer came.
    """
    url = api_base.rstrip("/") + "/gateway/bot"
    headers = {"Authorization": f"Bot {token}", "User-Agent": USER_AGENT}
    for attempt in range(ATTEMPTS):
        last = attempt == ATTEMPTS - 1
        try:
            response = await http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            if last:
                raise GatewayUnavailableError(
                    f"Discord's gateway address could not be fetched: {http_failure(exc)}"
                ) from None
            await trio.sleep(2.0**attempt)
            continue
        if response.status_code == 429 or response.status_code >= 500:
            if last:
                break
            await trio.sleep(_retry_after(response, 2.0**attempt))
            continue
        return _parse(response)
    raise GatewayUnavailableError(
        f"GET /gateway/bot answered {response.status_code} {ATTEMPTS} times",
        status=response.status_code,
    )


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(60.0, float(response.headers.get("Retry-After", default)))
    except ValueError:
        return default


def _parse(response: httpx.Response) -> GatewayInfo:
    status = response.status_code
    if status == 401:
        raise GatewayUnavailableError(
            "GET /gateway/bot answered 401: the bot token was refused (check DISCORD_TOKEN)",
            status=status,
        )
    if status != 200:
        raise GatewayUnavailableError(f"GET /gateway/bot answered {status}", status=status)
    try:
        data: Any = response.json()
        url = data["url"]
        limit: Mapping[str, Any] = data.get("session_start_limit") or {}
        return GatewayInfo(
            url=str(url),
            shards=int(data.get("shards", 1)),
            session_start_limit=SessionStartLimit(
                total=int(limit.get("total", 1000)),
                remaining=int(limit.get("remaining", 1000)),
                reset_after=float(limit.get("reset_after", 0)) / 1000.0,
                max_concurrency=int(limit.get("max_concurrency", 1)),
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise GatewayUnavailableError(
            "GET /gateway/bot gave an answer that is not a gateway", status=status
        ) from None
