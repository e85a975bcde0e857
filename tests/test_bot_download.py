"""Bot downloads: which links may be fetched, the size cap, media checks, clean folders."""

from __future__ import annotations

import functools
import ipaddress
import stat
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from uploader.bot import (
    BadLinkError,
    NotMediaError,
    PrivateAddressError,
    TooLargeError,
    address_refusal,
    download,
    make_request_dir,
    parse_link,
)

PUBLIC = "93.184.216.34"
DNS = {
    "media.example": [PUBLIC],
    "evil.example": ["10.0.0.5"],
    "mixed.example": [PUBLIC, "127.0.0.1"],
    "local.example": ["127.0.0.1"],
}
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(1000)


async def resolve(host: str, port: int) -> Sequence[str]:
    return DNS.get(host, [])


Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, seen: list[httpx.Request]) -> httpx.AsyncClient:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(record))


def serve(body: bytes = VIDEO, content_type: str = "video/mp4", **headers: str) -> Handler:
    return lambda request: httpx.Response(
        200, content=body, headers={"Content-Type": content_type, **headers}
    )


async def fetch(
    handler: Handler, url: str, folder: Path, *, max_bytes: int = 10_000, allow: bool = False
) -> tuple[Path, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    async with client(handler, seen) as http:
        got = await download(
            http, url, folder, max_bytes=max_bytes, allow_private=allow, resolve=resolve
        )
    return got.path, seen


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "an address that is not public"),
        ("0.0.0.0", "private"),
        ("224.0.0.1", "an address that is not public"),
    ],
)
def test_non_public_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address))
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", [PUBLIC, "2606:4700:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://media.example/a.mp4",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "no link",
        "http://user:pw@media.example/a.mp4",
        "https://media.example/" + "a" * 3000,
    ],
)
def test_links_that_are_not_http_are_refused(url: str) -> None:
    with pytest.raises(BadLinkError):
        parse_link(url)


async def test_download_connects_to_the_checked_address_and_keeps_the_name(
    tmp_path: Path,
) -> None:
    path, seen = await fetch(serve(), "https://media.example/clips/Cat%20video.mp4?x=1", tmp_path)
    assert path == tmp_path / "Cat_video.mp4"
    assert path.read_bytes() == VIDEO
    [request] = seen
    assert request.url.host == PUBLIC
    assert request.headers["Host"] == "media.example"
    assert request.extensions["sni_hostname"] == "media.example"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Cat_video.mp4"]


@pytest.mark.parametrize("host", ["evil.example", "mixed.example", "127.0.0.1", "[::1]"])
async def test_private_addresses_are_refused_before_connecting(tmp_path: Path, host: str) -> None:
    seen: list[httpx.Request] = []
    async with client(serve(), seen) as http:
        with pytest.raises(PrivateAddressError, match="not fetched"):
            await download(
                http, f"http://{host}/a.mp4", tmp_path, max_bytes=10_000, resolve=resolve
            )
    assert seen == []


async def test_a_redirect_to_a_private_address_is_refused(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/x.mp4"})

    with pytest.raises(PrivateAddressError, match="metadata"):
        await fetch(handler, "https://media.example/a.mp4", tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_public_redirects_are_followed_and_each_hop_rechecked(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old.mp4":
            return httpx.Response(301, headers={"Location": "/new.mp4"})
        return serve()(request)

    path, seen = await fetch(handler, "http://media.example/old.mp4", tmp_path)
    assert path.name == "new.mp4"
    assert [r.url.host for r in seen] == [PUBLIC, PUBLIC]

    def loop(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "/again"})

    with pytest.raises(BadLinkError, match="redirects more than"):
        await fetch(loop, "http://media.example/a", tmp_path)


async def test_private_links_are_allowed_when_configured(tmp_path: Path) -> None:
    path, seen = await fetch(serve(), "http://local.example:8080/a.mp4", tmp_path, allow=True)
    assert path.exists() and seen[0].url.host == "127.0.0.1"
    assert seen[0].headers["Host"] == "local.example:8080"


async def test_over_the_cap_by_content_length_or_while_streaming(tmp_path: Path) -> None:
    with pytest.raises(TooLargeError, match="limit is"):
        await fetch(serve(bytes(20_000)), "http://media.example/a.mp4", tmp_path)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield bytes(4096)

    def unsized(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(), headers={"Content-Type": "video/mp4"})

    with pytest.raises(TooLargeError, match="more than"):
        await fetch(unsized, "http://media.example/a.mp4", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "content_type", "expected"),
    [
        ("http://media.example/page", "text/html; charset=utf-8", "a web page"),
        ("http://media.example/a.mp4", "text/html", "a web page"),
        ("http://media.example/a.exe", "application/octet-stream", "application/octet-stream"),
        ("http://media.example/a.pdf", "application/pdf", "application/pdf"),
        ("http://media.example/a", "image/x-unknown-thing", "a format I cannot post"),
    ],
)
async def test_links_that_are_not_media_are_refused(
    tmp_path: Path, url: str, content_type: str, expected: str
) -> None:
    with pytest.raises(NotMediaError, match=expected):
        await fetch(serve(content_type=content_type), url, tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_names_come_from_the_type_or_a_safe_disposition(tmp_path: Path) -> None:
    path, _ = await fetch(serve(content_type="image/png"), "http://media.example/img", tmp_path)
    assert path.name == "img.png"
    sneaky = serve(
        content_type="application/octet-stream",
        **{"Content-Disposition": 'attachment; filename="../../.bashrc.jpg"'},
    )
    path, _ = await fetch(sneaky, "http://media.example/x", tmp_path)
    assert path == tmp_path / "bashrc.jpg"
    again, _ = await fetch(sneaky, "http://media.example/x", tmp_path)
    assert again == tmp_path / "bashrc-1.jpg"


async def test_a_failed_answer_says_its_status(tmp_path: Path) -> None:
    with pytest.raises(BadLinkError, match="answered 404"):
        await fetch(lambda r: httpx.Response(404), "http://media.example/a.mp4", tmp_path)
    with pytest.raises(BadLinkError, match="does not resolve"):
        await fetch(serve(), "http://nowhere.example/a.mp4", tmp_path)


async def test_cancelling_a_download_leaves_nothing_behind(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield bytes(1000)
        await trio.sleep_forever()
        yield b""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=slow(), headers={"Content-Type": "video/mp4"})

    with trio.move_on_after(5) as scope:
        await fetch(handler, "http://media.example/a.mp4", tmp_path)
    assert scope.cancelled_caught
    assert list(tmp_path.iterdir()) == []


async def test_request_folders_are_private_and_named_by_user_and_message(tmp_path: Path) -> None:
    folder = await make_request_dir(tmp_path / "downloads", "123", "456")
    assert folder == tmp_path / "downloads" / "123_456"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    with pytest.raises(ValueError, match="snowflakes"):
        await make_request_dir(tmp_path, "..", "456")


async def test_a_real_loopback_download_with_private_links_allowed(tmp_path: Path) -> None:
    heads: list[bytes] = []

    async def http_once(stream: trio.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(4096)
        heads.append(head)
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(VIDEO) + VIDEO
        )
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
        [listener] = await nursery.start(serve, http_once, 0)
        port = listener.socket.getsockname()[1]
        url = f"http://127.0.0.1:{port}/clip.mp4"
        async with httpx.AsyncClient() as http:
            with pytest.raises(PrivateAddressError, match="loopback"):
                await download(http, url, tmp_path, max_bytes=10_000)
            got = await download(http, url, tmp_path, max_bytes=10_000, allow_private=True)
        nursery.cancel_scope.cancel()
    assert got.path.read_bytes() == VIDEO and got.size == len(VIDEO)
    assert f"Host: 127.0.0.1:{port}".encode() in heads[0]
    assert len(heads) == 1  # the refused link never connected


async def test_a_link_that_cannot_be_reached_is_said_in_words(tmp_path: Path) -> None:
    with trio.socket.socket() as sock:  # a port nothing listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient() as http:
        with pytest.raises(BadLinkError) as caught:
            url = f"http://127.0.0.1:{port}/clip.mp4"
            await download(http, url, tmp_path, max_bytes=10_000, allow_private=True)
    assert str(caught.value) == "The link could not be fetched: could not connect."
