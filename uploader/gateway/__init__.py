"""A trio client for Discord's gateway, to embed in any trio bot.

``async with open_gateway(token) as gw:`` (or ``gw = await nursery.start(run_gateway, token)``)
connects, identifies with `BOT_INTENTS`, keeps heartbeating, resumes after drops, op 7 and
resumable closes, identifies afresh when the session is gone, and stops for good on close codes
4004 and 4010 to 4014 with a `GatewayClosedError` naming the reason. Dispatches arrive on
``gw.events`` as `GatewayEvent` objects, once each and in order::

    async with open_gateway(token) as gw:
        async for event in gw.events:
            if event.name == "MESSAGE_CREATE":
                print(event.data["content"])

The token never appears in logs, errors or reprs.
"""

from __future__ import annotations

from ._client import Gateway as Gateway
from ._client import GatewayOptions as GatewayOptions
from ._client import open_gateway as open_gateway
from ._client import run_gateway as run_gateway
from ._errors import GatewayClosedError as GatewayClosedError
from ._errors import GatewayError as GatewayError
from ._errors import GatewayUnavailableError as GatewayUnavailableError
from ._http import fetch_gateway_info as fetch_gateway_info
from ._limits import IdentifyLimiter as IdentifyLimiter
from ._limits import SendWindow as SendWindow
from ._models import BOT_INTENTS as BOT_INTENTS
from ._models import GatewayEvent as GatewayEvent
from ._models import GatewayInfo as GatewayInfo
from ._models import Intents as Intents
from ._models import SessionStartLimit as SessionStartLimit
from ._protocol import FATAL_CLOSE_CODES as FATAL_CLOSE_CODES
from ._protocol import Op as Op

__all__ = [
    "BOT_INTENTS",
    "FATAL_CLOSE_CODES",
    "Gateway",
    "GatewayClosedError",
    "GatewayError",
    "GatewayEvent",
    "GatewayInfo",
    "GatewayOptions",
    "GatewayUnavailableError",
    "IdentifyLimiter",
    "Intents",
    "Op",
    "SendWindow",
    "SessionStartLimit",
    "fetch_gateway_info",
    "open_gateway",
    "run_gateway",
]
