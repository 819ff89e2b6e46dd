"""Sources of material. Registration happens in one place: :data:`SOURCE_TYPES`."""

from __future__ import annotations

from pathlib import Path

from reclaim.registry import by_name
from reclaim.sources.base import (
    EXPORT_FILE,
    NOT_MEDIA,
    Entry,
    EntryError,
    SightingInfo,
    Skipped,
    Source,
    display_path,
    safe_join,
)
from reclaim.sources.folder import FolderSource
from reclaim.sources.telegram import TelegramExportSource
from reclaim.sources.telegram_html import TelegramHtmlExportSource
from reclaim.sources.webarchive import WebArchiveSource

SOURCE_TYPES: tuple[type[Source], ...] = (
    TelegramExportSource,
    TelegramHtmlExportSource,
    WebArchiveSource,
    FolderSource,
)
"""In detection order: the first whose ``detect`` accepts a path handles it (a folder holding both a JSON
and an HTML export of the same data is read as JSON, which has numeric chat and sender ids)."""


by_name(SOURCE_TYPES, what="source")  # each sighting stores its source's name: they must be unique


def source_for(path: Path) -> Source:
    """The source that handles ``path``. Folders that contain Telegram exports are handled by the folder
    source, which hands each export to the Telegram source."""
    for cls in SOURCE_TYPES:
        if cls.detect(path):
            return cls()
    raise ValueError(f"no source understands {display_path(path)}")


__all__ = [
    "EXPORT_FILE",
    "NOT_MEDIA",
    "SOURCE_TYPES",
    "Entry",
    "EntryError",
    "FolderSource",
    "SightingInfo",
    "Skipped",
    "Source",
    "TelegramExportSource",
    "TelegramHtmlExportSource",
    "WebArchiveSource",
    "display_path",
    "safe_join",
    "source_for",
]
