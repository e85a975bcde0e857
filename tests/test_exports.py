"""The public API is exactly what uploader/__init__.py re-exports; this test pins it."""

from __future__ import annotations

import types

import uploader

EXPECTED = {
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
    "FileSkipped",
    "FileOutcome",
    "FileStatus",
    "ProgressEvent",
    "Reporter",
    "UploadDone",
    "UploadPipeline",
    "UploadResult",
    "Webhook",
    "open_upload_pipeline",
    "run_upload_pipeline",
    "upload_directory",
    "MIB",
    "MediaFile",
    "MediaType",
    "RefusedPath",
    "ScanResult",
    "Settings",
    "SettingsError",
    "SkippedFile",
    "UnreadablePath",
    "UploadBatch",
    "UploaderError",
    "find_media_files",
    "plan_batches",
    "run_detector",
    "scan_media",
}


def test_public_names_are_pinned() -> None:
    public = {
        name
        for name in dir(uploader)
        if not name.startswith("_") and not isinstance(getattr(uploader, name), types.ModuleType)
    }
    assert public - {"annotations"} == EXPECTED


def test_public_objects_come_from_private_modules() -> None:
    for name in EXPECTED - {"ProgressEvent"}:  # a Union has no module of its own
        module = getattr(getattr(uploader, name), "__module__", "uploader._")
        assert module.startswith(
            ("uploader._", "uploader.discord._", "uploader.compress._", "uploader.progress._")
        ), name


def test_media_file_is_constructible_as_documented(tmp_path: object) -> None:
    from pathlib import Path

    f = uploader.MediaFile(
        path=Path("a/b.jpg"), size_bytes=123, media_type=uploader.MediaType.IMAGE
    )
    assert f.filename == "b.jpg"
    assert f.original_path is None and not f.is_compressed
    batch = uploader.UploadBatch(files=(f, f))
    assert batch.total_bytes == 246 and isinstance(batch.files, tuple)


def test_progress_names_are_pinned() -> None:
    import uploader.progress

    public = {
        name
        for name in dir(uploader.progress)
        if not name.startswith("_")
        and not isinstance(getattr(uploader.progress, name), types.ModuleType)
    }
    assert public - {"annotations"} == {
        "DiscordStatusReporter",
        "LineReporter",
        "ProgressArg",
        "ProgressEvent",
        "Reporter",
        "TerminalReporter",
        "as_reporters",
        "describe",
    }
    assert uploader.progress.ProgressEvent is uploader.ProgressEvent
