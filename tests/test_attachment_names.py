"""One message never carries two attachments Discord could keep under one name (issue 13 #10)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.test_send_cli import clean_env, fake_discord, send
from uploader.discord._multipart import attachment_names, discord_key

__all__ = ["clean_env"]

NAMES = st.lists(
    st.sampled_from(
        [
            "clip.mp4",
            "clip (2).mp4",
            "clip_2.mp4",
            "Clip.MP4",
            "a b.jpg",
            "a_b.jpg",
            "noext",
            ".hidden",
            "動画.mp4",
            "映像.mp4",
        ]
    )
    | st.text(min_size=1, max_size=12),
    max_size=10,
)


@given(NAMES)
def test_names_are_distinct_as_discord_keeps_them(names: list[str]) -> None:
    chosen = attachment_names(names)
    assert len(chosen) == len(names)
    assert len({discord_key(c) for c in chosen}) == len(chosen)
    assert attachment_names(names) == chosen  # pure
    for name, picked in zip(names, chosen, strict=True):
        stem, dot, ext = name.rpartition(".")
        if dot and stem and ext:
            assert picked.endswith(f".{ext}")  # the extension kept


@given(st.lists(st.text(min_size=1, max_size=12), max_size=10, unique_by=discord_key))
def test_names_already_distinct_are_kept(names: list[str]) -> None:
    assert attachment_names(names) == tuple(names)


def test_two_clips_of_one_name_arrive_under_two_names(tmp_path: Path, capsys: object) -> None:
    for folder in ("a", "b"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        (tmp_path / "in" / folder / "clip.jpg").write_bytes(os.urandom(2000))
    assert attachment_names(["clip.jpg", "clip.jpg"]) == ("clip.jpg", "clip (2).jpg")
    with fake_discord() as served:
        url = served.call(served.fake.create_webhook)
        code, _, err = send([str(tmp_path / "in"), "--webhook", url], capsys)  # type: ignore[arg-type]
        messages = served.call(lambda: list(served.fake.messages))
    assert code == 0, err
    names = Counter(a.filename for m in messages for a in m.attachments)
    assert names == Counter({"clip.jpg": 1, "clip (2).jpg": 1})
