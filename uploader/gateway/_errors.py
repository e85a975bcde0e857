"""The errors the gateway client raises on purpose; none of them ever holds the token."""

from __future__ import annotations

from .._errors import UploaderError


class GatewayError(UploaderError):
    """The gateway could not be reached or refused the bot for good."""


class GatewayClosedError(GatewayError):
    """Discord closed the gateway with a code after which reconnecting cannot help.

    Attributes:
        code: the close code (4004, 4010 to 4014).
        reason: what the code means, in words a bot owner can act on.
    """

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"Discord closed the gateway with {code}: {reason}")


class GatewayUnavailableError(GatewayError):
    """GET /gateway/bot failed (bad token, Discord down, an answer that is not a gateway).

    Attributes:
        status: the HTTP status, or None when no answer arrived.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)
