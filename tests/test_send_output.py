"""What `uploader send` prints (issue 13): every file named, a run-wide refusal said once, the
result on stdout on a terminal too, nothing posted for an empty folder, what is known on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from tests._files import deny_folders
from tests.test_send_cli import HOOK, clean_env, fake_discord, make_files, send
from uploader._settings import Settings
from uploader.testing import Fault, open_fake_discord

__all__ = ["clean_env"]  # the autouse fixture, imported to apply here


def test_a_refused_webhook_token_is_one_line_for_two_thousand_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2000):
        (folder / f"{i:04}.jpg").write_bytes(b"\xff\xd8" + bytes([i % 256]) * 10)
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        wrong = url.rsplit("/", 1)[0] + "/SECRET-wrong-token"
        code, out, err = send([str(folder), "--webhook", wrong], capsys)
    assert code == 1
    assert len(out.splitlines()) <= 15, out
    assert len(err.splitlines()) <= 5, err
    assert "0 delivered, 2000 not delivered, 0 skipped" in out
    assert "Discord refused the webhook token" in out
    assert "… and 1990 more" in out
    assert err.count("Discord refused the webhook token") == 1  # in the summary (issue 13 #6)
    assert "SECRET" not in out + err


def test_a_refused_bot_token_is_named_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_files(tmp_path / "in", 2)
    monkeypatch.setenv("DISCORD_TOKEN", "SECRET.not-the-bots-token")
    with fake_discord() as served:
        channel = served.call(served.fake.create_channel)
        argv = [str(tmp_path / "in"), "--channel", str(channel)]
        code, out, err = send([*argv, "--api-base", served.fake.api_base], capsys)
    assert code == 1
    assert "Discord refused DISCORD_TOKEN" in out
    assert "401: Unauthorized" not in out + err and "SECRET" not in out + err
    assert "❌ Nothing uploaded: 0/2 files" in err and "Partial" not in err


def test_on_a_terminal_the_result_still_goes_to_stdout_with_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in" / "a").mkdir(parents=True)
    (tmp_path / "in" / "a" / "photo.jpg").write_bytes(os.urandom(3000))
    (tmp_path / "in" / "notes.txt").write_text("not media")
    (tmp_path / "in" / "clip.mp4.part").write_bytes(b"half")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        code, out, err = send([str(tmp_path / "in"), "--webhook", url], capsys)
    assert code == 0
    assert out.splitlines()[0] == "1 delivered, 0 not delivered, 2 skipped"
    assert f"{tmp_path / 'in' / 'notes.txt'}: not a supported media type" in out
    assert f"{tmp_path / 'in' / 'clip.mp4.part'}: partial download" in out
    assert f"skipped {tmp_path / 'in' / 'notes.txt'}" in err  # named on the terminal too


def test_an_empty_folder_posts_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPLOAD_ENABLE_PROGRESS_UPDATES", "true")
    (tmp_path / "in").mkdir()
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        code, _, err = send([str(tmp_path / "in"), "--webhook", url], capsys)
        messages = served.call(lambda: list(served.fake.messages))
    assert code == 1
    assert messages == []  # no "📤 Processing files for upload..." into the channel
    assert "nothing to send: no media files in" in err


def test_cleanup_takes_only_true_or_false_and_lists_what_it_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(Exception, match="true or false"):
        Settings.from_env({"UPLOAD_CLEANUP_AFTER_SUCCESS": "yes"})
    assert main_usage_error(["send", str(tmp_path), "--webhook", HOOK], monkeypatch, capsys)
    make_files(tmp_path / "in", 2)
    monkeypatch.setenv("UPLOAD_CLEANUP_AFTER_SUCCESS", "true")
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        code, out, _ = send([str(tmp_path / "in"), "--webhook", url, "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert sorted(Path(p).name for p in report["removed"]) == ["00.jpg", "01.png"]
    assert not (tmp_path / "in").exists()


def main_usage_error(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> bool:
    from uploader.cli import main

    monkeypatch.setenv("UPLOAD_CLEANUP_AFTER_SUCCESS", "yes")
    code = main(argv)
    err = capsys.readouterr().err
    monkeypatch.delenv("UPLOAD_CLEANUP_AFTER_SUCCESS")
    return code == 2 and "UPLOAD_CLEANUP_AFTER_SUCCESS" in err and "true or false" in err


async def test_json_and_ctrl_c_print_what_is_known(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    make_files(folder, 4)
    async with open_fake_discord() as fake:
        # the first message goes through, the second hangs until the user gives up
        fake.inject(Fault("slow", route="execute_webhook", after=1, delay=60))
        env = {**os.environ, "DISCORD_WEBHOOK_URL": fake.create_webhook()}
        env |= {"UPLOAD_MAX_FILES_PER_BATCH": "2", "UPLOAD_ENABLE_PROGRESS_UPDATES": "false"}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "uploader", "send", str(folder), "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while len([m for m in fake.messages if m.attachments]) < 1:
            assert time.monotonic() < deadline
            await trio.sleep(0.05)
        await trio.sleep(0.3)
        process.send_signal(signal.SIGINT)
        assert process.stdout is not None
        out = b""
        with trio.fail_after(30):
            while chunk := await process.stdout.receive_some(65536):
                out += chunk
            code = await process.wait()
    assert code == 130
    report = json.loads(out)
    assert report["success"] is False and report["metadata"]["interrupted"] is True
    assert report["delivered"] == 2 and report["messages"] == 1
    assert sorted(f["status"] for f in report["files"]) == ["delivered"] * 2 + ["failed"] * 2


def test_a_lower_server_limit_is_said_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(os.urandom(600 * 1024))
    with fake_discord(file_limit_bytes=512 * 1024) as served:
        url = served.call(served.fake.create_webhook)
        code, _, err = send([str(folder), "--webhook", url, "--limit-mb", "1"], capsys)
    assert code == 1  # random bytes cannot be compressed to fit
    said = [line for line in err.splitlines() if "this server's limit is below" in line]
    assert len(said) == 1, err
    assert "below 1.0 MiB; files over 300.0 KiB are compressed" in said[0]


def test_json_success_agrees_with_the_exit_code_for_an_empty_folder() -> None:
    from uploader import UploadResult
    from uploader.cli._output import result_to_json

    empty = UploadResult(success=True, message="🤷 No media files to upload", outcomes=())
    assert result_to_json(empty, "webhook 1")["success"] is False  # send exits 1 for it


def test_the_workdir_is_mentioned_only_when_something_is_kept_there(tmp_path: Path) -> None:
    import io

    from uploader import FileOutcome, FileStatus, UploadResult
    from uploader.cli._output import print_result

    failed = (FileOutcome(tmp_path / "a.jpg", FileStatus.FAILED, "refused"),)
    out = io.StringIO()
    print_result(UploadResult(False, "x", failed, workdir=tmp_path / "work"), out)
    assert "kept in" not in out.getvalue()  # nothing is there
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "a.compressed.mp4").write_bytes(b"v")
    out = io.StringIO()
    print_result(UploadResult(False, "x", failed, workdir=tmp_path / "work"), out)
    assert f"kept in {tmp_path / 'work'}" in out.getvalue()


def test_an_unreadable_folder_is_not_counted_as_a_file_not_delivered(tmp_path: Path) -> None:
    import io

    from uploader import FileOutcome, FileStatus, UploadResult
    from uploader.cli._output import print_result

    (tmp_path / "locked").mkdir()
    outcomes = (FileOutcome(tmp_path / "locked", FileStatus.FAILED, "permission denied"),)
    out = io.StringIO()
    print_result(UploadResult(False, "x", outcomes), out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "0 delivered, 0 not delivered, 0 skipped, 1 folder not readable"
    assert f"{tmp_path / 'locked'}" in out.getvalue()  # named by its path


def test_the_summary_names_an_unreadable_folder_by_its_path_in_the_folder_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 13 #14/#2: "❌ locked: permission denied" named neither where the folder is nor that
    # it is one; sent through a link to the folder, every name was bare.
    real = tmp_path / "media"
    make_files(real / "sub" / "locked", 1)
    make_files(real / "sub" / "ok", 1)
    (tmp_path / "link").symlink_to(real)
    deny_folders(monkeypatch, "locked")
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        code, _, err = send([str(tmp_path / "link"), "--webhook", url], capsys)
    assert code == 1
    assert "uploader: ❌ sub/locked/: permission denied" in err.splitlines()
