"""Opening a `DiscordClient`: its HTTP client, its rate limiter, its retry policy, proxy mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx

from .._settings import DEFAULT_API_BASE, Settings
from ._client import DiscordClient
from ._logs import install_log_redaction
from ._proxy import proxy_mode_on
from ._ratelimit import RateLimitConfig, RateLimiter, open_rate_limiter
from ._retry import RetryPolicy


@asynccontextmanager
async def open_discord_client(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    limiter: RateLimiter | None = None,
    api_base: str | None = None,
    retry: RetryPolicy | None = None,
) -> AsyncIterator[DiscordClient]:
    """Open a `DiscordClient`.

    Args:
        settings: ``discord_api_base`` (bot requests), ``discord_global_rate`` and
            ``discord_proxy_mode`` (`proxy_mode_on` of the API base in use).
        http: the HTTP client to use (kept open); by default one is opened and closed here.
        limiter: the rate limiter to share (e.g. between clients); by default one is opened
            with ``settings.discord_global_rate``.
        api_base: overrides ``settings.discord_api_base``. Webhook requests go to the webhook
            URL's own base (``<prefix>/webhooks/...``) unless an API base was given explicitly,
            here or as a non-default ``settings.discord_api_base`` (e.g. a rate-limit proxy).
        retry: how long a request keeps trying through 5xx answers and connection failures;
            by default until ``settings.upload_retry_deadline_seconds`` (`RetryPolicy.timed`).
    """
    if retry is None:
        retry = RetryPolicy.timed(settings.upload_retry_deadline_seconds)
    install_log_redaction()
    explicit = api_base or (
        settings.discord_api_base if settings.discord_api_base != DEFAULT_API_BASE else None
    )
    proxy = proxy_mode_on(settings.discord_proxy_mode, explicit or settings.discord_api_base)
    async with AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    timeout=httpx.Timeout(60.0, connect=15.0),
                    limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
                    follow_redirects=False,
                )
            )
        if limiter is None:
            limiter = await stack.enter_async_context(
                open_rate_limiter(
                    RateLimitConfig(global_rate=settings.discord_global_rate, proxy=proxy)
                )
            )
        yield DiscordClient(
            http,
            limiter,
            api_base=explicit or settings.discord_api_base,
            webhook_base=explicit,
            retry=retry,
            proxy=proxy,
        )
