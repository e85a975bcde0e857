"""Talking to Discord: routes, rate limits, streamed multipart uploads, retries, errors.

The public face of the HTTP client: `open_discord_client` gives a `DiscordClient` that posts
files to a `Target` (a `Webhook` or a bot `Channel`), retrying as its `RetryPolicy` allows;
every error it raises on purpose is a `DiscordError` (or a rate-limit error) and never contains
a token or a webhook URL.

Where each Discord fact lives (private modules):

* ``_destinations``: webhook URLs and bot channels, their secrets and rate-limit majors.
* ``_routes``: `Route` and every endpoint the client calls, each template written once.
* ``_errors``: every error, and the mapping from an error answer to one (a leaf module).
* ``_headers``: reading answers: rate-limit headers, 429 scopes, JSON bodies, ban signs.
* ``_bucket``, ``_bucket_table``: the pure bucket rules and table (time in, grants out).
* ``_pacer``: the proactive global limit (GCRA); ``_guard``: the invalid-request budget.
* ``_ratelimit``: `RateLimitConfig`, permits, the actor and its factories.
* ``_retry``: backoff and `next_step`, the exactly-once rules after each attempt.
* ``_proxy``: proxy mode, for a shared rate-limit proxy in front of Discord.
* ``_multipart``: the streamed upload body; ``_messages``: what a post's answer holds.
* ``_client``: `DiscordClient`, its request loop and its operations.
"""

from __future__ import annotations

from ._client import DiscordClient as DiscordClient
from ._client import open_discord_client as open_discord_client
from ._destinations import Channel as Channel
from ._destinations import Target as Target
from ._destinations import Webhook as Webhook
from ._errors import DeliveryUncertainError as DeliveryUncertainError
from ._errors import DestinationNotFoundError as DestinationNotFoundError
from ._errors import DiscordError as DiscordError
from ._errors import DiscordUnavailableError as DiscordUnavailableError
from ._errors import FileChangedError as FileChangedError
from ._errors import FileTooLargeError as FileTooLargeError
from ._errors import InvalidRequestBudgetError as InvalidRequestBudgetError
from ._errors import InvalidRequestError as InvalidRequestError
from ._errors import MissingPermissionsError as MissingPermissionsError
from ._errors import RateLimitBanError as RateLimitBanError
from ._errors import RateLimitWaitTooLongError as RateLimitWaitTooLongError
from ._errors import UploadFileError as UploadFileError
from ._errors import WebhookUrlError as WebhookUrlError
from ._messages import SentAttachment as SentAttachment
from ._messages import SentMessage as SentMessage
from ._proxy import proxy_mode_on as proxy_mode_on
from ._retry import RetryPolicy as RetryPolicy
from ._waits import retry_waits_to as retry_waits_to
