"""Bot commands, slash-command requests, settings and the request gate."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from uploader import SettingsError
from uploader.bot import (
    SLASH_COMMANDS,
    BotSettings,
    BusyError,
    CommandError,
    Request,
    RequestGate,
    StatusCommand,
    UploadCommand,
    parse_command,
    request_from_interaction,
    request_from_message,
)

A = "https://a.example/x.mp4"
B = "https://b.example/y.jpg"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (f"!upload {A}", UploadCommand((A,))),
        (f"!download <{A}> {B}", UploadCommand((A, B))),
        (f"!UPLOAD   {A}\n{B}", UploadCommand((A, B))),
        ("!status", StatusCommand()),
        ("!status please", StatusCommand()),
        ("!upload", CommandError("Usage: `!upload <link> [<link> ...]`")),
        ("!play song", None),
        ("upload " + A, None),
        ("!", None),
        ("", None),
    ],
)
def test_parse_command(content: str, expected: object) -> None:
    assert parse_command(content, "!") == expected


def test_parse_command_with_another_prefix_and_too_many_links() -> None:
    assert parse_command(f"?bot upload {A}", "?bot") == UploadCommand((A,))
    assert parse_command(f"!upload {A}", "?bot") is None
    many = parse_command("!upload " + " ".join([A] * 11), "!")
    assert isinstance(many, CommandError) and "At most 10" in many.message


def message(content: str, **author: object) -> dict[str, object]:
    return {
        "id": "555",
        "channel_id": "222",
        "guild_id": "444",
        "content": content,
        "author": {"id": "333", **author},
    }


def test_request_from_message_names_who_where_and_the_folder_ids() -> None:
    request = request_from_message(message(f"!upload {A}"), "!", bot_user_id="999")
    assert request == Request(UploadCommand((A,)), "333", "555", "222", guild_id="444")


@pytest.mark.parametrize(
    "msg",
    [
        message(f"!upload {A}", bot=True),
        message(f"!upload {A}", id="999"),  # ourselves
        message("hello"),
        {**message(f"!upload {A}"), "id": "../../etc"},
    ],
)
def test_messages_that_are_not_requests(msg: dict[str, object]) -> None:
    assert request_from_message(msg, "!", bot_user_id="999") is None


def interaction(name: str, options: list[dict[str, object]]) -> dict[str, object]:
    return {
        "id": "777",
        "application_id": "888",
        "type": 2,
        "token": "interaction-secret",
        "channel_id": "222",
        "guild_id": "444",
        "member": {"user": {"id": "333"}},
        "data": {"name": name, "options": options},
    }


def test_slash_upload_becomes_a_request_answered_through_the_followup_webhook() -> None:
    request = request_from_interaction(interaction("upload", [{"name": "url", "value": A}]))
    assert request is not None and request.interaction is not None
    assert request.command == UploadCommand((A,))
    assert (request.user_id, request.message_id, request.channel_id) == ("333", "777", "222")
    assert request.interaction.callback_path == "/interactions/777/interaction-secret/callback"
    assert request.interaction.followup_path == "/webhooks/888/interaction-secret"
    assert "interaction-secret" not in repr(request)


def test_slash_status_unknown_and_empty() -> None:
    status = request_from_interaction(interaction("status", []))
    assert status is not None and status.command == StatusCommand()
    assert request_from_interaction(interaction("other", [])) is None
    empty = request_from_interaction(interaction("upload", [{"name": "url", "value": " "}]))
    assert empty is not None and isinstance(empty.command, CommandError)
    assert request_from_interaction({**interaction("upload", []), "type": 3}) is None


def test_slash_commands_declare_upload_with_a_required_url() -> None:
    upload = next(c for c in SLASH_COMMANDS if c["name"] == "upload")
    assert upload["options"] == [
        {"type": 3, "name": "url", "description": "An http(s) link to the media", "required": True}
    ]


def test_bot_settings_from_env() -> None:
    settings = BotSettings.from_env(
        {
            "BOT_COMMAND_PREFIX": "?",
            "BOT_MAX_DOWNLOAD_MB": "1.5",
            "BOT_ALLOW_PRIVATE_URLS": "true",
            "BOT_DOWNLOAD_DIR": "/tmp/dl",
            "BOT_MAX_REQUESTS_PER_USER": "3",
        }
    )
    assert settings.command_prefix == "?"
    assert settings.max_download_bytes == 1572864
    assert settings.allow_private_urls
    assert settings.download_dir == Path("/tmp/dl")
    assert settings.max_requests_per_user == 3
    assert BotSettings.from_env({}) == BotSettings()
    with pytest.raises(SettingsError, match="BOT_MAX_DOWNLOAD_MB"):
        BotSettings.from_env({"BOT_MAX_DOWNLOAD_MB": "-1"})
    with pytest.raises(SettingsError, match="BOT_ALLOW_PRIVATE_URLS"):
        BotSettings.from_env({"BOT_ALLOW_PRIVATE_URLS": "maybe"})


async def test_gate_refuses_a_busy_user_and_queues_in_arrival_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = RequestGate(per_user=1, concurrent=1)
    started: list[str] = []

    async def request(user: str) -> None:
        async with gate.admit(user):
            started.append(user)
            await trio.sleep(10)

    async with trio.open_nursery() as nursery:
        for user in ("u1", "u2", "u3"):
            nursery.start_soon(request, user)
            await trio.sleep(1)
        assert gate.status("u2") == gate.status("u2").__class__(running=1, waiting=2, yours=1)
        assert gate.status("u2").describe() == "1 request running, 2 waiting; 1 of them yours."
        with pytest.raises(BusyError, match="already have 1 request running;"):
            async with gate.admit("u1"):
                pass
    assert started == ["u1", "u2", "u3"]
    assert gate.status("u1").describe() == "Idle: no requests running."


def test_a_request_counts_from_its_reservation_not_from_its_slot() -> None:
    gate = RequestGate(per_user=1, concurrent=1)
    with gate.reserve("u1"):  # its status message is being posted: not idle
        assert gate.status("u2").describe() == "0 requests running, 1 waiting; 0 of them yours."
        with pytest.raises(BusyError), gate.reserve("u1"):
            pass
    assert gate.status("u1").describe() == "Idle: no requests running."
