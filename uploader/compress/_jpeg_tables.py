"""A JPEG's own quality, read from its quantisation table (pure: the file's first bytes in).

A JPEG source states how coarsely it was quantised: its luma table (DQT). Compared with the
table ffmpeg's MJPEG encoder scales (``_commands.jpeg_matrix``) it gives the qscale at which an
ffmpeg encode of the picture quantises about as coarsely, so at which it takes about the
source's bytes: one measured point on the picture's size curve before any encode.
"""

from __future__ import annotations

import math

from ._commands import DEFAULT_INTRA_MATRIX

HEAD_BYTES = 256 * 1024
"""The tables come before the image data; metadata (EXIF, ICC, a thumbnail) may come first."""

_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
"""Markers without a length (TEM, RST0-7)."""
_SOS, _DQT, _SOI = 0xDA, 0xDB, 0xD8


def _tables(head: bytes) -> dict[int, list[int]]:
    """The quantisation tables (by id, in file order) before the first scan."""
    tables: dict[int, list[int]] = {}
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return tables  # not a marker where one must be: a damaged file
        marker = head[i + 1]
        if marker == 0xFF:
            i += 1  # fill byte
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        length = int.from_bytes(head[i + 2 : i + 4], "big")
        if marker == _SOS or length < 2:
            return tables
        if marker == _DQT:
            _read_dqt(head[i + 4 : i + 2 + length], tables)
        i += 2 + length
    return tables


def _read_dqt(segment: bytes, tables: dict[int, list[int]]) -> None:
    j = 0
    while j < len(segment):
        precision, table = segment[j] >> 4, segment[j] & 0x0F
        width = 2 if precision else 1
        body = segment[j + 1 : j + 1 + 64 * width]
        if len(body) < 64 * width:
            return
        tables[table] = [
            int.from_bytes(body[k : k + width], "big") for k in range(0, len(body), width)
        ]
        j += 1 + 64 * width


def jpeg_qscale(head: bytes) -> float | None:
    """The ffmpeg MJPEG qscale quantising about as coarsely as this JPEG's luma table.

    The geometric mean of the table's AC entries against the default matrix's (the order of
    the entries does not matter; the DC entry is left out: ffmpeg writes it fixed). None when
    ``head`` is not a JPEG or holds no usable table.
    """
    if head[:2] != bytes((0xFF, _SOI)):
        return None
    tables = _tables(head)
    luma = tables.get(0) or next(iter(tables.values()), None)
    if luma is None or min(luma[1:]) < 1:
        return None
    own = sum(math.log(v) for v in luma[1:])
    default = sum(math.log(v) for v in DEFAULT_INTRA_MATRIX[1:])
    return 8.0 * math.exp((own - default) / 63)
