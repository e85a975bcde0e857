"""Talking to Discord: routes, rate limits, streamed multipart uploads, retries, errors.

The public face of the HTTP client: `open_discord_client` gives a `DiscordClient` that posts
files to a `Webhook` or a bot `Channel`; every error it raises on purpose is a `DiscordError`
(or a rate-limit error) and never contains a token or a webhook URL.
"""

from __future__ import annotations

from ._client import DiscordClient as DiscordClient
from ._client import SentAttachment as SentAttachment
from ._client import SentMessage as SentMessage
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
