"""Bot mode's library pieces: commands, safe downloads, and request admission.

`request_from_message` / `request_from_interaction` turn gateway events into `Request` objects;
`download` fetches a link into a per-request folder (`make_request_dir`) with the checks of
`BotSettings` (size cap, public addresses only, media only); `RequestGate` applies the per-user
limit and the global queue. Every refusal is a `RequestRefusedError` whose text is the reply.
`run_bot` puts them together: ``bot = await nursery.start(run_bot, token)`` runs the bot on the
gateway until SIGINT/SIGTERM or ``bot.stop()``.
"""

from __future__ import annotations

from ._addresses import address_refusal as address_refusal
from ._addresses import checked_address as checked_address
from ._addresses import parse_link as parse_link
from ._commands import DEFERRED_RESPONSE as DEFERRED_RESPONSE
from ._commands import SLASH_COMMANDS as SLASH_COMMANDS
from ._commands import CommandError as CommandError
from ._commands import Interaction as Interaction
from ._commands import Request as Request
from ._commands import StatusCommand as StatusCommand
from ._commands import UploadCommand as UploadCommand
from ._commands import parse_command as parse_command
from ._commands import request_from_interaction as request_from_interaction
from ._commands import request_from_message as request_from_message
from ._download import Downloaded as Downloaded
from ._download import download as download
from ._download import make_request_dir as make_request_dir
from ._errors import BadLinkError as BadLinkError
from ._errors import BusyError as BusyError
from ._errors import NotMediaError as NotMediaError
from ._errors import PrivateAddressError as PrivateAddressError
from ._errors import RequestRefusedError as RequestRefusedError
from ._errors import TooLargeError as TooLargeError
from ._errors import WebPageError as WebPageError
from ._gate import GateStatus as GateStatus
from ._gate import RequestGate as RequestGate
from ._run import Bot as Bot
from ._run import run_bot as run_bot
from ._settings import BOT_ENV_VARIABLES as BOT_ENV_VARIABLES
from ._settings import BotSettings as BotSettings
from ._ytdlp import fetch_page as fetch_page
from ._ytdlp import ytdlp_available as ytdlp_available

__all__ = [
    "BOT_ENV_VARIABLES",
    "DEFERRED_RESPONSE",
    "SLASH_COMMANDS",
    "BadLinkError",
    "Bot",
    "BotSettings",
    "BusyError",
    "CommandError",
    "Downloaded",
    "GateStatus",
    "Interaction",
    "NotMediaError",
    "PrivateAddressError",
    "Request",
    "RequestGate",
    "RequestRefusedError",
    "StatusCommand",
    "TooLargeError",
    "UploadCommand",
    "WebPageError",
    "address_refusal",
    "checked_address",
    "download",
    "fetch_page",
    "make_request_dir",
    "parse_command",
    "parse_link",
    "request_from_interaction",
    "request_from_message",
    "run_bot",
    "ytdlp_available",
]
