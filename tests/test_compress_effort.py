"""The x264 preset chosen per clip when COMPRESSION_FFMPEG_PRESET is unset (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.test_compress_plan import video_probe
from uploader import MIB, Settings
from uploader.compress import plan_encode
from uploader.compress._effort import auto_preset, preset_of, with_preset
from uploader.compress._ffmpeg import preset_speed

UNSET = Settings(compression_max_concurrent=1)


def plan_for(duration: float, height: int = 720, limit_mib: float = 25):
    probe = video_probe(duration=duration, width=height * 16 // 9, height=height)
    return plan_encode(probe, int(limit_mib * MIB), UNSET)


def test_a_short_clip_gets_a_slower_preset_and_a_long_one_medium():
    assert auto_preset(plan_for(10), cores=2) in {"slow", "slower"}
    assert auto_preset(plan_for(300, limit_mib=100), cores=2) == "medium"


def test_an_hours_long_encode_goes_faster_than_medium():
    preset = auto_preset(plan_for(3 * 3600, 1080, limit_mib=2000), cores=1)
    assert preset_speed(preset) < preset_speed("medium")


def test_a_configured_preset_is_kept_and_an_unset_one_is_resolved():
    plan = plan_for(10)
    fixed = Settings(compression_max_concurrent=1, compression_ffmpeg_preset="veryfast")
    assert with_preset(fixed, plan, 2) is fixed
    resolved = with_preset(UNSET, plan, 2)
    assert resolved.compression_ffmpeg_preset == auto_preset(plan, 2) == preset_of(resolved)
    assert UNSET.compression_ffmpeg_preset is None and preset_of(UNSET) == "medium"


@given(st.floats(1, 20_000), st.floats(1, 20_000), st.integers(1, 64))
def test_a_longer_clip_never_gets_a_slower_preset(short, long, cores):
    short, long = sorted((short, long))
    a, b = (
        auto_preset(plan_for(short, 480, 4000), cores),
        auto_preset(plan_for(long, 480, 4000), cores),
    )
    assert preset_speed(b) <= preset_speed(a)


def test_more_cores_never_get_a_faster_preset():
    plan = plan_for(60)
    speeds = [preset_speed(auto_preset(plan, cores)) for cores in (1, 2, 4, 8, 16)]
    assert speeds == sorted(speeds)
