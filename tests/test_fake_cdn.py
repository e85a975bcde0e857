"""Tests of the fake's attachment URLs: the uploaded bytes served back, typed from the name."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from _fake_http import bot

from uploader.testing import FakeDiscord
from uploader.testing._cdn import KEEP_FILE_BYTES, content_type_of

# the options of the `fake` fixture (tests/conftest.py)
pytestmark = pytest.mark.fake_discord(file_limit_bytes=2 * KEEP_FILE_BYTES)


async def upload(
    client: httpx.AsyncClient, fake: FakeDiscord, channel: int, files: dict[str, bytes]
) -> httpx.Response:
    parts = [
        (f"files[{i}]", (name, data, "application/octet-stream"))
        for i, (name, data) in enumerate(files.items())
    ]
    return await client.post(
        f"{fake.api_base}/channels/{channel}/messages",
        headers=bot(fake),
        data={"payload_json": json.dumps({"content": "files"})},
        files=parts,
    )


async def test_attachment_urls_serve_the_uploaded_bytes_with_their_type(
    fake: FakeDiscord,
) -> None:
    channel = fake.create_channel()
    files = {
        "clip.mp4": b"\x00\x00\x00 ftypisom" * 10,
        "pic.png": b"\x89PNG\r\n",
        "notes.txt": b"hi",
    }
    async with httpx.AsyncClient() as client:
        response = await upload(client, fake, channel, files)
        assert response.status_code == 200
        attachments = response.json()["attachments"]
        for attachment, (name, data) in zip(attachments, files.items(), strict=True):
            for url in (attachment["url"], attachment["proxy_url"]):
                got = await client.get(url)
                assert got.status_code == 200
                assert got.content == data, name
                assert got.headers["content-type"] == attachment["content_type"]
    assert [a["content_type"] for a in attachments] == [
        "video/mp4",
        "image/png",
        "text/plain; charset=utf-8",
    ]
    recorded = [a.content_type for a in fake.messages[0].attachments]
    assert recorded == [a["content_type"] for a in attachments]
    assert fake.stats.requests == 1  # the downloads are not API requests


async def test_the_inspection_route_shows_the_derived_content_type(fake: FakeDiscord) -> None:
    channel = fake.create_channel()
    async with httpx.AsyncClient() as client:
        await upload(client, fake, channel, {"a.webm": b"v", "b.unknownext": b"x"})
        shown = (await client.get(f"{fake.inspect_url}/messages")).json()
    types = [a["content_type"] for a in shown[0]["attachments"]]
    assert types == ["video/webm", "application/octet-stream"]


async def test_an_attachment_over_the_keep_cap_answers_a_404_that_says_why(
    fake: FakeDiscord,
) -> None:
    channel = fake.create_channel()
    big = b"x" * (KEEP_FILE_BYTES + 1)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await upload(client, fake, channel, {"big.mp4": big})
        assert response.status_code == 200
        [attachment] = response.json()["attachments"]
        got = await client.get(attachment["url"])
    assert got.status_code == 404
    assert "8 MiB" in got.json()["message"]
    assert fake.messages[0].attachments[0].sha256 == hashlib.sha256(big).hexdigest()


async def test_an_unknown_attachment_url_is_a_plain_404(fake: FakeDiscord) -> None:
    channel = fake.create_channel()
    async with httpx.AsyncClient() as client:
        response = await upload(client, fake, channel, {"a.png": b"p"})
        url = response.json()["attachments"][0]["url"]
        wrong_name = await client.get(url.rsplit("/", 1)[0] + "/other.png")
        wrong_id = await client.get(f"{fake.base_url}/cdn/attachments/{channel}/1/a.png")
    assert (wrong_name.status_code, wrong_id.status_code) == (404, 404)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.MP4", "video/mp4"),
        ("clip.mov", "video/quicktime"),
        ("clip.mkv", "video/x-matroska"),
        ("photo.jpeg", "image/jpeg"),
        ("anim.gif", "image/gif"),
        ("song.mp3", "audio/mpeg"),
        ("noext", "application/octet-stream"),
        ("archive.unknownext", "application/octet-stream"),
    ],
)
def test_content_types_follow_the_filename(name: str, expected: str) -> None:
    assert content_type_of(name) == expected
