"""Files and folders (recursive). A folder that holds Telegram exports hands each export to the
Telegram source, so a directory of exports keeps its chat metadata."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from reclaim.media import is_media_name, sniff_mime
from reclaim.sources.base import Entry, EntryError, SightingInfo, Source, display_path
from reclaim.sources.telegram import TelegramExportSource

# Read enough of a file to recognise media whose name does not say so (wrong or missing extension).
_SNIFF_BYTES = 16


def _looks_like_media(path: Path) -> bool:
    if is_media_name(path.name):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return False
    return sniff_mime(head) is not None


def _under(prefix: str, entry: Entry | EntryError) -> Entry | EntryError:
    """Re-root an entry of a nested export so its path is relative to the scanned folder."""
    if isinstance(entry, EntryError):
        return EntryError(path=f"{prefix}/{entry.path}", error=entry.error)
    path = f"{prefix}/{entry.sighting.path}" if entry.sighting.path else None
    return replace(entry, sighting=replace(entry.sighting, path=path))


class FolderSource(Source):
    """A single file or a directory tree. Symlinks are not followed out of the tree."""

    name: ClassVar[str] = "file"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_dir() or path.is_file()

    def entries(self, path: Path) -> Iterator[Entry | EntryError]:
        if path.is_file():
            root = path.parent
            yield from self._file_entry(root, path, explicit=True)
            return
        root = path.resolve()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            current = Path(dirpath)
            dirnames.sort()
            if current != root and TelegramExportSource.detect(current):
                # A Telegram export inside the folder: its messages carry the context.
                dirnames.clear()
                prefix = display_path(current.relative_to(root)).replace(os.sep, "/")
                for entry in TelegramExportSource().entries(current):
                    yield _under(prefix, entry)
                continue
            for name in sorted(filenames):
                yield from self._file_entry(root, current / name, explicit=False)

    def _file_entry(self, root: Path, file: Path, *, explicit: bool) -> Iterator[Entry | EntryError]:
        rel = display_path(file.relative_to(root)).replace(os.sep, "/")
        if file.is_symlink():
            target = file.resolve()
            root_real = root.resolve()
            if root_real not in target.parents:
                yield EntryError(path=rel, error="symbolic link pointing outside the scanned folder, refused")
                return
        if not file.is_file():
            yield EntryError(path=rel, error="not a regular file")
            return
        if not explicit and not _looks_like_media(file):
            return  # documents, notes, .DS_Store: not our business
        sighting = SightingInfo(
            source=self.name,
            key=f"file|{display_path(root.resolve())}|{rel}",
            path=rel,
        )
        yield Entry(sighting=sighting, file=file.resolve())
