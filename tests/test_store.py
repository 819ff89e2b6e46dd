"""Keyring, vault and workspace: encryption at rest, wrong passphrases, tampering, migrations."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from reclaim.errors import UserError, WrongPassphrase
from reclaim.store.crypto import create_keyring, open_keyring
from reclaim.store.models import Base
from reclaim.workspace import Workspace
from tests.conftest import PASSPHRASE


def test_keyring_roundtrip_and_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    key = create_keyring(path, "right", scrypt_n=2**12)
    assert open_keyring(path, "right").key == key.key
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        open_keyring(path, "wrong")
    assert "right" not in path.read_text()
    assert key.key.hex() not in path.read_text()
    assert "redacted" in repr(key)
    assert (path.stat().st_mode & 0o777) == 0o600


def test_keyring_refuses_empty_passphrase_and_overwrite(tmp_path: Path) -> None:
    with pytest.raises(UserError):
        create_keyring(tmp_path / "k.json", "")
    create_keyring(tmp_path / "k.json", "x", scrypt_n=2**12)
    with pytest.raises(UserError, match="already exists"):
        create_keyring(tmp_path / "k.json", "y", scrypt_n=2**12)


def test_damaged_keyring_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    create_keyring(path, "x", scrypt_n=2**12)
    doc = json.loads(path.read_text())
    doc["wrap"]["nonce"] = "!!!"
    path.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="damaged"):
        open_keyring(path, "x")


def test_vault_encrypts_deduplicates_and_detects_tampering(workspace: Workspace) -> None:
    data = b"\x89PNG fake image bytes " * 100
    sha = workspace.vault.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert workspace.vault.put(data) == sha
    blobs = [p for p in (workspace.root / "vault").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    blob = blobs[0]
    assert data[:32] not in blob.read_bytes()
    assert sha not in blob.name, "blob names must not reveal the content hash"
    assert workspace.vault.get(sha) == data
    raw = bytearray(blob.read_bytes())
    raw[-1] ^= 1
    blob.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="authentication"):
        workspace.vault.get(sha)
    assert workspace.vault.delete(sha)
    assert not workspace.vault.has(sha)


def test_workspace_open_wrong_passphrase_and_missing(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "ws", PASSPHRASE).close()
    with pytest.raises(WrongPassphrase):
        Workspace.open(tmp_path / "ws", "nope")
    with pytest.raises(UserError, match="no workspace"):
        Workspace.open(tmp_path / "absent", PASSPHRASE)
    with pytest.raises(UserError, match="already exists"):
        Workspace.create(tmp_path / "ws", PASSPHRASE)


def test_migrations_match_models(workspace: Workspace) -> None:
    with workspace.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        tables = set(inspect(conn).get_table_names())
    assert {"persons", "items", "sightings", "matches", "events", "alembic_version"} <= tables
