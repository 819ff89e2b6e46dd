"""Reading the pages of a Telegram Desktop HTML export: one page's messages, a list page's links, the
images a page shows. Shared by the HTML export source (:mod:`reclaim.sources.telegram_html`) and the JSON
source, which counts the thumbnails of an export written in both formats ("HTML and JSON") as export files.

The markup is the one tdesktop's HTML writer (``export_output_html.cpp``) produces. Every page is untrusted:
it is parsed with Python's event parser (no tree is built), read only up to :data:`MAX_PAGE_BYTES`,
:data:`MAX_TAGS` tags and :data:`MAX_DEPTH` nesting; entities become text, never markup; a link is followed
only inside the export folder (:func:`href_rel`, then :func:`reclaim.sources.base.safe_join`).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from reclaim.errors import SourceError
from reclaim.sources.base import safe_join

FIRST_PAGE = "messages.html"
ACCOUNT_PAGE = "export_results.html"
CHATS_LIST = "lists/chats.html"

MAX_PAGE_BYTES = 32 * 1024 * 1024
"""A page holds at most 1,000 messages of at most 4,096 characters each, HTML-escaped: well under this."""
MAX_TAGS = 1_000_000
"""Tags a page may hold (tdesktop writes about 20 a message); more would only slow the parser down."""
MAX_TAG_CHARS = 65_536
"""Longest single tag: tdesktop's tags are short; an unclosed huge tag makes the parser quadratic."""
MAX_DEPTH = 256
"""Deepest element nesting (tdesktop's pages nest about 12 deep)."""

_MESSAGE_ID_RE = re.compile(r"message(-?[0-9]{1,18})")
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_TRAILING_INDENT_RE = re.compile(r"\n *\Z")
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                        "track", "wbr"})  # fmt: skip

# (field, media_type) as the JSON export names them: ``photo`` or ``file`` plus ``media_type``.
_WRAP_KINDS = {
    "photo_wrap": ("photo", "photo"),
    "video_file_wrap": ("file", "video_file"),
    "animated_wrap": ("file", "animation"),
    "sticker_wrap": ("file", "sticker"),
}
_GENERIC_KINDS = {
    "media_photo": ("photo", "photo"),
    "media_video": ("file", "video_file"),
    "media_voice_message": ("file", "voice_message"),
    "media_audio_file": ("file", "audio_file"),
    "media_file": ("file", "file"),
}

Parts = list[str | None]
"""Collected text: strings, and None for a ``<br>``."""


class _PageStop(Exception):
    """Parsing a page stops here; the text says why."""


@dataclass
class PageMedia:
    json_field: str
    media_type: str
    href: str | None
    generic: bool
    title: Parts = field(default_factory=list)
    description: Parts = field(default_factory=list)


@dataclass
class PageMessage:
    id: int
    line: int
    service: bool
    joined: bool = False
    complete: bool = False
    date_title: str | None = None
    sender: Parts | None = None
    forwarded: bool = False
    forwarded_name: Parts | None = None
    reply_links: list[str] = field(default_factory=list)
    text: Parts | None = None
    media: list[PageMedia] = field(default_factory=list)


@dataclass
class ListEntry:
    href: str
    name: Parts = field(default_factory=list)
    info: Parts = field(default_factory=list)


@dataclass
class _Frame:
    tag: str
    role: str | None
    prev_capture: Parts | None


class _PageParser(HTMLParser):
    """One page's messages (or, for ``lists/chats.html``, its chat entries), by events, not a tree."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[_Frame] = []
        self.capture: Parts | None = None
        self.messages: list[PageMessage] = []
        self.current: PageMessage | None = None
        self.media: PageMedia | None = None
        self.header: Parts | None = None
        self.history = False
        self.images: list[str] = []
        self.entries: list[ListEntry] = []
        self.entry: ListEntry | None = None

    def _roles(self) -> set[str]:
        return {f.role for f in self.stack if f.role is not None}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr: dict[str, str] = {}
        for name, value in attrs:
            attr.setdefault(name, value or "")
        classes = set(attr.get("class", "").split())
        if tag == "br":
            if self.capture is not None:
                self.capture.append(None)
            return
        if tag == "img":
            if attr.get("src"):
                self.images.append(attr["src"])
            return
        if tag in _VOID_TAGS:
            return
        frame = _Frame(tag, None, self.capture)
        self.stack.append(frame)
        if len(self.stack) > MAX_DEPTH:
            raise _PageStop(f"elements nested deeper than {MAX_DEPTH} at line {self.getpos()[0]}")
        self._start(frame, tag, classes, attr)

    def _start(self, frame: _Frame, tag: str, classes: set[str], attr: dict[str, str]) -> None:
        msg = self.current
        if msg is None:
            match = _MESSAGE_ID_RE.fullmatch(attr.get("id", ""))
            if tag == "div" and "message" in classes and match:
                msg = PageMessage(int(match.group(1)), self.getpos()[0], service="service" in classes)
                msg.joined = "joined" in classes
                self.current = msg
                self.messages.append(msg)
                frame.role = "message"
            elif tag == "div" and "page_header" in classes:
                frame.role = "header"
            elif tag == "div" and {"text", "bold"} <= classes and "header" in self._roles():
                self.header = self._capture(frame, "header_text", [])
            elif tag == "div" and "history" in classes:
                self.history = True
            elif tag == "a" and {"entry", "block_link"} <= classes and self.entry is None:
                self.entry = ListEntry(attr.get("href", ""))
                self.entries.append(self.entry)
                frame.role = "entry"
            elif self.entry is not None and tag == "div" and {"name", "bold"} <= classes:
                self._capture(frame, "entry_name", self.entry.name)
            elif self.entry is not None and tag == "div" and {"info", "details"} <= classes:
                self._capture(frame, "entry_info", self.entry.info)
            return
        if msg.service:
            return
        roles = self._roles()
        if tag == "div" and {"pull_right", "date", "details"} <= classes and msg.date_title is None:
            msg.date_title = attr.get("title")
        elif tag == "div" and "from_name" in classes:
            if "forwarded" in roles:
                if msg.forwarded_name is None:
                    msg.forwarded_name = self._capture(frame, "from_name", [])
            elif msg.sender is None:
                msg.sender = self._capture(frame, "from_name", [])
        elif tag == "span" and "date" in classes and "from_name" in roles:
            self.capture = None  # the forward's original time, not part of the name
            frame.role = "ignore"
        elif tag == "div" and {"forwarded", "body"} <= classes:
            msg.forwarded = True
            frame.role = "forwarded"
        elif tag == "div" and "reply_to" in classes:
            frame.role = "reply"
        elif tag == "a" and "reply" in roles:
            msg.reply_links.append(attr.get("href", "") + " " + attr.get("onclick", ""))
        elif tag == "div" and classes == {"text"} and msg.text is None and self.media is None:
            msg.text = self._capture(frame, "text", [])
        elif self.media is None and (kind := self._media_kind(tag, classes)) is not None:
            generic = "media" in classes
            href = attr.get("href") if tag == "a" else None
            self.media = PageMedia(kind[0], kind[1], href, generic)
            msg.media.append(self.media)
            frame.role = "media"
        elif self.media is not None and tag == "div" and {"title", "bold"} <= classes:
            self._capture(frame, "media_title", self.media.title)
        elif self.media is not None and tag == "div" and "description" in classes:
            self._capture(frame, "media_description", self.media.description)

    @staticmethod
    def _media_kind(tag: str, classes: set[str]) -> tuple[str, str] | None:
        if tag == "a":
            for name, kind in _WRAP_KINDS.items():
                if name in classes:
                    return kind
        if tag in ("a", "div") and "media" in classes:
            for name, kind in _GENERIC_KINDS.items():
                if name in classes:
                    return kind
        return None

    def _capture(self, frame: _Frame, role: str, parts: Parts) -> Parts:
        frame.role = role
        self.capture = parts
        return parts

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            return
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index].tag == tag:
                while len(self.stack) > index:
                    self._close(self.stack.pop())
                return

    def _close(self, frame: _Frame) -> None:
        self.capture = frame.prev_capture
        if frame.role == "message" and self.current is not None:
            self.current.complete = True
            self.current = None
            self.media = None
        elif frame.role == "media":
            self.media = None
        elif frame.role == "entry":
            self.entry = None

    def handle_data(self, data: str) -> None:
        if self.capture is not None:
            self.capture.append(data)


@dataclass
class Page:
    rel: str
    messages: list[PageMessage] = field(default_factory=list)
    header: str | None = None
    images: list[str] = field(default_factory=list)
    entries: list[ListEntry] = field(default_factory=list)
    problem: str | None = None


def one_line(parts: Parts | None) -> str | None:
    if parts is None:
        return None
    text = "".join("\n" if p is None else p for p in parts).strip()
    return text or None


def caption_text(parts: Parts | None) -> str | None:
    """The text div's content: tdesktop writes every line break as ``<br>``, so a literal newline is its
    own indentation: one after the opening tag and one (plus spaces) before the closing tag."""
    if not parts:
        return None
    items = list(parts)
    if isinstance(items[0], str) and items[0].startswith("\n"):
        items[0] = items[0][1:]
    if isinstance(items[-1], str):
        items[-1] = _TRAILING_INDENT_RE.sub("", items[-1])
    text = "".join("\n" if p is None else p for p in items)
    return text or None


def _long_tag_line(text: str) -> int | None:
    """The line of the first tag longer than :data:`MAX_TAG_CHARS`, or None (linear: one find a tag)."""
    start = 0
    while True:
        lt = text.find("<", start)
        if lt < 0:
            return None
        gt = text.find(">", lt)
        end = len(text) if gt < 0 else gt
        if end - lt > MAX_TAG_CHARS:
            return text.count("\n", 0, lt) + 1
        if gt < 0:
            return None
        start = gt + 1


def read_page(root: Path, rel: str, *, chat_page: bool = True) -> Page:
    """Parse one page; a problem with the page as a whole is ``problem`` (what was read before it stays).
    A chat page must hold a message history; other pages (lists, the summary) are read for their links."""
    page = Page(rel)
    try:
        path = safe_join(root, rel)
        size = path.stat().st_size
        if size > MAX_PAGE_BYTES:
            page.problem = f"page is {size:,} bytes, over the {MAX_PAGE_BYTES // 2**20} MiB a page can reach"
            return page
        raw = path.read_bytes()
    except SourceError as exc:
        page.problem = str(exc)
        return page
    except (OSError, RuntimeError, ValueError) as exc:
        page.problem = f"cannot read the page: {getattr(exc, 'strerror', None) or exc}"
        return page
    problems: list[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"not valid UTF-8 (bad byte at offset {exc.start}; read as U+FFFD)")
        text = raw.decode("utf-8", errors="replace")
    del raw
    tags = text.count("<")
    long_line = _long_tag_line(text) if tags <= MAX_TAGS else None
    if tags > MAX_TAGS:
        problems.append(f"{tags:,} tags, more than the {MAX_TAGS:,} a page of 1,000 messages holds; not read")
    elif long_line is not None:
        problems.append(f"a tag longer than {MAX_TAG_CHARS:,} characters at line {long_line}; not read")
    else:
        parser = _PageParser()
        try:
            parser.feed(text)
            parser.close()
            if any(f.tag == "html" for f in parser.stack):
                problems.append("truncated: the page ends before its closing tags")
        except _PageStop as exc:
            problems.append(f"{exc}; the rest of the page is not read")
        cut = [m for m in parser.messages if not m.complete]
        if cut:
            problems.append(f"message {cut[0].id} (line {cut[0].line}) is cut off and not read")
        page.messages = [m for m in parser.messages if m.complete]
        page.header = one_line(parser.header)
        page.images = parser.images
        page.entries = parser.entries
        if chat_page and not parser.history and not problems:
            problems.append("no message history in it: not a Telegram Desktop export page")
    page.problem = "; ".join(problems) or None
    return page


def summary_images(root: Path) -> set[Path]:
    """The images a whole-account export's summary and list pages show (the thumbnails tdesktop made of
    profile pictures and stories): export files, like a chat page's thumbnails. These pages are read for
    nothing else, so a problem with one is not reported (the page itself is an export_file skip)."""
    pages = [ACCOUNT_PAGE] if (root / ACCOUNT_PAGE).is_file() else []
    with contextlib.suppress(OSError):
        pages += sorted(f"lists/{p.name}" for p in (root / "lists").iterdir() if p.name.endswith(".html"))
    found: set[Path] = set()
    for rel in pages:
        folder = rel.rpartition("/")[0]
        for src in read_page(root, rel, chat_page=False).images:
            with contextlib.suppress(SourceError, OSError, RuntimeError, ValueError):
                found.add(safe_join(root, href_rel(root, folder, src)))
    return found


def href_rel(root: Path, page_dir: str, href: str) -> str:
    """The export-relative path a page's link names; raises SourceError for links out of the export."""
    if not href or "\x00" in href:
        raise SourceError("empty or invalid media path")
    if href.startswith(("/", "\\")):
        raise SourceError(f"absolute media path refused: {href!r}")
    if _URL_RE.match(href):
        raise SourceError(f"media link is a URL or a drive path, not a file in the export: {href!r}")
    # Lexically, from the root's real path: a chat folder scanned on its own keeps links that climb to the
    # account export's root and back down into the same folder.
    joined = os.path.normpath(os.path.join(root, page_dir, href))
    rel = os.path.relpath(joined, root)
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        raise SourceError(f"media path escapes the export folder, refused: {href!r}")
    return rel.replace(os.sep, "/")


# tdesktop starts every page with the same head: its title, then the page_wrap div, in the first 1 KB.
_PAGE_MARKERS = (b"<title>Exported Data</title>", b'<div class="page_wrap">')


def looks_like_export_page(path: Path) -> bool:
    """Whether a ``messages.html`` is a Telegram Desktop page (a saved web page of the same name is not).
    A damaged page still starts like one, so it is detected and its damage named."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return any(marker in head for marker in _PAGE_MARKERS)


def page_images(root: Path) -> set[Path]:
    """Every file inside ``root`` an image of the export's pages shows (thumbnails tdesktop made of photos,
    videos, stickers and profile pictures): for an export written in both formats, whose JSON is read."""
    rels = [p.name for p in _html_files(root)]
    for folder in ("lists", *sorted(f"chats/{d.name}" for d in _subdirs(root / "chats"))):
        rels += [f"{folder}/{p.name}" for p in _html_files(root / folder)]
    found: set[Path] = set()
    for rel in rels:
        folder = rel.rpartition("/")[0]
        for src in read_page(root, rel, chat_page=False).images:
            with contextlib.suppress(SourceError, OSError, RuntimeError, ValueError):
                found.add(safe_join(root, href_rel(root, folder, src)))
    return found


def _html_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.name.endswith(".html") and p.is_file())
    except OSError:
        return []


def _subdirs(folder: Path) -> list[Path]:
    if folder.is_symlink():
        return []
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []
