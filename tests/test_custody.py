"""The custody log: every change is a signed, hash-chained event; tampering of any kind is detected."""

from __future__ import annotations

import getpass
import itertools
import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim import __version__
from reclaim.cli import app
from reclaim.custody import NOT_RECORDED, Signer, event_hash, log_recorded_by
from reclaim.demo import build_sample_export
from reclaim.events import EventKind, log_event, subject
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.store.models import Event, utcnow
from reclaim.workspace import Workspace
from tests.conftest import PASSPHRASE


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    """A workspace whose log holds enrolment, scan, items and matches."""
    sample = build_sample_export(tmp_path / "export")
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            add_person(s, ws.key, name="P", photos=sample.enrol_photos, consent="c")
        scan_paths(ws, [sample.root / "chats" / "chat_001"], workers=1)
        assert ws.verify_custody() == []
    finally:
        ws.close()
    return tmp_path / "ws"


def problems(root: Path) -> list[str]:
    ws = Workspace.open(root, PASSPHRASE)
    try:
        return ws.verify_custody()
    finally:
        ws.close()


def sql(root: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(root / "reclaim.db") as conn:
        conn.execute(statement, args)


def test_every_change_is_in_the_chain(logged: Path) -> None:
    with sqlite3.connect(logged / "reclaim.db") as conn:
        rows = conn.execute("SELECT id, kind, prev_hash, hash, signature FROM events ORDER BY id").fetchall()
    kinds = [r[1] for r in rows]
    assert kinds[0] == "workspace.created"
    assert {"person.enrolled", "scan.started", "item.added", "match.created", "scan.finished"} <= set(kinds)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    for prev, cur in itertools.pairwise(rows):
        assert cur[2] == prev[3]
    assert all(len(r[4]) == 128 for r in rows)


@pytest.mark.parametrize(
    ("statement", "needle"),
    [
        # details are encrypted (store.fields): one moved to another event decrypts but does not fit it
        (
            "UPDATE events SET detail = (SELECT detail FROM events WHERE kind = 'scan.started') "
            "WHERE id = (SELECT min(id) FROM events WHERE kind = 'item.added')",
            "content",
        ),
        # and a changed ciphertext does not decrypt at all
        (
            "UPDATE events SET detail = substr(detail, 1, 40) || "
            "(CASE WHEN substr(detail, 41, 1) = 'A' THEN 'B' ELSE 'A' END) || substr(detail, 42) "
            "WHERE kind = 'item.added'",
            "fails authentication",
        ),
        ("UPDATE events SET actor = 'someone else' WHERE id = 3", "content"),
        ("UPDATE events SET host = 'another-machine' WHERE id = 3", "content"),
        ("UPDATE events SET tool = 'reclaim 9.9' WHERE id = 3", "content"),
        ("UPDATE events SET tool = NULL, host = NULL WHERE id = 3", "content"),
        ("UPDATE events SET at = '2020-01-01 00:00:00.000000' WHERE id = 2", "content"),
        ("UPDATE events SET kind = 'match.rejected' WHERE kind = 'match.created'", "content"),
        ("DELETE FROM events WHERE id = 4", "deleted, inserted or moved"),
        (
            "UPDATE events SET signature = (CASE WHEN substr(signature, 1, 1) = '0' THEN '1' ELSE '0' END)"
            " || substr(signature, 2) WHERE id = 5",
            "signature",
        ),
    ],
)
def test_tampering_is_detected(logged: Path, statement: str, needle: str) -> None:
    sql(logged, statement)
    found = problems(logged)
    assert found, statement
    assert any(needle in p for p in found), found


def test_reordering_is_detected(logged: Path) -> None:
    sql(logged, "UPDATE events SET id = -1 WHERE id = 3")
    sql(logged, "UPDATE events SET id = 3 WHERE id = 4")
    sql(logged, "UPDATE events SET id = 4 WHERE id = -1")
    assert any("does not follow" in p or "content" in p for p in problems(logged))


def test_inserted_event_forged_with_another_key_fails(logged: Path) -> None:
    with sqlite3.connect(logged / "reclaim.db") as conn:
        last_id, last_hash = conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        forger = Signer(Ed25519PrivateKey.generate())
        at = utcnow()
        digest = event_hash(seq=last_id + 1, at=at, actor="forger", kind="match.confirmed", subject=None,
                            detail=None, prev_hash=last_hash)  # fmt: skip
        conn.execute(
            "INSERT INTO events (id, at, actor, kind, subject, detail, prev_hash, hash, signature) "
            "VALUES (?, ?, 'forger', 'match.confirmed', NULL, NULL, ?, ?, ?)",
            (last_id + 1, at.strftime("%Y-%m-%d %H:%M:%S.%f"), last_hash, digest, forger.sign(digest)),
        )
    found = problems(logged)
    assert found == [
        f"event {last_id + 1} (match.confirmed): the signature is not valid for the workspace key"
    ]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("at", "not a time"),  # ValueError from the database's time conversion
        ("at", 1700000000),  # TypeError
        ("at", "9999-12-31 23:59:59.999999-05:00"),  # OverflowError: past year 9999 in UTC
        ("detail", "{not json"),  # JSONDecodeError
        ("detail", "[" * 5000 + "]" * 5000),  # RecursionError
        ("detail", b"\xd7\x00"),  # UnicodeDecodeError
        ("detail", "[1, 2]"),  # JSON, but not an object
        ("actor", b"someone"),  # a blob keeps its type in a text column (a number would become text)
        ("hash", b"\x00\xff"),  # bytes.fromhex(bytes): TypeError
        ("signature", b"\x01\x02"),
    ],
    ids=lambda v: str(v)[:24],
)
def test_a_field_of_another_type_is_a_problem_naming_the_event(
    logged: Path, column: str, value: object
) -> None:
    """Found by the custody_db fuzz target: SQLite keeps any value in any column, and each of these
    edits made ``reclaim custody verify`` crash (inputs in fuzz/regressions/custody_db/). Now the edited
    event is one problem naming it, and the rest of the log is still checked."""
    sql(logged, f"UPDATE events SET {column} = ? WHERE id = 3", value)
    sql(logged, "UPDATE events SET actor = 'someone else' WHERE id = 5")
    found = problems(logged)
    assert any(p.startswith("event 3 (") and "changed in the database" in p for p in found), found
    assert any(p.startswith("event 5 (") and "content" in p for p in found), found
    assert not any(p.startswith(("event 1 ", "event 2 ", "event 6 ")) for p in found), found


def test_cli_verify_names_an_unreadable_event(logged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
    sql(logged, "UPDATE events SET at = 'yesterday' WHERE id = 2")
    result = CliRunner().invoke(app, ["--workspace", str(logged), "custody", "verify", "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["intact"] is False
    assert out["problems"] == [
        "event 2 (person.enrolled): a stored field cannot be read (ValueError): changed in the database"
    ]


def test_every_event_names_tool_operator_and_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLAIM_HOSTNAME", "advocacy-laptop-3")
    monkeypatch.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("RECLAIM_ACTOR", raising=False)
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            log_event(s, EventKind.CASE_CREATED, subject=subject("case", "c1"), actor="user:advocate1")
            s.commit()
        with ws.session() as s:
            events = s.scalars(select(Event).order_by(Event.id)).all()
            assert [(e.tool, e.host) for e in events] == [(f"reclaim {__version__}", "advocacy-laptop-3")] * 2
            assert events[0].actor == f"local:{getpass.getuser()}" and events[1].actor == "user:advocate1"
            assert log_recorded_by(s) == {
                "tools": {f"reclaim {__version__}": 2},
                "operators": {f"local:{getpass.getuser()}": 1, "user:advocate1": 1},
                "machines": {"advocacy-laptop-3": 2},
            }
        assert ws.verify_custody() == []
    finally:
        ws.close()
    # an event written before tool and host were recorded (both NULL, hashed without them) still verifies
    with sqlite3.connect(tmp_path / "ws" / "reclaim.db") as conn:
        last_id, last_hash = conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    ws = Workspace.open(tmp_path / "ws", PASSPHRASE)
    try:
        at = utcnow()
        digest = event_hash(seq=last_id + 1, at=at, actor="local:old", kind="case.created", subject=None,
                            detail=None, prev_hash=last_hash)  # fmt: skip
        with sqlite3.connect(tmp_path / "ws" / "reclaim.db") as conn:
            conn.execute(
                "INSERT INTO events (id, at, actor, kind, subject, detail, prev_hash, hash, signature) "
                "VALUES (?, ?, 'local:old', 'case.created', NULL, NULL, ?, ?, ?)",
                (last_id + 1, at.strftime("%Y-%m-%d %H:%M:%S.%f"), last_hash, digest, ws.signer.sign(digest)),
            )
        assert ws.verify_custody() == []
        with ws.session() as s:
            assert log_recorded_by(s)["machines"] == {"advocacy-laptop-3": 2, NOT_RECORDED: 1}
    finally:
        ws.close()
    result = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "custody", "verify"])
    assert result.exit_code == 0, result.stderr
    shown = " ".join(result.stdout.split())
    assert f"tools: reclaim {__version__} (2), not recorded (1)" in shown
    assert "machines: advocacy-laptop-3 (2), not recorded (1)" in shown


def test_cli_verify(logged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()
    result = runner.invoke(app, ["--workspace", str(logged), "custody", "verify", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["intact"] is True
    sql(logged, "DELETE FROM events WHERE id = 2")
    result = runner.invoke(app, ["--workspace", str(logged), "custody", "verify"])
    assert result.exit_code == 1
    assert "event 3" in result.stderr


def test_private_key_is_encrypted_at_rest(logged: Path) -> None:
    doc = json.loads((logged / "signing_key.json").read_text())
    ws = Workspace.open(logged, PASSPHRASE)
    try:
        from cryptography.hazmat.primitives import serialization

        raw = ws.signer.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    finally:
        ws.close()
    assert raw.hex() not in json.dumps(doc)
    for path in logged.rglob("*"):
        if path.is_file():
            assert raw not in path.read_bytes(), path


def test_forgetting_a_person_erases_notes_and_keeps_the_chain_valid(tmp_path: Path) -> None:
    from sqlalchemy import select

    from reclaim.custody import ERASED
    from reclaim.persons.service import forget_person
    from reclaim.review.service import review_match
    from reclaim.store.models import Event, Match

    sample = build_sample_export(tmp_path / "export")
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            pid = add_person(s, ws.key, name="P", photos=sample.enrol_photos, consent="c").person_id
        scan_paths(ws, [sample.root / "chats" / "chat_001"], workers=1)
        note = "she recognised her school uniform"
        with ws.session() as s:
            match_id = s.scalars(select(Match.id)).first()
            assert match_id is not None
            review_match(s, match_id=match_id, decision="confirmed", note=note)
        with ws.session() as s:
            counts = forget_person(s, pid)
        assert counts["erased_log_values"] == 1
        assert ws.verify_custody() == []
        with ws.session() as s:
            confirmed = s.scalars(select(Event).where(Event.kind == "match.confirmed")).one()
            assert set(confirmed.detail["note"]) == {ERASED}
            assert s.scalars(select(Event.kind).order_by(Event.id.desc())).first() == "person.forgotten"
    finally:
        ws.close()
    for path in (tmp_path / "ws").rglob("*"):
        if path.is_file():
            assert note.encode() not in path.read_bytes(), path


def test_event_kinds_are_one_catalogue_of_distinct_names() -> None:
    """An enum silently aliases a repeated value: two kinds with one stored name would be one kind."""
    values = [k.value for k in EventKind.__members__.values()]
    assert len(values) == len(set(values)) == len(EventKind)
    assert all(v.count(".") == 1 and v == v.lower() for v in values)
    assert subject("match", 12) == "match:12"
