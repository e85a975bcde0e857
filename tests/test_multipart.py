"""Tests of the streamed multipart body: round trip, exact length, bounded reads, changed files."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import re
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uploader import MediaFile, MediaType
from uploader.discord._errors import FileChangedError
from uploader.discord._multipart import CHUNK_SIZE, build_multipart


async def collect(body_stream: object) -> bytes:
    out = bytearray()
    async for chunk in body_stream:  # type: ignore[attr-defined]
        out += chunk
    return bytes(out)


def parse_form(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """A strict minimal multipart/form-data parser: (headers, raw bytes) per part."""
    boundary = re.fullmatch(r"multipart/form-data; boundary=(\S+)", content_type)
    assert boundary is not None
    dash = b"--" + boundary.group(1).encode()
    assert body.startswith(dash + b"\r\n")
    assert body.endswith(dash + b"--\r\n")
    chunks = body[: -(len(dash) + 4)].split(dash + b"\r\n")
    assert chunks[0] == b""
    parts = []
    for raw in chunks[1:]:
        head, _, data = raw.partition(b"\r\n\r\n")
        assert data.endswith(b"\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("utf-8").partition(": ")
            headers[name.lower()] = value
        parts.append((headers, data[:-2]))
    return parts


def media(path: Path) -> MediaFile:
    return MediaFile(path, path.stat().st_size, MediaType.IMAGE)


filenames = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=30
).filter(lambda name: name not in (".", ".."))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    contents=st.lists(st.binary(max_size=3 * CHUNK_SIZE // 2), min_size=0, max_size=4),
    names=st.lists(filenames, min_size=4, max_size=4, unique=True),
    text=st.text(max_size=50),
)
def test_the_streamed_body_parses_back_to_the_payload_and_the_files(
    tmp_path_factory: pytest.TempPathFactory, contents: list[bytes], names: list[str], text: str
) -> None:
    directory = tmp_path_factory.mktemp("files")
    files = []
    for data, name in zip(contents, names, strict=False):
        path = directory / name.replace("\r", "_").replace("\n", "_")
        path.write_bytes(data)
        files.append(media(path))
    payload = {
        "content": text,
        "attachments": [{"id": i, "filename": f.filename} for i, f in enumerate(files)],
    }

    async def run() -> None:
        body = await build_multipart(payload, files)
        produced = await collect(body.stream())
        assert len(produced) == body.content_length
        assert body.fully_sent
        parts = parse_form(body.content_type, produced)
        assert len(parts) == 1 + len(files)
        json_headers, json_bytes = parts[0]
        assert json_headers["content-disposition"] == 'form-data; name="payload_json"'
        assert json_headers["content-type"] == "application/json"
        assert json.loads(json_bytes) == payload
        for index, (headers, data) in enumerate(parts[1:]):
            disposition = headers["content-disposition"]
            assert disposition.startswith(f'form-data; name="files[{index}]"; filename="')
            assert data == files[index].path.read_bytes()

    trio.run(run)


async def test_the_standard_library_email_parser_reads_the_body_too(tmp_path: Path) -> None:
    path = tmp_path / 'we"ird\u00e9.png'
    path.write_bytes(bytes(range(256)) * 300)
    body = await build_multipart({"content": "hi"}, [media(path)])
    produced = await collect(body.stream())
    header = f"Content-Type: {body.content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + produced)
    parts = list(message.iter_parts())  # type: ignore[attr-defined]
    assert [p.get_param("name", header="content-disposition") for p in parts] == [
        "payload_json",
        "files[0]",
    ]
    assert parts[1].get_payload(decode=True) == path.read_bytes()
    assert b"files%5B" not in produced


async def test_a_large_file_is_read_in_bounded_chunks_never_whole(tmp_path: Path) -> None:
    size = 5 * 1024 * 1024 + 17
    path = tmp_path / "big.mp4"
    with path.open("wb") as f:
        f.truncate(size)  # sparse: costs no disk
    reads: list[int] = []
    opened: list[Path] = []

    class Counting(io.FileIO):
        def read(self, n: int = -1) -> bytes:
            reads.append(n)
            return super().read(n)

    async def opener(p: Path) -> trio._file_io.AsyncIOWrapper[Counting]:
        opened.append(p)
        return trio.wrap_file(Counting(p, "rb"))

    body = await build_multipart({}, [media(path)], opener=opener)
    total = 0
    biggest = 0
    async for chunk in body.stream():
        total += len(chunk)
        biggest = max(biggest, len(chunk))
    assert total == body.content_length
    assert biggest <= CHUNK_SIZE
    assert reads and max(reads) <= CHUNK_SIZE and -1 not in reads
    # Every stream() opens the file afresh: a retry never replays a half-read handle.
    async for _ in body.stream():
        pass
    assert opened == [path, path]


async def test_a_file_that_grew_since_planning_is_refused_before_sending(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"abc")
    planned = media(path)
    path.write_bytes(b"abcdef")
    with pytest.raises(FileChangedError, match=r"a\.jpg changed"):
        await build_multipart({}, [planned])


@pytest.mark.parametrize("new_content", [b"ab", b"abcdef"])
async def test_a_file_that_changed_while_streaming_fails_the_attempt(
    tmp_path: Path, new_content: bytes
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"abcd")
    body = await build_multipart({}, [media(path)])
    path.write_bytes(new_content)
    with pytest.raises(FileChangedError) as info:
        await collect(body.stream())
    assert not body.fully_sent
    assert info.value.expected == 4


async def test_brackets_and_quotes_in_names_are_framed_not_percent_escaped(tmp_path: Path) -> None:
    path = tmp_path / 'x"y.gif'
    path.write_bytes(b"GIF")
    body = await build_multipart({}, [media(path)], boundary="b0undary")
    produced = await collect(body.stream())
    assert b'name="files[0]"; filename="x%22y.gif"' in produced
    assert body.content_type == "multipart/form-data; boundary=b0undary"
    assert body.headers["Content-Length"] == str(len(produced))
