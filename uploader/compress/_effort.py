"""How much encoder effort a video gets (pure): the x264 preset when none was set.

A slower preset buys a little quality at the same size (about +0.5 VMAF per step) for about
twice the time, which pays on a short clip and not on a long one. So the slowest preset whose
estimated wall time stays under ``SHORT_ENCODE_SECONDS`` is taken, down to ``medium`` (the
old fixed default); only encodes estimated over ``LONG_ENCODE_SECONDS`` at ``medium`` go faster.
"""

from __future__ import annotations

import attrs

from .._settings import Settings
from ._ffmpeg import encode_speed
from ._model import EncodePlan
from ._sampling import PASS1_COST

DEFAULT_PRESET = "medium"
SLOW_PRESETS = ("slower", "slow")
"""Tried, slowest first, for a short encode."""
FAST_PRESETS = ("fast", "faster")
"""Tried, slowest first, for an encode estimated over ``LONG_ENCODE_SECONDS`` at medium."""
SHORT_ENCODE_SECONDS = 30.0
LONG_ENCODE_SECONDS = 1800.0
SECONDS_PER_UNIT = 0.42 / (1 + PASS1_COST)
"""Wall seconds of one unit of ``preset_speed`` (a second of 720p at veryfast) on one core
of this project's reference machine: 0.42 s for both passes (measured: 20 s of
480p30 at medium took 10.4 s); the first pass's share is the one sampling measured
(``_sampling.PASS1_COST``), so both models split an encode alike."""
THREAD_GAIN = 0.8
"""Each further core speeds x264 up by about this much (frame threads at small sizes)."""


def encode_seconds(plan: EncodePlan, preset: str, cores: int) -> float:
    """The estimated wall time of a plan's two-pass encode at ``preset`` on ``cores``."""
    assert plan.scale is not None
    pixels = plan.scale[0] * plan.scale[1] * (plan.fps or 30.0) / (1280 * 720 * 30)
    speed = encode_speed(preset, plan.bits_per_pixel)
    work = plan.duration * plan.parts * (1 + PASS1_COST) * speed * pixels
    return work * SECONDS_PER_UNIT / (1 + THREAD_GAIN * (max(cores, 1) - 1))


def auto_preset(plan: EncodePlan, cores: int) -> str:
    """The x264 preset for a video plan: slower for short encodes, faster for very long ones."""
    for preset in SLOW_PRESETS:
        if encode_seconds(plan, preset, cores) <= SHORT_ENCODE_SECONDS:
            return preset
    if encode_seconds(plan, DEFAULT_PRESET, cores) <= LONG_ENCODE_SECONDS:
        return DEFAULT_PRESET
    for preset in FAST_PRESETS:
        if encode_seconds(plan, preset, cores) <= LONG_ENCODE_SECONDS:
            return preset
    return FAST_PRESETS[-1]


def with_preset(settings: Settings, plan: EncodePlan, cores: int) -> Settings:
    """``settings`` with its preset set: as configured, or ``auto_preset`` for the plan."""
    if settings.compression_ffmpeg_preset is not None:
        return settings
    return attrs.evolve(settings, compression_ffmpeg_preset=auto_preset(plan, cores))


def preset_of(settings: Settings) -> str:
    """The preset an encode runs with (``DEFAULT_PRESET`` when none was resolved)."""
    return settings.compression_ffmpeg_preset or DEFAULT_PRESET
