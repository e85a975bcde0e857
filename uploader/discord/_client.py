"""The Discord HTTP client: one message per call, through the rate limiter, retried safely.

`DiscordClient` sends a batch of files (or a text message) to a `Webhook` or a bot `Channel`,
edits messages and reads a guild's upload limit. Every request takes a permit from the
`RateLimiter` and hands the answer back to it; 429s loop through the limiter (which times the
wait), 5xx answers and connection failures are retried a bounded number of times with
`backoff_delay`, and every other 4xx is final and typed (`uploader.discord._errors`).

Exactly-once delivery:

* Bot path: every create-message request carries a ``nonce`` (unique per batch, reused on every
  retry of that batch) with ``enforce_nonce: true``, so when an answer is lost and the request is
  sent again, Discord returns the first message instead of posting a second.
* Webhook path: execute-webhook has no nonce, so a request is sent again only when it provably
  did not post: the connection was never established, the request body was not fully sent (the
  server cannot hold a complete request), the answer was a 429 (Discord does not act on a
  rate-limited request), or the answer came while the body was still being sent. A 503 is also
  retried by default (see `WEBHOOK_RETRY_STATUSES`). Any other failure after the whole body was
  sent (connection reset, timeout waiting for the answer, 500/502/504/524) raises
  `DeliveryUncertainError` and is not re-posted.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
import httpx
import trio

from .._limits import MAX_ATTACHMENTS, MAX_MESSAGE_CHARS, file_limit_for_tier
from .._models import MediaFile
from .._settings import DEFAULT_API_BASE, Settings
from .._version import __version__
from . import _routes
from ._destinations import Channel, Target, Webhook
from ._errors import (
    DeliveryUncertainError,
    DestinationNotFoundError,
    DiscordError,
    DiscordUnavailableError,
    InvalidRequestError,
    UploadFileError,
    error_from_response,
    redact,
)
from ._headers import json_or_none
from ._multipart import MultipartBody, build_multipart
from ._ratelimit import RateLimitConfig, RateLimiter, open_rate_limiter
from ._retry import backoff_delay, is_transient_status

logger = logging.getLogger("uploader.discord")

PROJECT_URL = "https://github.com/uploader-project/uploader"
"""The URL Discord's required ``User-Agent: DiscordBot (<url>, <version>)`` names."""

USER_AGENT = f"DiscordBot ({PROJECT_URL}, {__version__})"

MAX_ATTEMPTS = 5
"""Attempts of one request through 5xx answers and connection failures (429s not counted)."""

MAX_RATE_LIMITED = 25
"""429 answers one request may get in a row before the client gives up."""


WEBHOOK_RETRY_STATUSES = frozenset({503})
"""5xx answers after which a webhook post is sent again although its body was fully sent.

503 is what a front end answers when it refuses to forward a request (overload, maintenance).
500 (the handler failed, possibly after posting), 502, 504 and 524 (the edge gave up waiting on
a backend that may still post) are not safe: they raise `DeliveryUncertainError`.
"""

"""Per-file upload limit by guild boost tier (Discord's documented and reported values)."""

_CONNECT_FAILURES = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSIENT_FAILURES = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@attrs.frozen
class SentAttachment:
    """An attachment of a posted message, as Discord reported it.

    Attributes:
        id: the attachment's snowflake.
        filename: its name on Discord.
        size: its size in bytes.
        url: where Discord serves it.
    """

    id: str
    filename: str
    size: int
    url: str


@attrs.frozen
class SentMessage:
    """A posted message.

    Attributes:
        id: the message's snowflake.
        channel_id: the channel (or thread) it is in.
        attachments: its attachments, in the order they were sent.
    """

    id: str
    channel_id: str
    attachments: tuple[SentAttachment, ...]


def new_nonce() -> str:
    """A fresh create-message nonce: 24 hex characters (Discord allows 25)."""
    return secrets.token_hex(12)


class _HttpxUrlFilter(logging.Filter):
    """Scrub webhook tokens from httpx's own log lines (it logs every request's URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True


_URL_FILTER = _HttpxUrlFilter()


def install_log_redaction() -> None:
    """Make the ``httpx`` and ``httpcore`` loggers drop webhook tokens (idempotent)."""
    for name in ("httpx", "httpcore"):
        log = logging.getLogger(name)
        if _URL_FILTER not in log.filters:
            log.addFilter(_URL_FILTER)


class DiscordClient:
    """Sends messages to Discord; build it with `open_discord_client`.

    Methods are safe to call from many tasks at once; the rate limiter orders them.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        limiter: RateLimiter,
        *,
        api_base: str,
        webhook_base: str | None,
        max_attempts: int = MAX_ATTEMPTS,
        webhook_retry_statuses: frozenset[int] = WEBHOOK_RETRY_STATUSES,
        random: Callable[[], float] = random.random,
    ) -> None:
        self._http = http
        self._limiter = limiter
        self._api_base = api_base.rstrip("/")
        self._webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self._max_attempts = max_attempts
        self._webhook_retry_statuses = webhook_retry_statuses
        self._random = random
        self._dead_webhooks: set[str] = set()

    def __repr__(self) -> str:
        return f"<DiscordClient api_base={self._api_base!r}>"

    # -- public operations -------------------------------------------------------------------

    async def send_files(
        self,
        destination: Target,
        files: Sequence[MediaFile],
        *,
        content: str = "",
        nonce: str | None = None,
    ) -> SentMessage:
        """Post one message carrying ``files`` (at most 10) and ``content``.

        Args:
            destination: the webhook or channel.
            files: the attachments, sent as ``files[0..n]`` in this order.
            content: the message text (at most `MAX_MESSAGE_CHARS` characters).
            nonce: the bot path's idempotency key; a fresh one by default. Pass the same nonce to
                send the same batch again within a few minutes without a duplicate.

        Returns:
            The posted message, its attachments in the order of ``files``.

        Raises:
            FileTooLargeError: Discord answered 413.
            DestinationNotFoundError, MissingPermissionsError, InvalidRequestError: final 4xx.
            DiscordUnavailableError: 5xx answers or connection failures outlasted the retries.
            DeliveryUncertainError: webhook only; the post may have happened (not repeated).
            FileChangedError, UploadFileError: a file changed or could not be read.
            RateLimitBanError, RateLimitWaitTooLongError, InvalidRequestBudgetError: from the
                rate limiter.
        """
        if len(files) > MAX_ATTACHMENTS:
            raise InvalidRequestError(
                f"{len(files)} files in one message; Discord allows {MAX_ATTACHMENTS}"
            )
        _check_content(content)
        payload: dict[str, Any] = {
            "content": content,
            "allowed_mentions": {"parse": []},
            "attachments": [{"id": i, "filename": f.filename} for i, f in enumerate(files)],
        }
        return await self._post(destination, payload, files, nonce)

    async def send_message(
        self, destination: Target, content: str, *, nonce: str | None = None
    ) -> SentMessage:
        """Post a text message (same delivery guarantees as `send_files`).

        Raises:
            InvalidRequestError: ``content`` is empty or longer than `MAX_MESSAGE_CHARS` characters.
        """
        if not content:
            raise InvalidRequestError("an empty message cannot be sent")
        _check_content(content)
        payload = {"content": content, "allowed_mentions": {"parse": []}}
        return await self._post(destination, payload, (), nonce)

    async def edit_message(self, destination: Target, message_id: str, content: str) -> None:
        """Replace a message's text (an edit is idempotent, so it is always retried).

        Raises:
            DiscordError: Discord refused the edit (e.g. 30046, too old to edit often).
        """
        _check_content(content)
        if isinstance(destination, Webhook):
            endpoint = _routes.edit_webhook_message(destination, message_id)
        else:
            endpoint = _routes.edit_channel_message(destination, message_id)
        await self._request(
            destination,
            endpoint,
            json_body={"content": content, "allowed_mentions": {"parse": []}},
            at_most_once=False,
        )

    async def fetch_upload_limit(self, destination: Target) -> int | None:
        """The per-file upload limit in bytes from the guild's boost tier.

        Returns:
            The limit; None when it cannot be known (a webhook has no token to read the guild
            with; a channel outside a guild).
        """
        if isinstance(destination, Webhook):
            return None
        channel = _json(await self._request(destination, _routes.get_channel(destination)))
        guild_id = channel.get("guild_id") if isinstance(channel, Mapping) else None
        if not isinstance(guild_id, str | int):
            return None
        guild = _json(await self._request(destination, _routes.get_guild(str(guild_id))))
        tier = guild.get("premium_tier") if isinstance(guild, Mapping) else None
        if not isinstance(tier, int):
            return None
        return file_limit_for_tier(tier)

    # -- the request loop --------------------------------------------------------------------

    async def _post(
        self,
        destination: Target,
        payload: dict[str, Any],
        files: Sequence[MediaFile],
        nonce: str | None,
    ) -> SentMessage:
        if isinstance(destination, Webhook):
            endpoint = _routes.execute_webhook(destination)
            at_most_once = True
        else:
            endpoint = _routes.create_message(destination)
            payload = {**payload, "nonce": nonce or new_nonce(), "enforce_nonce": True}
            at_most_once = False

        async def body() -> MultipartBody:
            try:
                return await build_multipart(payload, files)
            except OSError as exc:
                raise UploadFileError(redact(str(exc))) from None

        response = await self._request(
            destination, endpoint, multipart=body, files=files, at_most_once=at_most_once
        )
        return _sent_message(_json(response), endpoint.what)

    def _url(self, destination: Target, path: str) -> str:
        if isinstance(destination, Webhook):
            return (self._webhook_base or destination.prefix) + path
        return self._api_base + path

    def _params(self, destination: Target, endpoint: _routes.Endpoint) -> dict[str, str]:
        if not isinstance(destination, Webhook):
            return {}
        params = {}
        if endpoint.route.method == "POST":
            params["wait"] = "true"
        thread_id = destination.effective_thread_id
        if thread_id is not None:
            params["thread_id"] = str(thread_id)
        return params

    def _headers(self, destination: Target) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        if isinstance(destination, Channel):
            headers["Authorization"] = f"Bot {destination.token}"
        return headers

    async def _request(
        self,
        destination: Target,
        endpoint: _routes.Endpoint,
        *,
        json_body: Any = None,
        multipart: Callable[[], Awaitable[MultipartBody]] | None = None,
        files: Sequence[MediaFile] = (),
        at_most_once: bool = False,
    ) -> httpx.Response:
        """Send one request until it succeeds or fails for good.

        Args:
            at_most_once: the request must never take effect twice (webhook posts): retry only
                when it provably did not reach Discord, else raise `DeliveryUncertainError`.
        """
        if isinstance(destination, Webhook) and destination.major in self._dead_webhooks:
            raise DestinationNotFoundError(
                f"{endpoint.what}: the webhook was deleted (Discord answered 404 earlier)",
                status=404,
            )
        secret_values = _secrets_of(destination)
        url = self._url(destination, endpoint.path)
        params = self._params(destination, endpoint)
        failures = 0
        rate_limited = 0
        while True:
            body = await multipart() if multipart is not None else None
            headers = self._headers(destination)
            if body is not None:
                headers.update(body.headers)
            request = self._http.build_request(
                endpoint.route.method,
                url,
                params=params,
                headers=headers,
                content=body.stream() if body is not None else None,
                json=json_body if body is None else None,
            )
            failure: httpx.HTTPError | None = None
            async with self._limiter.permit(endpoint.route) as permit:
                try:
                    response = await self._http.send(request)
                except httpx.HTTPError as exc:
                    failure = exc
                    if not isinstance(exc, _CONNECT_FAILURES):
                        permit.spent()  # it may have reached Discord: its slot was used
                else:
                    permit.record(response.status_code, response.headers, response.content)

            if failure is not None:
                reason = f"{type(failure).__name__}: {redact(str(failure), secret_values)}"
                if not isinstance(failure, _TRANSIENT_FAILURES):
                    raise DiscordError(f"{endpoint.what}: {reason}") from None
                reached = not isinstance(failure, _CONNECT_FAILURES) and (
                    body is None or body.fully_sent
                )
                if at_most_once and reached:
                    raise _uncertain(endpoint.what, f"the connection failed ({reason})", files)
                failures += 1
                logger.info("%s: %s (attempt %d)", endpoint.what, reason, failures)
                if failures >= self._max_attempts:
                    raise DiscordUnavailableError(
                        f"{endpoint.what}: {reason}, {failures} attempts"
                    ) from None
                await trio.sleep(backoff_delay(failures - 1, random=self._random))
                continue

            status = response.status_code
            logger.debug("%s: HTTP %d", endpoint.what, status)
            if 200 <= status < 300:
                return response
            if status == 429:
                rate_limited += 1
                if rate_limited > MAX_RATE_LIMITED:
                    raise DiscordUnavailableError(
                        f"{endpoint.what}: rate limited {rate_limited} times in a row", status=429
                    )
                continue
            if is_transient_status(status):
                if (
                    at_most_once
                    and (body is None or body.fully_sent)
                    and status not in self._webhook_retry_statuses
                ):
                    raise _uncertain(endpoint.what, f"Discord answered HTTP {status}", files)
                failures += 1
                logger.info("%s: HTTP %d (attempt %d)", endpoint.what, status, failures)
                if failures >= self._max_attempts:
                    raise DiscordUnavailableError(
                        f"{endpoint.what}: HTTP {status}, {failures} attempts", status=status
                    )
                await trio.sleep(backoff_delay(failures - 1, random=self._random))
                continue
            error = error_from_response(
                status,
                json_or_none(response.content),
                what=endpoint.what,
                files=files,
                secrets=secret_values,
            )
            if isinstance(destination, Webhook) and (
                error.code == 10015
                or (isinstance(error, DestinationNotFoundError) and endpoint.route.method == "POST")
            ):
                self._dead_webhooks.add(endpoint.route.major)
            raise error


@asynccontextmanager
async def open_discord_client(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    limiter: RateLimiter | None = None,
    api_base: str | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    webhook_retry_statuses: frozenset[int] = WEBHOOK_RETRY_STATUSES,
) -> AsyncIterator[DiscordClient]:
    """Open a `DiscordClient`.

    Args:
        settings: ``discord_api_base`` (bot requests) and ``discord_global_rate``.
        http: the HTTP client to use (kept open); by default one is opened and closed here.
        limiter: the rate limiter to share (e.g. between clients); by default one is opened
            with ``settings.discord_global_rate``.
        api_base: overrides ``settings.discord_api_base``. Webhook requests go to the webhook
            URL's own base (``<prefix>/webhooks/...``) unless an API base was given explicitly,
            here or as a non-default ``settings.discord_api_base`` (e.g. a rate-limit proxy).
        max_attempts: attempts of one request through 5xx answers and connection failures.
        webhook_retry_statuses: 5xx answers after which a fully sent webhook post is retried.
    """
    install_log_redaction()
    explicit = api_base or (
        settings.discord_api_base if settings.discord_api_base != DEFAULT_API_BASE else None
    )
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
                open_rate_limiter(RateLimitConfig(global_rate=settings.discord_global_rate))
            )
        yield DiscordClient(
            http,
            limiter,
            api_base=explicit or settings.discord_api_base,
            webhook_base=explicit,
            max_attempts=max_attempts,
            webhook_retry_statuses=webhook_retry_statuses,
        )


def _check_content(content: str) -> None:
    if len(content) > MAX_MESSAGE_CHARS:
        raise InvalidRequestError(
            f"message text is {len(content)} characters; Discord allows {MAX_MESSAGE_CHARS}"
        )


def _secrets_of(destination: Target) -> tuple[str, ...]:
    return (destination.token,)


def _uncertain(what: str, reason: str, files: Sequence[MediaFile]) -> DeliveryUncertainError:
    names = ", ".join(f.filename for f in files) or "a text message"
    return DeliveryUncertainError(
        f"{what}: {reason} after the whole request was sent, so the message may have been "
        f"posted; it was not sent again (a webhook post cannot be deduplicated). "
        f"Check the channel for: {names}"
    )


def _json(response: httpx.Response) -> Any:
    value = json_or_none(response.content)
    if value is None:
        raise DiscordError(f"Discord answered HTTP {response.status_code} without a JSON body")
    return value


def _sent_message(data: Any, what: str) -> SentMessage:
    try:
        attachments = tuple(
            SentAttachment(str(a["id"]), str(a["filename"]), int(a["size"]), str(a["url"]))
            for a in data.get("attachments") or ()
        )
        return SentMessage(str(data["id"]), str(data["channel_id"]), attachments)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise DiscordError(f"{what}: Discord's answer is not a message object") from None


__all__ = ["DiscordClient", "SentAttachment", "SentMessage", "open_discord_client"]
