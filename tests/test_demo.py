"""`uploader demo`: make a media folder, send it to the loopback Discord, see it all arrive."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from uploader._settings import ENV_VARIABLES
from uploader.cli import main

pytestmark = [
    pytest.mark.ffmpeg,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH"),
]


def test_the_demo_delivers_every_file_once_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # The status message is not under test here; on, its throttled last edit costs ~2 s.
    monkeypatch.setenv("UPLOAD_ENABLE_PROGRESS_UPDATES", "false")
    folder = tmp_path / "download"
    code = main(["demo", "--limit-mb", "0.5", "--keep", str(folder)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert out.rstrip().endswith("✅ every file arrived once, intact")
    assert "❌" not in out
    assert (
        f"compressing {folder / 'clip.mp4'}" in err
    )  # the video was over the limit and was compressed
    # Every generated media file is listed among what the channel received.
    kept = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".txt")
    assert len(kept) == 8
    received = [line.split()[1] for line in out.splitlines() if line.strip().startswith("📎")]
    assert len(received) == len(kept)
    assert {p.name for p in kept} - {"clip.mp4"} <= set(received)
    assert "clip.mp4" not in received and any(n.startswith("clip") for n in received)
    # the media message's own lines show too: what was compressed from what, beside the file
    assert any("(compressed from clip.mp4)" in line for line in out.splitlines())
