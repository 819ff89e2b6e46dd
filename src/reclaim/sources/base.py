"""The Source extension point: where material comes from (a folder, a Telegram export, ...).

A source turns a path the user gave into a stream of entries. Each entry is one place a media file was
seen (a *sighting*) plus, where the media is present, the file to read. Problems with one entry are
yielded as :class:`EntryError` and never stop the stream.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from reclaim.errors import SourceError


def display_path(path: str | os.PathLike[str]) -> str:
    """A printable, UTF-8-safe form of a path (undecodable bytes become U+FFFD)."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class SightingInfo:
    """Where and how one media file was seen. Telegram fields are None for plain files."""

    source: str
    """Name of the source type that produced it: "file" or "telegram"."""
    key: str
    """Stable identity of this sighting inside its source, e.g. ``telegram|-100123|45|photo``.
    Rescanning the same material yields the same keys, which is what makes rescans idempotent."""
    path: str | None = None
    """Path of the media file relative to the scanned root, POSIX separators, display-safe."""
    chat_id: str | None = None
    chat_name: str | None = None
    chat_type: str | None = None
    message_id: int | None = None
    sender: str | None = None
    sender_id: str | None = None
    posted_at: datetime | None = None
    """Timezone-aware UTC time of the post (Telegram ``date_unixtime``), or None."""
    caption: str | None = None
    forwarded_from: str | None = None
    reply_to: int | None = None
    media_type: str | None = None
    """photo, animation, video_file, sticker, video_message, file, ..."""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """One sighting, with the media file to read when it is present."""

    sighting: SightingInfo
    file: Path | None
    """Absolute path, already checked to lie inside the scanned root. None when the media is absent."""
    placeholder: str | None = None
    """Why the media is absent (Telegram's "(File not included. ...)" text), when it is."""


@dataclass(frozen=True)
class EntryError:
    """A problem with one entry: named, explained, and skipped."""

    path: str
    """What to name to the user: a path relative to the root, or ``result.json#message 45``."""
    error: str


class Source(ABC):
    """A kind of material reclaim can scan. Subclasses are registered in :mod:`reclaim.sources`."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def detect(cls, path: Path) -> bool:
        """True if this source type understands ``path`` (a file or a directory)."""

    @abstractmethod
    def entries(self, path: Path) -> Iterator[Entry | EntryError]:
        """Yield every entry found under ``path``, in a stable order."""


def safe_join(root: Path, relative: str) -> Path:
    """Resolve ``relative`` under ``root``, refusing anything that escapes it (``..``, absolute paths,
    symlinks pointing outside). Raises :class:`SourceError`."""
    if not relative or "\x00" in relative:
        raise SourceError("empty or invalid media path")
    candidate = Path(relative)
    if candidate.is_absolute() or candidate.drive:
        raise SourceError(f"absolute media path refused: {relative!r}")
    root_real = root.resolve()
    target = (root_real / candidate).resolve()
    if target != root_real and root_real not in target.parents:
        raise SourceError(f"media path escapes the export folder, refused: {relative!r}")
    return target
