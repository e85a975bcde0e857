"""compress_to_fit and the compressor pool against the real ffmpeg, on small generated media."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import trio

from tests import _media
from uploader import MediaFile, MediaType, Settings
from uploader.compress import (
    CannotFitError,
    Compressed,
    CompressionFailed,
    CompressionJob,
    CompressionProgress,
    EncodeTimeoutError,
    FFmpegNotFoundError,
    MediaMismatchError,
    ProbeError,
    compress_to_fit,
    compress_with_details,
    describe_compression,
    probe_media,
    run_compressor_pool,
)

pytestmark = [
    pytest.mark.ffmpeg,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH"),
]

KIB = 1024
SETTINGS = Settings(compression_max_concurrent=2, compression_ffmpeg_preset="veryfast")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every input the suite needs, generated once (about a second of ffmpeg)."""
    d = tmp_path_factory.mktemp("media")
    return {
        "noisy": _media.make_video(d / "noisy.mp4", 4, 320, 240, noisy=True),
        "calm": _media.make_video(d / "calm.mkv", 4, 320, 240),
        "silent": _media.make_video(d / "silent.mp4", 3, 320, 240, audio=False, noisy=True),
        "odd_rotated": _media.make_video(d / "odd.mp4", 3, 321, 241, rotate=90, noisy=True),
        "fractal": _media.make_fractal_video(d / "fractal.mp4", 3, 320, 240),
        "long": _media.make_video(d / "long.mp4", 6, 320, 240, noisy=True),
        "wav": _media.make_audio(d / "song.wav", 6),
        "mp3": _media.make_audio(d / "song.mp3", 6, kbps=320),
        "png": _media.make_png(d / "alpha.png", 320, 240, alpha=True),
        "jpeg": _media.make_jpeg(d / "photo.jpg", 640, 480),
        "gif": _media.make_gif(d / "anim.gif", 2, 160, 120),
    }


def as_file(path: Path, kind: MediaType | None = None) -> MediaFile:
    suffix_kind = {
        ".wav": MediaType.AUDIO,
        ".mp3": MediaType.AUDIO,
        ".png": MediaType.IMAGE,
        ".jpg": MediaType.IMAGE,
        ".gif": MediaType.IMAGE,
    }
    return MediaFile(
        path, path.stat().st_size, kind or suffix_kind.get(path.suffix, MediaType.VIDEO)
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return json.loads(out)


def ffmpeg_children() -> list[int]:
    """Our own ffmpeg/ffprobe child processes still alive, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("PPid", "").strip() == str(os.getpid()) and fields.get(
            "Name", ""
        ).strip() in {"ffmpeg", "ffprobe"}:
            found.append(int(entry.name))
    return found


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


# --- video ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "target"),
    [("noisy", 200 * KIB), ("noisy", 120 * KIB), ("silent", 100 * KIB), ("fractal", 150 * KIB)],
)
async def test_a_video_lands_just_under_the_limit(media, workdir, name, target):
    source = media[name]
    before = digest(source)
    seen: list[float] = []
    (out,) = await compress_to_fit(
        as_file(source), target, settings=SETTINGS, workdir=workdir, on_progress=seen.append
    )
    assert out.size_bytes == out.path.stat().st_size <= target
    assert out.size_bytes >= 0.90 * target, f"only {out.size_bytes / target:.1%} of the budget"
    assert out.path.parent == workdir and out.path.name == f"{source.stem}.compressed.mp4"
    assert out.original_path == source and out.media_type is MediaType.VIDEO
    assert digest(source) == before
    assert seen == sorted(seen) and seen[-1] == 100.0 and len(seen) > 2
    info = ffprobe(out.path)
    assert info["streams"][0]["codec_name"] == "h264"
    assert float(info["format"]["duration"]) == pytest.approx(
        float(ffprobe(source)["format"]["duration"]), abs=0.3
    )
    assert sorted(p.name for p in workdir.iterdir()) == [out.path.name]  # no passlogs left


async def test_a_calm_mkv_becomes_an_mp4_with_aac_audio(media, workdir):
    (out,) = await compress_to_fit(
        as_file(media["calm"]), 150 * KIB, settings=SETTINGS, workdir=workdir
    )
    assert out.path.suffix == ".mp4" and out.size_bytes <= 150 * KIB
    codecs = {s["codec_type"]: s["codec_name"] for s in ffprobe(out.path)["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}


async def test_odd_sized_rotated_video_is_encoded_upright_with_even_dimensions(media, workdir):
    (out,) = await compress_to_fit(
        as_file(media["odd_rotated"]), 120 * KIB, settings=SETTINGS, workdir=workdir
    )
    video = next(s for s in ffprobe(out.path)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (240, 320)
    assert out.size_bytes <= 120 * KIB


async def test_an_overshoot_is_corrected_by_a_lower_bitrate_reencode(media, workdir, monkeypatch):
    from uploader.compress import _plan

    monkeypatch.setattr(_plan, "MARGIN", -0.25)  # plan 25% too many bytes: first encode is over
    outcome = await compress_with_details(
        as_file(media["noisy"]), 150 * KIB, settings=SETTINGS, workdir=workdir
    )
    (out,) = outcome.outputs
    assert outcome.attempts >= 2
    assert out.size_bytes <= 150 * KIB


def _underplanned(monkeypatch, share: float) -> None:
    """Make the planner ask for ``share`` of the video bitrate it would (the encode underfills)."""
    from uploader.compress import _compress

    real = _compress.plan_encode

    def plan_low(*args, **kwargs):
        plan = real(*args, **kwargs)
        return plan.with_video_kbps(int(plan.video_kbps * share))

    monkeypatch.setattr(_compress, "plan_encode", plan_low)


async def test_an_underfilled_video_is_reencoded_once_at_a_higher_bitrate(
    media, workdir, monkeypatch
):
    _underplanned(monkeypatch, 0.7)
    outcome = await compress_with_details(
        as_file(media["noisy"]), 120 * KIB, settings=SETTINGS, workdir=workdir
    )
    (out,) = outcome.outputs
    assert outcome.attempts == 2 and outcome.first_fit
    assert 0.90 * 120 * KIB <= out.size_bytes <= 120 * KIB
    assert sorted(p.name for p in workdir.iterdir()) == [out.path.name]


async def test_an_upward_reencode_over_the_limit_is_dropped_for_the_first_output(
    media, workdir, monkeypatch
):
    from uploader.compress import _reencode

    _underplanned(monkeypatch, 0.5)
    monkeypatch.setattr(_reencode, "RAISE_CORRECTION", 3.0)  # aim far past the target
    monkeypatch.setattr(_reencode, "MAX_RAISE", 4.0)
    outcome = await compress_with_details(
        as_file(media["noisy"]), 120 * KIB, settings=SETTINGS, workdir=workdir
    )
    (out,) = outcome.outputs
    assert outcome.attempts == 2 and outcome.first_fit
    assert out.size_bytes < 0.90 * 120 * KIB  # the first encode, kept
    assert sorted(p.name for p in workdir.iterdir()) == [out.path.name]


async def test_a_video_too_long_for_the_limit_names_a_limit_that_works(media, workdir):
    file = as_file(media["long"])
    with pytest.raises(CannotFitError) as caught:
        await compress_to_fit(file, 30 * KIB, settings=SETTINGS, workdir=workdir)
    assert "long.mp4" in str(caught.value) and "\n" not in str(caught.value)
    smallest = caught.value.smallest_limit_bytes
    assert smallest is not None and 30 * KIB < smallest < 200 * KIB
    assert list(workdir.iterdir()) == []
    (out,) = await compress_to_fit(file, smallest, settings=SETTINGS, workdir=workdir)
    assert out.size_bytes <= smallest


async def test_split_long_sends_consecutive_parts_that_each_fit(media, workdir):
    settings = Settings(compression_split_long=True, compression_ffmpeg_preset="veryfast")
    file = as_file(media["long"])
    with pytest.raises(CannotFitError):  # too long for one file at this limit
        await compress_to_fit(file, 80 * KIB, settings=SETTINGS, workdir=workdir)
    outs = await compress_to_fit(file, 80 * KIB, settings=settings, workdir=workdir)
    assert len(outs) >= 2
    n = len(outs)
    assert [o.path.name for o in outs] == [f"long.part{i}of{n}.mp4" for i in range(1, n + 1)]
    assert all(o.size_bytes <= 80 * KIB for o in outs)
    assert all(o.original_path == file.path for o in outs)
    total = sum(float(ffprobe(o.path)["format"]["duration"]) for o in outs)
    assert total == pytest.approx(6.0, abs=0.5)


async def test_same_stem_twice_gets_a_second_name(media, workdir):
    file = as_file(media["silent"])
    first, second = [
        (await compress_to_fit(file, 100 * KIB, settings=SETTINGS, workdir=workdir))[0]
        for _ in range(2)
    ]
    assert first.path.name == "silent.compressed.mp4"
    assert second.path.name == "silent-2.compressed.mp4"


# --- audio and images ------------------------------------------------------------------------


async def test_wav_becomes_m4a_using_the_budget(media, workdir):
    (out,) = await compress_to_fit(
        as_file(media["wav"]), 60 * KIB, settings=SETTINGS, workdir=workdir
    )
    assert out.path.name == "song.compressed.m4a" and out.media_type is MediaType.AUDIO
    assert 0.90 * 60 * KIB <= out.size_bytes <= 60 * KIB
    assert ffprobe(out.path)["streams"][0]["codec_name"] == "aac"


async def test_mp3_stays_mp3(media, workdir):
    (out,) = await compress_to_fit(
        as_file(media["mp3"]), 100 * KIB, settings=SETTINGS, workdir=workdir
    )
    assert out.path.suffix == ".mp3" and out.size_bytes <= 100 * KIB
    assert ffprobe(out.path)["streams"][0]["codec_name"] == "mp3"


async def test_a_png_with_alpha_keeps_its_alpha(media, workdir):
    source = media["png"]
    before = digest(source)
    (out,) = await compress_to_fit(as_file(source), 60 * KIB, settings=SETTINGS, workdir=workdir)
    assert out.size_bytes <= 60 * KIB and out.path.suffix in {".png", ".webp"}
    # ffmpeg 5.1 decodes WebP without alpha, so read the container's alpha flag directly.
    data = out.path.read_bytes()
    if out.path.suffix == ".webp":
        assert b"ALPH" in data or (data[12:16] == b"VP8X" and data[20] & 0x10)
    else:
        assert ffprobe(out.path)["streams"][0]["pix_fmt"] in {"rgba", "pal8", "ya8"}
    assert digest(source) == before


async def test_a_png_that_only_needs_repacking_stays_png(tmp_path, workdir):
    source = _media.make_png(tmp_path / "flat.png", 64, 64, alpha=True)
    (out,) = await compress_to_fit(
        as_file(source), source.stat().st_size, settings=SETTINGS, workdir=workdir
    )
    assert out.path.suffix == ".png"


async def test_a_photo_fits_by_quality_then_by_size(media, workdir):
    for target in (60 * KIB, 8 * KIB):
        (out,) = await compress_to_fit(
            as_file(media["jpeg"]), target, settings=SETTINGS, workdir=workdir
        )
        assert out.path.suffix == ".jpg" and out.size_bytes <= target
    small = ffprobe(out.path)["streams"][0]
    assert small["width"] < 640  # 8 KiB needed downscaling


async def test_an_animated_gif_becomes_an_mp4(media, workdir):
    (out,) = await compress_to_fit(
        as_file(media["gif"]), 30 * KIB, settings=SETTINGS, workdir=workdir
    )
    assert out.path.suffix == ".mp4" and out.media_type is MediaType.VIDEO
    assert out.size_bytes <= 30 * KIB


# --- refusals ------------------------------------------------------------------------------


async def test_text_named_mp4_is_a_probe_error_naming_it(tmp_path, workdir):
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are my notes\n" * 100)
    with pytest.raises(ProbeError, match=r"notes\.mp4"):
        await compress_to_fit(as_file(fake), 1000, settings=SETTINGS, workdir=workdir)
    assert list(workdir.iterdir()) == []


async def test_a_truncated_video_is_a_probe_error(media, tmp_path, workdir):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(media["noisy"].read_bytes()[:20_000])  # moov is at the end: unreadable
    with pytest.raises(ProbeError, match=r"broken\.mp4"):
        await compress_to_fit(as_file(broken), 10 * KIB, settings=SETTINGS, workdir=workdir)


async def test_corrupt_bytes_are_a_probe_error(tmp_path, workdir):
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(os.urandom(50_000))
    with pytest.raises(ProbeError):
        await compress_to_fit(as_file(junk), 10 * KIB, settings=SETTINGS, workdir=workdir)


async def test_an_image_named_as_video_is_a_media_mismatch(media, tmp_path, workdir):
    disguised = tmp_path / "clip.mp4"
    shutil.copy(media["png"], disguised)
    with pytest.raises(MediaMismatchError, match=r"clip\.mp4"):
        await compress_to_fit(as_file(disguised), 10 * KIB, settings=SETTINGS, workdir=workdir)


async def test_a_concat_list_is_refused(tmp_path, workdir, media):
    playlist = tmp_path / "list.mp4"
    playlist.write_text(f"ffconcat version 1.0\nfile '{media['noisy']}'\n")
    with pytest.raises(ProbeError):
        await compress_to_fit(as_file(playlist), 10 * KIB, settings=SETTINGS, workdir=workdir)


async def test_missing_ffmpeg_says_how_to_install_it(media, workdir):
    settings = Settings(compression_ffprobe_path="/nonexistent/ffprobe")
    with pytest.raises(FFmpegNotFoundError) as caught:
        await compress_to_fit(as_file(media["noisy"]), 10 * KIB, settings=settings, workdir=workdir)
    message = str(caught.value)
    assert "apt-get install ffmpeg" in message and "COMPRESSION_FFPROBE_PATH" in message


async def test_an_encode_over_its_time_limit_is_stopped_and_cleaned(media, workdir, monkeypatch):
    from uploader.compress import _encode_av

    monkeypatch.setattr(_encode_av, "encode_timeout", lambda *args: 0.05)
    with pytest.raises(EncodeTimeoutError, match=r"noisy\.mp4"):
        await compress_to_fit(
            as_file(media["noisy"]), 100 * KIB, settings=SETTINGS, workdir=workdir
        )
    assert list(workdir.iterdir()) == []
    assert ffmpeg_children() == []


@pytest.mark.parametrize("cancel_at", [5.0, 60.0], ids=["first-pass", "second-pass"])
async def test_a_cancelled_encode_leaves_no_process_and_no_file(media, workdir, cancel_at):
    with trio.CancelScope() as scope:

        def on_progress(percent: float) -> None:
            if percent >= cancel_at:
                scope.cancel()

        await compress_to_fit(
            as_file(media["long"]),
            150 * KIB,
            settings=SETTINGS,
            workdir=workdir,
            on_progress=on_progress,
        )
    assert scope.cancelled_caught
    assert list(workdir.iterdir()) == []
    assert ffmpeg_children() == []


async def test_a_timeout_from_outside_also_cleans_up(media, workdir):
    with trio.move_on_after(0.3) as scope:
        await compress_to_fit(as_file(media["long"]), 150 * KIB, settings=SETTINGS, workdir=workdir)
    assert scope.cancelled_caught
    assert list(workdir.iterdir()) == []
    assert ffmpeg_children() == []


async def test_probe_reads_streams_rotation_and_alpha(media):
    video = await probe_media(media["odd_rotated"], SETTINGS)
    assert video.video is not None and video.video.rotation in {90, 270}
    assert video.video.display_size == (241, 321)
    assert video.audio is not None and video.duration == pytest.approx(3, abs=0.2)
    image = await probe_media(media["png"], SETTINGS)
    assert image.media_type is MediaType.IMAGE and image.has_alpha
    gif = await probe_media(media["gif"], SETTINGS)
    assert gif.is_animated


async def test_describe_compression_plans_without_writing(media):
    plan = await describe_compression(as_file(media["noisy"]), 200 * KIB, SETTINGS)
    assert plan.codec == "libx264" and plan.planned_bytes <= 200 * KIB
    assert "noisy.mp4" in plan.summary()


# --- pool ------------------------------------------------------------------------------------


async def test_the_pool_compresses_every_job_reports_failures_and_closes_its_channels(
    media, tmp_path, workdir
):
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    jobs = [
        CompressionJob(as_file(media["silent"]), 100 * KIB),
        CompressionJob(as_file(junk), 100 * KIB),
        CompressionJob(as_file(media["wav"]), 60 * KIB),
    ]
    job_send, job_recv = trio.open_memory_channel[CompressionJob](0)
    result_send, result_recv = trio.open_memory_channel[Compressed | CompressionFailed](0)
    # A progress channel nobody reads: sends must be dropped, never block the encodes.
    progress_send, progress_recv = trio.open_memory_channel[CompressionProgress](0)
    results = []
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: run_compressor_pool(
                job_recv,
                result_send,
                settings=SETTINGS,
                workdir=workdir,
                progress=progress_send,
                task_status=task_status,
            )
        )

        async def feed() -> None:
            async with job_send:
                for job in jobs:
                    await job_send.send(job)

        nursery.start_soon(feed)
        async with result_recv:
            async for result in result_recv:  # ends when the pool closes `results`
                results.append(result)
    assert len(results) == 3
    failed = [r for r in results if isinstance(r, CompressionFailed)]
    assert [f.job.file.path for f in failed] == [junk]
    assert isinstance(failed[0].error, ProbeError)
    done = [r for r in results if isinstance(r, Compressed)]
    assert all(o.size_bytes <= r.job.target_bytes for r in done for o in r.outputs)
    assert all(r.attempts >= 1 for r in done)
    with pytest.raises(trio.EndOfChannel):
        progress_recv.receive_nowait()  # the pool closed its progress channel too


async def test_encoders_run_in_a_session_of_their_own(tmp_path: Path) -> None:
    """A Ctrl-C typed at the terminal goes to the terminal's process group: ffmpeg must not be
    in it (a bot given time to finish would see its encode killed); we kill it ourselves."""
    import sys

    from uploader.compress._ffmpeg import run_tool

    cmd = [sys.executable, "-c", "import os; print(os.getsid(0), os.getpgid(0))"]
    result = await run_tool(cmd, path=tmp_path / "x.mp4", time_limit=30)
    sid, pgid = (int(x) for x in result.stdout.split())
    assert sid != os.getsid(0) and pgid != os.getpgid(0)
