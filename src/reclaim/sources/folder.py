"""Files and folders (recursive). A folder that holds Telegram exports (JSON or HTML) hands each export to
the Telegram source, so a directory of exports keeps its chat metadata."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from reclaim.sources.base import Entry, EntryError, Skipped, Source, display_path, file_entry
from reclaim.sources.telegram import TelegramExportSource
from reclaim.sources.telegram_html import TelegramHtmlExportSource
from reclaim.sources.webarchive import WebArchiveSource, is_web_archive_name


def _under(prefix: str, entry: Entry | EntryError | Skipped) -> Entry | EntryError | Skipped:
    """Re-root an entry of a nested export so its path is relative to the scanned folder."""
    if isinstance(entry, EntryError):
        return EntryError(path=f"{prefix}/{entry.path}", error=entry.error)
    if isinstance(entry, Skipped):
        return Skipped(path=f"{prefix}/{entry.path}", reason=entry.reason)
    path = f"{prefix}/{entry.sighting.path}" if entry.sighting.path else None
    return replace(entry, sighting=replace(entry.sighting, path=path))


def _export_source(folder: Path) -> Source | None:
    """The Telegram source for an export folder (JSON first, as in ``SOURCE_TYPES``), or None."""
    for cls in (TelegramExportSource, TelegramHtmlExportSource):
        if cls.detect(folder):
            return cls()
    return None


class FolderSource(Source):
    """A single file or a directory tree. Symlinks are not followed out of the tree."""

    name: ClassVar[str] = "file"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_dir() or path.is_file()

    def entries(self, path: Path) -> Iterator[Entry | EntryError | Skipped]:
        if path.is_file():
            root = path.parent
            yield from self._file_entry(root, path, explicit=True)
            return
        root = path.resolve()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            current = Path(dirpath)
            dirnames.sort()
            export = _export_source(current) if current != root else None
            if export is not None:
                # A Telegram export (JSON or HTML) inside the folder: its messages carry the context.
                dirnames.clear()
                prefix = display_path(current.relative_to(root)).replace(os.sep, "/")
                for entry in export.entries(current):
                    yield _under(prefix, entry)
                continue
            for name in sorted(filenames):
                file = current / name
                if is_web_archive_name(name) and file.is_file() and not file.is_symlink():
                    # A web archive inside the folder: its records are the material, not the file.
                    rel_dir = display_path(current.relative_to(root)).replace(os.sep, "/")
                    for entry in WebArchiveSource().entries(file):
                        yield entry if rel_dir == "." else _under(rel_dir, entry)
                    continue
                yield from self._file_entry(root, file, explicit=False)

    def _file_entry(
        self, root: Path, file: Path, *, explicit: bool
    ) -> Iterator[Entry | EntryError | Skipped]:
        rel = display_path(file.relative_to(root)).replace(os.sep, "/")
        yield from file_entry(self.name, root, file, rel, explicit=explicit)
