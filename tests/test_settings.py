"""Settings.from_env: the original's names, defaults in bytes, one clear error per bad value."""

from __future__ import annotations

import pytest

from uploader import MIB, Settings, SettingsError
from uploader._settings import ENV_VARIABLES


def test_defaults_match_discord_today() -> None:
    s = Settings.from_env({})
    assert s.file_limit_bytes == 10 * MIB
    assert s.request_limit_bytes == 25 * MIB
    assert s.upload_max_files_per_batch == 10
    assert s.compression_target_bytes == 10 * MIB
    assert s.batch_max_bytes < 25 * MIB
    assert s.upload_cleanup_after_success is False
    assert s.upload_enable_progress_updates is True


def test_every_original_name_is_read() -> None:
    env = {
        "UPLOAD_BATCH_SIZE_MB": "20",
        "UPLOAD_MAX_FILES_PER_BATCH": "4",
        "UPLOAD_ENABLE_PROGRESS_UPDATES": "false",
        "UPLOAD_CLEANUP_AFTER_SUCCESS": "true",
        "COMPRESSION_MAX_CONCURRENT": "3",
        "COMPRESSION_FFMPEG_PRESET": "slow",
        "COMPRESSION_MAX_UPLOAD_SIZE_MB": "8",
        "COMPRESSION_FFMPEG_PATH": "/opt/ffmpeg",
        "COMPRESSION_FFPROBE_PATH": "/opt/ffprobe",
        "UPLOAD_FILE_LIMIT_MB": "50",
        "UPLOAD_REQUEST_LIMIT_MB": "100",
    }
    s = Settings.from_env(env)
    assert s.batch_max_bytes < 20 * MIB
    assert s.upload_max_files_per_batch == 4
    assert not s.upload_enable_progress_updates
    assert s.upload_cleanup_after_success
    assert s.compression_max_concurrent == 3
    assert s.compression_ffmpeg_preset == "slow"
    assert s.compression_target_bytes == 8 * MIB
    assert (s.compression_ffmpeg_path, s.compression_ffprobe_path) == (
        "/opt/ffmpeg",
        "/opt/ffprobe",
    )
    assert s.file_limit_bytes == 50 * MIB
    assert s.request_limit_bytes == 100 * MIB
    assert set(env) <= set(ENV_VARIABLES)


def test_compression_target_never_exceeds_the_file_limit() -> None:
    s = Settings.from_env({"COMPRESSION_MAX_UPLOAD_SIZE_MB": "50"})
    assert s.compression_target_bytes == 10 * MIB


def test_mib_means_1024_squared_and_rounds_down() -> None:
    s = Settings.from_env({"UPLOAD_FILE_LIMIT_MB": "9.5"})
    assert s.file_limit_bytes == 9 * MIB + MIB // 2


def test_overrides_win_over_the_environment() -> None:
    s = Settings.from_env({"UPLOAD_FILE_LIMIT_MB": "50"}, upload_file_limit_mb=25.0)
    assert s.file_limit_bytes == 25 * MIB


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("UPLOAD_BATCH_SIZE_MB", "lots", "a number from"),
        ("UPLOAD_BATCH_SIZE_MB", "-1", "a number from"),
        ("UPLOAD_BATCH_SIZE_MB", "nan", "a number from"),
        ("UPLOAD_MAX_FILES_PER_BATCH", "11", "a whole number from 1 to 10"),
        ("UPLOAD_MAX_FILES_PER_BATCH", "0", "a whole number from 1 to 10"),
        ("UPLOAD_MAX_FILES_PER_BATCH", "2.5", "a whole number from 1 to 10"),
        ("UPLOAD_ENABLE_PROGRESS_UPDATES", "maybe", "true or false"),
        ("UPLOAD_CLEANUP_AFTER_SUCCESS", "2", "true or false"),
        ("UPLOAD_FILE_LIMIT_MB", "-10", "a number from"),
        ("UPLOAD_REQUEST_LIMIT_MB", "inf", "a number from"),
        ("UPLOAD_LINGER_SECONDS", "-1", "a number from 0 to 60"),
        ("COMPRESSION_MAX_CONCURRENT", "0", "a whole number from 1"),
        ("COMPRESSION_MAX_CONCURRENT", "four", "a whole number from 1"),
        ("COMPRESSION_FFMPEG_PRESET", "turbo", "one of ultrafast"),
        ("COMPRESSION_MAX_UPLOAD_SIZE_MB", "0", "a number from"),
        ("COMPRESSION_SPLIT_LONG", "sometimes", "true or false"),
        ("DISCORD_API_BASE", "discord.com/api", "an http:// or https:// URL"),
        ("DISCORD_GLOBAL_RATE", "-5", "a number from"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_range(name: str, value: str, accepted: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert message.startswith(f"{name}={value}: expected ")
    assert accepted in message
    assert "\n" not in message


def test_constructor_validates_too() -> None:
    with pytest.raises(SettingsError, match="UPLOAD_MAX_FILES_PER_BATCH"):
        Settings(upload_max_files_per_batch=11)


def test_blank_values_keep_defaults() -> None:
    assert Settings.from_env({"UPLOAD_FILE_LIMIT_MB": " "}).file_limit_bytes == 10 * MIB
