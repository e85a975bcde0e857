"""Settings: the original system's environment names, validated once, in bytes inside.

`Settings.from_env()` reads the environment; a bad value raises `SettingsError` naming the
variable and the accepted range. Sizes are given in MiB (1024×1024 bytes) and kept in bytes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from ._errors import SettingsError
from ._limits import DEFAULT_RETRY_DEADLINE_SECONDS, MAX_ATTACHMENTS, MIB

T = TypeVar("T")

DEFAULT_FILE_LIMIT_MB = 10.0
DEFAULT_REQUEST_LIMIT_MB = 25.0
MULTIPART_RESERVE_BYTES = 64 * 1024
"""Room kept inside the request cap for multipart headers and the JSON payload."""
DEFAULT_API_BASE = "https://discord.com/api/v10"
PROXY_MODES = ("auto", "on", "off")
"""DISCORD_PROXY_MODE's values; see `uploader.discord.proxy_mode_on`."""


def _check_proxy_mode(_: object, __: attrs.Attribute[str], value: str) -> None:
    if value not in PROXY_MODES:
        raise SettingsError("DISCORD_PROXY_MODE", value, "one of " + ", ".join(PROXY_MODES))


def mib_to_bytes(mib: float) -> int:
    """Convert MiB to whole bytes, rounding down so a limit is never exceeded."""
    return math.floor(mib * MIB)


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(name, raw, "true or false (or 1/0, yes/no, on/off)")


def _parse_strict_bool(name: str, raw: str) -> bool:
    """Only ``true`` or ``false``: for a setting that deletes the user's files."""
    value = raw.strip().lower()
    if value in {"true", "false"}:
        return value == "true"
    raise SettingsError(name, raw, "true or false")


def _plain(value: float) -> str:
    """1048576, not 1.04858e+06; 0.001 stays 0.001."""
    return str(int(value)) if value == int(value) else repr(value)


def _parse_number(
    name: str, raw: str, *, minimum: float, maximum: float = math.inf, integer: bool = False
) -> float:
    kind = "a whole number" if integer else "a number"
    upper = "" if math.isinf(maximum) else f" to {_plain(maximum)}"
    accepted = f"{kind} from {_plain(minimum)}{upper}"
    try:
        value = int(raw.strip()) if integer else float(raw.strip())
    except ValueError:
        raise SettingsError(name, raw, accepted) from None
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise SettingsError(name, raw, accepted)
    return value


def _positive_mb(name: str) -> Callable[[str], float]:
    return lambda raw: _parse_number(name, raw, minimum=0.001, maximum=1024 * 1024)


@attrs.frozen
class Settings:
    """Everything `uploader` can be told, with the original system's names.

    Attributes:
        upload_batch_size_mb: UPLOAD_BATCH_SIZE_MB, the most bytes of files one message may carry
            (capped by the request limit).
        upload_max_files_per_batch: UPLOAD_MAX_FILES_PER_BATCH, 1 to 10 attachments per message.
        upload_enable_progress_updates: UPLOAD_ENABLE_PROGRESS_UPDATES, keep a status message in
            the channel up to date.
        upload_cleanup_after_success: UPLOAD_CLEANUP_AFTER_SUCCESS, remove the request's working
            directory once every file was verified delivered.
        upload_file_limit_mb: UPLOAD_FILE_LIMIT_MB, Discord's per-file upload limit (10 MiB by
            default; boosted servers allow more).
        upload_request_limit_mb: UPLOAD_REQUEST_LIMIT_MB, Discord's per-request cap (25 MiB).
        upload_linger_seconds: UPLOAD_LINGER_SECONDS, how long the streaming batcher may wait for
            more files before it sends a partly filled message.
        upload_retry_deadline_seconds: UPLOAD_RETRY_DEADLINE_SECONDS, how long one request keeps
            retrying through 5xx answers and connection failures before the run stops (a bot
            post never longer than its nonce window, `NONCE_WINDOW_SECONDS`).
        upload_resend_uncertain: UPLOAD_RESEND_UNCERTAIN, post a webhook batch once more when
            its answer was lost (a possible duplicate rather than a possible gap; webhooks have
            no nonce). Bot posts never need it: their nonce settles it.
        upload_resume: UPLOAD_RESUME, keep a delivery journal per folder and destination and
            send only what it does not show delivered.
        upload_journal_dir: UPLOAD_JOURNAL_DIR, where journals live (None:
            ``$XDG_STATE_HOME/uploader/journals``).
        compression_max_concurrent: COMPRESSION_MAX_CONCURRENT, parallel ffmpeg encodes.
        compression_ffmpeg_preset: COMPRESSION_FFMPEG_PRESET, the x264 preset; None (unset):
            chosen per clip from its length and the machine's cores.
        compression_max_upload_size_mb: COMPRESSION_MAX_UPLOAD_SIZE_MB, the target size of a
            compressed file (never above the per-file limit); None means the per-file limit.
        compression_ffmpeg_path: COMPRESSION_FFMPEG_PATH.
        compression_ffprobe_path: COMPRESSION_FFPROBE_PATH.
        compression_split_long: COMPRESSION_SPLIT_LONG, split a video too long to fit into parts.
        upload_check_media: UPLOAD_CHECK_MEDIA, probe every video and audio file with ffprobe
            before sending it (skip what is not media, warn about files cut short).
        discord_api_base: DISCORD_API_BASE, e.g. a shared rate-limit proxy.
        discord_global_rate: DISCORD_GLOBAL_RATE, requests per second allowed per bot token.
        discord_proxy_mode: DISCORD_PROXY_MODE, ``auto`` (a proxy whenever the API base is not
            Discord's own host), ``on`` or ``off``: whether a rate-limit proxy stands in front.
    """

    upload_batch_size_mb: float = DEFAULT_REQUEST_LIMIT_MB
    upload_max_files_per_batch: int = MAX_ATTACHMENTS
    upload_enable_progress_updates: bool = True
    upload_cleanup_after_success: bool = False
    upload_file_limit_mb: float = DEFAULT_FILE_LIMIT_MB
    upload_request_limit_mb: float = DEFAULT_REQUEST_LIMIT_MB
    upload_linger_seconds: float = 0.5
    upload_retry_deadline_seconds: float = DEFAULT_RETRY_DEADLINE_SECONDS
    upload_resend_uncertain: bool = False
    upload_resume: bool = True
    upload_journal_dir: str | None = None
    compression_max_concurrent: int = attrs.field(factory=lambda: os.cpu_count() or 1)
    compression_ffmpeg_preset: str | None = None
    compression_max_upload_size_mb: float | None = None
    compression_ffmpeg_path: str = "ffmpeg"
    compression_ffprobe_path: str = "ffprobe"
    compression_split_long: bool = False
    upload_check_media: bool = True
    discord_api_base: str = DEFAULT_API_BASE
    discord_global_rate: float = 50.0
    discord_proxy_mode: str = attrs.field(default="auto", validator=_check_proxy_mode)

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.upload_max_files_per_batch <= MAX_ATTACHMENTS:
            raise SettingsError(
                "UPLOAD_MAX_FILES_PER_BATCH",
                self.upload_max_files_per_batch,
                f"a whole number from 1 to {MAX_ATTACHMENTS}",
            )
        if self.compression_max_concurrent < 1:
            raise SettingsError(
                "COMPRESSION_MAX_CONCURRENT", self.compression_max_concurrent, "at least 1"
            )
        preset = self.compression_ffmpeg_preset
        if preset is not None and preset not in X264_PRESETS:
            raise SettingsError(
                "COMPRESSION_FFMPEG_PRESET",
                self.compression_ffmpeg_preset,
                "one of " + ", ".join(X264_PRESETS),
            )

    @property
    def file_limit_bytes(self) -> int:
        """The per-file upload limit in bytes: nothing larger is ever uploaded."""
        return mib_to_bytes(self.upload_file_limit_mb)

    @property
    def request_limit_bytes(self) -> int:
        """Discord's cap on one request's size in bytes."""
        return mib_to_bytes(self.upload_request_limit_mb)

    @property
    def batch_max_bytes(self) -> int:
        """The most bytes of files one message may carry, leaving room for multipart framing."""
        cap = min(mib_to_bytes(self.upload_batch_size_mb), self.request_limit_bytes)
        return max(cap - MULTIPART_RESERVE_BYTES, 1)

    @property
    def compression_target_bytes(self) -> int:
        """The size a compressed file must not exceed."""
        if self.compression_max_upload_size_mb is None:
            return self.file_limit_bytes
        return min(mib_to_bytes(self.compression_max_upload_size_mb), self.file_limit_bytes)

    def with_file_limit_bytes(self, limit: int) -> Settings:
        """A copy with a new per-file limit (e.g. learnt from a 413 or a guild's boost tier)."""
        return attrs.evolve(self, upload_file_limit_mb=limit / MIB)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the settings from environment variables (unset ones keep their defaults).

        Args:
            environ: the mapping to read; ``os.environ`` by default.
            **overrides: field values that win over the environment (e.g. from CLI options).

        Raises:
            SettingsError: a variable has a value outside its accepted range.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field_name, (var, parse) in _ENV_PARSERS.items():
            raw = env.get(var)
            if raw is not None and raw.strip() != "":
                values[field_name] = parse(raw)
        values.update(overrides)
        return cls(**values)


X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


def _preset(raw: str) -> str:
    value = raw.strip().lower()
    if value not in X264_PRESETS:
        raise SettingsError("COMPRESSION_FFMPEG_PRESET", raw, "one of " + ", ".join(X264_PRESETS))
    return value


def _api_base(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise SettingsError("DISCORD_API_BASE", raw, "an http:// or https:// URL")
    return value


def _proxy_mode(raw: str) -> str:
    value = raw.strip().lower()
    if value not in PROXY_MODES:
        raise SettingsError("DISCORD_PROXY_MODE", raw, "one of " + ", ".join(PROXY_MODES))
    return value


def _text(raw: str) -> str:
    return raw.strip()


def _bool(name: str) -> Callable[[str], bool]:
    return lambda raw: _parse_bool(name, raw)


_ENV_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "upload_batch_size_mb": ("UPLOAD_BATCH_SIZE_MB", _positive_mb("UPLOAD_BATCH_SIZE_MB")),
    "upload_max_files_per_batch": (
        "UPLOAD_MAX_FILES_PER_BATCH",
        lambda raw: int(
            _parse_number(
                "UPLOAD_MAX_FILES_PER_BATCH",
                raw,
                minimum=1,
                maximum=MAX_ATTACHMENTS,
                integer=True,
            )
        ),
    ),
    "upload_enable_progress_updates": (
        "UPLOAD_ENABLE_PROGRESS_UPDATES",
        _bool("UPLOAD_ENABLE_PROGRESS_UPDATES"),
    ),
    "upload_cleanup_after_success": (
        "UPLOAD_CLEANUP_AFTER_SUCCESS",
        lambda raw: _parse_strict_bool("UPLOAD_CLEANUP_AFTER_SUCCESS", raw),
    ),
    "upload_file_limit_mb": ("UPLOAD_FILE_LIMIT_MB", _positive_mb("UPLOAD_FILE_LIMIT_MB")),
    "upload_request_limit_mb": (
        "UPLOAD_REQUEST_LIMIT_MB",
        _positive_mb("UPLOAD_REQUEST_LIMIT_MB"),
    ),
    "upload_linger_seconds": (
        "UPLOAD_LINGER_SECONDS",
        lambda raw: _parse_number("UPLOAD_LINGER_SECONDS", raw, minimum=0, maximum=60),
    ),
    "upload_retry_deadline_seconds": (
        "UPLOAD_RETRY_DEADLINE_SECONDS",
        lambda raw: _parse_number(
            "UPLOAD_RETRY_DEADLINE_SECONDS", raw, minimum=1, maximum=24 * 3600
        ),
    ),
    "upload_resend_uncertain": ("UPLOAD_RESEND_UNCERTAIN", _bool("UPLOAD_RESEND_UNCERTAIN")),
    "upload_resume": ("UPLOAD_RESUME", _bool("UPLOAD_RESUME")),
    "upload_journal_dir": ("UPLOAD_JOURNAL_DIR", _text),
    "compression_max_concurrent": (
        "COMPRESSION_MAX_CONCURRENT",
        lambda raw: int(
            _parse_number("COMPRESSION_MAX_CONCURRENT", raw, minimum=1, maximum=256, integer=True)
        ),
    ),
    "compression_ffmpeg_preset": ("COMPRESSION_FFMPEG_PRESET", _preset),
    "compression_max_upload_size_mb": (
        "COMPRESSION_MAX_UPLOAD_SIZE_MB",
        _positive_mb("COMPRESSION_MAX_UPLOAD_SIZE_MB"),
    ),
    "compression_ffmpeg_path": ("COMPRESSION_FFMPEG_PATH", _text),
    "compression_ffprobe_path": ("COMPRESSION_FFPROBE_PATH", _text),
    "compression_split_long": ("COMPRESSION_SPLIT_LONG", _bool("COMPRESSION_SPLIT_LONG")),
    "upload_check_media": ("UPLOAD_CHECK_MEDIA", _bool("UPLOAD_CHECK_MEDIA")),
    "discord_api_base": ("DISCORD_API_BASE", _api_base),
    "discord_global_rate": (
        "DISCORD_GLOBAL_RATE",
        lambda raw: _parse_number("DISCORD_GLOBAL_RATE", raw, minimum=0.1, maximum=10_000),
    ),
    "discord_proxy_mode": ("DISCORD_PROXY_MODE", _proxy_mode),
}

ENV_VARIABLES: tuple[str, ...] = tuple(var for var, _ in _ENV_PARSERS.values())
"""Every environment variable `Settings.from_env` reads."""


def parse_env_value(field_name: str, raw: str) -> Any:
    """Parse ``raw`` as the variable behind the field ``field_name`` is parsed.

    A command-line option that stands for a setting accepts exactly what its variable accepts.

    Raises:
        SettingsError: naming the variable and the accepted range.
    """
    _, parse = _ENV_PARSERS[field_name]
    return parse(raw)
