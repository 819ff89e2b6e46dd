"""One description of Telegram chats, written as a Telegram Desktop JSON export and as an HTML export.

The HTML mirrors tdesktop's writer (``export_output_html.cpp``): the same tags and attribute order
(``std::map``: alphabetical), the same escaping (``SerializeString``: ``<br>`` for line breaks, ``&apos;``),
block tags on their own indented lines, 1,000 messages a page with ``pagination`` links, date separators
as service messages with negative ids, "joined" messages (no sender block) when the same sender writes
again within 900 seconds, forwards, replies (``GoToMessage(N)``, or ``messagesN.html#go_to_messageN`` for
a message on an earlier page), photos, video files, stickers, animations, round video messages, files
and a file left out of the export. Times are written in UTC+09:00 (no daylight saving).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

TZ = timezone(timedelta(hours=9))
NOT_INCLUDED_JSON = "(File not included. Change data exporting settings to download.)"
NOT_INCLUDED_HTML = "Not included, change data exporting settings to download."
PER_PAGE = 1000
PROFILE_PHOTO = "profile_pictures/photo_1@03-12-2026_21-00-00.jpg"

Text = str | list[str | tuple[str, str] | tuple[str, str, str]]
"""Plain text, or parts: strings and (entity type, text[, href]) tuples."""


@dataclass
class Msg:
    id: int
    date: int
    sender: str = "Alice"
    sender_id: str = "user111"
    text: Text = ""
    forwarded_from: str | None = None
    forwarded_from_id: str | None = None
    forwarded_date: int = 0
    reply_to: int | None = None
    media: str | None = None
    """photo, video_file, sticker, animation, video_message, file, missing_photo"""
    path: str | None = None
    """The media file's path when it is given (a real export's), not generated: nothing is written."""
    service: str | None = None
    """A service message's HTML text (e.g. 'Alice pinned this message'); JSON action pin_message."""


@dataclass
class Chat:
    name: str
    json_type: str
    html_type: str
    id: int
    messages: list[Msg] = field(default_factory=list)


# --- media ---------------------------------------------------------------------------------------------


def picture(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    gx = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    gy = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    tint = rng.uniform(0.2, 1.0, size=3).astype(np.float32)
    base = (gx * tint + gy * tint[::-1]) / 2 + rng.normal(0, 25, size=(h, w, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def image_bytes(seed: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    picture(seed).save(buf, fmt)
    return buf.getvalue()


_MP4: dict[int, bytes] = {}


def mp4_bytes(seed: int) -> bytes:
    if seed not in _MP4:
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as container:
            stream = container.add_stream("mpeg4", rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for i in range(10):
                pixels = np.full((48, 64, 3), (seed * 37 + i * 20) % 256, np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        _MP4[seed] = buf.getvalue()
    return _MP4[seed]


def _stamp(date: int) -> str:
    return datetime.fromtimestamp(date, TZ).strftime("%d-%m-%Y_%H-%M-%S")


def media_files(msg: Msg, prefix: str) -> tuple[str | None, str | None, bytes]:
    """(path, thumbnail path, bytes) of a message's media, relative to the export root."""
    kind, mid = msg.media, msg.id
    if msg.path is not None:
        return msg.path, None, b""
    if kind == "photo":
        path = f"{prefix}photos/photo_{mid}@{_stamp(msg.date)}.jpg"
        return path, path[:-4] + "_thumb.jpg", image_bytes(mid, "JPEG")
    if kind == "video_file":
        path = f"{prefix}video_files/clip_{mid}.mp4"
        return path, path + "_thumb.jpg", mp4_bytes(1)
    if kind == "animation":
        path = f"{prefix}video_files/anim_{mid}.mp4"
        return path, path + "_thumb.jpg", mp4_bytes(2)
    if kind == "video_message":
        path = f"{prefix}round_video_messages/file_{mid}@{_stamp(msg.date)}.mp4"
        return path, path + "_thumb.jpg", mp4_bytes(3)
    if kind == "sticker":
        path = f"{prefix}stickers/sticker_{mid}.webp"
        return path, path + "_thumb.png", image_bytes(mid, "WEBP")
    if kind == "file":
        path = f"{prefix}files/scan_{mid}.png"
        return path, None, image_bytes(mid, "PNG")
    return None, None, b""


def _write(root: Path, rel: str, data: bytes) -> None:
    if not data:
        return  # a given (real) media file: copied by the caller, not generated
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- JSON ----------------------------------------------------------------------------------------------

_JSON_MEDIA_TYPES = {
    "video_file": "video_file",
    "animation": "animation",
    "sticker": "sticker",
    "video_message": "video_message",
}


def _json_text(text: Text) -> Any:
    if isinstance(text, str):
        return text
    out: list[Any] = []
    for part in text:
        if isinstance(part, str):
            out.append(part)
        else:
            entity: dict[str, str] = {"type": part[0], "text": part[1]}
            if len(part) > 2:
                entity["href"] = part[2]  # type: ignore[misc]
            out.append(entity)
    return out


def json_message(msg: Msg, prefix: str) -> dict[str, Any]:
    local = datetime.fromtimestamp(msg.date, TZ).strftime("%Y-%m-%dT%H:%M:%S")
    if msg.service is not None:
        return {
            "id": msg.id,
            "type": "service",
            "date": local,
            "date_unixtime": str(msg.date),
            "actor": msg.sender,
            "actor_id": msg.sender_id,
            "action": "pin_message",
            "message_id": msg.reply_to,
            "text": "",
        }
    out: dict[str, Any] = {
        "id": msg.id,
        "type": "message",
        "date": local,
        "date_unixtime": str(msg.date),
        "from": msg.sender or None,
        "from_id": msg.sender_id,
    }
    if msg.forwarded_from is not None:
        out["forwarded_from"] = msg.forwarded_from
    if msg.reply_to is not None:
        out["reply_to_message_id"] = msg.reply_to
    path, thumb, _ = media_files(msg, prefix)
    if msg.media == "photo":
        out["photo"] = path
    elif msg.media == "missing_photo":
        out["photo"] = NOT_INCLUDED_JSON
    elif msg.media is not None:
        out["file"] = path
        if thumb is not None and msg.media != "sticker":
            out["thumbnail"] = thumb
        if msg.media in _JSON_MEDIA_TYPES:
            out["media_type"] = _JSON_MEDIA_TYPES[msg.media]
    out["text"] = _json_text(msg.text)
    return out


def write_json(root: Path, chats: list[Chat], *, account: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    docs = []
    for index, chat in enumerate(chats):
        prefix = f"chats/chat_{index + 1:03d}/" if account else ""
        docs.append(
            {
                "name": chat.name,
                "type": chat.json_type,
                "id": chat.id,
                "messages": [json_message(m, prefix) for m in chat.messages],
            }
        )
        for msg in chat.messages:
            path, thumb, data = media_files(msg, prefix)
            if path is not None:
                _write(root, path, data)
            if thumb is not None and msg.media not in ("sticker", "photo"):  # JSON has no photo thumbnails
                _write(root, thumb, image_bytes(msg.id + 50_000, "JPEG"))
    if account:
        _write(root, PROFILE_PHOTO, image_bytes(77, "JPEG"))
    doc: Any = (
        {"about": "Here is the data you requested.", "chats": {"about": "", "list": docs}}
        if account
        else docs[0]
    )
    if account:
        doc["profile_pictures"] = [
            {"date": "2026-12-03T21:00:00", "date_unixtime": str(START), "photo": PROFILE_PHOTO}
        ]
    (root / "result.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return root


# --- HTML (tdesktop's writer, re-told) -------------------------------------------------------------------


def serialize(value: str) -> str:
    """tdesktop's SerializeString."""
    out = []
    for ch in value:
        if ch in ("\n", "\u2028", "\u2029"):
            out.append("<br>")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "&":
            out.append("&amp;")
        elif ch == "'":
            out.append("&apos;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ord(ch) < 32:
            out.append(f"&#x{ord(ch):02X};")
        else:
            out.append(ch)
    return "".join(out)


class Ctx:
    """tdesktop's HtmlContext: block tags on their own lines, indented by depth."""

    def __init__(self) -> None:
        self.tags: list[tuple[str, bool]] = []

    def push(
        self, tag: str, attrs: dict[str, str] | None = None, *, inline: bool = False, empty: bool = False
    ) -> str:
        inner = "".join(f' {k}="{serialize(v)}"' for k, v in sorted((attrs or {}).items()))
        block = not inline
        out = ("\n" + " " * len(self.tags) if block else "") + f"<{tag}{inner}{'/' if empty else ''}>"
        out += "\n" if block else ""
        if not empty:
            self.tags.append((tag, block))
        return out

    def div(self, cls: str, style: str = "") -> str:
        return self.push("div", {"class": cls, "style": style} if style else {"class": cls})

    def pop(self) -> str:
        tag, block = self.tags.pop()
        return ("\n" + " " * len(self.tags) if block else "") + f"</{tag}>" + ("\n" if block else "")

    def close(self) -> str:
        out = ""
        while self.tags:
            out += self.pop()
        return out


def _names(full: str) -> tuple[str, str]:
    first, _, last = full.partition(" ")
    return first, last.strip()


def _compose(full: str) -> str:
    first, last = _names(full)
    if not first and not last:
        return "Deleted Account"  # tdesktop's ComposeName for an empty name (JSON has "from": null)
    return first + " " + last  # tdesktop's ComposeName: "Alice " when there is no last name


def _userpic(ctx: Ctx, full: str) -> str:
    first, last = _names(full)
    out = ctx.div("userpic userpic2", "width: 42px; height: 42px") + ctx.div("initials", "line-height: 42px")
    out += serialize(first[:1]) + serialize(last[:1]) + ctx.pop() + ctx.pop()
    return out


def html_time(date: int, zone: bool = True) -> str:
    text = datetime.fromtimestamp(date, TZ).strftime("%d.%m.%Y %H:%M:%S")
    return text + " UTC+09:00" if zone else text


def html_text(text: Text) -> str:
    if isinstance(text, str):
        return serialize(text)
    out = []
    for part in text:
        if isinstance(part, str):
            out.append(serialize(part))
        elif part[0] == "bold":
            out.append(f"<strong>{serialize(part[1])}</strong>")
        elif part[0] == "italic":
            out.append(f"<em>{serialize(part[1])}</em>")
        elif part[0] == "text_link":
            out.append(f'<a href="{serialize(part[2])}">{serialize(part[1])}</a>')  # type: ignore[misc]
        else:
            out.append(serialize(part[1]))
    return "".join(out)


def _generic(
    ctx: Ctx,
    base: str,
    classes: str,
    title: str,
    status: str,
    *,
    link: str | None = None,
    thumb: str | None = None,
    description: str = "",
) -> str:
    out = ctx.div("media_wrap clearfix")
    if link is None:
        out += ctx.div("media clearfix pull_left " + classes)
    else:
        out += ctx.push("a", {"class": "media clearfix pull_left block_link " + classes, "href": base + link})
    if thumb is None:
        out += ctx.div("fill pull_left") + ctx.pop()
    else:
        out += ctx.push("img", {"class": "thumb pull_left", "src": base + thumb}, empty=True)
    out += ctx.div("body") + ctx.div("title bold") + serialize(title) + ctx.pop()
    if description:
        out += ctx.div("description") + serialize(description) + ctx.pop()
    out += ctx.div("status details") + serialize(status) + ctx.pop()
    return out + ctx.pop() + ctx.pop() + ctx.pop()


def html_media(ctx: Ctx, msg: Msg, base: str, prefix: str) -> str:
    path, thumb, _ = media_files(msg, prefix)
    kind = msg.media
    if kind == "missing_photo":
        return _generic(ctx, base, "media_photo", "Photo", "320x240, 10.0 KB", description=NOT_INCLUDED_HTML)
    if path is None:
        return ""
    if kind == "video_message":
        return _generic(ctx, base, "media_video", "Video message", "0:01", link=path, thumb=thumb)
    if kind == "file":
        return _generic(ctx, base, "media_file", path.rsplit("/", 1)[-1], "1.2 KB", link=path)
    wrap = {
        "photo": "photo_wrap",
        "video_file": "video_file_wrap",
        "animation": "animated_wrap",
        "sticker": "sticker_wrap",
    }[kind or ""]
    out = ctx.div("media_wrap clearfix") + ctx.push(
        "a", {"class": f"{wrap} clearfix pull_left", "href": base + path}
    )
    if kind == "video_file":
        out += ctx.div("video_play_bg") + ctx.div("video_play") + ctx.pop() + ctx.pop()
        out += ctx.div("video_duration") + "0:01" + ctx.pop()
    elif kind == "animation":
        out += ctx.div("video_play_bg") + ctx.div("gif_play") + "GIF" + ctx.pop() + ctx.pop()
    img_class = {"photo": "photo", "video_file": "video_file", "animation": "animated", "sticker": "sticker"}[
        kind or ""
    ]
    out += ctx.push(
        "img",
        {"class": img_class, "src": base + (thumb or ""), "style": "width: 48px; height: 36px"},
        empty=True,
    )
    return out + ctx.pop() + ctx.pop()


def _needs_wrap(msg: Msg, prev: Msg | None) -> bool:
    if prev is None or prev.service is not None:
        return True
    if prev.sender_id != msg.sender_id:
        return True
    if datetime.fromtimestamp(prev.date, TZ).date() != datetime.fromtimestamp(msg.date, TZ).date():
        return True
    if (
        (prev.forwarded_from is None) != (msg.forwarded_from is None)
        or prev.forwarded_from_id != msg.forwarded_from_id
        or prev.forwarded_from != msg.forwarded_from
    ):
        return True
    return abs(msg.date - prev.date) > (1 if msg.forwarded_from is not None else 900)


def _forward_needs_wrap(msg: Msg, prev: Msg | None) -> bool:
    if _needs_wrap(msg, prev) or prev is None:
        return True
    if not msg.forwarded_from_id or msg.forwarded_from_id != prev.forwarded_from_id:
        return True
    return abs(msg.forwarded_date - prev.forwarded_date) > 900


def _link(target: int, last_ids: list[int], text: str) -> str:
    for index, last in enumerate(last_ids):
        if target <= last:
            page = "messages.html" if index == 0 else f"messages{index + 1}.html"
            return f'<a href="{page}#go_to_message{target}">{text}</a>'
    return f'<a href="#go_to_message{target}" onclick="return GoToMessage({target})">{text}</a>'


def html_message(ctx: Ctx, msg: Msg, prev: Msg | None, base: str, prefix: str, last_ids: list[int]) -> str:
    if msg.service is not None:
        text = serialize(msg.sender) + " pinned " + _link(msg.reply_to or 0, last_ids, "this message")
        out = ctx.push("div", {"class": "message service", "id": f"message{msg.id}"})
        return out + ctx.div("body details") + text + ctx.pop() + ctx.pop()
    wrap = _needs_wrap(msg, prev)
    cls = "message default clearfix" if wrap else "message default clearfix joined"
    out = ctx.push("div", {"class": cls, "id": f"message{msg.id}"})
    if wrap:
        out += ctx.div("pull_left userpic_wrap") + _userpic(ctx, msg.sender) + ctx.pop()
    out += ctx.div("body")
    out += ctx.push("div", {"class": "pull_right date details", "title": html_time(msg.date)})
    out += datetime.fromtimestamp(msg.date, TZ).strftime("%H:%M") + ctx.pop()
    if wrap:
        out += ctx.div("from_name") + serialize(_compose(msg.sender)) + ctx.pop()
    if msg.forwarded_from is not None:
        fwrap = _forward_needs_wrap(msg, prev)
        if fwrap:
            out += ctx.div("pull_left forwarded userpic_wrap") + _userpic(ctx, msg.forwarded_from) + ctx.pop()
        out += ctx.div("forwarded body")
        if fwrap:
            out += ctx.div("from_name") + serialize(_compose(msg.forwarded_from))
            out += ctx.push(
                "span", {"class": "date details", "title": html_time(msg.forwarded_date)}, inline=True
            )
            out += " " + html_time(msg.forwarded_date, zone=False) + ctx.pop() + ctx.pop()
    if msg.reply_to is not None:
        out += ctx.div("reply_to details") + "In reply to " + _link(msg.reply_to, last_ids, "this message")
        out += ctx.pop()
    out += html_media(ctx, msg, base, prefix)
    text = html_text(msg.text)
    if text:
        out += ctx.div("text") + text + ctx.pop()
    if msg.forwarded_from is not None:
        out += ctx.pop()
    return out + ctx.pop() + ctx.pop()


def _start(ctx: Ctx, base: str) -> str:
    out = "<!DOCTYPE html>" + ctx.push("html") + ctx.push("head")
    out += ctx.push("meta", {"charset": "utf-8"}, empty=True)
    out += ctx.push("title", inline=True) + "Exported Data" + ctx.pop()
    out += ctx.push(
        "meta", {"name": "viewport", "content": "width=device-width, initial-scale=1.0"}, empty=True
    )
    out += ctx.push("link", {"href": base + "css/style.css", "rel": "stylesheet"}, empty=True)
    out += ctx.push("script", {"src": base + "js/script.js", "type": "text/javascript"}) + ctx.pop()
    out += ctx.pop() + ctx.push("body", {"onload": "CheckLocation();"}) + ctx.div("page_wrap")
    return out


def _header(ctx: Ctx, title: str, back: str | None) -> str:
    out = ctx.div("page_header")
    if back is None:
        out += ctx.div("content")
    else:
        out += ctx.push("a", {"class": "content block_link", "href": back, "onclick": "return GoBack(this)"})
    return out + ctx.div("text bold") + serialize(title) + ctx.pop() + ctx.pop() + ctx.pop()


def _date_text(date: int) -> str:
    d = datetime.fromtimestamp(date, TZ)
    return f"{d.day} {d.strftime('%B')} {d.year}"


def write_chat_pages(root: Path, chat: Chat, folder: str, *, account: bool) -> None:
    base = "../../" if account else ""
    prefix = folder
    pages: list[str] = []
    ctx = Ctx()
    out = ""
    date_id = 0
    last_ids: list[int] = []
    prev: Msg | None = None
    for count, msg in enumerate(chat.messages):
        index = count // PER_PAGE
        if count % PER_PAGE == 0:
            if count:
                next_name = f"messages{index + 1}.html"
                out += ctx.push("a", {"class": "pagination block_link", "href": next_name}) + "Next messages"
                out += ctx.pop() + ctx.close()
                pages.append(out)
                last_ids.append(chat.messages[count - 1].id)
                prev = None
            ctx = Ctx()
            out = _start(ctx, base) + _header(
                ctx, _compose(chat.name), "../../lists/chats.html" if account else None
            )
            out += ctx.div("page_body chat_page") + ctx.div("history")
            if index:
                previous = "messages.html" if index == 1 else f"messages{index}.html"
                out += (
                    ctx.push("a", {"class": "pagination block_link", "href": previous}) + "Previous messages"
                )
                out += ctx.pop()
        if (
            prev is None
            or datetime.fromtimestamp(prev.date, TZ).date() != datetime.fromtimestamp(msg.date, TZ).date()
        ):
            date_id -= 1
            out += ctx.push("div", {"class": "message service", "id": f"message{date_id}"})
            out += ctx.div("body details") + _date_text(msg.date) + ctx.pop() + ctx.pop()
        out += html_message(ctx, msg, prev, base, prefix, last_ids)
        prev = msg
    pages.append(out + ctx.close())
    for index, page in enumerate(pages):
        name = "messages.html" if index == 0 else f"messages{index + 1}.html"
        _write(root, f"{folder}{name}", page.encode())
    for msg in chat.messages:
        path, thumb, data = media_files(msg, prefix)
        if path is not None:
            _write(root, path, data)
        if thumb is not None:
            _write(root, thumb, image_bytes(msg.id + 50_000, "JPEG"))


def write_html(root: Path, chats: list[Chat], *, account: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel in ("css/style.css", "js/script.js"):
        _write(root, rel, b"/* tdesktop export asset */\n")
    for rel in ("images/back.png", "images/media_photo.png", "images/media_photo@2x.png"):
        _write(root, rel, image_bytes(7, "PNG"))
    if not account:
        write_chat_pages(root, chats[0], "", account=False)
        return root
    ctx = Ctx()
    summary = _start(ctx, "") + _header(ctx, "Exported Data", None) + ctx.div("page_body")
    summary += ctx.push("a", {"class": "section block_link chats", "href": "lists/chats.html#allow_back"})
    summary += ctx.div("counter details") + str(len(chats)) + ctx.pop() + ctx.div("label bold") + "Chats"
    summary += ctx.pop() + ctx.pop() + ctx.close()
    _write(root, "export_results.html", summary.encode())
    ctx = Ctx()
    listing = (
        _start(ctx, "../") + _header(ctx, "Chats", "../export_results.html") + ctx.div("page_body list_page")
    )
    listing += ctx.div("page_about details") + "This page lists all chats from this export." + ctx.pop()
    listing += ctx.div("entry_list")
    for index, chat in enumerate(chats):
        folder = f"chats/chat_{index + 1:03d}/"
        write_chat_pages(root, chat, folder, account=True)
        listing += ctx.push(
            "a", {"class": "entry block_link clearfix", "href": f"../{folder}messages.html#allow_back"}
        )
        listing += ctx.div("pull_left userpic_wrap") + _userpic(ctx, chat.name) + ctx.pop() + ctx.div("body")
        listing += ctx.div("pull_right info details") + chat.html_type + ctx.pop()
        listing += ctx.div("name bold") + serialize(_compose(chat.name)) + ctx.pop()
        listing += ctx.div("details_entry details") + f"{len(chat.messages)} messages" + ctx.pop()
        listing += ctx.pop() + ctx.pop()
    _write(root, "lists/chats.html", (listing + ctx.close()).encode())
    # The profile pictures list shows a thumbnail tdesktop made of each picture (the JSON export has none).
    _write(root, PROFILE_PHOTO, image_bytes(77, "JPEG"))
    _write(root, PROFILE_PHOTO[:-4] + "_thumb.jpg", image_bytes(78, "JPEG"))
    ctx = Ctx()
    pics = _start(ctx, "../") + _header(ctx, "Profile pictures", "../export_results.html")
    pics += ctx.div("page_body list_page") + ctx.div("entry_list") + ctx.div("entry clearfix")
    pics += ctx.div("pull_left userpic_wrap")
    pics += ctx.push(
        "img", {"class": "userpic", "src": "../" + PROFILE_PHOTO[:-4] + "_thumb.jpg"}, empty=True
    )
    pics += ctx.pop() + ctx.close()
    _write(root, "lists/profile_pictures.html", pics.encode())
    return root


# --- the shared description ------------------------------------------------------------------------------

START = int(datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp())


def sample_chats() -> list[Chat]:
    """Two chats: a group of 1,050 messages (two HTML pages) and a channel, with every feature above."""
    rtl = "שלום عالم"
    group = Chat("Kim Min-ji", "private_supergroup", "group", 1_500_000_001)
    msgs = group.messages
    msgs.append(Msg(1, START, "Alice", "user111", "hello <b>not bold</b> & 'quotes' \"double\" 😀"))
    msgs.append(Msg(2, START + 60, "Alice", "user111", "joined: same sender, a minute later", media="photo"))
    msgs.append(
        Msg(
            3,
            START + 120,
            "Bob Lee",
            "user222",
            ["see ", ("bold", "this"), " & ", ("text_link", "link", "https://example.org/?a=1&b=2")],
            media="video_file",
            reply_to=2,
        )
    )
    msgs.append(Msg(4, START + 180, "Bob Lee", "user222", f"line one\nline two {rtl}", media="sticker"))
    msgs.append(Msg(5, START + 240, "Alice", "user111", service="pin", reply_to=2))
    msgs.append(
        Msg(
            6,
            START + 300,
            "Alice",
            "user111",
            "forwarded",
            media="photo",
            forwarded_from="Carol Park",
            forwarded_from_id="user333",
            forwarded_date=START - 3600,
        )
    )
    msgs.append(
        Msg(
            7,
            START + 301,
            "Alice",
            "user111",
            "",
            media="animation",
            forwarded_from="Carol Park",
            forwarded_from_id="user333",
            forwarded_date=START - 3500,
        )
    )
    msgs.append(
        Msg(8, START + 400, "Alice", "user111", "<script>alert(1)</script> &amp; &lt;", media="missing_photo")
    )
    msgs.append(Msg(9, START + 500, "Dan", "user444", "", media="video_message"))
    msgs.append(Msg(10, START + 86_400, "Dan", "user444", "next day, new date block", media="file"))
    for i in range(11, 1041):
        msgs.append(
            Msg(
                i,
                START + 90_000 + i * 30,
                "Bob Lee" if i % 3 else "Alice",
                "user222" if i % 3 else "user111",
                f"chatter {i}",
            )
        )
    msgs.append(
        Msg(
            1041,
            START + 200_000,
            "Erin",
            "user555",
            "on page two, replying to page one",
            media="photo",
            reply_to=3,
        )
    )
    msgs.append(Msg(1042, START + 200_010, "Erin", "user555", "joined on page two", media="photo"))
    channel = Chat("News & <Views>", "public_channel", "channel", 1_500_000_002)
    channel.messages.append(
        Msg(1, START + 1000, "News & <Views>", "channel1500000002", "post one", media="photo")
    )
    channel.messages.append(Msg(2, START + 1100, "News & <Views>", "channel1500000002", rtl, media="photo"))
    return [group, channel]


# --- a real JSON export, re-told --------------------------------------------------------------------------


def _text_parts(value: Any) -> Text:
    if isinstance(value, str):
        return value
    parts: list[str | tuple[str, str] | tuple[str, str, str]] = []
    for item in value:
        if isinstance(item, str):
            parts.append(item)
        elif item.get("type") == "text_link":
            parts.append(("text_link", item["text"], item.get("href", "")))
        else:
            parts.append((item.get("type", "plain"), item["text"]))
    return parts


_REAL_KINDS = {
    "sticker": "sticker",
    "animation": "animation",
    "video_file": "video_file",
    "video_message": "video_message",
}


def chat_from_json(doc: dict[str, Any]) -> Chat:
    """A real single-chat result.json (with date_unixtime) as a description: the same messages, texts,
    senders, replies and media paths, to be written again as both formats."""
    chat = Chat(doc.get("name") or "", doc.get("type") or "", "group", int(doc.get("id") or 0))
    for m in doc["messages"]:
        date = int(m["date_unixtime"])
        sender = m.get("from") or m.get("actor") or ""
        sender_id = str(m.get("from_id") or m.get("actor_id") or "")
        if m.get("type") != "message":
            chat.messages.append(
                Msg(m["id"], date, sender, sender_id, service="pin", reply_to=m.get("message_id"))
            )
            continue
        media, path = None, None
        if isinstance(m.get("photo"), str):
            media, path = "photo", m["photo"]
        elif isinstance(m.get("file"), str):
            media, path = _REAL_KINDS.get(m.get("media_type") or "", "file"), m["file"]
        chat.messages.append(
            Msg(
                m["id"],
                date,
                sender,
                sender_id,
                _text_parts(m.get("text", "")),
                forwarded_from=m.get("forwarded_from"),
                reply_to=m.get("reply_to_message_id"),
                media=media,
                path=path,
            )
        )
    return chat
