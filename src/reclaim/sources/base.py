"""The Source extension point: where material comes from (a folder, a Telegram export, ...).

A source turns a path the user gave into a stream of entries. Each entry is one place a media file was
seen (a *sighting*) plus, where the media is present, the file to read. Problems with one entry are
yielded as :class:`EntryError` and never stop the stream.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from reclaim.errors import SourceError
from reclaim.media import is_media_name, sniff_mime


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
    read: Callable[[int], bytes] | None = field(default=None, compare=False, repr=False)
    """For media that lives inside a container rather than in a file of its own (a web archive's record):
    reads its bytes, at most the given limit (ValueError, with a sentence, above it or when the record
    cannot be read). ``file`` is None then; the bytes are read only when the scan needs them, so no
    plaintext copy is ever written."""

    @property
    def present(self) -> bool:
        """Whether the media is there to read (a file or a reader)."""
        return self.file is not None or self.read is not None


@dataclass(frozen=True)
class EntryError:
    """A problem with one entry: named, explained, and skipped."""

    path: str
    """What to name to the user: a path relative to the root, or ``result.json#message 45``."""
    error: str


NOT_MEDIA = "not_media"
"""A file that is neither an image nor a video (a document, a note, ``.DS_Store``): counted, not scanned."""
EXPORT_FILE = "export_file"
"""A file an export itself consists of (Telegram's ``result.json``, HTML, CSS, JS, icons): read as the
export, not scanned as material, counted apart so it does not inflate the not-media count."""


@dataclass(frozen=True)
class Skipped:
    """A file under a scanned path that is not material: named and counted, never silently dropped."""

    path: str
    """A path relative to the root, like :attr:`EntryError.path`."""
    reason: str
    """:data:`NOT_MEDIA` or :data:`EXPORT_FILE`."""


# Enough of a file to recognise media by content: an ISO media ``ftyp`` box lists its compatible brands.
SNIFF_BYTES = 512

# Files operating systems leave in folders. Judged by content alone, like every hidden file (``._x.jpg``
# is macOS's AppleDouble metadata, not a JPEG), so they end as not-media skips.
SYSTEM_FILE_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})


def looks_like_media(path: Path) -> bool:
    """Whether a file under a scanned folder is material to scan: its content sniffs as an image or video,
    or its name says so (a damaged ``.jpg`` is then a named decode error, never a skip). Hidden and system
    files count by content only."""
    name = path.name
    if is_media_name(name) and not name.startswith(".") and name.lower() not in SYSTEM_FILE_NAMES:
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    return sniff_mime(head) is not None


def file_entry(
    source: str, root: Path, file: Path, rel: str, *, explicit: bool
) -> Iterator[Entry | EntryError | Skipped]:
    """A plain file under ``root`` as an entry of ``source`` (``rel`` is its display path): an Entry, a
    named EntryError (a link out of the tree, not a regular file) or a not-media Skipped. A file the
    user named (``explicit``) is always scanned, so a wrong one is a named decode error."""
    if file.is_symlink():
        try:
            target = file.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a link loop (Python < 3.13)
            yield EntryError(path=rel, error="symbolic link that cannot be resolved (a loop?), refused")
            return
        root_real = root.resolve()
        if root_real not in target.parents:
            yield EntryError(path=rel, error="symbolic link pointing outside the scanned folder, refused")
            return
    if not file.is_file():
        yield EntryError(path=rel, error="not a regular file")
        return
    if not explicit and not looks_like_media(file):
        yield Skipped(path=rel, reason=NOT_MEDIA)
        return
    sighting = SightingInfo(source=source, key=f"file|{display_path(root.resolve())}|{rel}", path=rel)
    yield Entry(sighting=sighting, file=file.resolve())


class Source(ABC):
    """A kind of material reclaim can scan. Subclasses are registered in :mod:`reclaim.sources`."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def detect(cls, path: Path) -> bool:
        """True if this source type understands ``path`` (a file or a directory)."""

    @abstractmethod
    def entries(self, path: Path) -> Iterator[Entry | EntryError | Skipped]:
        """Yield every entry found under ``path``, in a stable order: every file under it ends as an
        Entry, an EntryError or a Skipped."""


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
