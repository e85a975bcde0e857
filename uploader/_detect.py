"""The detector actor: walks a directory and sends what it finds, in a deterministic order.

The walk never blocks the trio loop (each directory is listed and stat'ed in a worker thread),
never leaves the directory (symlinks that resolve outside are refused, loops are cut), reports
every file it will not upload with a reason, and yields files in natural order of their relative
path, so two runs over the same tree send the same messages.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import attrs
import trio

from ._mediatypes import media_type_of_suffix
from ._models import (
    DetectorEvent,
    DetectorIssue,
    MediaFile,
    MediaType,
    RefusedPath,
    SkippedFile,
    UnreadablePath,
)
from ._settings import Settings

PARTIAL_SUFFIXES = (".part", ".ytdl", ".tmp")
_PARTIAL_FRAGMENT = re.compile(r"\.part-frag\d+$", re.IGNORECASE)


def classify(name: str) -> MediaType | None:
    """The media type a file name's extension says, case-insensitively; None if not media."""
    _, dot, ext = name.rpartition(".")
    if not dot:
        return None
    return media_type_of_suffix(f".{ext}")


def is_partial_download(name: str) -> bool:
    """True for the leftovers of an unfinished download (``.part``, ``.ytdl``, ``.tmp``...)."""
    lower = name.lower()
    return lower.endswith(PARTIAL_SUFFIXES) or _PARTIAL_FRAGMENT.search(lower) is not None


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[tuple[int, int | str], ...], str]:
    """Sort key that orders ``img2`` before ``img10``; ties broken by the exact name."""
    parts: list[tuple[int, int | str]] = []
    for i, chunk in enumerate(_DIGITS.split(name)):
        if i % 2:
            parts.append((0, int(chunk)))
        elif chunk:
            parts.append((1, chunk.casefold()))
    return tuple(parts), name


@attrs.frozen
class ScanResult:
    """Everything a walk found: the media files in order, and what it skipped or refused."""

    files: tuple[MediaFile, ...]
    issues: tuple[DetectorIssue, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


@attrs.frozen
class _Folder:
    """A folder still to be walked, with the identities of the folders above it."""

    path: Path
    ancestors: frozenset[tuple[int, int]]


class _Walk:
    """The blocking part of the walk; every method runs in a worker thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen_dirs: set[tuple[int, int]] = set()
        self.seen_files: dict[tuple[int, int], Path] = {}

    def inside(self, target: Path) -> bool:
        return target == self.root or target.is_relative_to(self.root)

    def list_dir(self, folder: _Folder) -> list[DetectorEvent | _Folder]:
        try:
            with os.scandir(folder.path) as it:
                names = [entry.name for entry in it]
        except OSError as exc:
            return [UnreadablePath(folder.path, _os_reason(exc))]
        names.sort(key=natural_key)
        found: list[DetectorEvent | _Folder] = []
        for name in names:
            if name.startswith("."):
                continue  # hidden files and folders (.DS_Store, .git) are not the user's media
            item = self.look_at(folder.path / name, folder.ancestors)
            if item is not None:
                found.append(item)
        return found

    def look_at(
        self, path: Path, ancestors: frozenset[tuple[int, int]]
    ) -> DetectorEvent | _Folder | None:
        try:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = path.resolve(strict=True)
                except RuntimeError:
                    return RefusedPath(path, "symlink loop")
                except OSError as exc:
                    if exc.errno == 40:  # ELOOP
                        return RefusedPath(path, "symlink loop")
                    return SkippedFile(path, "broken symlink")
                if not self.inside(target):
                    return RefusedPath(path, "symlink points outside the directory")
                st = target.stat()
        except OSError as exc:
            return UnreadablePath(path, _os_reason(exc))
        identity = (st.st_dev, st.st_ino)
        if stat.S_ISDIR(st.st_mode):
            if identity in ancestors:
                return RefusedPath(path, "symlink loop")
            if identity in self.seen_dirs:
                return None  # a symlink to a folder that is walked anyway: once is enough
            self.seen_dirs.add(identity)
            return _Folder(path, ancestors | {identity})
        name = path.name
        if is_partial_download(name):
            return SkippedFile(path, "partial download")
        media_type = classify(name)
        if media_type is None:
            return SkippedFile(path, "not a supported media type")
        if not stat.S_ISREG(st.st_mode):
            return SkippedFile(path, "not a regular file")
        if st.st_size == 0:
            return SkippedFile(path, "empty file")
        if not os.access(path, os.R_OK):
            return UnreadablePath(path, "permission denied")
        first = self.seen_files.get(identity)
        if first is not None:
            return SkippedFile(path, f"same file as {first.name}")
        self.seen_files[identity] = path
        return MediaFile(path=path, size_bytes=st.st_size, media_type=media_type)


def _os_reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else type(exc).__name__


async def run_detector(
    directory: Path,
    send_channel: trio.MemorySendChannel[DetectorEvent],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Walk ``directory`` and send each MediaFile or DetectorIssue as it is found.

    The actor owns ``send_channel`` and closes it when the walk is done, so the receiver's
    ``async for`` ends. Order: natural sort of the relative path, depth first.

    Args:
        directory: the folder to walk (recursively).
        send_channel: where MediaFile and SkippedFile/RefusedPath/UnreadablePath go.
        task_status: nursery start protocol; started once the directory was checked.

    Raises:
        NotADirectoryError / FileNotFoundError: ``directory`` is missing or not a folder
            (raised before ``started``).
    """
    async with send_channel:
        root = await trio.to_thread.run_sync(check_directory, Path(directory))
        walk = _Walk(root)
        root_id = await trio.to_thread.run_sync(_identity, root)
        walk.seen_dirs.add(root_id)
        task_status.started()
        stack: list[Iterator[DetectorEvent | _Folder]] = [
            iter([_Folder(root, frozenset({root_id}))])
        ]
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
            elif isinstance(item, _Folder):
                listing = await trio.to_thread.run_sync(walk.list_dir, item)
                stack.append(iter(listing))
            else:
                await send_channel.send(item)


def check_directory(directory: Path) -> Path:
    """The resolved folder; raises FileNotFoundError / NotADirectoryError (blocking call)."""
    root = directory.resolve(strict=True)
    if not root.is_dir():
        raise NotADirectoryError(f"{directory}: not a directory")
    return root


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


async def scan_media(directory: Path, settings: Settings | None = None) -> ScanResult:
    """Walk ``directory`` with the detector actor and collect everything it reports.

    ``settings`` is accepted for the callers that pass it; detection has no options today.

    Raises:
        FileNotFoundError / NotADirectoryError: ``directory`` is missing or not a folder.
    """
    # checked here too, so a missing folder raises as itself rather than inside a group
    await trio.to_thread.run_sync(check_directory, Path(directory))
    files: list[MediaFile] = []
    issues: list[DetectorIssue] = []
    send, receive = trio.open_memory_channel[DetectorEvent](16)
    async with trio.open_nursery() as nursery:
        await nursery.start(run_detector, Path(directory), send)
        async with receive:
            async for event in receive:
                if isinstance(event, MediaFile):
                    files.append(event)
                else:
                    issues.append(event)
    return ScanResult(tuple(files), tuple(issues))


async def find_media_files(directory: Path, settings: Settings | None = None) -> list[MediaFile]:
    """The media files under ``directory``, in natural order (skipped ones left out).

    Use `scan_media` to also learn what was skipped and why.
    """
    return list((await scan_media(directory, settings)).files)
