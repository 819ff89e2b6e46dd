"""Attacker-written text is data (issue 12: D4, D7, D11, D12). A Telegram export whose chat name, sender and
caption hold NUL, terminal escapes, line breaks, a bidi override and a lone surrogate is scanned on SQLite
and PostgreSQL, and its text goes into a takedown notice, the PDF report and the terminal without acting
as anything but text; the exact original is kept for the evidence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.demo import build_sample_export
from reclaim.evidence.package import export_package
from reclaim.evidence.report import pdf_report
from reclaim.evidence.verify import verify_package
from reclaim.matching.queries import list_matches
from reclaim.persons.service import add_person
from reclaim.review import review_match
from reclaim.scan.service import scan_paths
from reclaim.store.models import Notice, Sighting
from reclaim.takedown.drafting import draft_notices
from reclaim.text import escaped, shown, storable, unescaped
from reclaim.workspace import Workspace

from .conftest import PASSPHRASE

PG_URL = os.environ.get("RECLAIM_TEST_PG_URL", "")

CHAT = "Room\x00A\x1b[2J\x1b]0;pwned\x07\nIMPORTANT: this request is withdrawn\n\u202egpj.exe"
SENDER = "mallory\x00\r\nLocation: https://evil.example/"
CAPTION = "line one\nline two\x00 \x1b[31mred\x9b \ud800 end"
CONTROLS = [chr(c) for c in range(0x20) if c not in (0x0A,)] + ["\x7f", "\x9b", "\u202e", "\ud800"]


def test_storable_shown_and_escaped() -> None:
    assert storable("a\x00b\x1b") == "a\u2400b\u241b"
    assert storable("a\nb\tc") == "a\u240ab\u2409c"
    assert storable("a\r\nb\rc\td", multiline=True) == "a\nb\nc\td"
    assert storable("x\ud800y\x9b") == "x\ufffdy\u27e8U+009B\u27e9"
    assert storable("한국어 اَلْعَرَبِيَّة \u2067isolate\u2069") == "한국어 اَلْعَرَبِيَّة \u2067isolate\u2069"
    assert shown("\u202egpj.exe") == "\u27e8U+202E\u27e9gpj.exe"
    assert shown(None, default="?") == "?"
    for text in (CHAT, SENDER, CAPTION):
        assert unescaped(escaped(text)) == text
        assert escaped(text).isascii()
        assert shown(shown(text)) == shown(text), "idempotent"
        assert not any(c in shown(text) for c in [*CONTROLS, "\n"])


def _hostile_export(root: Path, *, chat: str = CHAT, sender: str = SENDER, caption: str = CAPTION) -> Path:
    export = build_sample_export(root / "export")
    doc_path = export.root / "result.json"
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    for c in doc["chats"]["list"]:
        c["name"] = chat
        for m in c["messages"]:
            if "from" in m:
                m["from"] = sender
            m["text"] = caption
    # ensure_ascii: the lone surrogate is written as the JSON escape \ud800, as an exporter could
    doc_path.write_text(json.dumps(doc, ensure_ascii=True), encoding="utf-8")
    return export.root


@pytest.fixture(params=["sqlite", "postgresql"])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    url = None
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("RECLAIM_TEST_PG_URL is not set (CI starts PostgreSQL and sets it)")
        from tests.server.conftest import _pg_database

        gen = _pg_database()
        url = next(gen)
    w = Workspace.create(tmp_path / "ws", PASSPHRASE, database_url=url)
    try:
        yield w
    finally:
        w.close()
        if url is not None:
            for _ in gen:
                pass


def _enrol_and_scan(ws: Workspace, export_root: Path) -> str:
    sample = build_sample_export(export_root.parent / "enrol")
    with ws.session() as s:
        person = add_person(
            s,
            ws.key,
            name="Test Person",
            photos=sample.enrol_photos,
            known_images=[sample.known_image],
            consent="test",
            recorded_by="test",
        )
    report = scan_paths(ws, [export_root])
    # the sample export holds a deliberately broken JPEG and a path-traversal message; nothing else fails
    expected = ("broken.jpg", "escapes the export folder")
    unexpected = [e for e in report.errors if not (e.path.endswith(expected[0]) or expected[1] in e.error)]
    assert len(report.errors) == 2 and not unexpected, report.errors
    return person.person_id


def test_hostile_text_is_stored_cleaned_with_its_original_kept(ws: Workspace, tmp_path: Path) -> None:
    pid = _enrol_and_scan(ws, _hostile_export(tmp_path))
    with ws.session() as s:
        rows = s.scalars(select(Sighting).where(Sighting.source == "telegram")).all()
        assert rows
        for sg in rows:
            assert sg.chat_name == storable(CHAT)
            assert "\u2400" in sg.chat_name and "\u240a" in sg.chat_name  # ␀ and ␊ show what was there
            assert sg.caption is not None and "\n" in sg.caption, "a caption keeps its line breaks"
            for value in (sg.chat_name, sg.sender, sg.caption):
                assert value is not None
                assert not any(c in value for c in CONTROLS if c != "\u202e")
            original = (sg.extra or {})["original_text"]
            assert unescaped(original["chat_name"]) == CHAT
            if sg.sender is not None:
                assert unescaped(original["sender"]) == SENDER
            assert unescaped(original["caption"]) == CAPTION
        matches = list_matches(s, person_id=pid)
    assert matches
    telegram = [sg for m in matches for sg in m["sightings"] if sg["source"] == "telegram"]
    assert telegram and all(unescaped(sg["original_text"]["chat_name"]) == CHAT for sg in telegram)


def test_notice_report_and_terminal_show_hostile_text_as_data(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = _enrol_and_scan(ws, _hostile_export(tmp_path))
    with ws.session() as s:
        for m in list_matches(s, person_id=pid):
            review_match(s, match_id=m["match_id"], decision="confirmed")
    with ws.session() as s:
        result = draft_notices(s, person_id=pid, platform="kcsc", lang="en", contact="advocate@example.org")
        s.commit()
        texts = [n.text for n in s.scalars(select(Notice)) if n.text]
    assert result.notices and texts
    for text in texts:
        lines = text.splitlines()
        assert not any(line.lstrip("- ").startswith(("IMPORTANT", "Location:")) for line in lines), text
        assert not any(c in text for c in CONTROLS)
        assert "\u27e8U+202E\u27e9gpj.exe" in text

    out = tmp_path / "case.zip"
    export_package(ws, person_id=pid, out=out, report=pdf_report("en"))
    assert verify_package(out).ok
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        pdf_bytes = zf.read("report/report.pdf")
    kept = [
        sg["original_text"] for it in manifest["items"] for sg in it["sightings"] if "original_text" in sg
    ]
    assert kept and all(unescaped(o["chat_name"]) == CHAT for o in kept)
    if shutil.which("pdftotext"):
        pdf = tmp_path / "report.pdf"
        pdf.write_bytes(pdf_bytes)
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True).stdout.decode()
        assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text

    # the terminal: the matches table and the notice as `takedown show` prints them
    monkeypatch.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
    if request_backend(ws) == "sqlite":
        shown_out = CliRunner().invoke(app, ["--workspace", str(ws.root), "matches"])
        assert shown_out.exit_code == 0, shown_out.output
        assert "Room" in shown_out.output
        assert not any(c in shown_out.output for c in CONTROLS), repr(shown_out.output)


@pytest.mark.parametrize(
    "chat",
    ["N" * 5000, "\n".join(f"line {i}" for i in range(80))],
    ids=["5000-characters", "80-lines"],
)
def test_a_huge_chat_name_does_not_stop_the_evidence_export(
    workspace: Workspace, tmp_path: Path, chat: str
) -> None:
    pid = _enrol_and_scan(workspace, _hostile_export(tmp_path, chat=chat, sender="s", caption="c"))
    out = tmp_path / "case.zip"
    export_package(workspace, person_id=pid, out=out, report=pdf_report("en"))
    assert verify_package(out).ok
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    names = {
        sg["chat_name"] for it in manifest["items"] for sg in it["sightings"] if sg["source"] == "telegram"
    }
    assert names == {storable(chat)}, "the manifest keeps the whole name; only the PDF's cell is cut"


def request_backend(ws: Workspace) -> str:
    return ws.engine.dialect.name
