"""Proxy mode: whether a shared rate-limit proxy stands between uploader and Discord.

Many processes on one bot token share its limits through a REST proxy (nirn-proxy,
twilight-http-proxy, ``@discordjs/proxy``) given as the API base. Proxy mode changes three
things, each only on evidence an answer carries:

* A 429 without rate-limit headers and without ``Via`` is the proxy's own (``@discordjs/proxy``
  with ``rejectOnRateLimit``): it is waited out by its ``Retry-After`` and not counted as an
  invalid request (Discord never saw it). Only a body that says so (Cloudflare's HTML or
  ``error code: 1015``) is still a ban.
* Successes without any ``X-RateLimit-*`` header mean the proxy strips them and limits for the
  group: the route's bucket stops holding one request at a time and the proactive global pacing
  stops (the proxy paces the token). 429s still block, and the invalid-request guard still counts
  Discord's 401, 403 and 429 answers.
* A ``400`` with code 50006 or 50035 and no ``Via`` (the proxy's relay of an error) to a request
  that carried files means the proxy re-sent a body it had already consumed: see
  `uploader.discord._retry.next_step`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DISCORD_HOSTS = frozenset(
    {"discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com"}
)
"""The hosts that are Discord itself; any other API base is taken for a proxy in ``auto``."""


def proxy_mode_on(mode: str, api_base: str) -> bool:
    """Whether proxy mode applies to requests sent to ``api_base``.

    Args:
        mode: ``on``, ``off``, or ``auto`` (on whenever ``api_base``'s host is not Discord's).
        api_base: where bot requests (and, when it was given, webhook requests) go.

    Raises:
        ValueError: ``mode`` is none of the three.
    """
    if mode == "on":
        return True
    if mode == "off":
        return False
    if mode != "auto":
        raise ValueError(f"proxy mode must be auto, on or off, not {mode!r}")
    host = (urlsplit(api_base).hostname or "").lower().rstrip(".")
    return host not in DISCORD_HOSTS
