"""Every typed error of talking to Discord, and the mapping from an error response to them.

A leaf: nothing else of `uploader.discord` is imported here. Every error derives from
`uploader.UploaderError`, carries a message a user can act on, and never contains a bot token
or a webhook URL: callers build messages from route templates and file names only, and
`redact` scrubs any text that came from elsewhere (httpx exception messages).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._errors import UploaderError
from .._limits import INVALID_REQUEST_WINDOW, MIB
from .._models import MediaFile

_WEBHOOK_PATH = re.compile(r"(/webhooks/\d+/)[^/?#\s\"'>]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove webhook tokens (any ``/webhooks/<id>/<token>`` path) and the given secrets."""
    text = _WEBHOOK_PATH.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class DiscordError(UploaderError):
    """Discord refused a request, or could not be reached.

    Attributes:
        status: the HTTP status, or None when no response arrived.
        code: Discord's JSON error code (e.g. 50035), or None.
    """

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None):
        self.status = status
        self.code = code
        super().__init__(message)


class FileTooLargeError(DiscordError):
    """Discord answered 413 (code 40005): a file or the whole request is over its limit.

    Attributes:
        limit_bytes: the limit Discord stated, or None when the answer did not say.
        filenames: the files that were in the refused request.
    """

    def __init__(
        self,
        files: Sequence[MediaFile],
        *,
        limit_bytes: int | None = None,
        status: int | None = 413,
        code: int | None = 40005,
    ):
        self.limit_bytes = limit_bytes
        self.filenames = tuple(f.filename for f in files)
        names = ", ".join(f"{f.filename} ({f.size_bytes / MIB:.1f} MiB)" for f in files)
        limit = f"the {limit_bytes / MIB:g} MiB limit" if limit_bytes else "Discord's limit"
        super().__init__(
            f"Discord refused the upload as over {limit}: {names}", status=status, code=code
        )


class DestinationNotFoundError(DiscordError):
    """The channel or webhook does not exist (10003/10015); a dead webhook is never used again."""


class MissingPermissionsError(DiscordError):
    """The token may not post here (401/403, 50001 missing access, 50013, 50027 bad token)."""


class InvalidRequestError(DiscordError):
    """Discord rejected the request's form (400, e.g. 50035 invalid form body, 50006 empty)."""


class DiscordUnavailableError(DiscordError):
    """Discord kept answering 5xx, or the connection kept failing, after bounded retries.

    Attributes:
        uncertain: an attempt may have posted (its answer was lost): the files are not
            provably undelivered. A bot post settles it by repeating its nonce in time.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        uncertain: bool = False,
    ):
        self.uncertain = uncertain
        super().__init__(message, status=status, code=code)


class DeliveryUncertainError(DiscordError):
    """A webhook request may have reached Discord but its answer was lost; it was not re-posted.

    Webhooks have no nonce, so re-sending could post the files twice. Check the channel. Behind
    a rate-limit proxy a bot post can end so too, once its retries are spent: sending the same
    batch again with the same nonce settles it.
    """


def delivery_uncertain(
    what: str, reason: str, files: Sequence[MediaFile], at_most_once: bool
) -> DeliveryUncertainError:
    """The error for a post that may have landed (``at_most_once``: a webhook post, no nonce)."""
    names = ", ".join(f.filename for f in files) or "a text message"
    if not at_most_once:
        return DeliveryUncertainError(
            f"{what}: {reason}, so the message may have been posted. Sending the same batch "
            f"again with the same nonce within a few minutes posts it at most once: {names}"
        )
    return DeliveryUncertainError(
        f"{what}: {reason} after the whole request was sent, so the message may have been "
        f"posted; it was not sent again (a webhook post cannot be deduplicated). "
        f"Check the channel for: {names}"
    )


class RateLimitBanError(UploaderError):
    """Discord's edge (Cloudflare) answered like a temporary IP ban; nothing more is sent."""

    def __init__(self) -> None:
        super().__init__(
            "Discord answered 429 without its rate-limit headers: this IP looks temporarily "
            "banned by Cloudflare for too many invalid requests (401/403/429). Sending stopped; "
            "wait about an hour before trying again, and check the token and permissions."
        )


class RateLimitWaitTooLongError(UploaderError):
    """A rate limit asks for a wait longer than the configured ``max_wait``.

    Attributes:
        seconds: how long the wait would have been.
        max_wait: the configured bound, or None when not known.
    """

    def __init__(self, seconds: float, max_wait: float | None = None) -> None:
        self.seconds = seconds
        self.max_wait = max_wait
        bound = "" if max_wait is None else f", more than the allowed {max_wait:g} s"
        super().__init__(
            f"Discord's rate limit asks to wait {seconds:.1f} s{bound}; giving up instead of "
            "sleeping (raise max_wait to wait longer)"
        )


class InvalidRequestBudgetError(UploaderError):
    """Too many 401/403/429 answers in the sliding window: stopping before Discord bans the IP.

    Attributes:
        count: invalid answers seen in the window.
        budget: the configured budget.
    """

    def __init__(self, count: int, budget: int) -> None:
        self.count = count
        self.budget = budget
        super().__init__(
            f"{count} invalid answers (401, 403 or 429) from Discord in the last "
            f"{INVALID_REQUEST_WINDOW / 60:g} minutes reached the budget of {budget}; sending "
            "stopped before Cloudflare bans this IP. Check the token, permissions and limits."
        )


class FileChangedError(UploaderError):
    """A file's size changed between planning (or stat) and upload; the attempt was abandoned.

    Attributes:
        filename: the file's name.
        expected: the size the upload was planned with.
        actual: the size found, or None when the file turned out longer while being read.
    """

    def __init__(self, filename: str, expected: int, actual: int | None):
        self.filename = filename
        self.expected = expected
        self.actual = actual
        found = "more" if actual is None else str(actual)
        super().__init__(
            f"{filename} changed while being uploaded: expected {expected} bytes, found {found}"
        )


class UploadFileError(UploaderError):
    """A file to upload could not be opened or read (removed, permissions)."""


class WebhookUrlError(UploaderError, ValueError):
    """A webhook URL is not of the form ``<base>/webhooks/<id>/<token>`` (URL not repeated)."""


NOT_FOUND_CODES = frozenset({10003, 10015})
PERMISSION_CODES = frozenset({50001, 50013, 50027})


def error_from_response(
    status: int,
    body: Any,
    *,
    what: str,
    files: Sequence[MediaFile] = (),
    secrets: Iterable[str] = (),
) -> DiscordError:
    """The typed error for a final (non-429, non-retried) error response.

    Args:
        status: the HTTP status.
        body: the decoded JSON body, or None.
        what: what was attempted, without secrets (e.g. ``"create message in channel 123"``).
        files: the files the request carried, named by `FileTooLargeError`.
        secrets: strings scrubbed from the server's message (the bot token).
    """
    secrets = tuple(secrets)
    code: int | None = None
    message = ""
    if isinstance(body, Mapping):
        raw_code = body.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        raw_message = body.get("message")
        message = redact(raw_message, secrets) if isinstance(raw_message, str) else ""
    detail = f"{what}: HTTP {status}" + (f", code {code}" if code is not None else "")
    if message:
        detail += f": {message}"
    plain = plain_refusal(status, code, what)
    if plain is not None:
        detail = f"{plain} ({what}: HTTP {status}" + (f", code {code})" if code else ")")
    if status == 413 or code == 40005:
        return FileTooLargeError(
            files, limit_bytes=_limit_from_body(body), status=status, code=code
        )
    if code in NOT_FOUND_CODES or (status == 404 and code is None):
        return DestinationNotFoundError(detail, status=status, code=code)
    if status in (401, 403) or code in PERMISSION_CODES:
        return MissingPermissionsError(detail, status=status, code=code)
    if status == 400:
        return InvalidRequestError(detail + _form_errors(body, secrets), status=status, code=code)
    if status >= 500:
        return DiscordUnavailableError(detail, status=status, code=code)
    return DiscordError(detail, status=status, code=code)


def plain_refusal(status: int, code: int | None, what: str) -> str | None:
    """What a refusal means for the whole run, in words (None for other answers).

    A refused token, a deleted webhook, an unknown channel or missing permissions stop every
    file alike, so the words name the cause the user can fix, not the HTTP exchange.
    """
    webhook = "webhook" in what
    if code == 50027 or (status == 401 and webhook):
        return "Discord refused the webhook token"
    if status == 401:
        return "Discord refused DISCORD_TOKEN (the bot token)"
    if code == 10015 or (status == 404 and webhook and code is None):
        return "the webhook does not exist (deleted?)"
    if code == 10003:
        return "Discord knows no such channel"
    if code == 50001:
        return "the bot cannot see this channel (missing access)"
    if code == 50013 or status == 403:
        return "the bot may not post files here (missing permissions)"
    return None


def _limit_from_body(body: Any) -> int | None:
    # Discord's 413 body says nothing about the limit today; accept a number if one appears.
    if isinstance(body, Mapping):
        for key in ("limit_bytes", "max_size", "limit"):
            value = body.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def _form_errors(body: Any, secrets: Sequence[str]) -> str:
    """The first few ``errors`` leaves of a 50035 body, as ``path: message`` text."""
    if not isinstance(body, Mapping) or not isinstance(body.get("errors"), Mapping):
        return ""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if len(found) >= 3 or not isinstance(node, Mapping):
            return
        errors = node.get("_errors")
        if isinstance(errors, list):
            for item in errors:
                if isinstance(item, Mapping) and isinstance(item.get("message"), str):
                    found.append(f"{path or 'body'}: {redact(item['message'], secrets)}")
        for key, child in node.items():
            if key != "_errors":
                walk(child, f"{path}.{key}" if path else str(key))

    walk(body["errors"], "")
    return " (" + "; ".join(found[:3]) + ")" if found else ""
