"""Admission, decided on a request's head: auth, lookups, injected faults, rate-limit buckets.

`admit` either lets a request through (with the channel it posts into and the bucket headers
its answer will carry) or answers it at once: 401, 404, an injected 429 or 5xx, or a 429 the
client earned by exceeding a bucket or the global limit.
"""

from __future__ import annotations

import secrets

import attrs

from ._limits import FixedWindows, to_ns
from ._records import Fault
from ._responses import (
    Header,
    Response,
    Scope,
    bucket_headers,
    error,
    rate_limited,
    server_error,
)
from ._routes import FAMILIES, WEBHOOK_FAMILY, Route, bucket_of, family_of
from ._world import Channel, Webhook, World

READ_LIMIT = (50, 1.0)
"""The bucket of the GET routes (only when ``channel_limit`` is set)."""


@attrs.frozen
class Admission:
    """A request that passed auth, lookups and rate limits.

    Attributes:
        channel: the channel it addresses (a webhook's own channel), if any.
        webhook: the webhook it came through, if any.
        bucket_headers: the ``X-RateLimit-*`` headers its answer carries.
    """

    channel: Channel | None
    webhook: Webhook | None
    bucket_headers: tuple[Header, ...]


class RateLimits:
    """The fake's buckets: per webhook, per channel and route family, reads, global.

    Args:
        webhook_limit: (requests, seconds) per webhook, shared by execute, edit and delete
            through its token; None: off.
        channel_limit: (requests, seconds) per channel for each family of `FAMILIES` (create,
            edit, delete, reactions, typing) apart; None turns these and the reads' limit off.
        global_limit: requests per second per bot token; None: off.
    """

    def __init__(
        self,
        *,
        webhook_limit: tuple[int, float] | None,
        channel_limit: tuple[int, float] | None,
        global_limit: int | None,
    ) -> None:
        self.global_ = FixedWindows(global_limit, 1.0) if global_limit is not None else None
        self._channel_limit = channel_limit
        self._families: dict[str, FixedWindows] = {}
        self._webhook = FixedWindows(*webhook_limit) if webhook_limit is not None else None
        self._read = FixedWindows(*READ_LIMIT) if channel_limit is not None else None

    def bucket_for(
        self, route: Route, webhook: Webhook | None
    ) -> tuple[FixedWindows | None, object]:
        """The windows a request counts against, and its key (the major parameter)."""
        family = family_of(route)
        if webhook is not None and family == WEBHOOK_FAMILY:
            return self._webhook, (webhook.id, webhook.token)
        major = route.channel_id or route.guild_id or route.webhook_id
        if route.name not in FAMILIES or self._channel_limit is None:
            return self._read, (family, major)
        windows = self._families.get(family)
        if windows is None:
            windows = self._families[family] = FixedWindows(*self._channel_limit)
        return windows, major


def admit(
    world: World,
    limits: RateLimits,
    route: Route,
    headers: dict[str, str],
    fault: Fault | None,
    now_ns: int,
) -> Admission | Response:
    """Let a request through, or answer it from its head alone.

    Args:
        world: the fake's state (tokens, channels, webhooks).
        limits: the buckets; a request that gets through is counted against its own.
        route: the matched route.
        headers: the request headers, names lower-cased.
        fault: the injected fault that hits this request, if any.
        now_ns: ``trio.current_time()`` in nanoseconds.
    """
    found = _authenticate(world, limits, route, headers, now_ns)
    if isinstance(found, Response):
        return found
    channel, webhook = found
    windows, key = limits.bucket_for(route, webhook)
    bucket = bucket_of(route)
    if fault is not None and fault.kind.startswith("rate_limit_"):
        return _injected_429(world, fault, windows, key, bucket, now_ns)
    if fault is not None and fault.kind == "status":
        return server_error(fault.status)
    if windows is None:
        return Admission(channel, webhook, ())
    state = windows.take(key, now_ns)
    shown = bucket_headers(bucket, state, world.clock.epoch(state.reset_ns))
    if not state.allowed:
        return rate_limited("user", state.reset_after_ns, shown)
    return Admission(channel, webhook, shown)


def _authenticate(
    world: World, limits: RateLimits, route: Route, headers: dict[str, str], now_ns: int
) -> tuple[Channel | None, Webhook | None] | Response:
    """Check the bot token (and the global limit) or the webhook; look up what the path names."""
    channel: Channel | None = None
    if route.webhook_token is None:
        if headers.get("authorization") != f"Bot {world.bot_token}":
            return error(401, 0, "401: Unauthorized")
        if limits.global_ is not None:
            state = limits.global_.take(world.bot_token, now_ns)
            if not state.allowed:
                return rate_limited("global", state.reset_after_ns)
    if route.name == "interaction_callback":
        interaction = world.interactions.get(route.webhook_token or "")
        if interaction is None or str(interaction.id) != route.message_id:
            return error(404, 10062, "Unknown interaction")
        return world.channels[interaction.channel_id], None
    webhook = (
        world.webhook_for(route.webhook_id, route.webhook_token)
        if route.webhook_id is not None
        else None
    )
    if route.webhook_id is not None:
        if webhook is None:
            return error(404, 10015, "Unknown Webhook")
        if route.webhook_token is not None and not secrets.compare_digest(
            webhook.token.encode(), route.webhook_token.encode()
        ):
            return error(401, 50027, "Invalid Webhook Token")
        channel = world.channels[webhook.channel_id]
    if route.channel_id is not None:
        channel = world.channels.get(route.channel_id)
        if channel is None:
            return error(404, 10003, "Unknown Channel")
    if route.guild_id is not None and route.guild_id not in world.guilds:
        return error(404, 10004, "Unknown Guild")
    return channel, webhook


def _injected_429(
    world: World,
    fault: Fault,
    windows: FixedWindows | None,
    key: object,
    bucket: str,
    now_ns: int,
) -> Response:
    """An injected 429: a user one shows its bucket spent, a shared one its real state.

    A user 429 never tells the client its bucket resets before the window the fake counts in
    (Discord would not): its ``retry_after`` is raised to that window's reset when requests
    were counted in it. Otherwise the client, believing a fresh window, would "cause" a 429.
    """
    retry_ns = to_ns(fault.retry_after)
    if fault.kind == "rate_limit_global":
        return rate_limited("global", retry_ns, injected=True)
    scope: Scope = "shared" if fault.kind == "rate_limit_shared" else "user"
    shown: tuple[Header, ...] = ()
    if windows is not None:
        state = windows.peek(key, now_ns)
        if scope == "user":
            if state.remaining < state.limit:  # never a reset before the window's real one
                retry_ns = max(retry_ns, state.reset_after_ns)
            state = attrs.evolve(
                state, remaining=0, reset_ns=now_ns + retry_ns, reset_after_ns=retry_ns
            )
        shown = bucket_headers(bucket, state, world.clock.epoch(state.reset_ns))
    return rate_limited(scope, retry_ns, shown, injected=True)
