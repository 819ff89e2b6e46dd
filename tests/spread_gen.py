"""A whole-account Telegram Desktop JSON export with a known spread (issue 15's ground truth).

Three senders post one person's images (the astronaut's public-domain face pasted into scikit-image scenes,
see reclaim.demo) in four rooms; forwards go between rooms; a sender is renamed midway; an account is
deleted (``from`` null). A faceless picture is posted too and must not appear in the network. The fields
follow tdesktop's JSON writer: ``forwarded_from`` is a name (the original author's, or the channel's),
``reply_to_message_id`` a message id in the same chat, a channel's own posts come ``from`` the channel
(``from_id`` "channel<id>").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from reclaim.demo import face_crop, jpeg, paste_face, sample_picture

T0 = datetime(2026, 1, 10, tzinfo=UTC)
CHATS = {  # id: (name, type, folder)
    1001: ("Room One", "private_supergroup", "chat_001"),
    1002: ("Room Two", "public_supergroup", "chat_002"),
    1003: ("Room Three", "private_group", "chat_003"),
    1004: ("Leak Channel", "private_channel", "chat_004"),
}


def at(hour: int) -> datetime:
    return T0 + timedelta(hours=hour)


@dataclass(frozen=True)
class Post:
    hour: int
    chat: int
    message_id: int
    image: str  # P1, P2, P3 (the person's) or N (faceless)
    sender: str | None  # the name shown; None: deleted account
    sender_id: str
    forwarded_from: str | None = None
    reply_to: int | None = None


# The story, oldest first. "night owl" (user202) renames to "owl_2026" after hour 2; user203 is deleted.
POSTS = (
    Post(0, 1001, 10, "P1", "blue_fox", "user201"),
    Post(1, 1001, 11, "P2", "night owl", "user202"),
    Post(2, 1002, 20, "P1", "night owl", "user202", forwarded_from="blue_fox"),
    Post(3, 1004, 40, "P2", "Leak Channel", "channel1004"),
    Post(4, 1003, 30, "P3", None, "user203"),
    Post(5, 1002, 21, "P2", "owl_2026", "user202", forwarded_from="Leak Channel"),
    Post(6, 1002, 22, "P3", "blue_fox", "user201", reply_to=21),
    Post(7, 1003, 31, "P1", None, "user203", forwarded_from="owl_2026"),
    Post(8, 1001, 12, "N", "blue_fox", "user201"),
    Post(9, 1001, 13, "P3", "owl_2026", "user202"),
)


def images() -> dict[str, bytes]:
    return {
        "P1": jpeg(paste_face(sample_picture("coffee"), width=150, at=(0.5, 0.35)), 92),
        "P2": jpeg(paste_face(sample_picture("rocket"), width=110, at=(0.3, 0.3)), 90),
        "P3": jpeg(paste_face(sample_picture("chelsea"), width=130, at=(0.7, 0.2)), 90),
        "N": jpeg(Image.fromarray(sample_picture("camera")), 90),
    }


def enrol_photos(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "portrait.jpg"
    face_crop().resize((340, 370)).save(path, "JPEG", quality=95)
    return [path]


def write_export(root: Path, posts: tuple[Post, ...] = POSTS) -> dict[str, bytes]:
    """Write the export under ``root``; returns the image bytes by name."""
    pictures = images()
    chats: dict[int, list[dict[str, Any]]] = {cid: [] for cid in CHATS}
    for p in posts:
        folder = CHATS[p.chat][2]
        rel = f"chats/{folder}/photos/photo_{p.message_id}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(pictures[p.image])
        when = at(p.hour)
        msg: dict[str, Any] = {
            "id": p.message_id,
            "type": "message",
            "date": when.strftime("%Y-%m-%dT%H:%M:%S"),
            "date_unixtime": str(int(when.timestamp())),
            "from": p.sender,
            "from_id": p.sender_id,
        }
        if p.forwarded_from is not None:
            msg["forwarded_from"] = p.forwarded_from
        if p.reply_to is not None:
            msg["reply_to_message_id"] = p.reply_to
        msg.update({"photo": rel, "width": 512, "height": 400, "text": ""})
        chats[p.chat].append(msg)
    doc = {
        "about": "Here is the data you requested.",
        "chats": {
            "about": "",
            "list": [
                {"name": CHATS[cid][0], "type": CHATS[cid][1], "id": cid, "messages": msgs}
                for cid, msgs in chats.items()
            ],
        },
    }
    (root / "result.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return pictures


def write_html_export(root: Path, posts: tuple[Post, ...] = POSTS) -> dict[str, bytes]:
    """The same story as Telegram's HTML export (tdesktop's default): no chat or sender ids; a deleted
    account shows as "Deleted Account"."""
    from . import tg_export_gen as tg

    pictures = images()
    html_types = {"private_supergroup": "group", "public_supergroup": "group", "private_group": "group"}
    chats = {
        cid: tg.Chat(name, kind, html_types.get(kind, "channel"), cid)
        for cid, (name, kind, _) in CHATS.items()
    }
    for p in posts:
        rel = f"chats/{CHATS[p.chat][2]}/photos/photo_{p.message_id}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(pictures[p.image])
        chats[p.chat].messages.append(
            tg.Msg(
                p.message_id,
                int(at(p.hour).timestamp()),
                sender=p.sender or "Deleted Account",
                sender_id=p.sender_id,
                forwarded_from=p.forwarded_from,
                forwarded_date=int(at(p.hour).timestamp()) - 60,
                reply_to=p.reply_to,
                media="photo",
                path=rel,
            )
        )
    tg.write_html(root, list(chats.values()), account=True)
    return pictures
