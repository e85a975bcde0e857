"""Fetching one link to disk: checked address, re-checked redirects, capped size, media only.

`download` streams a link into a request folder. Each hop connects to the address
`checked_address` approved (the URL's host is swapped for it; ``Host`` and TLS SNI keep the
name), redirects are followed by hand so each new host is checked again, the size is capped
before and while streaming, and the content type and file extension must both say media. The
file is written as ``<name>.part`` and renamed when complete; a failed or cancelled download
leaves nothing behind.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from urllib.parse import unquote

import attrs
import httpx
import trio

from .._http_words import http_failure
from .._mediatypes import media_type_of_suffix
from ._addresses import Resolver, checked_address, parse_link, resolve_host
from ._errors import BadLinkError, NotMediaError, TooLargeError, WebPageError

MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
MAX_NAME_CHARS = 100
OCTET_STREAMS = frozenset({"application/octet-stream", "binary/octet-stream", ""})
MEDIA_KINDS = frozenset({"image", "video", "audio"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DISPOSITION = re.compile(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", re.IGNORECASE)


@attrs.frozen
class Downloaded:
    """A link saved to disk.

    Attributes:
        path: the file.
        size: its size in bytes.
        content_type: the media type the server declared.
    """

    path: Path
    size: int
    content_type: str


async def make_request_dir(base: Path, user_id: str, message_id: str) -> Path:
    """Create ``<base>/<user_id>_<message_id>/`` readable by the bot's user only (0700).

    Raises:
        ValueError: an id is not a snowflake (digits only), so no path can be smuggled in.
    """
    if not (user_id.isdigit() and message_id.isdigit()):
        raise ValueError("user and message ids must be snowflakes")
    folder = trio.Path(base) / f"{user_id}_{message_id}"
    await folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    await folder.chmod(0o700)  # whatever the umask
    return Path(folder)


async def download(
    http: httpx.AsyncClient,
    url: str,
    folder: Path,
    *,
    max_bytes: int,
    allow_private: bool = False,
    resolve: Resolver = resolve_host,
) -> Downloaded:
    """Download ``url`` into ``folder``.

    Raises:
        BadLinkError: not an http(s) link, no host, a failed request, a non-200 answer.
        PrivateAddressError: the link or a redirect leads to a non-public address.
        TooLargeError: over ``max_bytes``.
        NotMediaError: not an image, video or audio file.
    """
    current = parse_link(url)
    for _ in range(MAX_REDIRECTS + 1):
        request = await _request(http, current, allow_private, resolve)
        try:
            response = await http.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise BadLinkError(f"The link could not be fetched: {http_failure(exc)}.") from None
        try:
            if response.is_redirect and "Location" in response.headers:
                current = parse_link(str(current.join(response.headers["Location"])))
                continue
            return await _save(response, current, folder, max_bytes)
        finally:
            await response.aclose()
    raise BadLinkError(f"The link redirects more than {MAX_REDIRECTS} times.")


async def _request(
    http: httpx.AsyncClient, url: httpx.URL, allow_private: bool, resolve: Resolver
) -> httpx.Request:
    address = await checked_address(url, allow_private=allow_private, resolve=resolve)
    pinned = url.copy_with(host=str(address))
    host = url.host if url.port is None else f"{url.host}:{url.port}"
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return http.build_request("GET", pinned, headers={"Host": host}, extensions=extensions)


async def _save(
    response: httpx.Response, url: httpx.URL, folder: Path, max_bytes: int
) -> Downloaded:
    if response.status_code != 200:
        raise BadLinkError(f"The link answered {response.status_code}.")
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    name = media_name(content_type, _filename(response, url))
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise TooLargeError(_too_large(int(length), max_bytes))
    path = await _free_path(folder / name)
    part = trio.Path(str(path) + ".part")
    size = 0
    try:
        async with await trio.open_file(part, "wb") as out:
            async for chunk in response.aiter_bytes(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLargeError(_too_large(size, max_bytes, more=True))
                await out.write(chunk)
        await part.rename(path)
    except httpx.HTTPError as exc:
        with trio.CancelScope(shield=True):
            await part.unlink(missing_ok=True)
        raise BadLinkError(f"The download broke off: {http_failure(exc)}.") from None
    except BaseException:
        with trio.CancelScope(shield=True):
            await part.unlink(missing_ok=True)
        raise
    return Downloaded(path, size, content_type)


def media_name(content_type: str, name: str) -> str:
    """``name`` (given a media suffix from the type when it has none) if both say media.

    Raises:
        NotMediaError: the type or the suffix says it is not an image, video or audio file.
    """
    suffix = Path(name).suffix.lower()
    if content_type.split("/")[0] in MEDIA_KINDS:
        if media_type_of_suffix(suffix) is not None:
            return name
        guessed = mimetypes.guess_extension(content_type) or ""
        if media_type_of_suffix(guessed) is not None:
            return safe_name(Path(name).stem + guessed)
        raise NotMediaError(f"The link serves {content_type}, a format I cannot post.")
    if content_type in OCTET_STREAMS and media_type_of_suffix(suffix) is not None:
        return name
    if content_type == "text/html":
        raise WebPageError("The link serves a web page, not an image, video or audio file.")
    what = content_type or "an unknown type"
    raise NotMediaError(f"The link serves {what}, not an image, video or audio file.")


def safe_name(raw: str) -> str:
    """A file name with only ``A-Z a-z 0-9 . _ -``, no leading dot, at most 100 characters."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", base).lstrip("._") or "download"
    if len(name) > MAX_NAME_CHARS:
        suffix = Path(name).suffix[:16]
        name = name[: MAX_NAME_CHARS - len(suffix)] + suffix
    return name


def _filename(response: httpx.Response, url: httpx.URL) -> str:
    match = _DISPOSITION.search(response.headers.get("Content-Disposition", ""))
    raw = unquote(match.group(1)) if match else unquote(url.path)
    return safe_name(raw)


async def _free_path(path: Path) -> Path:
    candidate, n = path, 0
    while await trio.Path(candidate).exists() or await trio.Path(f"{candidate}.part").exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _too_large(size: int, limit: int, *, more: bool = False) -> str:
    mib = 1024 * 1024
    over = "more than " if more else ""
    return f"The file is {over}{size / mib:.1f} MiB; the limit is {limit / mib:.1f} MiB."
