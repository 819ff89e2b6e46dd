"""Tests for the Telegram Desktop HTML export source: the same chats written as JSON and as HTML (by a
re-telling of tdesktop's writer, tests/tg_export_gen.py) give the same sightings."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.scan.service import scan_paths
from reclaim.sources import source_for
from reclaim.sources.base import EXPORT_FILE, Entry, EntryError, Skipped
from reclaim.sources.folder import FolderSource
from reclaim.sources.telegram import TelegramExportSource
from reclaim.sources.telegram_html import TelegramHtmlExportSource
from reclaim.store.models import Item, Sighting
from reclaim.workspace import Workspace
from tests.conftest import PASSPHRASE
from tests.tg_export_gen import (
    NOT_INCLUDED_JSON,
    PROFILE_PHOTO,
    chat_from_json,
    sample_chats,
    write_html,
    write_json,
)

Row = tuple[Any, ...]


def fields(entry: Entry) -> Row:
    s = entry.sighting
    return (
        s.source,
        s.chat_name,
        s.message_id,
        s.sender,
        s.posted_at,
        s.caption,
        s.forwarded_from,
        s.reply_to,
        s.media_type,
        s.path,
        entry.placeholder,
    )


def both(tmp_path: Path, *, account: bool) -> tuple[Path, Path]:
    chats = sample_chats() if account else sample_chats()[:1]
    return (
        write_json(tmp_path / "json", chats, account=account),
        write_html(tmp_path / "html", chats, account=account),
    )


def all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("account", [False, True], ids=["single-chat", "whole-account"])
def test_html_and_json_exports_give_identical_sightings(tmp_path: Path, account: bool) -> None:
    json_root, html_root = both(tmp_path, account=account)
    from_json = list(TelegramExportSource().entries(json_root))
    from_html = list(TelegramHtmlExportSource().entries(html_root))
    json_rows = sorted((fields(e) for e in from_json if isinstance(e, Entry)), key=repr)
    html_rows = sorted((fields(e) for e in from_html if isinstance(e, Entry)), key=repr)
    assert html_rows == json_rows
    assert len(html_rows) == (13 if account else 10)  # the account's profile picture: a plain file sighting
    assert not [e for e in from_html if isinstance(e, EntryError)]

    by_id = {
        (e.sighting.chat_name, e.sighting.message_id): e
        for e in from_html
        if isinstance(e, Entry) and e.sighting.source == "telegram"
    }
    group = "Kim Min-ji"
    # The pieces the HTML makes hard, checked one by one.
    assert by_id[(group, 2)].sighting.sender == "Alice"  # a joined message: the sender is carried over
    assert by_id[(group, 7)].sighting.forwarded_from == "Carol Park"  # a joined forward: carried too
    assert by_id[(group, 3)].sighting.caption == "see this & link"
    assert by_id[(group, 3)].sighting.reply_to == 2
    assert by_id[(group, 1041)].sighting.reply_to == 3  # a link to the previous page
    assert by_id[(group, 8)].sighting.caption == "<script>alert(1)</script> &amp; &lt;"
    assert by_id[(group, 8)].placeholder == NOT_INCLUDED_JSON and by_id[(group, 8)].file is None
    assert by_id[(group, 4)].sighting.caption == "line one\nline two שלום عالم"
    assert by_id[(group, 2)].sighting.posted_at == datetime(2026, 12, 3, 12, 1, tzinfo=UTC)
    assert by_id[(group, 2)].sighting.extra["date_local"] == "03.12.2026 21:01:00 UTC+09:00"
    assert {e.sighting.media_type for e in by_id.values()} >= {
        "photo",
        "video_file",
        "sticker",
        "animation",
        "video_message",
        "file",
    }
    chat_ids = {e.sighting.chat_id for e in by_id.values()}
    assert all(c is not None and c.startswith("html:") and len(c) == 21 for c in chat_ids)
    assert len(chat_ids) == (2 if account else 1)
    if account:
        assert {e.sighting.chat_type for e in by_id.values()} == {"group", "channel"}
        assert (
            by_id[("News & <Views>", 1)].sighting.path
            == "chats/chat_002/"
            + (by_id[("News & <Views>", 1)].sighting.path or "").split("chats/chat_002/", 1)[-1]
        )
    pages = {"messages.html", "messages2.html"}
    assert any(p.rsplit("/", 1)[-1] in pages for p in all_files(html_root))
    assert (html_root / ("chats/chat_001/" if account else "") / "messages2.html").is_file()

    # Every file of the HTML export is an entry's file or an export_file skip (pages, CSS, JS, icons,
    # thumbnails); nothing is a not-media skip.
    skips = [e for e in from_html if isinstance(e, Skipped)]
    assert {s.reason for s in skips} == {EXPORT_FILE}
    used = {
        e.file.relative_to(html_root.resolve()).as_posix()
        for e in from_html
        if isinstance(e, Entry) and e.file
    }
    assert used | {s.path for s in skips} == all_files(html_root)
    assert {"css/style.css", "js/script.js", "images/back.png"} <= {s.path for s in skips}
    if account:
        assert ("file", None, None, None, None, None, None, None, None, PROFILE_PHOTO, None) in html_rows
        assert PROFILE_PHOTO[:-4] + "_thumb.jpg" in {s.path for s in skips}


def test_rescans_give_the_same_keys_and_chats_their_own(tmp_path: Path) -> None:
    _, html_root = both(tmp_path, account=True)

    def keys(root: Path) -> list[str]:
        out = TelegramHtmlExportSource().entries(root)
        return [e.sighting.key for e in out if isinstance(e, Entry) and e.sighting.source == "telegram"]

    first, again = keys(html_root), keys(html_root)
    assert first == again and len(set(first)) == len(first)
    # The same chat in another folder (a copy) keeps its keys: they depend on the chat, not the folder.
    copy = write_html(tmp_path / "copy", sample_chats(), account=True)
    assert keys(copy) == first


def test_scan_stores_identical_sightings_and_the_cli_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    json_root, html_root = both(tmp_path, account=True)
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        reports = [scan_paths(ws, [root], workers=1, faces=False) for root in (json_root, html_root)]
        rescan = scan_paths(ws, [html_root], workers=1, faces=False)
        with ws.session() as s:
            rows: list[set[Row]] = []
            for report in reports:
                sightings = s.scalars(select(Sighting).where(Sighting.scan_id == report.scan_id)).all()
                shas = {i.id: i.sha256 for i in s.scalars(select(Item))}
                rows.append(
                    {
                        (
                            x.source,
                            x.chat_name,
                            x.message_id,
                            x.sender,
                            x.posted_at,
                            x.caption,
                            x.forwarded_from,
                            x.reply_to,
                            x.media_type,
                            x.path,
                            x.placeholder,
                            shas.get(x.item_id or -1),
                        )
                        for x in sightings
                    }
                )
    finally:
        ws.close()
    assert rows[0] == rows[1]
    telegram_rows = {r for r in rows[1] if r[2] is not None}
    assert len(telegram_rows) == 12
    assert not reports[0].errors and not reports[1].errors
    assert reports[1].new_items == 0  # the same media, already stored by the JSON scan
    assert rescan.new_sightings == 0

    # ``reclaim scan --json`` of the HTML export in a fresh workspace: the same sightings and items.
    monkeypatch.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("RECLAIM_WORKSPACE", str(tmp_path / "cli-ws"))
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--json"]).exit_code == 0
    result = runner.invoke(app, ["scan", str(html_root), "--json", "--workers", "1"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["errors"] == []
    assert out["new_sightings"] == reports[0].new_sightings
    assert out["items"] == reports[0].items
    assert out["skipped"]["not_media"] == 0 and out["skipped"]["export_file"] > 0


def test_folder_holding_an_html_export_hands_it_over(tmp_path: Path) -> None:
    chats = sample_chats()[1:]
    write_html(tmp_path / "case" / "ChatExport_2026-12-04", chats, account=False)
    (tmp_path / "case" / "notes.txt").write_text("my notes")
    folder = tmp_path / "case"
    assert isinstance(source_for(folder), FolderSource)
    assert isinstance(source_for(folder / "ChatExport_2026-12-04"), TelegramHtmlExportSource)
    assert isinstance(
        source_for(folder / "ChatExport_2026-12-04" / "messages.html"), TelegramHtmlExportSource
    )
    out = list(FolderSource().entries(folder))
    entries = [e for e in out if isinstance(e, Entry)]
    assert [(e.sighting.source, e.sighting.message_id) for e in entries] == [("telegram", 1), ("telegram", 2)]
    assert all((e.sighting.path or "").startswith("ChatExport_2026-12-04/photos/") for e in entries)
    skips = {s.path: s.reason for s in out if isinstance(s, Skipped)}
    assert skips["notes.txt"] == "not_media"
    assert skips["ChatExport_2026-12-04/messages.html"] == EXPORT_FILE
    assert skips["ChatExport_2026-12-04/css/style.css"] == EXPORT_FILE


def test_a_chat_folder_of_an_account_export_scanned_alone(tmp_path: Path) -> None:
    """Its pages link up to the account root and back down (``../../chats/chat_002/photos/...``)."""
    html_root = write_html(tmp_path / "html", sample_chats(), account=True)
    chat = html_root / "chats" / "chat_002"
    out = list(source_for(chat).entries(chat))
    assert not [e for e in out if isinstance(e, EntryError)]
    paths = [e.sighting.path for e in out if isinstance(e, Entry)]
    assert len(paths) == 2 and all((p or "").startswith("photos/photo_") for p in paths)


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"/></head><body><div class="page_wrap">
<div class="page_header"><div class="content"><div class="text bold">
Test chat
</div></div></div>
<div class="page_body chat_page"><div class="history">
{messages}
</div></div></div></body></html>
"""


def message(mid: int, title: str, href: str = "photos/a.jpg", extra: str = "") -> str:
    return f"""<div class="message default clearfix" id="message{mid}"><div class="body">
<div class="pull_right date details" title="{title}">
12:00
</div>
<div class="from_name">
Alice
</div>{extra}
<div class="media_wrap clearfix"><a class="photo_wrap clearfix pull_left" href="{href}">
<img class="photo" src="photos/a_thumb.jpg"/></a></div>
</div></div>"""


def page_export(root: Path, *messages: str) -> Path:
    root.mkdir(parents=True)
    (root / "messages.html").write_text(PAGE.format(messages="\n".join(messages)), encoding="utf-8")
    (root / "photos").mkdir()
    (root / "photos" / "a.jpg").write_bytes(b"\xff\xd8\xff not really")
    return root


def test_times_from_the_title(tmp_path: Path) -> None:
    root = page_export(
        tmp_path / "e",
        message(1, "04.12.2026 21:15:03 UTC+09:00"),
        message(2, "04.12.2026 07:15:03 UTC-05:30"),
        message(3, "04.12.2026 12:15:03"),
        message(4, "04.12.2026 12:15:03 UTC"),
        message(5, "yesterday"),
        message(6, "31.02.2026 12:00:00 UTC+01:00"),
    )
    out = list(TelegramHtmlExportSource().entries(root))
    got = {e.sighting.message_id: e.sighting for e in out if isinstance(e, Entry)}
    assert got[1].posted_at == datetime(2026, 12, 4, 12, 15, 3, tzinfo=UTC)
    assert got[2].posted_at == datetime(2026, 12, 4, 12, 45, 3, tzinfo=UTC)
    assert got[3].posted_at is None and got[3].extra["date_local"] == "04.12.2026 12:15:03"
    assert got[4].posted_at == datetime(2026, 12, 4, 12, 15, 3, tzinfo=UTC)
    errors = {e.path: e.error for e in out if isinstance(e, EntryError)}
    assert set(errors) == {"messages.html#message 5", "messages.html#message 6"}
    assert "bad date 'yesterday'" in errors["messages.html#message 5"]
    assert all("Test chat" in e for e in errors.values())


def test_via_bot_and_reply_to_another_chat(tmp_path: Path) -> None:
    reply = '\n<div class="reply_to details">\nIn reply to a message in another chat\n</div>'
    root = page_export(tmp_path / "e", message(1, "04.12.2026 21:15:03 UTC+09:00", extra=reply))
    text = (root / "messages.html").read_text().replace("\nAlice\n", "\nAlice via @helper_bot\n")
    (root / "messages.html").write_text(text)
    [entry] = [e for e in TelegramHtmlExportSource().entries(root) if isinstance(e, Entry)]
    assert entry.sighting.sender == "Alice" and entry.sighting.extra["via_bot"] == "@helper_bot"
    assert entry.sighting.reply_to is None


def test_a_saved_web_page_named_messages_html_is_not_an_export(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "messages.html").write_text("<html><body><p>My saved web page</p></body></html>")
    assert not TelegramHtmlExportSource.detect(root)
    assert isinstance(source_for(root), FolderSource)
    assert [(s.path, s.reason) for s in FolderSource().entries(root)] == [("messages.html", "not_media")]


def test_a_page_without_history_is_named(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    (root / "messages.html").write_text(
        '<html><body><div class="page_wrap"><p>no history</p></div></body></html>'
    )
    assert TelegramHtmlExportSource.detect(root)
    errors = [e for e in TelegramHtmlExportSource().entries(root) if isinstance(e, EntryError)]
    assert [e.path for e in errors] == ["messages.html"]
    assert "not a Telegram Desktop export page" in errors[0].error


def test_an_export_in_both_formats_is_read_as_json_and_the_html_thumbnails_are_export_files(
    tmp_path: Path,
) -> None:
    chats = sample_chats()
    root = write_html(tmp_path / "both", chats, account=True)
    write_json(root, chats, account=True)
    assert isinstance(source_for(root), TelegramExportSource)
    out = list(source_for(root).entries(root))
    assert not [e for e in out if isinstance(e, EntryError)]
    entries = [e for e in out if isinstance(e, Entry)]
    assert {e.sighting.source for e in entries} == {"telegram", "file"}
    assert [e.sighting.path for e in entries if e.sighting.source == "file"] == [PROFILE_PHOTO]
    skips = {s.path for s in out if isinstance(s, Skipped)}
    assert {"chats/chat_001/messages2.html", "lists/chats.html", PROFILE_PHOTO[:-4] + "_thumb.jpg"} <= skips
    assert any(p.endswith("_thumb.jpg") and "/photos/" in p for p in skips)


def test_real_exports_retold_as_html_give_the_same_sightings(shared_data: Path, tmp_path: Path) -> None:
    """The real single-chat exports in ../shared/data (with date_unixtime), re-told as both formats with
    their own texts, entities, senders, replies and media files: the same sightings and the same errors
    (several of their media files are missing). tdesktop's HTML names an empty sender "Deleted Account"
    where JSON has null."""
    checked = 0
    for export in sorted((shared_data / "telegram_real").iterdir()):
        if not (export / "result.json").is_file():
            continue
        doc = json.loads((export / "result.json").read_text(encoding="utf-8"))
        if not all("date_unixtime" in m for m in doc["messages"]):
            continue
        chat = chat_from_json(doc)
        roots = [
            write_json(tmp_path / export.name / "json", [chat], account=False),
            write_html(tmp_path / export.name / "html", [chat], account=False),
        ]
        results = []
        for root, source in zip(roots, (TelegramExportSource(), TelegramHtmlExportSource()), strict=True):
            for sub in export.iterdir():
                if sub.is_dir():
                    shutil.copytree(sub, root / sub.name, dirs_exist_ok=True)
            out = list(source.entries(root))
            rows = sorted(
                (fields(e) for e in out if isinstance(e, Entry) and e.sighting.source == "telegram"), key=repr
            )
            results.append((rows, sorted(e.path for e in out if isinstance(e, EntryError))))
        (json_rows, json_errors), (html_rows, html_errors) = results
        json_rows = [(*r[:3], r[3] or "Deleted Account", *r[4:]) for r in json_rows]
        assert sorted(json_rows, key=repr) == html_rows, export.name
        assert json_errors == html_errors, export.name
        assert html_rows, export.name
        checked += 1
    assert checked >= 5
