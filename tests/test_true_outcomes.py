"""Outcomes that are true: a delivered part never sent twice, uncertain webhook batches resent
only when asked, and the bot path's nonce settling what a lost answer left open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests._memory import MemoryDestination, small_settings
from tests.test_pipeline_discord import folder, received, settings
from uploader import (
    Channel,
    FileCompressed,
    FileStatus,
    MediaFile,
    MediaType,
    Settings,
    Webhook,
    upload_directory,
)
from uploader._uploader import _replace
from uploader.compress import CompressOutcome
from uploader.testing import Fault, open_fake_discord

KIB = 1024


@attrs.define
class SplitEncoder:
    """Splits a user's video into two parts (60 KiB and 150 KiB); a part becomes one 60 KiB file."""

    sources: list[Path] = attrs.Factory(list)

    async def __call__(
        self,
        file: MediaFile,
        target: int,
        *,
        settings: Settings,
        workdir: Path,
        on_progress: Callable[[float], None],
    ) -> CompressOutcome:
        await trio.sleep(1)
        self.sources.append(file.path)
        if file.original_path is None:
            sizes = {"part1of2": 60 * KIB, "part2of2": 150 * KIB}
        else:
            sizes = {"compressed": min(target, 60 * KIB)}
        outputs = []
        for tag, size in sizes.items():
            out = workdir / f"{file.path.stem}.{tag}.mp4"
            out.write_bytes(tag.encode() * (size // len(tag)))
            outputs.append(
                MediaFile(out, out.stat().st_size, file.media_type, original_path=file.path)
            )
        return CompressOutcome(outputs=tuple(outputs), attempts=1, plan=None)  # type: ignore[arg-type]


async def test_a_refused_part_is_compressed_alone_and_a_delivered_part_never_resent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    encoder = SplitEncoder()
    monkeypatch.setattr("uploader.compress._pool.compress_with_details", encoder)
    (tmp_path / "in").mkdir()
    video = tmp_path / "in" / "clip.mp4"
    video.write_bytes(b"x" * 400 * KIB)
    dest = MemoryDestination(limit=100 * KIB)  # part 1 passes, part 2 is refused (413)
    events: list[object] = []
    result = await upload_directory(
        tmp_path / "in",
        dest,
        settings=small_settings(tmp_path, upload_max_files_per_batch=1),
        workdir=tmp_path / "work",
        progress=events.append,
    )
    assert result.success, result.message
    names = [name for name, _, _ in dest.received]
    assert names == ["clip.part1of2.mp4", "clip.part2of2.compressed.mp4"]  # part 1 once
    assert encoder.sources == [video, tmp_path / "work" / "clip.part2of2.mp4"]
    [outcome] = result.outcomes
    assert outcome.sent_as == ("clip.part1of2.mp4", "clip.part2of2.compressed.mp4")
    compressed = [e for e in events if isinstance(e, FileCompressed)]
    assert [e.outputs[0].original_path for e in compressed] == [video, video]


@pytest.mark.parametrize(
    ("lost_answers", "resend", "posts", "status"),
    [
        (1, False, 1, FileStatus.UNCERTAIN),  # posted, answer lost: never posted again
        (1, True, 2, FileStatus.DELIVERED),  # asked: posted once more, and answered
        (2, True, 2, FileStatus.UNCERTAIN),  # the second answer lost too: no third post
    ],
    ids=["kept-uncertain", "resent-once", "never-a-third"],
)
async def test_an_uncertain_webhook_batch_is_posted_again_once_and_only_when_asked(
    tmp_path: Path,
    lost_answers: int,
    resend: bool,
    posts: int,
    status: FileStatus,
    autojump_clock: object,
) -> None:
    hashes = folder(tmp_path / "in", 3)
    async with open_fake_discord() as fake:
        url = fake.create_webhook()
        fake.inject(Fault("drop_after_body", route="execute_webhook", times=lost_answers))
        result = await upload_directory(
            tmp_path / "in",
            Webhook(url),
            settings=settings(upload_resend_uncertain=resend),
            resume=False,  # one message of 3 files: no journal threads for autojump to linger on
        )
    assert len(fake.messages) == posts
    assert sorted(received(fake)) == sorted(list(hashes.items()) * posts)
    assert {o.status for o in result.outcomes} == {status}


async def test_the_bot_path_repeats_its_nonce_so_lost_answers_never_duplicate(
    tmp_path: Path, autojump_clock: object
) -> None:
    hashes = folder(tmp_path / "in", 6)
    async with open_fake_discord() as fake:
        channel = fake.create_channel()
        fake.inject(
            Fault("drop_after_body", route="create_message", times=3),
            Fault("status", route="create_message", status=500, times=3),
        )
        result = await upload_directory(
            tmp_path / "in",
            Channel(channel, fake.bot_token),
            settings=settings(upload_max_files_per_batch=3),
            api_base=fake.api_base,
            resume=False,
        )
    assert result.success, result.message
    assert sorted(received(fake)) == sorted(hashes.items())
    assert len({m.nonce for m in fake.messages}) == len(fake.messages) == 2


@given(
    sizes=st.lists(st.integers(1, 10**6), min_size=2, max_size=8),
    refused=st.integers(0, 7),
    new=st.lists(st.integers(1, 10**6), min_size=1, max_size=4),
)
def test_a_part_compressed_again_replaces_only_itself_in_order(
    sizes: list[int], refused: int, new: list[int]
) -> None:
    user = Path("/in/clip.mp4")
    parts = tuple(
        MediaFile(Path(f"/w/clip.part{i}.mp4"), s, MediaType.VIDEO, original_path=user)
        for i, s in enumerate(sizes)
    )
    victim = parts[refused % len(parts)]
    outputs = tuple(
        MediaFile(Path(f"/w/{victim.path.stem}.{j}.mp4"), s, MediaType.VIDEO, original_path=user)
        for j, s in enumerate(new)
    )
    merged = _replace(parts, victim, outputs)
    i = parts.index(victim)
    assert merged == (*parts[:i], *outputs, *parts[i + 1 :])
    assert victim not in merged  # the refused part is never sent again
    assert set(parts) - {victim} <= set(merged)  # nor is any sibling dropped (or doubled)
    assert len(merged) == len(parts) - 1 + len(outputs)
