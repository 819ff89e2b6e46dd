"""Telegram Desktop JSON exports (``result.json`` plus media folders).

Two layouts exist and are detected automatically:

* a single-chat export: ``{name, type, id, messages: [...]}``;
* a whole-account export: ``{..., chats: {list: [chat, ...]}, left_chats: {list: [...]}}`` where each chat
  is ``{name, type, id, messages}`` and media paths are relative to the export root.

Every media path comes from an untrusted file, so it is resolved through :func:`safe_join` and never
followed outside the export folder. Media bytes are not read here; the scanner does that.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from reclaim.errors import SourceError
from reclaim.sources.base import (
    EXPORT_FILE,
    Entry,
    EntryError,
    SightingInfo,
    Skipped,
    Source,
    display_path,
    file_entry,
    safe_join,
)
from reclaim.sources.telegram_pages import page_images

RESULT_NAME = "result.json"

MISSING_PLACEHOLDER = "(media file missing from the export folder)"
"""Placeholder used when result.json names a file inside the export that is not there."""

# The media fields we look at, in the order their entries are yielded for one message.
_MEDIA_FIELDS = ("photo", "file")

# ASCII digits only: int() would also accept "1_000", " 12 " and non-ASCII digits. The length cap keeps
# absurd values out (and below Python's int-from-string digit limit).
_INT_RE = re.compile(r"-?[0-9]{1,19}")


class _BadMessage(Exception):
    """A message that cannot be used; the text says why."""


@dataclass(frozen=True)
class _Chat:
    """The chat-level facts every sighting of a chat shares."""

    index: int
    chat_id: str | None
    name: str | None
    type: str | None
    messages: list[object]
    problem: str | None = None
    """Why this chat's messages cannot be read, if they cannot."""

    @property
    def key_part(self) -> str:
        # A chat without an id still needs a distinct, stable key segment; its position in the file is
        # stable across rescans of the same export.
        return self.chat_id if self.chat_id is not None else f"chat#{self.index}"

    @property
    def label(self) -> str:
        """How to name the chat in messages to the user."""
        if self.name:
            return repr(self.name)
        if self.chat_id is not None:
            return f"id {self.chat_id}"
        return f"#{self.index} (no name, no id)"


def show_path(text: str) -> str:
    """``display_path`` that also survives lone surrogates, which JSON ``\\ud800`` escapes can produce."""
    try:
        return display_path(text)
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def brief(value: object, limit: int = 60) -> str:
    """repr() of an untrusted value, cut short so a huge value cannot flood an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _int_like(value: object) -> int | None:
    """An int, or a string holding one; anything else (bool, float, junk) is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    return None


def _id_text(value: object) -> str | None:
    """Chat ids and ``from_id`` are strings ("user123") in current exports and plain numbers in old ones."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int):
        return str(value)
    return None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _flatten_text(value: object) -> str | None:
    """``text`` is a string, or a list of strings and ``{type, text}`` entity objects."""
    if isinstance(value, str):
        parts = [value]
    elif isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, str):
                parts.append(item)
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append(item["text"])
    else:
        return None
    joined = "".join(parts)
    return joined or None


def is_placeholder_text(value: str) -> bool:
    # "(File not included. ...)", "(File exceeds maximum size. ...)", "(File unavailable, ...)" and any
    # future wording of the same form. A real file with such a name is checked for by the caller.
    return value.startswith("(") and value.endswith(")")


class TelegramExportSource(Source):
    """A Telegram Desktop export folder (or its ``result.json``)."""

    name = "telegram"

    @classmethod
    def detect(cls, path: Path) -> bool:
        try:
            if path.is_file():
                return path.name == RESULT_NAME
            return path.is_dir() and (path / RESULT_NAME).is_file()
        except OSError:
            return False

    def entries(self, path: Path) -> Iterator[Entry | EntryError | Skipped]:
        root = path.parent if path.name == RESULT_NAME and not path.is_dir() else path
        referenced: set[Path] = set()  # the files message entries read
        mentioned: set[str] = set()  # every media path a message names (an item or a named error)
        thumbnails: set[Path] = set()
        try:
            chats = _load_chats(root / RESULT_NAME)
        except SourceError as exc:
            yield EntryError(path=RESULT_NAME, error=str(exc))
            mentioned.add(RESULT_NAME)  # named by that error; its folder's files are still walked
            chats = []
        seen_keys: set[str] = set()
        for chat in chats:
            if chat.problem is not None:
                yield EntryError(path=f"result.json#chat index {chat.index}", error=chat.problem)
                continue
            for index, message in enumerate(chat.messages):
                for entry in _message_entries(root, chat, index, message, seen_keys):
                    if isinstance(entry, Entry) and entry.file is not None:
                        referenced.add(entry.file)
                    yield entry
                mentioned.update(_mentioned_paths(message))
                thumbnail = _thumbnail(root, message)
                if thumbnail is not None:
                    thumbnails.add(thumbnail)
        thumbnails |= page_images(root)  # an export in both formats: the thumbnails its HTML pages show
        yield from unreferenced_files(root, referenced | mentioned, thumbnails - referenced)


def _load_chats(result: Path) -> list[_Chat]:
    """Parse result.json into chats; any problem with the file as a whole raises :class:`SourceError`."""
    try:
        raw = result.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {RESULT_NAME}: {exc.strerror or exc}") from exc
    try:
        # utf-8-sig: tolerate a byte-order mark some editors add; Telegram itself writes none.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{RESULT_NAME} is not valid UTF-8 (bad byte at offset {exc.start})") from exc
    try:
        data: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except (ValueError, RecursionError) as exc:
        # e.g. a number too long to convert, or nesting deeper than the parser allows.
        raise SourceError(f"malformed JSON: {exc}") from exc

    if not isinstance(data, dict):
        raise SourceError(
            f"unexpected top-level JSON {type(data).__name__}: expected an object with 'messages' "
            "(one chat) or 'chats' (whole account)"
        )
    if "chats" in data:
        # Whole-account export: chats.list, then left_chats.list (optional).
        raw_chats = _chat_list(data, "chats", required=True) + _chat_list(data, "left_chats", required=False)
        return [_make_chat(index, item) for index, item in enumerate(raw_chats)]
    if "messages" in data:
        if not isinstance(data["messages"], list):
            raise SourceError("'messages' is not a list")
        return [_make_chat(0, data)]
    raise SourceError("no 'messages' or 'chats' at the top level: not a Telegram Desktop JSON export")


def _chat_list(data: dict[str, object], key: str, *, required: bool) -> list[object]:
    section = data.get(key)
    if section is None and not required:
        return []
    if not isinstance(section, dict) or not isinstance(section.get("list"), list):
        raise SourceError(f"'{key}' is not an object with a 'list' array")
    items: list[object] = section["list"]
    return items


def _make_chat(index: int, item: object) -> _Chat:
    """Chat facts, tolerating missing name, type or id. A chat whose messages cannot be read is kept, with
    its problem, so that it is reported and the other chats' indexes stay stable. A chat without a
    ``messages`` key simply has no messages."""
    if not isinstance(item, dict):
        return _Chat(
            index, None, None, None, [], problem=f"chat is a JSON {type(item).__name__}, not an object"
        )
    chat = _Chat(
        index=index,
        chat_id=_id_text(item.get("id")),
        name=_opt_str(item.get("name")),
        type=_opt_str(item.get("type")),
        messages=[],
    )
    messages = item.get("messages", [])
    if not isinstance(messages, list):
        return replace(chat, problem=f"'messages' of chat {chat.label} is not a list")
    return replace(chat, messages=messages)


def _message_entries(
    root: Path, chat: _Chat, index: int, message: object, seen_keys: set[str]
) -> Iterator[Entry | EntryError]:
    """Entries and errors for one message, in field order (photo, then file)."""
    if not isinstance(message, dict):
        yield EntryError(
            path=f"result.json#message index {index}",
            error=f"message is a JSON {type(message).__name__}, not an object (chat {chat.label})",
        )
        return
    # Service and unsupported messages, and messages without media, carry nothing to scan.
    if message.get("type") != "message" or not any(f in message for f in _MEDIA_FIELDS):
        return

    message_id = _int_like(message.get("id"))
    if message_id is None:
        yield EntryError(
            path=f"result.json#message index {index}",
            error=f"message has no integer id (got {brief(message.get('id'))}) (chat {chat.label})",
        )
        return
    where = f"result.json#message {message_id}"
    context = f"message {message_id} in chat {chat.label}"
    try:
        base = _base_sighting(chat, message_id, message)
    except _BadMessage as exc:
        yield EntryError(path=where, error=f"{exc} ({context})")
        return

    for field in _MEDIA_FIELDS:
        if field not in message:
            continue
        value = message[field]
        if not isinstance(value, str):
            yield EntryError(
                path=where, error=f"'{field}' is a JSON {type(value).__name__}, not a string ({context})"
            )
            continue
        key = f"telegram|{chat.key_part}|{message_id}|{field}"
        if key in seen_keys:
            yield EntryError(path=where, error=f"duplicate message id, skipped ({context})")
            continue
        seen_keys.add(key)
        extra = dict(base.extra)
        if field == "photo":
            media_type = "photo"
        else:
            media_type = _opt_str(message.get("media_type")) or "file"
            # mime_type describes the `file` field; photos have none.
            mime = _opt_str(message.get("mime_type"))
            if mime is not None:
                extra["mime_type"] = mime
        sighting = replace(base, key=key, media_type=media_type, extra=extra)
        yield from resolve_media(root, sighting, value, where, context)


def _base_sighting(chat: _Chat, message_id: int, message: dict[str, object]) -> SightingInfo:
    """The sighting fields shared by every media field of a message (key and media_type filled later)."""
    extra: dict[str, str] = {}
    raw_unix = message.get("date_unixtime")
    posted_at: datetime | None = None
    if raw_unix is None:
        # Older exports only carry `date`, in the exporting machine's local time with no zone recorded:
        # keep it verbatim rather than pretend it is UTC.
        date_local = _opt_str(message.get("date"))
        if date_local is not None:
            extra["date_local"] = date_local
    else:
        seconds = _int_like(raw_unix)
        if seconds is None:
            raise _BadMessage(f"bad date_unixtime {brief(raw_unix)}: not an integer")
        try:
            posted_at = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise _BadMessage(f"bad date_unixtime {brief(raw_unix)}: {exc}") from exc

    # Where a forward or a reply came from, beyond `forwarded_from` (a name) and `reply_to_message_id`:
    # tdesktop writes `saved_from` (a name) for messages saved from a channel and `reply_to_peer_id` when the
    # replied-to message is in another chat. No export carries a forward source's id.
    saved_from = _opt_str(message.get("saved_from"))
    if saved_from is not None:
        extra["saved_from"] = saved_from
    reply_peer = _id_text(message.get("reply_to_peer_id"))
    if reply_peer is not None:
        extra["reply_to_peer_id"] = reply_peer
    return SightingInfo(
        source=TelegramExportSource.name,
        key="",
        chat_id=chat.chat_id,
        chat_name=chat.name,
        chat_type=chat.type,
        message_id=message_id,
        sender=_opt_str(message.get("from")),
        sender_id=_id_text(message.get("from_id")),
        posted_at=posted_at,
        caption=_flatten_text(message.get("text")),
        forwarded_from=_opt_str(message.get("forwarded_from")),
        reply_to=_int_like(message.get("reply_to_message_id")),
        extra=extra,
    )


# What a Telegram Desktop export itself consists of besides result.json: the HTML export's pages, styles,
# scripts and interface icons.
_EXPORT_DIRS = frozenset({"css", "js", "images"})
_EXPORT_SUFFIXES = (".html", ".htm")


def _is_export_file(rel: str) -> bool:
    parts = rel.split("/")
    return (
        rel == RESULT_NAME
        or rel.lower().endswith(_EXPORT_SUFFIXES)
        or (len(parts) > 1 and parts[0] in _EXPORT_DIRS)
    )


def _mentioned_paths(message: object) -> Iterator[str]:
    """The media paths a message names, normalised like the folder walk's relative paths."""
    if isinstance(message, dict):
        for name in _MEDIA_FIELDS:
            value = message.get(name)
            if isinstance(value, str) and value:
                yield os.path.normpath(value).replace(os.sep, "/")


def _thumbnail(root: Path, message: object) -> Path | None:
    """The file a message's ``thumbnail`` names (Telegram's small preview of its media), if inside root."""
    value = message.get("thumbnail") if isinstance(message, dict) else None
    if not isinstance(value, str) or is_placeholder_text(value):
        return None
    try:
        return safe_join(root, value)
    except (SourceError, OSError, RuntimeError, ValueError):
        return None


def unreferenced_files(
    root: Path, referenced: set[Path | str], thumbnails: set[Path]
) -> Iterator[Entry | EntryError | Skipped]:
    """Every file in the export folder no message's media points to: the export's own files (pages,
    styles, scripts, icons, the thumbnails Telegram makes of the media) are counted apart, other media
    becomes a plain file sighting (a photo added to the folder is still material), the rest is a
    not-media skip."""
    root_real = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root_real, followlinks=False):
        dirnames.sort()
        current = Path(dirpath)
        for name in sorted(filenames):
            file = current / name
            rel = display_path(file.relative_to(root_real)).replace(os.sep, "/")
            if rel in referenced:  # named by a message, whose entry (or named error) covers it
                continue
            if _is_export_file(rel):
                yield Skipped(path=rel, reason=EXPORT_FILE)
                continue
            try:
                real = file.resolve()
            except (OSError, RuntimeError):
                real = file  # a link loop: file_entry names it
            if real in referenced:
                continue
            if real in thumbnails:
                yield Skipped(path=rel, reason=EXPORT_FILE)
                continue
            # "file" is FolderSource.name (which imports this module): a plain file's sighting.
            yield from file_entry("file", root_real, file, rel, explicit=False)


def resolve_media(
    root: Path, sighting: SightingInfo, rel: str, where: str, context: str
) -> Iterator[Entry | EntryError]:
    """Turn one media field value into an Entry (and, for a missing file, also an EntryError)."""
    placeholder_like = is_placeholder_text(rel)
    try:
        target = safe_join(root, rel)
        st = target.stat()
    except (FileNotFoundError, NotADirectoryError):
        # Inside the export but absent ("photos/x.jpg" missing, or a parent component is a file).
        if placeholder_like:
            yield Entry(sighting, file=None, placeholder=rel)
            return
        shown = show_path(rel)
        yield Entry(replace(sighting, path=shown), file=None, placeholder=MISSING_PLACEHOLDER)
        yield EntryError(path=shown, error=f"media file missing from the export folder ({context})")
        return
    except (SourceError, OSError, RuntimeError, ValueError) as exc:
        # SourceError: escapes the export or absolute. RuntimeError: symlink loop (Path.resolve).
        # ValueError: a path the OS cannot represent (lone surrogates).
        if placeholder_like:
            yield Entry(sighting, file=None, placeholder=rel)
            return
        # repr() keeps control characters and lone surrogates printable.
        reason = str(exc) if isinstance(exc, SourceError) else f"unusable media path {rel!r}: {exc}"
        if repr(rel) not in reason:
            reason += f": {rel!r}"
        yield EntryError(path=where, error=f"{reason} ({context})")
        return

    if stat.S_ISREG(st.st_mode):
        # A real file, even if its name happens to look like "(...)".
        yield Entry(replace(sighting, path=show_path(rel)), file=target)
    elif placeholder_like:
        yield Entry(sighting, file=None, placeholder=rel)
    elif stat.S_ISDIR(st.st_mode):
        yield EntryError(path=where, error=f"media path {rel!r} is a directory, not a file ({context})")
    else:
        yield EntryError(path=where, error=f"media path {rel!r} is not a regular file ({context})")
