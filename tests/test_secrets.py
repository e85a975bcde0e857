"""Bot tokens and webhook URLs never show in reprs, error messages, tracebacks or log lines."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trio

from uploader import MediaFile, MediaType, Settings, UploaderError
from uploader.discord import (
    Channel,
    DiscordError,
    Webhook,
    WebhookUrlError,
    open_discord_client,
)
from uploader.discord._errors import redact

TOKEN = "MTIzNDU2Nzg5.SECRET-bot-token"
HOOK_TOKEN = "SECRET-hook-token_abc"
HOOK_URL = f"https://discord.example/api/webhooks/42/{HOOK_TOKEN}"


def leaks(text: str) -> bool:
    return TOKEN in text or HOOK_TOKEN in text or HOOK_URL in text


def everything_about(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc), *map(str, exc.args)])


def test_destinations_never_print_their_secrets() -> None:
    webhook = Webhook(HOOK_URL, thread_id=5)
    channel = Channel(1, TOKEN)
    for text in (repr(webhook), str(webhook), repr(channel), str(channel), f"{[webhook]}"):
        assert not leaks(text), text
    assert (
        repr(webhook) == "Webhook(url='https://discord.example/api/webhooks/42/***', thread_id=5)"
    )
    assert webhook.major.startswith("webhook:42:") and HOOK_TOKEN not in webhook.major


@pytest.mark.parametrize(
    "url",
    [
        f"https://discord.example/api/hooks/42/{HOOK_TOKEN}",
        f"ftp://discord.example/api/webhooks/42/{HOOK_TOKEN}",
        f"discord.example/api/webhooks/42/{HOOK_TOKEN}",
        f"https://discord.example/api/webhooks/notanid/{HOOK_TOKEN}",
    ],
)
def test_a_malformed_webhook_url_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(WebhookUrlError) as info:
        Webhook(url)
    assert isinstance(info.value, UploaderError)
    assert not leaks(everything_about(info.value))


def test_redact_removes_any_webhook_token_in_free_text() -> None:
    text = f"error connecting to {HOOK_URL}?wait=true and {HOOK_URL}/messages/1"
    assert not leaks(redact(text))
    assert "/webhooks/42/***" in redact(text)
    assert redact(f"Bot {TOKEN}", [TOKEN]) == "Bot ***"


Script = Callable[[httpx.Request], httpx.Response]


def raising(exc_type: type[httpx.HTTPError]) -> Script:
    def handler(request: httpx.Request) -> httpx.Response:
        # httpx exception texts often hold the URL; the authorization header must not leak
        # either.
        raise exc_type(f"failed {request.url} {request.headers.get('authorization')}")

    return handler


def echoing(status: int) -> Script:
    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization")
        return httpx.Response(status, json={"message": f"bad {request.url} {auth}", "code": 0})

    return handler


@pytest.mark.parametrize(
    "handler",
    [
        raising(httpx.ConnectError),
        raising(httpx.ReadError),
        raising(httpx.RemoteProtocolError),
        raising(httpx.UnsupportedProtocol),
        echoing(400),
        echoing(401),
        echoing(404),
        echoing(500),
        echoing(413),
    ],
)
@pytest.mark.parametrize("destination", [Webhook(HOOK_URL), Channel(1, TOKEN)], ids=repr)
async def test_no_error_of_the_client_contains_a_secret(
    tmp_path: Path,
    handler: Script,
    destination: Webhook | Channel,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x")
    files = [MediaFile(path, 1, MediaType.IMAGE)]
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        open_discord_client(Settings(), http=http) as client,
    ):
        for call in (
            lambda: client.send_files(destination, files, content="hi"),
            lambda: client.edit_message(destination, "9", "edit"),
        ):
            with pytest.raises(DiscordError) as info:
                await call()
            assert not leaks(everything_about(info.value)), everything_about(info.value)
        assert not leaks(repr(client))
    assert not leaks(caplog.text), caplog.text


async def test_httpx_request_log_lines_show_no_webhook_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "1", "channel_id": "2", "attachments": []})

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        open_discord_client(Settings(), http=http) as client,
    ):
        await client.send_message(Webhook(HOOK_URL), "hello")
    assert "HTTP Request: POST" in caplog.text
    assert "/webhooks/42/***" in caplog.text
    assert not leaks(caplog.text)
