"""Telegram Desktop HTML exports, the app's default export format.

Two layouts exist and are detected automatically, like the JSON export's:

* a single-chat export: ``messages.html``, ``messages2.html``, ... (1,000 messages a page) with the media
  folders beside them;
* a whole-account export: ``export_results.html``, ``lists/chats.html`` and one folder a chat,
  ``chats/chat_NNN/messages*.html``. A page names its media relative to itself
  (``../../chats/chat_001/photos/...``); paths are stored relative to the export root, as JSON has them.

The markup read is the one tdesktop's HTML writer produces (``export_output_html.cpp``): a message is
``div.message.default#messageN`` (``joined`` when tdesktop left out the sender because the previous message
had the same one), its time is the ``title`` of ``div.pull_right.date.details`` ("04.12.2026 21:15:03
UTC+09:00": local time and offset), the sender ``div.from_name``, forwards ``div.forwarded.body``, replies
``div.reply_to`` with a ``GoToMessage(N)`` link, the caption ``div.text``, the media ``a.photo_wrap``,
``a.video_file_wrap``, ``a.animated_wrap``, ``a.sticker_wrap`` or a generic ``.media.media_*`` block.

What HTML does not hold, and what is stored instead:

* no numeric chat id: ``chat_id`` is ``html:`` and 16 hex digits of SHA-256 over the chat's name and its
  first dated message's id and time, stable across rescans (and across re-exports of the same chat from
  its start), never a Telegram id;
* no sender ids (``sender_id`` is None); the chat type only in a whole-account export, in tdesktop's
  coarse words (private, bot, group, channel);
* the offset in the title is the exporting machine's *standard-time* offset (tdesktop asks Qt for the
  zone's standard name), so in daylight-saving periods the derived UTC time can be one hour off; the
  title is kept verbatim in ``extra["date_local"]``.

Every page is untrusted and read by :mod:`reclaim.sources.telegram_pages` (limits, no tree, entities as
text, links only inside the export folder). A bad page is one named error and the other pages go on.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar

from reclaim.errors import SourceError
from reclaim.sources.base import Entry, EntryError, SightingInfo, Skipped, Source, display_path, safe_join
from reclaim.sources.telegram import TelegramExportSource, brief, resolve_media, unreferenced_files
from reclaim.sources.telegram_pages import (
    ACCOUNT_PAGE,
    CHATS_LIST,
    FIRST_PAGE,
    Page,
    PageMedia,
    PageMessage,
    caption_text,
    href_rel,
    looks_like_export_page,
    one_line,
    read_page,
    summary_images,
)

_PAGE_RE = re.compile(r"messages([1-9][0-9]{0,5})?\.html")
_GO_TO_RE = re.compile(r"go_to_message([0-9]{1,18})")
_GO_TO_CLICK_RE = re.compile(r"GoToMessage\(([0-9]{1,18})\)")
_DATE_RE = re.compile(
    r"([0-9]{2})\.([0-9]{2})\.([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"( (?:UTC|GMT)(?:([+-])([0-9]{2}):?([0-9]{2}))?)?"
)
_VIA_RE = re.compile(r"(.*) via @([A-Za-z0-9_]{1,64})", re.DOTALL)
# The generic block's title tells the kinds sharing a class apart (tdesktop's fallback when it made no
# thumbnail, or the file is not in the export).
_GENERIC_TITLES = {
    "Photo": ("photo", "photo"),
    "Sticker": ("file", "sticker"),
    "Animation": ("file", "animation"),
    "Video file": ("file", "video_file"),
    "Video message": ("file", "video_message"),
}
# tdesktop's HTML wording of a file left out of the export -> the JSON export's wording of the same.
_SKIP_REASONS = {
    "Unavailable, please try again later.": "(File unavailable, please try again later)",
    "Exceeds maximum size, change data exporting settings to download.": (
        "(File exceeds maximum size. Change data exporting settings to download.)"
    ),
    "Not included, change data exporting settings to download.": (
        "(File not included. Change data exporting settings to download.)"
    ),
}


@dataclass
class _ChatPages:
    rel_dir: str
    """The chat's folder relative to the export root ("" for a single-chat export)."""
    pages: list[str]
    name: str | None = None
    type: str | None = None


def _page_names(folder: Path) -> list[str]:
    """``messages.html``, ``messages2.html``, ... in their order."""
    try:
        names = [p.name for p in folder.iterdir()]
    except OSError:
        return []
    numbered: list[tuple[int, str]] = []
    for name in names:
        match = _PAGE_RE.fullmatch(name)
        if match:
            numbered.append((int(match.group(1) or 1), name))
    return [name for _, name in sorted(numbered)]


def _join_rel(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _find_chats(root: Path) -> tuple[list[_ChatPages], list[EntryError], set[str]]:
    """The chats of the export under ``root`` (its real path), errors of ``lists/chats.html``, and the
    pages already named by an error."""
    chats: list[_ChatPages] = []
    errors: list[EntryError] = []
    named: set[str] = set()
    if (root / FIRST_PAGE).is_file():
        chats.append(_ChatPages("", _page_names(root)))
    listed: dict[str, tuple[str | None, str | None]] = {}
    if (root / CHATS_LIST).is_file():
        page = read_page(root, CHATS_LIST, chat_page=False)
        if page.problem is not None:
            errors.append(EntryError(path=CHATS_LIST, error=page.problem))
            named.add(CHATS_LIST)
        for entry in page.entries:
            try:
                rel = href_rel(root, "lists", entry.href.split("#", 1)[0])
            except SourceError:
                continue
            folder, _, name = rel.rpartition("/")
            if name == FIRST_PAGE and folder.startswith("chats/") and folder.count("/") == 1:
                listed[folder] = (one_line(entry.name), one_line(entry.info))
    folders = set(listed)
    chats_dir = root / "chats"
    if chats_dir.is_dir() and not chats_dir.is_symlink():
        with contextlib.suppress(OSError):  # an unreadable chats/ folder: the listed chats are still read
            for sub in chats_dir.iterdir():
                if (sub / FIRST_PAGE).is_file():
                    folders.add(f"chats/{display_path(sub.name)}")
    for folder in sorted(folders):
        listed_name, listed_type = listed.get(folder, (None, None))
        chats.append(_ChatPages(folder, _page_names(root / folder), listed_name, listed_type))
    return chats, errors, named


def _chat_id(name: str | None, message: PageMessage) -> str:
    material = f"{name or ''}\x00{message.id}\x00{message.date_title}".encode("utf-8", "surrogatepass")
    return "html:" + hashlib.sha256(material).hexdigest()[:16]


def _posted_at(title: str) -> datetime | None:
    """UTC time from tdesktop's title ("04.12.2026 21:15:03 UTC+09:00"); None when it names no zone."""
    match = _DATE_RE.fullmatch(title.strip())
    if match is None:
        raise ValueError("not a 'DD.MM.YYYY hh:mm:ss UTC+hh:mm' time")
    day, month, year, hour, minute, second = (int(g) for g in match.groups()[:6])
    local = datetime(year, month, day, hour, minute, second)
    if match.group(7) is None:
        return None
    sign, oh, om = match.group(8), match.group(9), match.group(10)
    offset = timedelta(hours=int(oh or 0), minutes=int(om or 0))
    if offset >= timedelta(hours=24):
        raise ValueError("offset of a day or more")
    return local.replace(tzinfo=timezone(-offset if sign == "-" else offset)).astimezone(UTC)


def _reply_to(links: list[str]) -> int | None:
    for link in links:
        match = _GO_TO_RE.search(link) or _GO_TO_CLICK_RE.search(link)
        if match:
            return int(match.group(1))
    return None


def _placeholder(media: PageMedia) -> str:
    description = one_line(media.description)
    if description in _SKIP_REASONS:
        return _SKIP_REASONS[description]
    if description:
        return f"({description})"
    return f"({one_line(media.title) or 'Media'} not in the export)"


@dataclass
class _ChatState:
    """What one chat's pages share while they are read."""

    chat: _ChatPages
    name: str | None
    chat_id: str | None = None

    @property
    def label(self) -> str:
        """How to name the chat in messages to the user."""
        if self.name:
            return repr(self.name)
        return f"{self.chat_id or self.chat.rel_dir or '.'} (no name)"


class TelegramHtmlExportSource(Source):
    """A Telegram Desktop HTML export folder (or its ``messages.html`` / ``export_results.html``).

    Its sightings are Telegram sightings (``source`` "telegram", like the JSON export's, with
    ``extra["export_format"] = "html"``) so reports and takedown notices treat both alike."""

    name: ClassVar[str] = "telegram_html"

    @classmethod
    def detect(cls, path: Path) -> bool:
        try:
            if path.is_file():
                return path.name in (FIRST_PAGE, ACCOUNT_PAGE) and looks_like_export_page(path)
            return path.is_dir() and any(
                (path / name).is_file() and looks_like_export_page(path / name)
                for name in (FIRST_PAGE, ACCOUNT_PAGE)
            )
        except OSError:
            return False

    def entries(self, path: Path) -> Iterator[Entry | EntryError | Skipped]:
        root = (path.parent if path.is_file() else path).resolve()
        referenced: set[Path | str] = set()
        thumbnails: set[Path] = summary_images(root)
        chats, errors, named = _find_chats(root)
        yield from errors
        referenced.update(named)
        seen_keys: set[str] = set()
        for chat in chats:
            state = _ChatState(chat, chat.name)
            for rel_page in chat.pages:
                page_rel = _join_rel(chat.rel_dir, rel_page)
                page = read_page(root, page_rel)
                if page.problem is not None:
                    yield EntryError(path=page_rel, error=page.problem)
                    referenced.add(page_rel)
                if state.name is None and page.header:
                    state.name = page.header
                for src in page.images:
                    with contextlib.suppress(SourceError, OSError, RuntimeError, ValueError):
                        thumbnails.add(safe_join(root, href_rel(root, chat.rel_dir, src)))
                yield from self._page_entries(root, state, page, seen_keys, referenced)
        yield from unreferenced_files(root, referenced, thumbnails - referenced)

    def _page_entries(
        self, root: Path, state: _ChatState, page: Page, seen_keys: set[str], referenced: set[Path | str]
    ) -> Iterator[Entry | EntryError]:
        sender: str | None = None  # tdesktop starts every page with a full (not joined) message
        forwarded: str | None = None
        for message in page.messages:
            if message.service:
                sender = forwarded = None
                continue
            name = one_line(message.sender)
            via = None
            if name is not None and (match := _VIA_RE.fullmatch(name)):
                name, via = match.group(1).strip(), "@" + match.group(2)
            sender = name if (name is not None or not message.joined) else sender
            if message.forwarded:
                named_fwd = one_line(message.forwarded_name)
                if named_fwd is not None and (match := _VIA_RE.fullmatch(named_fwd)):
                    named_fwd = match.group(1).strip()
                forwarded = named_fwd if named_fwd is not None else forwarded
            else:
                forwarded = None
            if state.chat_id is None and message.date_title is not None:
                state.chat_id = _chat_id(state.name, message)
            if not message.media:
                continue
            where = f"{page.rel}#message {message.id}"
            context = f"message {message.id} in chat {state.label}"
            if message.date_title is None or state.chat_id is None:
                yield EntryError(path=where, error=f"message has no date ({context})")
                continue
            try:
                posted_at = _posted_at(message.date_title)
            except (ValueError, OverflowError) as exc:
                yield EntryError(path=where, error=f"bad date {brief(message.date_title)}: {exc} ({context})")
                continue
            extra = {"date_local": message.date_title, "export_format": "html"}
            if via is not None:
                extra["via_bot"] = via
            base = SightingInfo(
                source=TelegramExportSource.name,
                key="",
                chat_id=state.chat_id,
                chat_name=state.name,
                chat_type=state.chat.type,
                message_id=message.id,
                sender=sender,
                posted_at=posted_at,
                caption=caption_text(message.text),
                forwarded_from=forwarded if message.forwarded else None,
                reply_to=_reply_to(message.reply_links),
                extra=extra,
            )
            for media in message.media:
                yield from self._media_entries(
                    root, state, base, media, (where, context), seen_keys, referenced
                )

    def _media_entries(
        self,
        root: Path,
        state: _ChatState,
        base: SightingInfo,
        media: PageMedia,
        names: tuple[str, str],
        seen_keys: set[str],
        referenced: set[Path | str],
    ) -> Iterator[Entry | EntryError]:
        where, context = names
        kind = (media.json_field, media.media_type)
        if media.generic:
            kind = _GENERIC_TITLES.get(one_line(media.title) or "", kind)
        field_name, media_type = kind
        key = f"telegram|{state.chat_id}|{base.message_id}|{field_name}"
        if key in seen_keys:
            yield EntryError(path=where, error=f"duplicate message id, skipped ({context})")
            return
        seen_keys.add(key)
        sighting = replace(base, key=key, media_type=media_type)
        if media.href is None:
            yield Entry(sighting, file=None, placeholder=_placeholder(media))
            return
        try:
            rel = href_rel(root, state.chat.rel_dir, media.href)
        except SourceError as exc:
            yield EntryError(path=where, error=f"{exc} ({context})")
            return
        referenced.add(rel)
        for entry in resolve_media(root, sighting, rel, where, context):
            if isinstance(entry, Entry) and entry.file is not None:
                referenced.add(entry.file)
            yield entry
