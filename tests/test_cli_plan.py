"""`uploader plan`: what a user sees, in text and JSON, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests._files import write_sized
from uploader import MIB
from uploader.cli import main


@pytest.fixture(autouse=True)
def sparse_files_stand_in_for_media(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLOAD_CHECK_MEDIA", "false")  # the media check is tested on its own


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_sized(tmp_path / "big.mp4", 30 * MIB)
    write_sized(tmp_path / "clip.webm", 6 * MIB)
    for i in range(12):
        write_sized(tmp_path / "photos" / f"p{i}.jpg", 1 * MIB)
    write_sized(tmp_path / "song.mp3", 4 * MIB)
    write_sized(tmp_path / "notes.txt", 10)
    write_sized(tmp_path / "half.mp4.part", 10)
    return tmp_path


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_plan_json_has_every_fact(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(["plan", str(folder), "--json"], capsys)
    summary = doc["summary"]
    assert summary == {
        "media_files": 15,
        "total_bytes": 30 * MIB + 6 * MIB + 12 * MIB + 4 * MIB,
        "needs_compression": 1,
        "issues": 2,
        "messages": 2,
        "messages_exact": True,
    }
    files = {f["path"]: f for f in doc["files"]}  # type: ignore[attr-defined]
    assert files["big.mp4"]["needs_compression"] is True
    assert files["clip.webm"]["needs_compression"] is False
    issues = {i["path"]: (i["kind"], i["reason"]) for i in doc["issues"]}  # type: ignore[attr-defined]
    assert issues == {
        "half.mp4.part": ("skipped", "partial download"),
        "notes.txt": ("skipped", "not a supported media type"),
    }
    planned = [p for m in doc["messages"] for p in m["files"]]  # type: ignore[attr-defined]
    # the sparse "video" cannot be compressed (not media): it is left out of the messages
    assert sorted(planned) == sorted(set(files) - {"big.mp4"})
    assert "compression_error" in files["big.mp4"]
    for m in doc["messages"]:  # type: ignore[attr-defined]
        assert len(m["files"]) <= 10
        assert m["planned_bytes"] <= doc["limits"]["message_max_bytes"]  # type: ignore[index]


def test_limit_option_changes_what_needs_compression(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = run_json(["plan", str(folder), "--json", "--limit-mb", "50"], capsys)
    assert doc["summary"]["needs_compression"] == 0  # type: ignore[index]
    assert doc["limits"]["file_limit_bytes"] == 50 * MIB  # type: ignore[index]


def test_plan_text_names_everything(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "15 media files" in out
    assert "Needs compression" in out and "big.mp4" in out
    assert "notes.txt: not a supported media type" in out
    assert "Messages: 2" in out
    assert "big.mp4 (compressed)" not in out
    # the sparse "video" is not media: the plan says so instead of promising a compression
    assert "cannot compress: " in out and "ffprobe cannot read it" in out


@pytest.mark.ffmpeg
def test_plan_shows_each_oversized_files_encode_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests._media import make_video

    make_video(tmp_path / "clip.mp4", 3, 320, 240, video_kbps=2000)
    doc = run_json(["plan", str(tmp_path), "--json", "--limit-mb", "0.25"], capsys)
    [clip] = doc["files"]  # type: ignore[misc]
    assert clip["needs_compression"] is True
    plan = clip["compression_plan"]
    assert plan["container"] == "mp4" and plan["planned_bytes"] <= 256 * 1024
    assert main(["plan", str(tmp_path), "--limit-mb", "0.25"]) == 0
    assert "plan: clip.mp4" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["plan", "/definitely/missing"], {}, "no such directory"),
        (["plan", "."], {"UPLOAD_MAX_FILES_PER_BATCH": "11"}, "UPLOAD_MAX_FILES_PER_BATCH=11"),
        (["plan", ".", "--limit-mb", "zero"], {}, "--limit-mb"),
        (["plan", ".", "--limit-mb", "-1"], {}, "--limit-mb"),
        (["plan"], {}, "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], needle: str, tmp_path: Path
) -> None:
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "uploader", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_one_media_file_is_singular(tmp_path, capsys):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8" + bytes(100))
    assert main(["plan", str(tmp_path)]) == 0
    assert f"{tmp_path.resolve()}: 1 media file, " in capsys.readouterr().out


# issue 13 #12: the plan is what send will do.


def plain_send_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """send as plan sees it: no status message, no journal, limits from the command line."""
    for name in ("DISCORD_WEBHOOK_URL", "UPLOAD_FILE_LIMIT_MB", "UPLOAD_MAX_FILES_PER_BATCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UPLOAD_ENABLE_PROGRESS_UPDATES", "false")
    monkeypatch.setenv("UPLOAD_RESUME", "false")


def sent_groups(argv: list[str]) -> list[list[str]]:
    """`uploader send ARGV --webhook` to a fresh fake: each message's attachment names."""
    from tests.test_send_cli import fake_discord

    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        assert main(["send", *argv, "--webhook", url]) == 0
        messages = served.call(lambda: list(served.fake.messages))
    return [[a.filename for a in m.attachments] for m in messages]


def test_plan_groups_files_as_send_does(tmp_path, capsys, monkeypatch):
    plain_send_env(monkeypatch)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(24):
        (folder / f"{i:02}.jpg").write_bytes(b"\xff\xd8" * (i * 200_000 + 500))
    assert main(["plan", str(folder), "--json"]) == 0
    planned = [len(m["files"]) for m in json.loads(capsys.readouterr().out)["messages"]]
    assert planned == [len(names) for names in sent_groups([str(folder)])]


def test_stand_ins_count_at_their_planned_size_and_a_big_message_is_marked(tmp_path, capsys):
    from uploader import MediaFile, MediaType, Settings
    from uploader.cli._grouping import predict
    from uploader.compress import EncodePlan

    settings = Settings(upload_file_limit_mb=10)
    target = settings.compression_target_bytes
    big = MediaFile(tmp_path / "big.mp4", 50 * MIB, MediaType.VIDEO)
    small = [MediaFile(tmp_path / f"{i}.jpg", 6 * MIB, MediaType.IMAGE) for i in range(3)]
    plan = EncodePlan(MediaType.VIDEO, "libx264", "mp4", target, target, 1000, 20.0, video_kbps=800)
    assert plan.planned_bytes < 3 * MIB
    # the three photos go while the video encodes (the uploader is idle), then the stand-in
    grouping = predict((big, *small), settings, {big.path: plan})
    assert [len(b.files) for b in grouping.batches] == [3, 1] and grouping.exact
    (tmp_path / "huge.jpg").write_bytes(b"\xff\xd8")
    with open(tmp_path / "huge.jpg", "r+b") as f:
        f.truncate(60 * MIB)
    assert main(["plan", str(tmp_path), "--limit-mb", "100"]) == 0
    out = capsys.readouterr().out
    assert "60.0 MiB (alone: over the 24.9 MiB a message carries): huge.jpg" in out


def _sent_as_planned(name: str) -> str:
    """The user's file name an attachment stands for (``clip.compressed.mp4``: ``clip.mp4``)."""
    return name.replace(".compressed", "")


def test_plan_groups_compressed_files_as_send_does(tmp_path, capsys, monkeypatch):
    # Issue 13 #12: plan said 1 message for this folder (every file together), send made 2
    # (the idle uploader takes the photos and the song while the video encodes).
    from tests._media import make_audio, make_jpeg, make_video

    plain_send_env(monkeypatch)
    folder = tmp_path / "in"
    (folder / "photos").mkdir(parents=True)
    make_video(folder.joinpath("clip.mp4"), 4, 320, 240, noisy=True)
    for i in range(4):
        make_jpeg(folder / "photos" / f"p{i}.jpg", 160 + 16 * i, 120)
    make_audio(folder / "song.mp3", 2, kbps=64)
    limit = ["--limit-mb", "0.3"]
    assert (folder / "clip.mp4").stat().st_size > 0.3 * MIB > (folder / "song.mp3").stat().st_size
    assert main(["plan", str(folder), "--json", *limit]) == 0
    doc = json.loads(capsys.readouterr().out)
    planned = [[Path(p).name for p in m["files"]] for m in doc["messages"]]
    sent = [[_sent_as_planned(n) for n in names] for names in sent_groups([str(folder), *limit])]
    assert planned == sent
    assert len(sent) == 2 and doc["summary"]["messages_exact"] is True


def test_a_grouping_the_stand_ins_real_sizes_could_change_is_said_to_be_about(tmp_path):
    from uploader import MediaFile, MediaType, Settings
    from uploader._detect import ScanResult
    from uploader.cli._plan import build_plan, plan_to_text
    from uploader.compress import EncodePlan

    settings = Settings(upload_file_limit_mb=10, compression_max_concurrent=1)
    target = settings.compression_target_bytes
    sizes = {"a.mp4": 15, "b.jpg": 9, "c.mp4": 11, "d.mp4": 29}
    files = [MediaFile(tmp_path / n, s * MIB, MediaType.VIDEO) for n, s in sizes.items()]
    seconds = {"a.mp4": 20.0, "c.mp4": 10.0, "d.mp4": 10.0}
    plans = {
        tmp_path / n: EncodePlan(
            MediaType.VIDEO, "libx264", "mp4", target, target, 0, s, 1000, scale=(640, 360)
        )
        for n, s in seconds.items()
    }
    plan = build_plan(tmp_path, ScanResult(tuple(files), ()), settings, plans)
    # at their planned ~1-2 MiB the stand-ins pack one way, at the 10 MiB they may reach another
    assert not plan.exact
    assert f"Messages: about {len(plan.batches)} (" in plan_to_text(plan)


def test_a_slow_media_check_outlasts_sends_linger_and_the_plan_knows(tmp_path):
    # send's batcher sends what waits once nothing arrived for its linger (0.5 s): photos
    # waiting while a song's check (ffprobe) runs longer go alone; plan times its own checks.
    from uploader import MediaFile, MediaType, Settings
    from uploader.cli._grouping import predict

    settings = Settings()
    photos = [MediaFile(tmp_path / f"p{i}.jpg", MIB, MediaType.IMAGE) for i in range(3)]
    song = MediaFile(tmp_path / "song.mp3", MIB, MediaType.AUDIO)
    files = (*photos, song)
    counts = {}
    for seconds in (0.01, 0.7, 2.0):
        grouping = predict(files, settings, {}, check_seconds={song.path: seconds})
        counts[seconds] = ([len(b.files) for b in grouping.batches], grouping.exact)
    assert counts == {0.01: ([4], True), 0.7: ([3, 1], False), 2.0: ([3, 1], True)}


def test_an_about_plan_without_compression_names_only_the_checks_as_its_cause(
    tmp_path: Path,
) -> None:
    from uploader import MediaFile, MediaType, Settings, UploadBatch
    from uploader._detect import ScanResult
    from uploader.cli._plan import Plan, plan_to_text

    clip = MediaFile(tmp_path / "a.mp4", 1000, MediaType.VIDEO)
    batch = UploadBatch((clip,))
    scan = ScanResult((clip,), ())
    plan = Plan(tmp_path, Settings(), scan, (), (batch,), exact=False)
    text = plan_to_text(plan)
    assert "Messages: about 1" in text
    assert "depends on how long each video or song takes to check)" in text
    assert "real sizes" not in text
