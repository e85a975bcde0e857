"""Why the bot refuses a request: each error's message is the reply the user reads."""

from __future__ import annotations

from .._errors import UploaderError


class RequestRefusedError(UploaderError):
    """A request the bot will not carry out; ``str(error)`` says why, for the reply."""


class BadLinkError(RequestRefusedError):
    """The link is not an http(s) URL the bot can fetch (or its host does not resolve)."""


class PrivateAddressError(RequestRefusedError):
    """The link (or a redirect) leads to a private, loopback, link-local or metadata address."""


class TooLargeError(RequestRefusedError):
    """The download is over ``BOT_MAX_DOWNLOAD_MB``."""


class NotMediaError(RequestRefusedError):
    """The link serves something that is not an image, video or audio file."""


class BusyError(RequestRefusedError):
    """The user already has as many requests running as one user may."""


class WebPageError(NotMediaError):
    """The link serves a web page (with the ``ytdlp`` extra, yt-dlp may find its media)."""
