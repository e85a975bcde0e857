"""The video and audio encode runners: run the plan's encodes, measure, re-encode as decided.

The decisions (how much lower after a miss, whether to raise an underfilled video) are in
``_reencode``; this module only runs ffmpeg and measures what it wrote.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .._settings import Settings
from ._commands import audio_command, video_command
from ._effort import preset_of
from ._ffmpeg import StagedProgress, encode_timeout, run_encode
from ._model import EncodePlan
from ._probe import MediaProbe
from ._reencode import (
    MAX_ENCODES,
    lowered_audio,
    lowered_video_kbps,
    raised_kbps,
    still_over,
)
from ._workspace import Workspace, size_of

FIRST_PASS_SHARE = 0.35
"""The share of a video encode's progress the first (analysis) pass takes."""


async def encode_video(
    plan: EncodePlan,
    probe: MediaProbe,
    out: Path,
    space: Workspace,
    *,
    start: float | None,
    settings: Settings,
    progress: StagedProgress,
    low: float,
    high: float,
) -> tuple[int, bool]:
    """Two-pass encode one output into ``out``; re-encode (pass 2) while over the target.

    An output that fits but leaves over a tenth of its target unused (see ``raised_kbps``) is
    re-encoded once at a higher bitrate into a separate file, which replaces ``out`` only if it
    is measured under the target too; otherwise the first fitting output stays.

    Args:
        plan: the video plan (for a part: each part's).
        probe: the source.
        out: where the output goes (a temporary of ``space``).
        space: the compression's workspace (pass log, the upward attempt).
        start: where the part starts in the source (None: the whole file).
        settings: ffmpeg path and x264 preset.
        progress: the compression's progress; this output reports ``low``..``high`` of it.
        low: where this output's progress starts.
        high: where it ends.

    Returns:
        (encodes run, whether the first encode fit).
    """
    assert plan.scale is not None
    passlog = space.temp(".passlog")
    pixels = plan.scale[0] * plan.scale[1]
    timeout = encode_timeout(plan.duration, pixels, preset_of(settings))
    split = low + (high - low) * FIRST_PASS_SHARE

    async def run(plan: EncodePlan, pass_number: int, target: Path | None) -> None:
        cmd = video_command(
            plan,
            probe,
            target,
            passlog=passlog,
            pass_number=pass_number,
            start=start,
            settings=settings,
        )
        stage = progress.stage(low, split) if pass_number == 1 else progress.stage(split, high)
        await run_encode(
            cmd, path=probe.path, time_limit=timeout, duration=plan.duration, report=stage
        )

    await run(plan, 1, None)
    measured: list[tuple[int, int]] = []  # (video kb/s, output bytes) of every encode
    while True:
        await run(plan, 2, out)
        size = size_of(out)
        measured.append((plan.video_kbps, size))
        if size <= plan.target_bytes:
            break
        kbps = lowered_video_kbps(plan, size) if len(measured) < MAX_ENCODES else None
        if kbps is None:
            raise still_over(probe.path, size, plan.target_bytes, len(measured))
        plan = plan.with_video_kbps(kbps)
    first_fit = measured[0][1] <= plan.target_bytes
    raised = raised_kbps(plan, measured) if len(measured) < MAX_ENCODES else None
    if raised is None:
        return len(measured), first_fit
    attempt = space.temp(".mp4")
    await run(plan.with_video_kbps(raised), 2, attempt)
    if size_of(attempt) <= plan.target_bytes:
        os.replace(attempt, out)
    else:
        space.discard(attempt)
    return len(measured) + 1, first_fit


async def encode_audio(
    plan: EncodePlan,
    probe: MediaProbe,
    out: Path,
    *,
    settings: Settings,
    report: Callable[[float], None],
) -> int:
    """Encode audio only into ``out``; re-encode lower while over the target.

    Returns:
        The encodes run.
    """
    timeout = encode_timeout(plan.duration, 0, preset_of(settings))
    for encodes in range(1, MAX_ENCODES + 1):
        cmd = audio_command(plan, probe, out, settings)
        await run_encode(
            cmd, path=probe.path, time_limit=timeout, duration=plan.duration, report=report
        )
        size = size_of(out)
        if size <= plan.target_bytes:
            return encodes
        rung = lowered_audio(plan, size)
        if encodes == MAX_ENCODES or rung is None:
            raise still_over(probe.path, size, plan.target_bytes, encodes)
        plan = plan.with_audio(rung)
    raise AssertionError("unreachable")  # pragma: no cover
