"""Field-level encryption (store.fields): the column types, their per-workspace keys, and the upgrade of a
workspace written before it (schema 0013, every word in plaintext) without losing anything."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select, text

from reclaim import events
from reclaim.demo import build_sample_export
from reclaim.matching.queries import list_matches
from reclaim.persons.service import add_person
from reclaim.review import review_match
from reclaim.scan.service import scan_paths
from reclaim.store import fields
from reclaim.store.db import alembic_config, make_engine
from reclaim.store.fields import FieldKeyMissing, bind_key, encrypted_columns, seal, unseal
from reclaim.store.models import Base, EncryptionPass, Person, Sighting
from reclaim.workspace import DB_FILE, Workspace
from tests.conftest import PASSPHRASE

NAME = "Legacy Person-Needle 김지연"
NOTE = "legacy-note-needle: from her graduation album"
CONSENT = "legacy-consent-needle: signed form on file"
PG_URL = os.environ.get("RECLAIM_TEST_PG_URL", "")


def snapshot(ws: Workspace) -> dict[str, dict[Any, Any]]:
    """Every encrypted column's values by row id, read through the models (decrypted)."""
    out: dict[str, dict[Any, Any]] = {}
    with ws.engine.connect() as conn:
        for table, pk, column, _ in encrypted_columns(Base.metadata):
            t = Base.metadata.tables[table]
            out[f"{table}.{column}"] = {row[0]: row[1] for row in conn.execute(select(t.c[pk], t.c[column]))}
    return out


def as_before_0016(mp: pytest.MonkeyPatch) -> None:
    """Events as reclaim wrote them before the tool and host were recorded (schema 0013 has no columns for
    them, so a legacy log made by downgrading must not hold them in its hashes)."""
    mp.setattr(events, "TOOL", None)
    mp.setattr(events, "current_host", lambda: "")


def filled(root: Path, material: Path) -> Workspace:
    sample = build_sample_export(material)
    ws = Workspace.create(root, PASSPHRASE)
    with ws.session() as s:
        person = add_person(
            s,
            ws.key,
            name=NAME,
            photos=sample.enrol_photos,
            known_images=[sample.known_image],
            consent=CONSENT,
        )
    scan_paths(ws, [sample.root], workers=1)
    with ws.session() as s:
        for m in list_matches(s, person_id=person.person_id):
            review_match(s, match_id=m["match_id"], decision="confirmed", note=NOTE)
    return ws


def make_legacy(ws: Workspace) -> None:
    """Turn ``ws`` into what reclaim wrote before field encryption: every value in plaintext, schema 0013."""
    with ws.engine.begin() as conn:
        for table, pk, column, as_json in encrypted_columns(Base.metadata):
            t = sa.table(table, sa.column(pk), sa.column(column, sa.JSON() if as_json else sa.Text()))
            field = f"{table}.{column}"
            for row_id, stored in conn.execute(select(t.c[pk], t.c[column]).where(t.c[column].is_not(None))):
                if stored is None:
                    continue
                plain = unseal(ws.key, field, stored)
                value = json.loads(plain) if as_json else plain
                conn.execute(sa.update(t).where(t.c[pk] == row_id).values({column: value}))
        conn.execute(sa.delete(EncryptionPass.__table__))
    cfg = alembic_config(str(ws.engine.url))
    with ws.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0013")
    ws.close()


def db_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.glob(f"{DB_FILE}*"))


@pytest.fixture
def legacy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, dict[Any, Any]]]:
    with monkeypatch.context() as mp:
        as_before_0016(mp)
        ws = filled(tmp_path / "ws", tmp_path / "export")
    before = snapshot(ws)
    make_legacy(ws)
    raw = db_bytes(tmp_path / "ws")
    assert NAME.encode() in raw and NOTE.encode() in raw, "the legacy workspace holds plaintext"
    with sa.create_engine(f"sqlite:///{tmp_path / 'ws' / DB_FILE}").connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0013"
    return tmp_path / "ws", before


def pg_rows_text(url: str) -> str:
    """Every row of every table of a PostgreSQL database, as text."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return "\n".join(
                row
                for table in sa.inspect(conn).get_table_names()
                for row in conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()
            )
    finally:
        engine.dispose()


def test_a_legacy_postgresql_workspace_is_encrypted_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not PG_URL:
        pytest.skip("RECLAIM_TEST_PG_URL is not set (CI starts PostgreSQL and sets it)")
    from tests.server.conftest import _pg_database

    databases = _pg_database()
    url = next(databases)
    try:
        sample = build_sample_export(tmp_path / "export")
        with monkeypatch.context() as mp:
            as_before_0016(mp)
            ws = Workspace.create(tmp_path / "ws", PASSPHRASE, database_url=url)
            with ws.session() as s:
                person = add_person(s, ws.key, name=NAME, photos=sample.enrol_photos, consent=CONSENT)
            scan_paths(ws, [sample.root], workers=1)
            with ws.session() as s:
                for m in list_matches(s, person_id=person.person_id):
                    review_match(s, match_id=m["match_id"], decision="confirmed", note=NOTE)
            before = snapshot(ws)
            make_legacy(ws)
        rows = pg_rows_text(url)
        assert NAME in rows and NOTE in rows and "0013" in rows, "a legacy (plaintext, 0013) database"
        ws = Workspace.open(tmp_path / "ws", PASSPHRASE)
        try:
            assert snapshot(ws) == before
            assert ws.verify_custody() == []
        finally:
            ws.close()
        rows = pg_rows_text(url)
        for needle in (NAME, NOTE, CONSENT, "Room A", "uploader_77", "photo_1.jpg"):
            assert needle not in rows and json.dumps(needle)[1:-1] not in rows, needle
    finally:
        for _ in databases:
            pass


def test_a_legacy_workspace_is_encrypted_on_open_without_losing_anything(
    legacy: tuple[Path, dict[str, dict[Any, Any]]],
) -> None:
    root, before = legacy
    assert sum(len(v) for v in before.values()) > 50
    ws = Workspace.open(root, PASSPHRASE)
    try:
        assert snapshot(ws) == before, "every value reads back exactly as before"
        assert ws.verify_custody() == []
        with ws.session() as s:
            assert [p.name for p in s.scalars(select(Person))] == [NAME]
            assert s.scalar(select(EncryptionPass.name)) == fields.PASS_NAME
        assert fields.encrypt_plaintext_fields(ws.engine, ws.key, Base.metadata) == 0, "done once"
    finally:
        ws.close()
    raw = db_bytes(root)
    for needle in (NAME, NOTE, CONSENT, "Room A", "uploader_77", "photo_1.jpg"):
        assert needle.encode() not in raw and json.dumps(needle)[1:-1].encode() not in raw, needle


def test_a_crash_during_the_upgrade_changes_nothing(
    legacy: tuple[Path, dict[str, dict[Any, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, before = legacy
    calls = {"n": 0}
    real_seal = fields.seal

    def failing_seal(*args: Any) -> str:
        calls["n"] += 1
        if calls["n"] > 40:
            raise OSError("power cut")
        return real_seal(*args)

    monkeypatch.setattr(fields, "seal", failing_seal)
    with pytest.raises(OSError, match="power cut"):
        Workspace.open(root, PASSPHRASE)
    assert NAME.encode() in db_bytes(root), "rolled back: still the legacy plaintext"
    monkeypatch.setattr(fields, "seal", real_seal)
    ws = Workspace.open(root, PASSPHRASE)
    try:
        assert snapshot(ws) == before
    finally:
        ws.close()


def test_an_engine_without_the_key_refuses(workspace: Workspace, tmp_path: Path) -> None:
    with workspace.session() as s:
        s.add(Person(name="someone"))
        s.commit()
    other = make_engine(f"sqlite:///{workspace.root / DB_FILE}")
    try:
        with other.connect() as conn, pytest.raises(FieldKeyMissing):
            conn.execute(select(Person.name)).all()
    finally:
        other.dispose()


def test_each_workspace_reads_only_with_its_own_key(workspace: Workspace, tmp_path: Path) -> None:
    second = Workspace.create(tmp_path / "second", PASSPHRASE)
    try:
        with workspace.session() as s:
            s.add(Person(name="first's person"))
            s.commit()
        with second.session() as s:
            s.add(Person(name="second's person"))
            s.commit()
        with workspace.session() as s:
            assert s.scalars(select(Person.name)).all() == ["first's person"]
        with second.session() as s:
            assert s.scalars(select(Person.name)).all() == ["second's person"]
        # the first's ciphertext, planted in the second: its key does not open it
        with workspace.engine.connect() as conn:
            stolen = conn.scalar(text("SELECT name FROM persons"))
        with second.engine.begin() as conn:
            conn.execute(text("UPDATE persons SET name = :n"), {"n": stolen})
        with second.session() as s, pytest.raises(ValueError, match="authentication"):
            s.scalars(select(Person.name)).all()
    finally:
        second.close()


def test_a_value_moved_to_another_column_does_not_decrypt(workspace: Workspace) -> None:
    sealed = seal(workspace.key, "sightings.caption", "hello")
    assert unseal(workspace.key, "sightings.caption", sealed) == "hello"
    with pytest.raises(ValueError, match="authentication"):
        unseal(workspace.key, "sightings.chat_name", sealed)
    with pytest.raises(ValueError, match="not encrypted"):
        unseal(workspace.key, "sightings.caption", "hello")
    bind_key(workspace.engine, workspace.key)  # idempotent
    with workspace.session() as s:
        s.add(Sighting(dedupe_key="k", source="folder", source_key="x/y.jpg", caption="c"))
        s.commit()
    with workspace.engine.begin() as conn:
        conn.execute(text("UPDATE sightings SET caption = source_key"))
    with workspace.session() as s, pytest.raises(ValueError, match="authentication"):
        s.scalars(select(Sighting)).all()
