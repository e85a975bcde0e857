"""Pure retry planning: what to do after each attempt of a request (backoff: `_backoff`).

`next_step` holds the exactly-once rules: given how an attempt ended (an answer, or a
connection failure before or after the body went out), whether the request may take effect
twice, and what the request went through so far, it says `Done`, `RetryAfter`, `Uncertain`
or `Raise`. The client's request loop only carries the decision out.

Exactly-once delivery:

* Bot path: every create-message request carries a ``nonce`` with ``enforce_nonce: true``, so
  repeating it after a lost answer returns the first message: it is retried like any
  idempotent request (edits, reads) through 5xx answers and connection failures.
* Webhook path (``at_most_once``): execute-webhook has no nonce, so a request is sent again only
  when it provably did not post: the connection was never established, the request body was not
  fully sent (the server cannot hold a complete request), the answer was a 429 (Discord does not
  act on a rate-limited request), the answer came while the body was still being sent, or the
  answer was a 503 whose body says Discord's front end never reached a backend
  (`never_forwarded`: "reset reason: overflow", "connection failure", "no healthy upstream").
  Any other failure after the whole body was sent (connection reset, timeout waiting for the
  answer, 500/502/504/524, a 503 that does not say so) is `Uncertain`.
* Behind a rate-limit proxy that lost the body (`body_lost`): a 400 with code 50006 or 50035,
  relayed by the proxy, to a request that carried files means the proxy re-sent a body it had
  already consumed, after an attempt of its own that may have posted. A bot post is sent again
  with its nonce (and is `Uncertain`, never failed, once the attempts are spent: the nonce
  still settles it); a webhook post is `Uncertain` at once. A proxy's own 408 (it gave up
  waiting for Discord, `proxy_gave_up`) is taken as a 504: retried on the bot path, `Uncertain`
  on the webhook path.
"""

from __future__ import annotations

import enum
import random as _random
from collections.abc import Callable
from typing import TypeAlias

import attrs

from .._limits import DEFAULT_RETRY_DEADLINE_SECONDS
from .._models import MediaFile
from ._backoff import backoff_delay as backoff_delay
from ._backoff import backoff_envelope as backoff_envelope
from ._backoff import is_transient_status as is_transient_status
from ._errors import DiscordError, DiscordUnavailableError, error_from_response
from ._headers import decode_json_object, json_or_none

# --- what to do after an attempt ----------------------------------------------------------------

MAX_ATTEMPTS = 5
"""Attempts of one request through 5xx answers and connection failures (429s not counted)."""

MAX_RATE_LIMITED = 25
"""429 answers one request may get before the client gives up."""

WEBHOOK_RETRY_STATUSES: frozenset[int] = frozenset()
"""5xx answers after which a fully sent webhook post is sent again whatever their body says.

None by default: 500 (the handler failed, possibly after posting), 502, 504 and 524 (the edge
gave up waiting on a backend that may still post) leave the post uncertain, and so does a 503
unless its body proves it was never forwarded (`never_forwarded`).
"""

NOT_FORWARDED_REASONS = ("reset reason: overflow", "connection failure", "no healthy upstream")
"""What Discord's front end (Envoy) writes into a 503 that never reached a backend: its circuit
breaker refused the request (``overflow``), it could not connect to one (``remote connection
failure``), or none was up. Its other 503s (``connection termination``, ``remote reset``) come
after a backend had the request, which may have posted."""


@attrs.frozen
class RetryPolicy:
    """How long one request keeps trying through 5xx answers and connection failures.

    The plain ``RetryPolicy()`` counts attempts; the client's default is `RetryPolicy.timed`:
    retries bounded by time, so a Discord outage of a minute costs only that minute.

    Attributes:
        max_attempts: attempts through 5xx answers and connection failures (429s not counted);
            None bounds retries by ``deadline`` alone.
        deadline: seconds from the first attempt after which no retry starts; None bounds
            retries by ``max_attempts`` alone. A request deduplicated for a limited time (a bot
            post's nonce) never retries past that time (`Request.dedup_window`).
        max_rate_limited: 429 answers one request may get before it gives up.
        backoff_base: the backoff envelope of the first retry, in seconds.
        backoff_cap: the largest backoff, in seconds.
        webhook_retry_statuses: 5xx answers after which a fully sent webhook post is sent
            again whatever their body says (a 503 that proves it was not forwarded always is).
    """

    max_attempts: int | None = MAX_ATTEMPTS
    deadline: float | None = None
    max_rate_limited: int = MAX_RATE_LIMITED
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    webhook_retry_statuses: frozenset[int] = WEBHOOK_RETRY_STATUSES

    @classmethod
    def timed(
        cls, deadline: float = DEFAULT_RETRY_DEADLINE_SECONDS, *, backoff_cap: float = 10.0
    ) -> RetryPolicy:
        """Retry 5xx answers and connection failures until ``deadline`` seconds have passed.

        The backoff is capped lower (10 s) than a counted policy's: with the deadline as the
        bound, a short cap notices the end of an outage sooner at the cost of a few more
        requests (5xx answers do not count against Discord's invalid-request limit).
        """
        return cls(max_attempts=None, deadline=deadline, backoff_cap=backoff_cap)


class Stage(enum.Enum):
    """How far a request got before its connection failed."""

    NOT_CONNECTED = "not connected"
    """No connection was made: the request provably never left."""
    BODY_UNSENT = "body unsent"
    """The body was not fully sent: the server cannot hold a complete request."""
    BODY_SENT = "body sent"
    """The whole request went out: it may have taken effect."""


@attrs.frozen
class Answer:
    """Discord answered.

    Attributes:
        status: the HTTP status.
        body: the raw body.
        body_sent: whether the whole request body had gone out when the answer came.
        relayed: a proxy made the answer or relayed it without Discord's headers (no ``Via``,
            no ``X-RateLimit-*``; see `uploader.discord._headers.from_proxy`).
    """

    status: int
    body: bytes = b""
    body_sent: bool = True
    relayed: bool = False


def never_forwarded(answer: Answer, safe_statuses: frozenset[int] = WEBHOOK_RETRY_STATUSES) -> bool:
    """Whether a 5xx answer proves the request never reached a backend that could act on it.

    Args:
        answer: the 5xx answer.
        safe_statuses: statuses taken as not acted on whatever the body says.
    """
    if answer.status in safe_statuses:
        return True
    if answer.status != 503:
        return False
    text = answer.body[:4096].decode("utf-8", "replace").lower()
    return any(reason in text for reason in NOT_FORWARDED_REASONS)


@attrs.frozen
class Lost:
    """The transport failed before an answer came.

    Attributes:
        reason: what failed, without secrets (e.g. ``"ReadError: connection reset"``).
        stage: how far the request got.
        transient: whether trying again may help (timeouts, network and protocol errors).
    """

    reason: str
    stage: Stage
    transient: bool = True


Outcome: TypeAlias = Answer | Lost


@attrs.frozen
class Tries:
    """What one request went through so far, the attempt just made included.

    Attributes:
        failures: 5xx answers and connection failures (and, behind a proxy, its 400 for a body
            it lost and its own 408: see `body_lost`, `proxy_gave_up`).
        rate_limited: 429 answers.
        elapsed: seconds since the first attempt began.
        maybe_posted: some failed attempt may have taken effect (its whole body went out and
            the answer was lost, or was a 5xx that was not `never_forwarded`): if the request
            gives up, it did not provably fail.
    """

    failures: int = 0
    rate_limited: int = 0
    elapsed: float = 0.0
    maybe_posted: bool = False

    def after(
        self,
        outcome: Outcome,
        elapsed: float,
        safe_statuses: frozenset[int] = WEBHOOK_RETRY_STATUSES,
    ) -> Tries:
        """These tries plus ``outcome``, ``elapsed`` seconds after the first attempt began.

        Args:
            safe_statuses: 5xx answers taken as not acted on whatever their body says.
        """
        if isinstance(outcome, Answer) and outcome.status == 429:
            return attrs.evolve(self, rate_limited=self.rate_limited + 1, elapsed=elapsed)
        if isinstance(outcome, Lost) or is_transient_status(outcome.status):
            return attrs.evolve(
                self,
                failures=self.failures + 1,
                elapsed=elapsed,
                maybe_posted=self.maybe_posted or _maybe_acted(outcome, safe_statuses),
            )
        if outcome.status in (400, 408):  # a proxy that lost the body or gave up (`next_step`)
            return attrs.evolve(self, failures=self.failures + 1, elapsed=elapsed)
        return attrs.evolve(self, elapsed=elapsed)


def _maybe_acted(outcome: Outcome, safe_statuses: frozenset[int]) -> bool:
    """Whether a failed attempt may have taken effect on Discord's side."""
    if isinstance(outcome, Lost):
        return outcome.stage is Stage.BODY_SENT
    return outcome.body_sent and not never_forwarded(outcome, safe_statuses)


@attrs.frozen
class Request:
    """What the decision needs to know of a request.

    Attributes:
        what: a secret-free description, e.g. ``"create message in channel 7"``.
        at_most_once: the request must never take effect twice and has no nonce to make a
            repeat harmless (a webhook post): it is repeated only when it provably did not
            take effect. False for a bot post (nonce + ``enforce_nonce``), edits and reads.
        files: the files it carries, named by a 413's error.
        secrets: strings scrubbed from Discord's error messages (the token).
        via_proxy: proxy mode is on (`uploader.discord.proxy_mode_on`).
        dedup_window: seconds from the first attempt during which a repeat is deduplicated (a
            bot post's nonce window): no retry starts after it, whatever the policy's deadline.
    """

    what: str
    at_most_once: bool = False
    files: tuple[MediaFile, ...] = ()
    secrets: tuple[str, ...] = ()
    via_proxy: bool = False
    dedup_window: float | None = None


@attrs.frozen
class Done:
    """The request succeeded."""


@attrs.frozen
class RetryAfter:
    """Send the request again after ``seconds`` (0 for a 429: the rate limiter times it)."""

    seconds: float


@attrs.frozen
class Uncertain:
    """The request may have taken effect; it must not be repeated. ``reason`` says why."""

    reason: str


@attrs.frozen
class Raise:
    """The request failed for good with ``error``."""

    error: DiscordError


Step: TypeAlias = Done | RetryAfter | Uncertain | Raise


def next_step(
    outcome: Outcome,
    tries: Tries,
    request: Request,
    policy: RetryPolicy = RetryPolicy(),
    *,
    random: Callable[[], float] = _random.random,
) -> Step:
    """What to do after an attempt: the exactly-once rules in one place.

    Args:
        outcome: how the attempt ended.
        tries: the request's tries, this attempt included (`Tries.after`).
        request: what the request is, and whether it may take effect twice.
        policy: the bounds on retrying.
        random: the jitter's source of floats in ``[0, 1)``.
    """
    if isinstance(outcome, Answer):
        status = outcome.status
        if 200 <= status < 300:
            return Done()
        if status == 429:
            if tries.rate_limited > policy.max_rate_limited:
                message = f"{request.what}: rate limited {tries.rate_limited} times in a row"
                limited = DiscordUnavailableError(message, status=429, uncertain=tries.maybe_posted)
                return Raise(limited)
            return RetryAfter(0.0)
        if body_lost(outcome, request):
            return _resend_lost_body(outcome, tries, request, policy, random)
        if proxy_gave_up(outcome, request):
            if request.at_most_once and outcome.body_sent:
                return Uncertain("the proxy gave up waiting for Discord (HTTP 408)")
            return _backoff(
                "the proxy gave up waiting (HTTP 408)", 408, tries, request, policy, random
            )
        if not is_transient_status(status):
            body = json_or_none(outcome.body)
            error = error_from_response(
                status, body, what=request.what, files=request.files, secrets=request.secrets
            )
            return Raise(error)
        if (
            request.at_most_once
            and outcome.body_sent
            and not never_forwarded(outcome, policy.webhook_retry_statuses)
        ):
            return Uncertain(f"Discord answered HTTP {status}")
        return _backoff(f"HTTP {status}", status, tries, request, policy, random)
    if not outcome.transient:
        return Raise(DiscordError(f"{request.what}: {outcome.reason}"))
    if request.at_most_once and outcome.stage is Stage.BODY_SENT:
        return Uncertain(f"the connection failed ({outcome.reason})")
    return _backoff(outcome.reason, None, tries, request, policy, random)


BODY_LOST_CODES = frozenset({50006, 50035})
"""What Discord answers to a multipart request whose body came empty (50006, "Cannot send an
empty message") or cut short (50035, "Invalid Form Body")."""


def body_lost(outcome: Answer, request: Request) -> bool:
    """Whether a proxy re-sent a body it had already consumed (``@discordjs/proxy`` does, when
    it retries after its own 429, an upstream 5xx or its timeout).

    True for a 400 with code 50006 or 50035, relayed by the proxy, in proxy mode, to a request
    that carried files: uploader's own bodies always hold them, so Discord got less than was sent.
    """
    if not (request.via_proxy and request.files and outcome.relayed and outcome.status == 400):
        return False
    payload = decode_json_object(outcome.body)
    code = None if payload is None else payload.get("code")
    return isinstance(code, int) and not isinstance(code, bool) and code in BODY_LOST_CODES


def proxy_gave_up(outcome: Answer, request: Request) -> bool:
    """Whether a proxy answered 408 because Discord was slower than its timeout (nirn-proxy
    does): the request may have been posted, as after a 504. Proxy mode and no ``Via`` only."""
    return request.via_proxy and outcome.relayed and outcome.status == 408


def _resend_lost_body(
    outcome: Answer,
    tries: Tries,
    request: Request,
    policy: RetryPolicy,
    random: Callable[[], float],
) -> RetryAfter | Uncertain:
    """A bot post goes again with its nonce; a webhook post is uncertain (see `body_lost`)."""
    code = (decode_json_object(outcome.body) or {}).get("code")
    reason = (
        f"the proxy lost the request body (HTTP 400, code {code}) after an attempt of its own "
        "that may have posted"
    )
    if request.at_most_once:
        return Uncertain(reason)
    step = _backoff(reason, 400, tries, request, policy, random)
    if isinstance(step, Raise):
        return Uncertain(f"{reason}; resending it with the same nonce will settle it")
    return step


def _backoff(
    reason: str,
    status: int | None,
    tries: Tries,
    request: Request,
    policy: RetryPolicy,
    random: Callable[[], float],
) -> RetryAfter | Raise:
    """Retry after a jittered backoff, unless the attempts or the deadline are used up.

    Giving up after an attempt that may have posted says so (`DiscordUnavailableError.uncertain`).
    """
    give_up = DiscordUnavailableError(
        f"{request.what}: {reason}, {tries.failures} attempts",
        status=status,
        uncertain=tries.maybe_posted,
    )
    if policy.max_attempts is not None and tries.failures >= policy.max_attempts:
        return Raise(give_up)
    delay = backoff_delay(
        tries.failures - 1, base=policy.backoff_base, cap=policy.backoff_cap, random=random
    )
    deadline = _deadline(policy, request)
    if tries.maybe_posted and request.dedup_window is not None:
        # An attempt may have posted: only a repeat with the nonce can still tell, so keep
        # trying for as long as the nonce deduplicates, past the policy's deadline if need be.
        deadline = request.dedup_window
    if deadline is not None and tries.elapsed + delay > deadline:
        if policy.max_attempts is None:  # bounded by time: say how long it tried
            give_up = DiscordUnavailableError(
                f"{request.what}: {reason}; Discord unavailable for {tries.elapsed:.0f} s "
                f"({tries.failures} attempts)",
                status=status,
                uncertain=tries.maybe_posted,
            )
        return Raise(give_up)
    return RetryAfter(delay)


def _deadline(policy: RetryPolicy, request: Request) -> float | None:
    """The policy's deadline, never past the request's deduplication window."""
    if request.dedup_window is None:
        return policy.deadline
    if policy.deadline is None:
        return request.dedup_window
    return min(policy.deadline, request.dedup_window)
