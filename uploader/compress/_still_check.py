"""Whether a still image the encoder wrote is whole (pure: its first and last bytes in).

Every other output is read back with ffprobe; for a still image that costs about as much as
the encode itself (ffprobe's start-up), and checks less: ffprobe reads a JPEG's or PNG's
header, not its end. The framing says whether the file was written to its end: a JPEG's
end-of-image marker, a PNG's IEND chunk, a WebP's RIFF size.
"""

from __future__ import annotations

HEAD_BYTES = 16
TAIL_BYTES = 12
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"


def still_is_whole(ext: str, head: bytes, tail: bytes, size: int) -> bool:
    """True when a ``ext`` file of ``size`` bytes starting with ``head`` and ending with
    ``tail`` is framed whole (False for an extension not known here)."""
    if ext == "jpg":
        return size >= 4 and head.startswith(b"\xff\xd8\xff") and tail.endswith(b"\xff\xd9")
    if ext == "png":
        return head.startswith(_PNG_SIGNATURE) and tail.endswith(_PNG_END)
    if ext == "webp":
        riff = int.from_bytes(head[4:8], "little")
        framed = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
        return framed and riff + 8 + (riff & 1) == size
    return False
