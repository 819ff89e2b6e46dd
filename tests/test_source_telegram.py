"""Tests for the Telegram Desktop JSON export source."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from reclaim.sources.base import Entry, EntryError, SightingInfo, Skipped
from reclaim.sources.telegram import MISSING_PLACEHOLDER, TelegramExportSource

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
TOO_BIG = "(File exceeds maximum size. Change data exporting settings to download.)"
UNAVAILABLE = "(File unavailable, please try again later)"

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# --- helpers ------------------------------------------------------------------------------------------


def make_image(path: Path, color: tuple[int, int, int] = (200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)


def write_export(root: Path, data: Any, *, ascii_only: bool = False) -> Path:
    """Write result.json the way Telegram does (UTF-8, non-ASCII unescaped) unless ``ascii_only``, which
    is needed to carry a lone surrogate as a JSON ``\\u`` escape."""
    root.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=ascii_only, indent=1)
    (root / "result.json").write_text(text, encoding="utf-8")
    return root


def msg(mid: Any, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": mid,
        "type": "message",
        "date": "2024-03-01T10:00:00",
        "date_unixtime": "1709287200",
        "from": "Alice",
        "from_id": "user111",
        "text": "",
    }
    base.update(fields)
    return base


def run(path: Path) -> list[Entry | EntryError]:
    """The entries and errors (the export's own files, counted skips, are left out: see test_skips_*)."""
    return [e for e in TelegramExportSource().entries(path) if not isinstance(e, Skipped)]


def entries_of(items: list[Entry | EntryError]) -> list[Entry]:
    return [e for e in items if isinstance(e, Entry)]


def errors_of(items: list[Entry | EntryError]) -> list[EntryError]:
    return [e for e in items if isinstance(e, EntryError)]


POSTED = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


# --- detect -------------------------------------------------------------------------------------------


def test_detect(tmp_path: Path) -> None:
    export = write_export(
        tmp_path / "export", {"name": "x", "type": "personal_chat", "id": 1, "messages": []}
    )
    assert TelegramExportSource.detect(export)
    assert TelegramExportSource.detect(export / "result.json")
    assert not TelegramExportSource.detect(tmp_path)  # result.json is not directly inside
    other = tmp_path / "other.json"
    other.write_text("{}", encoding="utf-8")
    assert not TelegramExportSource.detect(other)
    assert not TelegramExportSource.detect(tmp_path / "missing")
    (tmp_path / "dir" / "result.json").mkdir(parents=True)  # a directory named result.json
    assert not TelegramExportSource.detect(tmp_path / "dir")


# --- single-chat export -------------------------------------------------------------------------------


def test_single_chat_fields(tmp_path: Path) -> None:
    root = tmp_path / "export"
    make_image(root / "photos" / "photo_1@01-03-2024_10-00-00.jpg")
    make_image(root / "stickers" / "sticker.webp")
    make_image(root / "files" / "scan.png")
    data = {
        "name": "Leak group",
        "type": "private_supergroup",
        "id": 1712691810,
        "messages": [
            {"id": 1, "type": "service", "date": "2024-03-01T09:00:00", "action": "create_group"},
            msg(2, text="just text, no media"),
            msg(
                3,
                photo="photos/photo_1@01-03-2024_10-00-00.jpg",
                width=8,
                height=8,
                text=["see ", {"type": "link", "text": "https://example.com"}, " now", {"type": "bold"}],
                forwarded_from="Some Channel",
                reply_to_message_id=2,
            ),
            msg(
                "4",
                file="stickers/sticker.webp",
                media_type="sticker",
                mime_type="image/webp",
                thumbnail="stickers/sticker.webp_thumb.jpg",
                **{"from": None, "from_id": 222},
            ),
            msg(5, file="files/scan.png", mime_type="image/png", text="a document"),
        ],
    }
    write_export(root, data)

    items = run(root)
    assert errors_of(items) == []
    got = entries_of(items)
    assert [e.sighting.key for e in got] == [
        "telegram|1712691810|3|photo",
        "telegram|1712691810|4|file",
        "telegram|1712691810|5|file",
    ]

    photo = got[0]
    assert photo.file == (root / "photos" / "photo_1@01-03-2024_10-00-00.jpg").resolve()
    assert photo.placeholder is None
    assert photo.sighting == SightingInfo(
        source="telegram",
        key="telegram|1712691810|3|photo",
        path="photos/photo_1@01-03-2024_10-00-00.jpg",
        chat_id="1712691810",
        chat_name="Leak group",
        chat_type="private_supergroup",
        message_id=3,
        sender="Alice",
        sender_id="user111",
        posted_at=POSTED,
        caption="see https://example.com now",
        forwarded_from="Some Channel",
        reply_to=2,
        media_type="photo",
        extra={},
    )
    assert photo.sighting.posted_at is not None
    assert photo.sighting.posted_at.utcoffset() is not None

    sticker = got[1]
    assert sticker.file == (root / "stickers" / "sticker.webp").resolve()
    assert sticker.sighting.message_id == 4  # "4" as a string is integer-like
    assert sticker.sighting.sender is None  # deleted account
    assert sticker.sighting.sender_id == "222"  # old exports write from_id as a number
    assert sticker.sighting.media_type == "sticker"
    assert sticker.sighting.caption is None
    assert sticker.sighting.extra == {"mime_type": "image/webp"}

    document = got[2]
    assert document.sighting.media_type == "file"  # no media_type: a plain file
    assert document.sighting.caption == "a document"
    assert document.sighting.path == "files/scan.png"
    assert document.sighting.extra == {"mime_type": "image/png"}

    # Passing result.json itself gives the same result.
    assert run(root / "result.json") == items
    # Rescanning gives the same keys in the same order.
    assert run(root) == items


def test_old_export_without_unixtime_keeps_local_date(tmp_path: Path) -> None:
    root = tmp_path / "export"
    make_image(root / "photos" / "p.jpg")
    m = msg(7, photo="photos/p.jpg", date="2022-08-03T00:00:51")
    del m["date_unixtime"]
    write_export(root, {"name": "Old", "type": "public_supergroup", "id": 99, "messages": [m]})

    (entry,) = run(root)
    assert isinstance(entry, Entry)
    assert entry.sighting.posted_at is None
    assert entry.sighting.extra == {"date_local": "2022-08-03T00:00:51"}


def test_placeholders(tmp_path: Path) -> None:
    root = tmp_path / "export"
    make_image(root / "(odd name).jpg")  # a real file whose name looks like a placeholder
    messages = [
        msg(1, file=NOT_INCLUDED, media_type="video_file", mime_type="video/mp4", thumbnail=NOT_INCLUDED),
        msg(2, photo=TOO_BIG),
        msg(3, file=UNAVAILABLE, media_type="animation"),
        msg(4, photo="(odd name).jpg"),
    ]
    write_export(root, {"name": "P", "type": "personal_chat", "id": 5, "messages": messages})

    items = run(root)
    assert errors_of(items) == []
    got = entries_of(items)
    assert [(e.sighting.key, e.file, e.placeholder, e.sighting.path, e.sighting.media_type) for e in got] == [
        ("telegram|5|1|file", None, NOT_INCLUDED, None, "video_file"),
        ("telegram|5|2|photo", None, TOO_BIG, None, "photo"),
        ("telegram|5|3|file", None, UNAVAILABLE, None, "animation"),
        ("telegram|5|4|photo", (root / "(odd name).jpg").resolve(), None, "(odd name).jpg", "photo"),
    ]
    assert got[0].sighting.extra == {"mime_type": "video/mp4"}
    assert got[0].sighting.posted_at == POSTED


def test_missing_media_file(tmp_path: Path) -> None:
    root = tmp_path / "export"
    write_export(
        root,
        {"name": "Chat A", "type": "personal_chat", "id": 5, "messages": [msg(9, photo="photos/gone.jpg")]},
    )

    items = run(root)
    assert len(items) == 2
    entry, error = items
    assert isinstance(entry, Entry)
    assert entry.file is None
    assert entry.placeholder == MISSING_PLACEHOLDER == "(media file missing from the export folder)"
    assert entry.sighting.key == "telegram|5|9|photo"
    assert entry.sighting.path == "photos/gone.jpg"
    assert error == EntryError(
        path="photos/gone.jpg", error="media file missing from the export folder (message 9 in chat 'Chat A')"
    )


def test_path_traversal_and_absolute_paths_refused(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "export"
    secret = tmp_path / "secret.jpg"
    make_image(secret)  # exists, outside the export: must never be handed out
    messages = [
        msg(1, photo="../../etc/passwd"),
        msg(2, file=str(secret), media_type="video_file"),
        msg(3, photo="../../secret.jpg"),
        msg(4, photo="photos/../../../secret.jpg"),
    ]
    write_export(root, {"name": "Evil", "type": "personal_chat", "id": 6, "messages": messages})

    items = run(root)
    assert entries_of(items) == []
    errors = errors_of(items)
    assert [e.path for e in errors] == [f"result.json#message {n}" for n in (1, 2, 3, 4)]
    assert "escapes the export folder" in errors[0].error
    assert "'../../etc/passwd'" in errors[0].error
    assert "message 1 in chat 'Evil'" in errors[0].error
    assert "absolute media path refused" in errors[1].error
    assert str(secret) in errors[1].error
    assert all("escapes the export folder" in e.error for e in errors[2:])


def test_symlink_out_of_export_refused(tmp_path: Path) -> None:
    root = tmp_path / "export"
    outside = tmp_path / "outside.jpg"
    make_image(outside)
    (root / "photos").mkdir(parents=True)
    (root / "photos" / "link.jpg").symlink_to(outside)
    write_export(
        root, {"name": "L", "type": "personal_chat", "id": 6, "messages": [msg(1, photo="photos/link.jpg")]}
    )

    (error,) = run(root)
    assert isinstance(error, EntryError)
    assert error.path == "result.json#message 1"
    assert "escapes the export folder" in error.error


def test_directory_as_media_path(tmp_path: Path) -> None:
    root = tmp_path / "export"
    (root / "photos").mkdir(parents=True)
    write_export(root, {"name": "D", "type": "personal_chat", "id": 6, "messages": [msg(1, photo="photos")]})

    (error,) = run(root)
    assert error == EntryError(
        path="result.json#message 1",
        error="media path 'photos' is a directory, not a file (message 1 in chat 'D')",
    )


def test_unusable_media_paths(tmp_path: Path) -> None:
    root = tmp_path / "export"
    root.mkdir()
    (root / "loop").symlink_to(root / "loop")
    messages = [msg(1, photo="a\x00b.jpg"), msg(2, photo="\ud800.jpg"), msg(3, photo="loop")]
    write_export(root, {"name": "U", "type": "personal_chat", "id": 6, "messages": messages}, ascii_only=True)

    items = run(root)
    assert entries_of(items) == []
    errors = errors_of(items)
    assert [e.path for e in errors] == [
        "result.json#message 1",
        "result.json#message 2",
        "result.json#message 3",
    ]
    assert errors[0].error == "empty or invalid media path: 'a\\x00b.jpg' (message 1 in chat 'U')"
    assert errors[1].error.startswith("unusable media path '\\ud800.jpg': ")
    assert errors[2].error.startswith("unusable media path 'loop': ")
    for error in errors:
        error.error.encode("utf-8")  # printable: no lone surrogates or raw NULs leak into messages
        assert "\x00" not in error.error


def test_malformed_messages_are_reported_and_skipped(tmp_path: Path) -> None:
    root = tmp_path / "export"
    make_image(root / "photos" / "ok.jpg")
    messages: list[Any] = [
        "not a message",
        msg("12a", photo="photos/ok.jpg"),
        msg(1.5, photo="photos/ok.jpg"),
        msg(True, photo="photos/ok.jpg"),
        {"type": "message", "photo": "photos/ok.jpg"},
        msg(20, photo=["photos/ok.jpg"]),
        msg(21, photo="photos/ok.jpg", date_unixtime="yesterday"),
        msg(22, photo="photos/ok.jpg", date_unixtime="99999999999999999"),
        msg(23, photo=""),
        msg(24, photo="photos/ok.jpg"),
        msg(24, photo="photos/ok.jpg"),  # duplicate id: same key, reported
        msg(25, photo="photos/ok.jpg"),
    ]
    write_export(root, {"name": "M", "type": "personal_chat", "id": 6, "messages": messages})

    items = run(root)
    assert [e.sighting.key for e in entries_of(items)] == ["telegram|6|24|photo", "telegram|6|25|photo"]
    errors = errors_of(items)
    assert [e.path for e in errors] == [
        "result.json#message index 0",
        "result.json#message index 1",
        "result.json#message index 2",
        "result.json#message index 3",
        "result.json#message index 4",
        "result.json#message 20",
        "result.json#message 21",
        "result.json#message 22",
        "result.json#message 23",
        "result.json#message 24",
    ]
    assert errors[0].error == "message is a JSON str, not an object (chat 'M')"
    assert errors[1].error == "message has no integer id (got '12a') (chat 'M')"
    assert errors[4].error == "message has no integer id (got None) (chat 'M')"
    assert errors[5].error == "'photo' is a JSON list, not a string (message 20 in chat 'M')"
    assert errors[6].error == "bad date_unixtime 'yesterday': not an integer (message 21 in chat 'M')"
    assert errors[7].error.startswith("bad date_unixtime '99999999999999999': ")
    assert "empty or invalid media path" in errors[8].error
    assert errors[9].error == "duplicate message id, skipped (message 24 in chat 'M')"


def test_message_with_non_integer_id(tmp_path: Path) -> None:
    root = tmp_path / "export"
    make_image(root / "photos" / "a.jpg")
    messages = [msg("abc", photo="photos/a.jpg"), msg(2, photo="photos/a.jpg")]
    write_export(root, {"name": "Chat", "type": "personal_chat", "id": 1, "messages": messages})

    items = run(root)
    assert items[0] == EntryError(
        path="result.json#message index 0", error="message has no integer id (got 'abc') (chat 'Chat')"
    )
    assert isinstance(items[1], Entry)
    assert items[1].sighting.message_id == 2
    assert len(items) == 2


# --- whole-account export -----------------------------------------------------------------------------


def test_whole_account_export(tmp_path: Path) -> None:
    root = tmp_path / "account"
    make_image(root / "chats" / "chat_001" / "photos" / "a.jpg")
    make_image(root / "chats" / "chat_002" / "video_files" / "clip.mp4_thumb.jpg")
    make_image(root / "chats" / "chat_003" / "photos" / "b.jpg")
    (root / "chats" / "chat_002" / "video_files" / "clip.mp4").write_bytes(b"not really a video")
    data = {
        "about": "Here is the data you requested.",
        "personal_information": {"first_name": "Me"},
        "chats": {
            "about": "This page lists all chats from this export.",
            "list": [
                {
                    "name": "Bob",
                    "type": "personal_chat",
                    "id": 4242,
                    "messages": [
                        msg(1, photo="chats/chat_001/photos/a.jpg", text="hi"),
                        # Same message id as in the next chat: keys differ by chat id.
                        msg(2, file=NOT_INCLUDED, media_type="video_message"),
                    ],
                },
                {
                    # A chat with no name and no type (e.g. a deleted account).
                    "id": -1001,
                    "messages": [
                        msg(
                            2,
                            file="chats/chat_002/video_files/clip.mp4",
                            thumbnail="chats/chat_002/video_files/clip.mp4_thumb.jpg",
                            media_type="video_file",
                            mime_type="video/mp4",
                        ),
                    ],
                },
                {"name": "No messages key", "type": "saved_messages", "id": 7},
                {"name": "Bad messages", "type": "personal_chat", "id": 8, "messages": {"oops": 1}},
                "not a chat",
            ],
        },
        "left_chats": {
            "about": "Chats you left.",
            "list": [
                {
                    "name": "Old group",
                    "type": "private_group",
                    "id": 555,
                    "messages": [msg(3, photo="chats/chat_003/photos/b.jpg")],
                }
            ],
        },
    }
    write_export(root, data)

    items = run(root)
    got = entries_of(items)
    assert [e.sighting.key for e in got] == [
        "telegram|4242|1|photo",
        "telegram|4242|2|file",
        "telegram|-1001|2|file",
        "telegram|555|3|photo",
    ]
    assert [(e.sighting.chat_name, e.sighting.chat_type) for e in got] == [
        ("Bob", "personal_chat"),
        ("Bob", "personal_chat"),
        (None, None),
        ("Old group", "private_group"),
    ]
    assert got[0].file == (root / "chats" / "chat_001" / "photos" / "a.jpg").resolve()
    assert got[0].sighting.path == "chats/chat_001/photos/a.jpg"
    assert got[0].sighting.caption == "hi"
    assert got[1].placeholder == NOT_INCLUDED
    assert got[1].sighting.media_type == "video_message"
    assert got[2].file == (root / "chats" / "chat_002" / "video_files" / "clip.mp4").resolve()
    assert got[2].sighting.chat_id == "-1001"
    assert got[2].sighting.extra == {"mime_type": "video/mp4"}
    assert got[3].sighting.chat_id == "555"

    assert errors_of(items) == [
        EntryError(path="result.json#chat index 3", error="'messages' of chat 'Bad messages' is not a list"),
        EntryError(path="result.json#chat index 4", error="chat is a JSON str, not an object"),
    ]


def test_chat_without_id_gets_positional_key(tmp_path: Path) -> None:
    root = tmp_path / "account"
    make_image(root / "a.jpg")
    data = {"chats": {"list": [{"messages": [msg(1, photo="a.jpg")]}, {"messages": [msg(1, photo="a.jpg")]}]}}
    write_export(root, data)

    items = run(root)
    assert [e.sighting.key for e in entries_of(items)] == [
        "telegram|chat#0|1|photo",
        "telegram|chat#1|1|photo",
    ]
    assert all(e.sighting.chat_id is None for e in entries_of(items))


# --- unusable result.json -----------------------------------------------------------------------------


def test_malformed_json(tmp_path: Path) -> None:
    root = tmp_path / "export"
    root.mkdir()
    (root / "result.json").write_text(
        '{\n "name": "x",\n "messages": [\n  {"id": 1,,}\n ]\n}\n', encoding="utf-8"
    )

    assert run(root) == [
        EntryError(
            path="result.json",
            error="malformed JSON at line 4 column 12: Expecting property name enclosed in double quotes",
        )
    ]


def test_non_utf8_result_json(tmp_path: Path) -> None:
    root = tmp_path / "export"
    root.mkdir()
    (root / "result.json").write_bytes(b'{"name": "caf\xe9", "messages": []}')

    assert run(root) == [
        EntryError(path="result.json", error="result.json is not valid UTF-8 (bad byte at offset 13)")
    ]


def test_wrong_top_level_type(tmp_path: Path) -> None:
    root = write_export(tmp_path / "export", [{"id": 1, "type": "message", "photo": "a.jpg"}])

    (error,) = run(root)
    assert isinstance(error, EntryError)
    assert error.path == "result.json"
    assert error.error.startswith("unexpected top-level JSON list")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x"}, "no 'messages' or 'chats' at the top level"),
        ({"messages": {"1": {}}}, "'messages' is not a list"),
        ({"chats": []}, "'chats' is not an object with a 'list' array"),
        (
            {"chats": {"list": []}, "left_chats": {"list": 3}},
            "'left_chats' is not an object with a 'list' array",
        ),
    ],
)
def test_wrong_top_level_shape(tmp_path: Path, data: Any, message: str) -> None:
    root = write_export(tmp_path / "export", data)

    (error,) = run(root)
    assert isinstance(error, EntryError)
    assert error.path == "result.json"
    assert error.error.startswith(message)


def test_missing_or_unreadable_result_json(tmp_path: Path) -> None:
    (error,) = run(tmp_path)
    assert isinstance(error, EntryError)
    assert error.path == "result.json"
    assert error.error.startswith("cannot read result.json")


# --- real exports -------------------------------------------------------------------------------------


def _real_exports() -> list[Path]:
    folder = SHARED_DATA / "telegram_real"
    if not folder.is_dir():
        pytest.skip("../shared/data not present")
    exports = sorted(p.parent for p in folder.glob("*/result.json"))
    assert len(exports) == 9
    return exports


def _check_real_export(export: Path) -> tuple[list[Entry], list[EntryError]]:
    raw = json.loads((export / "result.json").read_text(encoding="utf-8"))
    by_id = {m["id"]: m for m in raw["messages"]}
    items = run(export)
    everything, errors = entries_of(items), errors_of(items)
    root = export.resolve()
    # Files in the export folder that no message names (stickers, say) are scanned as plain files, so
    # nothing under a scanned path is lost; they carry no Telegram sighting.
    named = {m.get(f) for m in raw["messages"] for f in ("photo", "file", "thumbnail")}
    got = [e for e in everything if e.sighting.source == "telegram"]
    for entry in everything:
        if entry.sighting.source != "telegram":
            assert entry.sighting.source == "file" and entry.file is not None
            assert root in entry.file.resolve().parents
            assert entry.file.resolve().relative_to(root).as_posix() not in named
    for entry in got:
        s = entry.sighting
        assert s.source == "telegram"
        assert s.message_id is not None
        assert (
            s.key == f"telegram|{raw['id']}|{s.message_id}|{'photo' if s.media_type == 'photo' else 'file'}"
        )
        if entry.file is not None:
            assert entry.file.is_file()
            assert root in entry.file.parents
            assert entry.placeholder is None
        else:
            assert entry.placeholder
        message = by_id[s.message_id]
        if "date_unixtime" in message:
            assert s.posted_at is not None
            assert s.posted_at.utcoffset() is not None
            assert s.posted_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
            assert int(s.posted_at.timestamp()) == int(message["date_unixtime"])
            assert "date_local" not in s.extra
        else:
            assert s.posted_at is None
            assert s.extra["date_local"] == message["date"]
        if entry.placeholder == MISSING_PLACEHOLDER:
            assert any(e.path == s.path and f"message {s.message_id} " in e.error for e in errors)
    # Every media-bearing message produced exactly one entry per media field (nothing is lost silently).
    expected = sum(
        1 for m in raw["messages"] if m.get("type") == "message" for f in ("photo", "file") if f in m
    )
    assert len(got) + len([e for e in errors if e.path.startswith("result.json#")]) == expected
    return got, errors


def test_real_exports() -> None:
    exports = _real_exports()
    total = 0
    dated_local = 0
    for export in exports:
        got, errors = _check_real_export(export)
        # The real exports reference no file that is absent (only Telegram's own placeholders).
        assert errors == [], (export.name, errors)
        total += len(got)
        dated_local += sum(1 for e in got if "date_local" in e.sighting.extra)
    assert total > 0
    assert dated_local > 0  # the older exports are represented
    placeholders = [
        e
        for export in exports
        for e in entries_of(run(export))
        if e.placeholder and e.placeholder.startswith("(File")
    ]
    assert placeholders  # tdd-and-clean-architecture has "(File not included. ...)" videos


def test_real_export_with_a_deleted_media_file(tmp_path: Path) -> None:
    exports = _real_exports()
    source = next(p for p in exports if p.name == "coorporate-speak")
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    (copy / "stickers" / "sticker (1).webp").unlink()

    got, errors = _check_real_export(copy)
    missing = [e for e in got if e.placeholder == MISSING_PLACEHOLDER]
    assert [e.sighting.path for e in missing] == ["stickers/sticker (1).webp"]
    assert errors == [
        EntryError(
            path="stickers/sticker (1).webp",
            error=f"media file missing from the export folder (message {missing[0].sighting.message_id} "
            "in chat 'Teknologi Umum v2.0')",
        )
    ]
