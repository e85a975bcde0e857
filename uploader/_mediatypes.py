"""Which file extensions are media, and of which type: the one table the detector and prober read.

A suffix is here when ffmpeg reads its content as that type without optional libraries, so a
file too big to send can be given a stand-in Discord shows (MP4, M4A/MP3/Ogg, JPEG/WebP/PNG).
Discord itself previews only some of them (not AVI, MKV, WMV, BMP, TIFF...); the others are
sent as attachments when they fit, and converted when they do not.

The doubtful ones:

- ``.svg`` is out: a vector document (XML that can hold scripts and links to other files),
  not a picture. Discord offers it as a download, and ffmpeg reads it only when built with
  librsvg, rasterizing it at whatever size the file declares: a "compressed" SVG would be a
  different picture, not a stand-in.
- ``.ico`` is in: ffmpeg's own demuxer reads it (BMP or PNG frames), so it is an image like BMP.
- ``.mpg`` and ``.tif`` are in: the usual short spellings of ``.mpeg`` and ``.tiff``.
- ``.ts`` is in: an MPEG transport stream (TV and stream recordings). TypeScript sources share
  the extension: one that fits is sent as a file; one that does not is refused by the prober.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._models import MediaType

_VIDEO = "mp4 avi mkv mov flv wmv webm mpeg mpg 3gp m4v ogv ts"
_AUDIO = "mp3 wav m4a flac aac ogg wma opus aiff au"
_IMAGE = "jpg jpeg png gif webp bmp tiff tif ico"

MEDIA_TYPES: Mapping[str, MediaType] = MappingProxyType(
    {
        f".{ext}": media_type
        for names, media_type in (
            (_VIDEO, MediaType.VIDEO),
            (_AUDIO, MediaType.AUDIO),
            (_IMAGE, MediaType.IMAGE),
        )
        for ext in names.split()
    }
)
"""Lower-case suffix with its dot (``.mp4``) → the media type a file so named should hold."""


def media_type_of_suffix(suffix: str) -> MediaType | None:
    """The media type of a suffix such as ``.MP4`` (any case), or None when it is not media."""
    return MEDIA_TYPES.get(suffix.lower())


def suffixes_of(media_type: MediaType) -> frozenset[str]:
    """Every suffix (``.mp4``...) of one media type."""
    return frozenset(suffix for suffix, kind in MEDIA_TYPES.items() if kind is media_type)
