"""The one media-type table: the detector and the prober read it and agree on every suffix."""

from __future__ import annotations

from pathlib import Path

import pytest

from uploader import MediaType
from uploader._detect import classify
from uploader._mediatypes import MEDIA_TYPES, media_type_of_suffix, suffixes_of
from uploader.compress import media_type_for_suffix


@pytest.mark.parametrize("suffix", sorted(MEDIA_TYPES))
def test_the_detector_and_the_prober_agree_on_every_suffix(suffix):
    expected = MEDIA_TYPES[suffix]
    for name in (f"clip{suffix}", f"CLIP{suffix.upper()}", f"a.b{suffix.title()}"):
        assert classify(name) is expected, name
        assert media_type_for_suffix(Path(name)) is expected, name
        assert media_type_for_suffix(Path("folder") / name) is expected, name


@pytest.mark.parametrize("name", ["notes.txt", "archive.zip", "logo.svg", "noext", "clip.mp4.part"])
def test_both_refuse_what_is_not_in_the_table(name):
    assert classify(name) is None
    assert media_type_for_suffix(Path(name)) is None


def test_the_doubtful_suffixes_are_decided_once():
    # They used to differ: the detector took .svg and .ico, the prober .mpg and .tif.
    assert media_type_of_suffix(".svg") is None
    assert media_type_of_suffix(".ico") is MediaType.IMAGE
    assert media_type_of_suffix(".MPG") is MediaType.VIDEO
    assert media_type_of_suffix(".tif") is MediaType.IMAGE


def test_each_suffix_has_one_type_and_a_leading_dot():
    by_type = [suffixes_of(kind) for kind in MediaType]
    assert sum(len(group) for group in by_type) == len(MEDIA_TYPES)
    assert frozenset().union(*by_type) == frozenset(MEDIA_TYPES)
    assert all(s.startswith(".") and s == s.lower() for s in MEDIA_TYPES)
