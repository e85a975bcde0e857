"""The Discord HTTP client: one message per call, through the rate limiter, retried safely.

`DiscordClient` sends a batch of files (or a text message) to a `Webhook` or a bot `Channel`,
edits messages and reads a guild's upload limit. Each request is a loop: one attempt (a permit
from the `RateLimiter`, one HTTP exchange, the answer handed back to the limiter), then
`uploader.discord._retry.next_step` decides: done, retry after a delay (429s loop through the
limiter, which times the wait), uncertain, or raise a typed error. The exactly-once rules are
written there.

Bot posts carry a ``nonce`` (unique per batch, reused on every retry of it) with
``enforce_nonce: true``, so a repeat after a lost answer returns the first message instead of
posting a second; webhook posts have none, so they are repeated only when provably not posted.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import trio

from .._limits import (
    MAX_ATTACHMENTS,
    MAX_MESSAGE_CHARS,
    NONCE_WINDOW_SECONDS,
    file_limit_for_tier,
)
from .._models import MediaFile
from .._settings import DEFAULT_API_BASE, Settings
from .._version import __version__
from . import _routes
from ._destinations import Channel, Target, Webhook
from ._errors import (
    DestinationNotFoundError,
    DiscordError,
    InvalidRequestError,
    UploadFileError,
    delivery_uncertain,
    redact,
)
from ._headers import from_proxy, json_or_none
from ._messages import SentMessage, sent_message
from ._multipart import MultipartBody, attachment_names, build_multipart
from ._proxy import proxy_mode_on
from ._ratelimit import RateLimitConfig, RateLimiter, open_rate_limiter
from ._retry import (
    Answer,
    Done,
    Lost,
    Outcome,
    Raise,
    Request,
    RetryPolicy,
    Stage,
    Tries,
    Uncertain,
    next_step,
)
from ._waits import tell_retry_wait

logger = logging.getLogger("uploader.discord")

DEFAULT_RETRY = RetryPolicy.timed()
"""Retries bounded by time (`DEFAULT_RETRY_DEADLINE_SECONDS`), not by a count."""

PROJECT_URL = "https://github.com/uploader-project/uploader"
"""The URL Discord's required ``User-Agent: DiscordBot (<url>, <version>)`` names."""

USER_AGENT = f"DiscordBot ({PROJECT_URL}, {__version__})"

_CONNECT_FAILURES = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSIENT_FAILURES = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


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
        retry: RetryPolicy = DEFAULT_RETRY,
        random: Callable[[], float] = random.random,
        proxy: bool = False,
    ) -> None:
        self._http = http
        self._proxy = proxy
        self._limiter = limiter
        self._api_base = api_base.rstrip("/")
        self._webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self._policy = retry
        self._random = random
        self._dead_webhooks: set[str] = set()

    def __repr__(self) -> str:
        return f"<DiscordClient api_base={self._api_base!r}>"

    # -- public operations -------------------------------------------------------------------

    def base_url(self, destination: Target) -> str:
        """The base URL requests to ``destination`` go to (a webhook's own, or the API base)."""
        return self._url(destination, "")

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
            DeliveryUncertainError: the post may have happened: a webhook post (not repeated),
                or, behind a proxy that lost its body, a bot post whose retries were spent.
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
            "attachments": [
                {"id": i, "filename": name}
                for i, name in enumerate(attachment_names([f.filename for f in files]))
            ],
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

    # -- bot mode: interactions (uploader.bot) ------------------------------------------------

    async def answer_interaction(
        self, followup: Webhook, interaction_id: str, response: Mapping[str, Any]
    ) -> None:
        """Send an interaction's callback (e.g. ``{"type": 5}``, deferred) at most once.

        ``followup``: the interaction's follow-up `Webhook` (``<api>/webhooks/<app id>/<token>``;
        the deferred response is its message ``@original``).
        """
        endpoint = _routes.interaction_callback(followup, interaction_id)
        await self._request(followup, endpoint, json_body=dict(response), at_most_once=True)

    async def overwrite_commands(
        self, bot: Channel, application_id: str, commands: Sequence[Mapping[str, Any]]
    ) -> None:
        """Replace the application's global commands (only ``bot``'s token is used)."""
        endpoint = _routes.bulk_overwrite_commands(application_id)
        await self._request(bot, endpoint, json_body=[dict(c) for c in commands])

    # -- the request loop --------------------------------------------------------------------

    async def _post(
        self,
        destination: Target,
        payload: dict[str, Any],
        files: Sequence[MediaFile],
        nonce: str | None,
    ) -> SentMessage:
        window = None
        if isinstance(destination, Webhook):
            endpoint = _routes.execute_webhook(destination)
            at_most_once = True
        else:
            endpoint = _routes.create_message(destination)
            payload = {**payload, "nonce": nonce or new_nonce(), "enforce_nonce": True}
            at_most_once = False
            window = NONCE_WINDOW_SECONDS  # a retry past it could post twice

        async def body() -> MultipartBody:
            try:
                return await build_multipart(payload, files)
            except OSError as exc:
                raise UploadFileError(redact(str(exc))) from None

        response = await self._request(
            destination,
            endpoint,
            multipart=body,
            files=files,
            at_most_once=at_most_once,
            dedup_window=window,
        )
        return sent_message(_json(response), endpoint.what)

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
        dedup_window: float | None = None,
    ) -> Answer:
        """Send one request until it succeeds or fails for good (`next_step` decides).

        Args:
            at_most_once: the request must never take effect twice (webhook posts): retry only
                when it provably did not reach Discord, else raise `DeliveryUncertainError`.
            dedup_window: how long a repeat is deduplicated (a bot post's nonce window).
        """
        if isinstance(destination, Webhook) and destination.major in self._dead_webhooks:
            raise DestinationNotFoundError(
                f"{endpoint.what}: the webhook was deleted (Discord answered 404 earlier)",
                status=404,
            )
        facts = Request(
            endpoint.what,
            at_most_once,
            tuple(files),
            _secrets_of(destination),
            self._proxy,
            dedup_window,
        )
        tries = Tries()
        started = trio.current_time()
        safe = self._policy.webhook_retry_statuses
        while True:
            outcome = await self._attempt(destination, endpoint, json_body, multipart, facts)
            tries = tries.after(outcome, trio.current_time() - started, safe)
            step = next_step(outcome, tries, facts, self._policy, random=self._random)
            if isinstance(step, Done):
                assert isinstance(outcome, Answer)
                return outcome
            if isinstance(step, Uncertain):
                raise delivery_uncertain(endpoint.what, step.reason, files, at_most_once)
            if isinstance(step, Raise):
                self._note_dead_webhook(destination, endpoint, step.error)
                raise step.error
            if not (isinstance(outcome, Answer) and outcome.status == 429):
                logger.info("%s: %s (attempt %d)", endpoint.what, _told(outcome), tries.failures)
                await tell_retry_wait(step.seconds, _told(outcome))
            await trio.sleep(step.seconds)

    async def _attempt(
        self,
        destination: Target,
        endpoint: _routes.Endpoint,
        json_body: Any,
        multipart: Callable[[], Awaitable[MultipartBody]] | None,
        facts: Request,
    ) -> Outcome:
        """Send the request once under a rate-limit permit; say how it ended."""
        body = await multipart() if multipart is not None else None
        headers = self._headers(destination)
        if body is not None:
            headers.update(body.headers)
        request = self._http.build_request(
            endpoint.route.method,
            self._url(destination, endpoint.path),
            params=self._params(destination, endpoint),
            headers=headers,
            content=body.stream() if body is not None else None,
            json=json_body if body is None else None,
        )
        async with self._limiter.permit(endpoint.route) as permit:
            try:
                response = await self._http.send(request)
            except httpx.HTTPError as exc:
                connected = not isinstance(exc, _CONNECT_FAILURES)
                if connected:
                    permit.spent()  # it may have reached Discord: its slot was used
                reason = f"{type(exc).__name__}: {redact(str(exc), facts.secrets)}"
                transient = isinstance(exc, _TRANSIENT_FAILURES)
                return Lost(reason, _stage(connected, body), transient)
            permit.record(response.status_code, response.headers, response.content)
        logger.debug("%s: HTTP %d", endpoint.what, response.status_code)
        sent = body is None or body.fully_sent
        return Answer(response.status_code, response.content, sent, from_proxy(response.headers))

    def _note_dead_webhook(
        self, destination: Target, endpoint: _routes.Endpoint, error: DiscordError
    ) -> None:
        """Remember a webhook Discord said is gone, so it is never used again."""
        if isinstance(destination, Webhook) and (
            error.code == 10015
            or (isinstance(error, DestinationNotFoundError) and endpoint.route.method == "POST")
        ):
            self._dead_webhooks.add(endpoint.route.major)


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


def _check_content(content: str) -> None:
    if len(content) > MAX_MESSAGE_CHARS:
        raise InvalidRequestError(
            f"message text is {len(content)} characters; Discord allows {MAX_MESSAGE_CHARS}"
        )


def _secrets_of(destination: Target) -> tuple[str, ...]:
    return (destination.token,)


def _json(answer: Answer) -> Any:
    value = json_or_none(answer.body)
    if value is None:
        raise DiscordError(f"Discord answered HTTP {answer.status} without a JSON body")
    return value


def _stage(connected: bool, body: MultipartBody | None) -> Stage:
    if not connected:
        return Stage.NOT_CONNECTED
    return Stage.BODY_SENT if body is None or body.fully_sent else Stage.BODY_UNSENT


def _told(outcome: Outcome) -> str:
    return f"HTTP {outcome.status}" if isinstance(outcome, Answer) else outcome.reason


__all__ = ["DiscordClient", "open_discord_client"]
