"""The public API, module by module: exactly the pinned names, importable, none private.

One walk over every public module (as trio's test_exports does): a module's public names are its
``__all__`` when it has one, else what ``dir`` shows without ``_`` names, submodules and the
``from __future__`` feature. Each class and function is defined inside the package that exports
it, in the package itself or a private ``_x`` module, so ``__module__`` never names a module
users are not meant to import from.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from pathlib import Path

import pytest

import uploader

PINNED: dict[str, frozenset[str]] = {
    "uploader": frozenset(
        {
            "BatchSent",
            "Channel",
            "CompressionProgress",
            "CompressionStarted",
            "DetectionDone",
            "DiscordUnavailable",
            "Destination",
            "FileCompressed",
            "FileDelivered",
            "FileFailed",
            "FileFound",
            "FileOutcome",
            "FileSkipped",
            "FileStatus",
            "LimitLowered",
            "MIB",
            "MediaFile",
            "MediaType",
            "MediaWarning",
            "ProgressEvent",
            "RefusedPath",
            "Reporter",
            "ScanResult",
            "Settings",
            "SettingsError",
            "SkippedFile",
            "UnreadablePath",
            "UploadBatch",
            "UploadDone",
            "UploadPipeline",
            "UploadResult",
            "UploaderError",
            "Webhook",
            "find_media_files",
            "open_upload_pipeline",
            "plan_batches",
            "run_detector",
            "run_upload_pipeline",
            "scan_media",
            "upload_directory",
        }
    ),
    "uploader.compress": frozenset(
        {
            "CannotFitError",
            "CompressOutcome",
            "Compressed",
            "CompressionError",
            "CompressionFailed",
            "CompressionJob",
            "CompressionProgress",
            "EncodePlan",
            "EncodeTimeoutError",
            "FFmpegFailedError",
            "FFmpegNotFoundError",
            "MediaMismatchError",
            "MediaProbe",
            "ProbeError",
            "SampleResult",
            "StreamInfo",
            "compress_to_fit",
            "compress_with_details",
            "container_overhead",
            "describe_compression",
            "media_type_for_suffix",
            "plan_encode",
            "probe_media",
            "run_compressor_pool",
        }
    ),
    "uploader.discord": frozenset(
        {
            "Channel",
            "DeliveryUncertainError",
            "DestinationNotFoundError",
            "DiscordClient",
            "DiscordError",
            "DiscordUnavailableError",
            "FileChangedError",
            "FileTooLargeError",
            "InvalidRequestBudgetError",
            "InvalidRequestError",
            "MissingPermissionsError",
            "RateLimitBanError",
            "RateLimitWaitTooLongError",
            "RetryPolicy",
            "SentAttachment",
            "SentMessage",
            "Target",
            "UploadFileError",
            "Webhook",
            "WebhookUrlError",
            "open_discord_client",
            "proxy_mode_on",
            "retry_waits_to",
        }
    ),
    "uploader.progress": frozenset(
        {
            "DiscordStatusReporter",
            "LineReporter",
            "ProgressArg",
            "ProgressEvent",
            "Reporter",
            "TerminalReporter",
            "as_reporters",
            "describe",
        }
    ),
    "uploader.testing": frozenset(
        {
            "FAKE_BOT_TOKEN",
            "FAKE_BOT_USER_ID",
            "FakeDiscord",
            "FakeDiscordThread",
            "FakeGateway",
            "FakeStats",
            "Fault",
            "FaultKind",
            "FileServer",
            "GatewayFrame",
            "RecordedAttachment",
            "RecordedMessage",
            "RouteName",
            "discord_com_url",
            "fake_discord_in_thread",
            "open_fake_discord",
            "open_fake_gateway",
            "open_file_server",
            "run_fake_discord",
            "run_fake_gateway",
            "run_file_server",
        }
    ),
    "uploader.gateway": frozenset(
        {
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
        }
    ),
    "uploader.bot": frozenset(
        {
            "BOT_ENV_VARIABLES",
            "BadLinkError",
            "Bot",
            "BotSettings",
            "BusyError",
            "CommandError",
            "DEFERRED_RESPONSE",
            "Downloaded",
            "GateStatus",
            "Interaction",
            "NotMediaError",
            "PrivateAddressError",
            "Request",
            "RequestGate",
            "RequestRefusedError",
            "SLASH_COMMANDS",
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
        }
    ),
    "uploader.journal": frozenset(
        {
            "AlreadyDelivered",
            "Compressed",
            "Delivery",
            "DestinationKey",
            "Entry",
            "FileDecision",
            "Fingerprint",
            "Intent",
            "Journal",
            "JournalBusyError",
            "JournalError",
            "JournalMismatchError",
            "JournalState",
            "JournalWarning",
            "NONCE_WINDOW_SECONDS",
            "NeedsHash",
            "Outcome",
            "Part",
            "Record",
            "RecordError",
            "Resend",
            "ResendBatch",
            "ResendPlan",
            "ResumePolicy",
            "RunHeader",
            "SCHEMA_VERSION",
            "Seen",
            "Send",
            "StandIn",
            "Status",
            "StillUncertain",
            "Why",
            "decide_file",
            "decode",
            "default_journal_dir",
            "destination_key",
            "encode",
            "journal_name",
            "load",
            "open_journal",
            "plan_resends",
            "resend_candidates",
        }
    ),
    "uploader.cli": frozenset(
        {
            "EXIT_FAILED",
            "EXIT_INTERRUPTED",
            "EXIT_OK",
            "EXIT_USAGE",
            "UsageError",
            "build_parser",
            "main",
            "run_trio",
        }
    ),
}
"""Each public module's public names. Change a set here only with the API change it pins."""

PLUGIN = "uploader.testing.pytest_plugin"
"""Public too, but users load it by name (``pytest_plugins``); it exports hooks and a fixture."""

SAME_OBJECT: list[tuple[str, str, str]] = [
    ("uploader", "uploader.progress", "ProgressEvent"),
    ("uploader", "uploader.progress", "Reporter"),
    ("uploader", "uploader.compress", "CompressionProgress"),
    ("uploader", "uploader.discord", "Channel"),
    ("uploader", "uploader.discord", "Webhook"),
]
"""Names two public modules export that must be one object, not two look-alikes."""


def public_names(module: types.ModuleType) -> set[str]:
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return set(declared)
    return {
        name
        for name in dir(module)
        if not name.startswith("_")
        and name != "annotations"  # `from __future__ import annotations`
        and not isinstance(getattr(module, name), types.ModuleType)
    }


def test_every_public_module_is_walked() -> None:
    found = {
        info.name
        for info in pkgutil.walk_packages(uploader.__path__, "uploader.")
        if not any(part.startswith("_") for part in info.name.split("."))
    }
    assert found | {"uploader"} == set(PINNED) | {PLUGIN}


@pytest.mark.parametrize("modname", sorted(PINNED))
def test_public_names_are_pinned(modname: str) -> None:
    assert public_names(importlib.import_module(modname)) == PINNED[modname]


@pytest.mark.parametrize("modname", sorted(PINNED))
def test_every_public_name_is_importable(modname: str) -> None:
    for name in sorted(PINNED[modname]):
        namespace: dict[str, object] = {}
        exec(f"from {modname} import {name}", namespace)
        assert name in namespace, name
    module = importlib.import_module(modname)
    if hasattr(module, "__all__"):
        star: dict[str, object] = {}
        exec(f"from {modname} import *", star)
        assert set(star) - {"__builtins__"} == PINNED[modname]


@pytest.mark.parametrize("modname", sorted(PINNED))
def test_nothing_private_is_public(modname: str) -> None:
    module = importlib.import_module(modname)
    assert not [name for name in getattr(module, "__all__", ()) if name.startswith("_")]
    assert not [name for name in public_names(module) if name.startswith("_")]


@pytest.mark.parametrize("modname", sorted(PINNED))
def test_public_objects_are_defined_inside_their_package(modname: str) -> None:
    module = importlib.import_module(modname)
    for name in PINNED[modname]:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants and unions have no module of their own
        home = obj.__module__
        assert home == modname or home.startswith(f"{modname}."), (name, home)
        inner = home.removeprefix(modname).split(".")
        assert home == modname or any(part.startswith("_") for part in inner), (name, home)


@pytest.mark.parametrize(("first", "second", "name"), SAME_OBJECT)
def test_a_name_exported_twice_is_one_object(first: str, second: str, name: str) -> None:
    one = getattr(importlib.import_module(first), name)
    assert one is getattr(importlib.import_module(second), name)


def test_the_pytest_plugin_provides_the_fixture_and_its_marker() -> None:
    plugin = importlib.import_module(PLUGIN)
    defined = {
        name
        for name, obj in vars(plugin).items()
        if not name.startswith("_") and getattr(obj, "__module__", None) == PLUGIN
    }
    assert defined == {"fake_discord", "fake_discord_thread", "fake_gateway", "pytest_configure"}


def test_media_file_is_constructible_as_documented() -> None:
    f = uploader.MediaFile(
        path=Path("a/b.jpg"), size_bytes=123, media_type=uploader.MediaType.IMAGE
    )
    assert f.filename == "b.jpg"
    assert f.original_path is None and not f.is_compressed
    batch = uploader.UploadBatch(files=(f, f))
    assert batch.total_bytes == 246 and isinstance(batch.files, tuple)
