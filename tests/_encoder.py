"""A stand-in for the real encoder (`compress_with_details`): quick, deterministic, counted.

Patch it in with ``FakeEncoder.install(monkeypatch)``; every encode takes ``seconds`` (use the
autojump clock), reports 50% then 100%, and writes a stand-in of ``min(target, out_bytes)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
import trio

import uploader.compress._encode_image as encode_image
from uploader import MediaFile, Settings
from uploader.compress import CompressOutcome


@attrs.define
class FakeEncoder:
    seconds: float = 1.0
    out_bytes: int = 50_000
    running: int = 0
    peak: int = 0
    encodes: list[tuple[Path, int]] = attrs.Factory(list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeEncoder:
        monkeypatch.setattr("uploader.compress._pool.compress_with_details", self)
        return self

    async def __call__(
        self,
        file: MediaFile,
        target: int,
        *,
        settings: Settings,
        workdir: Path,
        on_progress: Callable[[float], None],
    ) -> CompressOutcome:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.encodes.append((file.path, target))
        try:
            await trio.sleep(self.seconds / 2)
            on_progress(50.0)
            await trio.sleep(self.seconds / 2)
            on_progress(100.0)
        finally:
            self.running -= 1
        tries = sum(p == file.path for p, _ in self.encodes)
        out = workdir / f"{file.path.parent.name}-{file.path.stem}.{tries}.compressed.mp4"
        out.write_bytes(b"v" * min(target, self.out_bytes))
        stand_in = MediaFile(out, out.stat().st_size, file.media_type, original_path=file.path)
        return CompressOutcome(outputs=(stand_in,), attempts=1, plan=None)  # type: ignore[arg-type]


def record_image_encodes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record every ffmpeg image encode's command line (the seam: ``_encode_image``'s
    ``run_encode``), still running it; the list fills as encodes run."""
    seen: list[list[str]] = []
    real = encode_image.run_encode

    async def counting(cmd: list[str], **kwargs: object) -> None:
        seen.append(cmd)
        await real(cmd, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(encode_image, "run_encode", counting)
    return seen
