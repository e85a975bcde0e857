"""Every video and audio file is probed before it is sent (issue 13 #19)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import trio

from tests.test_send_cli import clean_env, fake_discord, send
from uploader import MediaFile, MediaType, Settings, SkippedFile, _media_check
from uploader._events import MediaWarning, ProgressEvent
from uploader._media_check import Checked, check_file, cut_short, run_media_check
from uploader._models import DetectorEvent

__all__ = ["clean_env"]
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def test_cut_short_warns_only_when_much_is_missing() -> None:
    assert cut_short(10.0, 10.0) is None
    assert cut_short(10.0, 9.5) is None  # rounding, a last frame's length
    assert cut_short(0.0, 3.0) is None  # no duration stated: nothing to compare
    warning = cut_short(40.0, 23.5)
    assert warning is not None and "23.5 s of its 40.0 s" in warning


async def test_checks_run_a_few_at_a_time_and_keep_the_order(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    running = peak = 0

    async def slow_check(file: MediaFile, settings: Settings) -> Checked:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(random.random())
        running -= 1
        if file.path.name.startswith("bad"):
            return Checked(SkippedFile(file.path, "not playable media"))
        return Checked(file, "cut short" if file.path.name == "5.mp3" else None)

    monkeypatch.setattr(_media_check, "check_file", slow_check)
    files: list[DetectorEvent] = [
        MediaFile(Path(f"{i}.mp3"), 10, MediaType.AUDIO) for i in range(20)
    ]
    files += [MediaFile(Path("bad.mp4"), 10, MediaType.VIDEO)]
    files += [MediaFile(Path("p.jpg"), 10, MediaType.IMAGE)]  # not probed
    detected_send, detected_recv = trio.open_memory_channel[DetectorEvent](0)
    checked_send, checked_recv = trio.open_memory_channel[DetectorEvent](0)
    events_send, events_recv = trio.open_memory_channel[ProgressEvent](100)
    out: list[DetectorEvent] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_media_check, detected_recv, checked_send, events_send, Settings())

        async def feed() -> None:
            async with detected_send:
                for f in files:
                    await detected_send.send(f)

        nursery.start_soon(feed)
        async with checked_recv:
            async for event in checked_recv:
                out.append(event)
    assert [e.path for e in out] == [f.path for f in files]
    assert isinstance(out[-2], SkippedFile) and out[-1] == files[-1]
    assert 1 < peak <= _media_check.CHECKS_AT_ONCE + 1
    warnings = []
    async with events_recv:
        async for warning in events_recv:  # the check closed its end: this ends
            warnings.append(warning)
    assert warnings == [MediaWarning(Path("5.mp3"), "cut short")]


def make_clip(path: Path, seconds: int = 10) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=160x120:r=25:d={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
    )
    return path


def cut(source: Path, target: Path, share: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * share)])
    return target


@needs_ffmpeg
async def test_text_named_mp4_is_skipped_and_a_cut_clip_is_warned_about(tmp_path: Path) -> None:
    settings = Settings()
    fake = tmp_path / "fake.mp4"
    fake.write_text("twenty bytes of text")
    ok = make_clip(tmp_path / "ok.mp4")
    short = cut(ok, tmp_path / "cut.mp4", 0.45)

    def media(p: Path) -> MediaFile:
        return MediaFile(p, p.stat().st_size, MediaType.VIDEO)

    skipped = await check_file(media(fake), settings)
    assert isinstance(skipped.event, SkippedFile)
    assert skipped.event.reason.startswith("not playable media: ")
    assert (await check_file(media(ok), settings)).warning is None
    warned = await check_file(media(short), settings)
    assert warned.event == media(short) and warned.warning and "of its 10.0 s" in warned.warning


@needs_ffmpeg
def test_send_skips_what_is_not_media_in_one_line_and_warns_about_a_cut_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPLOAD_CHECK_MEDIA", "true")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "fake.mp4").write_text("twenty bytes of text")
    cut(make_clip(tmp_path / "ok.mp4"), folder / "cut.mp4", 0.45)
    (folder / "photo.jpg").write_bytes(os.urandom(1000))
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        code, out, err = send([str(folder), "--webhook", url], capsys)
        sent = served.call(
            lambda: [a.filename for m in served.fake.messages for a in m.attachments]
        )
    assert code == 0, out + err
    assert sorted(sent) == ["cut.mp4", "photo.jpg"]  # the text file was not posted as a video
    assert err.count("fake.mp4") == 1 and f"skipped {folder / 'fake.mp4'}: not playable" in err
    assert f"warning {folder / 'cut.mp4'}: only " in err


@needs_ffmpeg
def test_plan_skips_what_send_would_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from uploader.cli import main

    monkeypatch.setenv("UPLOAD_CHECK_MEDIA", "true")
    (tmp_path / "fake.mp4").write_text("twenty bytes of text")
    make_clip(tmp_path / "ok.mp4", 2)
    assert main(["plan", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert ": 1 media file, " in out
    assert "  fake.mp4: not playable media: " in out


async def test_a_check_that_times_out_sends_the_file_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from uploader.compress import EncodeTimeoutError

    async def too_slow(path: Path, settings: Settings) -> object:
        raise EncodeTimeoutError(path, 30.0)

    monkeypatch.setattr(_media_check, "probe_media", too_slow)
    clip = MediaFile(path=tmp_path / "clip.mp4", size_bytes=10, media_type=MediaType.VIDEO)
    checked = await check_file(clip, Settings())
    assert checked.event == clip  # a timeout proves nothing about the file: it is still sent
    assert checked.warning is not None and "could not be checked" in checked.warning


@needs_ffmpeg
def test_compress_warns_when_its_source_was_cut_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from uploader.cli import main

    short = cut(make_clip(tmp_path / "ok.mp4"), tmp_path / "cut.mp4", 0.45)
    limit = short.stat().st_size * 0.8 / (1024 * 1024)
    main(["compress", str(short), "--limit-mb", f"{limit:.3f}", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "warning" in err and "of its 10.0 s can be played (cut short?)" in err


@needs_ffmpeg
def test_plan_names_a_file_cut_short_as_send_warns_about_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from uploader.cli import main

    monkeypatch.setenv("UPLOAD_CHECK_MEDIA", "true")  # this module's clean_env turns it off

    folder = tmp_path / "in"
    folder.mkdir()
    cut(make_clip(tmp_path / "ok.mp4"), folder / "cut.mp4", 0.45)
    main(["plan", str(folder)])
    out = capsys.readouterr().out
    assert "Warnings: 1" in out and "cut.mp4: only" in out and "(cut short?)" in out
    main(["plan", str(folder), "--json"])
    [entry] = json.loads(capsys.readouterr().out)["files"]
    assert "(cut short?)" in entry["warning"]
