"""Property tests of the fake's streaming multipart parser and form reader."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from uploader.testing._forms import Form, FormReader, Problem
from uploader.testing._multipart import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from_content_type,
    parse_header_params,
)

# RFC 2046 boundary characters (a space may not end it).
BOUNDARY_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? "
boundaries = st.text(BOUNDARY_CHARS, min_size=1, max_size=70).filter(lambda b: b[-1] != " ")
# Any text without CR/LF (header values cannot hold those); quotes and backslashes are escaped.
param_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)))
parts = st.lists(st.tuples(param_text, st.none() | param_text, st.binary(max_size=300)), max_size=5)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode(boundary: str, items: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in items:
        disposition = f"form-data; name={quote(name)}"
        if filename is not None:
            disposition += f"; filename={quote(filename)}"
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    return [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]


def parse(boundary: bytes, chunks: list[bytes]) -> list[tuple[str | None, str | None, bytes]]:
    parser = MultipartParser(boundary)
    out: list[tuple[str | None, str | None, bytes]] = []
    current: PartStart | None = None
    data = b""
    for chunk in chunks:
        for event in parser.feed(chunk):
            if isinstance(event, PartStart):
                current, data = event, b""
            elif isinstance(event, PartData):
                data += event.data
            else:
                assert isinstance(event, PartEnd) and current is not None
                out.append((current.name, current.filename, data))
    parser.close()
    return out


@settings(max_examples=150, deadline=None)
@given(boundaries, parts, st.lists(st.integers(min_value=0), max_size=12))
def test_any_body_parses_back_to_its_parts_however_it_is_chunked(
    boundary: str, items: list[tuple[str, str | None, bytes]], cuts: list[int]
) -> None:
    delimiter = b"\r\n--" + boundary.encode()
    for _, _, data in items:
        assume((data + delimiter).find(delimiter) == len(data))
    body = encode(boundary, items)
    assert parse(boundary.encode(), split(body, cuts)) == items


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.text("abcdefghijklmnopqrstuvwxyz0123456789._- ", min_size=1), st.binary()),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(min_value=0), max_size=8),
)
def test_bodies_httpx_builds_parse_back(files: list[tuple[str, bytes]], cuts: list[int]) -> None:
    request = httpx.Request(
        "POST",
        "http://x/",
        data={"payload_json": "{}"},
        files=[(f"files[{i}]", (name, data)) for i, (name, data) in enumerate(files)],
    )
    body = request.read()
    boundary = boundary_from_content_type(request.headers["Content-Type"])
    parsed = parse(boundary, split(body, cuts))
    assert parsed[0] == ("payload_json", None, b"{}")
    assert parsed[1:] == [(f"files[{i}]", name, data) for i, (name, data) in enumerate(files)]


@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0), max_size=8))
def test_the_form_reader_hashes_a_file_exactly(data: bytes, cuts: list[int]) -> None:
    payload = {"attachments": [{"id": 0, "filename": "f.bin"}]}
    request = httpx.Request(
        "POST",
        "http://x/",
        data={"payload_json": json.dumps(payload)},
        files=[("files[0]", ("f.bin", data))],
    )
    reader = FormReader(request.headers["Content-Type"], file_limit=2000, request_limit=10_000)
    for chunk in split(request.read(), cuts):
        reader.feed(chunk)
    form = reader.finish()
    assert isinstance(form, Form)
    assert form.payload == payload
    [upload] = form.files
    assert (upload.index, upload.filename, upload.size) == (0, "f.bin", len(data))
    assert upload.sha256 == hashlib.sha256(data).hexdigest()


def test_a_body_cut_before_its_closing_boundary_is_an_error() -> None:
    body = encode("b", [("payload_json", None, b"{}")])
    parser = MultipartParser(b"b")
    parser.feed(body[:-8])
    with pytest.raises(MultipartError, match="closing boundary"):
        parser.close()


def test_garbage_after_a_boundary_is_an_error() -> None:
    with pytest.raises(MultipartError, match="garbage"):
        MultipartParser(b"b").feed(b"--bXYZ\r\n")


def test_header_params_decode_quotes_escapes_and_rfc8187() -> None:
    kind, params = parse_header_params(
        'form-data; name="a\\"b"; filename=plain.txt; filename*=UTF-8\'\'%C3%A9t%C3%A9.mp4'
    )
    assert kind == "form-data"
    assert params == {"name": 'a"b', "filename": "plain.txt", "filename*": "été.mp4"}


def test_filename_star_wins_over_filename() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="files[0]"; filename="x"; '
        b"filename*=UTF-8''%C3%A9.bin\r\nContent-Type: video/mp4\r\n\r\nabc\r\n--b--"
    )
    events = MultipartParser(b"b").feed(body)
    assert events[0] == PartStart("files[0]", "é.bin", "video/mp4")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data", "multipart/form-data; boundary="]
)
def test_content_types_without_a_usable_boundary_are_refused(content_type: str) -> None:
    with pytest.raises(MultipartError):
        boundary_from_content_type(content_type)


def test_the_form_reader_stops_at_the_eleventh_file() -> None:
    request = httpx.Request(
        "POST", "http://x/", files=[(f"files[{i}]", (f"{i}", b"x")) for i in range(11)]
    )
    reader = FormReader(request.headers["Content-Type"], file_limit=10, request_limit=100_000)
    reader.feed(request.read())
    problem = reader.finish()
    assert isinstance(problem, Problem)
    assert (problem.status, problem.code) == (400, 30015)
