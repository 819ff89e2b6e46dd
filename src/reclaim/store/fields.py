"""Field-level encryption: every column that holds a person's or an attacker's words is ciphertext at rest.

Names, consent text, chat and sender names, captions, original file names, review notes (the custody
log's details), notices and the like are stored as ``rcf1:`` + base64 of an AES-256-GCM blob made with the
workspace's data key (:class:`reclaim.store.crypto.DataKey`), with a fresh random nonce per value and the
table and column as associated data (a value copied into another column fails to decrypt). The same two
column types do it on SQLite and PostgreSQL, so there is one code path and no extension to build.

Design notes:

* The key reaches the column types through the engine's dialect (:func:`bind_key`), which every engine
  has its own of: two workspaces open in one process never share a key, and an engine with no key bound
  refuses to read or write these columns instead of storing plaintext.
* Reads are strict: a value that is not a ciphertext of this key and this column is an error, never
  passed through as plaintext. Values written before this existed are encrypted once, by
  :func:`encrypt_plaintext_fields` (run by ``Workspace.open`` after the schema migrations, in one
  transaction together with its completion mark: a crash leaves either none or all of them encrypted).
* Randomised encryption cannot be filtered or sorted on by the database: code that orders or looks up
  by these columns does so in Python after loading the rows.
* ``NULL`` stays ``NULL`` (and a JSON column's ``None`` stays what it was), so "is there a caption" is
  still visible; lengths are visible to within base64 rounding. Ids, hashes, timestamps, statuses and
  platform names are not encrypted.
"""

from __future__ import annotations

import base64
import json
import weakref
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Engine, String, Text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from reclaim.store.crypto import DataKey

PREFIX = "rcf1:"
"""Marks a stored field ciphertext (format version 1)."""
PASS_NAME = "fields-v1"
"""The name under which the one-time encryption of older plaintext values is recorded as done."""

_KEYS: weakref.WeakKeyDictionary[Dialect, DataKey] = weakref.WeakKeyDictionary()


class FieldKeyMissing(RuntimeError):
    """An engine without a bound data key touched an encrypted column."""


def bind_key(engine: Engine, key: DataKey) -> None:
    """Let ``engine`` encrypt and decrypt the encrypted columns with ``key`` (the workspace's data key)."""
    _KEYS[engine.dialect] = key


def _key(dialect: Dialect) -> DataKey:
    key = _KEYS.get(dialect)
    if key is None:
        raise FieldKeyMissing("this database engine has no data key: open it through Workspace.open")
    return key


def _aad(field: str) -> bytes:
    return f"reclaim-field:{field}".encode()


def seal(key: DataKey, field: str, plaintext: str) -> str:
    """The stored form of ``plaintext`` in column ``field`` ("table.column")."""
    blob = key.encrypt(plaintext.encode("utf-8"), aad=_aad(field))
    return PREFIX + base64.b64encode(blob).decode("ascii")


class SealError(ValueError):
    """A stored value of an encrypted column that does not open: plaintext, tampered, copied from another
    column or written with another key. Its message names the column, never the value."""


def unseal(key: DataKey, field: str, stored: str) -> str:
    """The plaintext of a :func:`seal` value. Raises :class:`SealError` when ``stored`` is not a
    ciphertext of this key for this column (plaintext, tampered, copied from another column)."""
    if not isinstance(stored, str) or not stored.startswith(PREFIX):
        raise SealError(f"{field} fails authentication: the value is not encrypted")
    try:
        blob = base64.b64decode(stored[len(PREFIX) :].encode("ascii"), validate=True)
        return key.decrypt(blob, aad=_aad(field)).decode("utf-8")
    except (ValueError, UnicodeError) as exc:  # binascii.Error is a ValueError
        why = "changed after it was written, or not encrypted"
        raise SealError(f"{field} fails authentication ({why})") from exc


def is_sealed(key: DataKey, field: str, stored: object) -> bool:
    if not isinstance(stored, str) or not stored.startswith(PREFIX):
        return False
    try:
        unseal(key, field, stored)
    except ValueError:
        return False
    return True


class EncryptedText(TypeDecorator[str]):
    """A text column stored encrypted (see the module notes). ``length`` is the declared length of a
    column that existed before encryption; it is kept on SQLite (which does not enforce lengths, so the
    table need not be rebuilt) and dropped on other databases (ciphertext is longer than the text)."""

    impl = Text
    cache_ok = True

    def __init__(self, field: str, length: int | None = None) -> None:
        super().__init__()
        self.field = field
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if self.length is not None and dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.length))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return seal(_key(dialect), self.field, value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return unseal(_key(dialect), self.field, value)

    def copy(self, **kw: Any) -> EncryptedText:
        return EncryptedText(self.field, self.length)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON column whose value is stored encrypted: the column holds one JSON string, the sealed
    canonical JSON of the value. ``None`` is passed to the JSON type unchanged."""

    impl = JSON
    cache_ok = True

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return seal(_key(dialect), self.field, json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(unseal(_key(dialect), self.field, value))

    def copy(self, **kw: Any) -> EncryptedJSON:
        return EncryptedJSON(self.field)


def encrypted_columns(metadata: sa.MetaData) -> list[tuple[str, str, str, bool]]:
    """(table, primary key column, column, is JSON) for every encrypted column of ``metadata``."""
    out = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText | EncryptedJSON):
                (pk,) = table.primary_key.columns
                out.append((table.name, pk.name, column.name, isinstance(column.type, EncryptedJSON)))
    return out


def encrypt_plaintext_fields(engine: Engine, key: DataKey, metadata: sa.MetaData) -> int:
    """Encrypt every value of the encrypted columns still stored in plaintext (a workspace made before
    field encryption), then record the pass as done; one transaction, so a crash changes nothing and the
    next open starts again. Idempotent: values already sealed are left alone. Returns the number of values
    encrypted (0 when the pass was already done)."""
    passes = metadata.tables["encryption_passes"]
    with engine.begin() as conn:
        if conn.execute(sa.select(passes.c.name).where(passes.c.name == PASS_NAME)).first():
            return 0
        count = sum(
            _encrypt_column(conn, key, table, pk, column, as_json)
            for table, pk, column, as_json in encrypted_columns(metadata)
        )
        conn.execute(sa.insert(passes).values(name=PASS_NAME, finished_at=datetime.now(UTC)))
    return count


def _encrypt_column(conn: Connection, key: DataKey, table: str, pk: str, column: str, as_json: bool) -> int:
    field = f"{table}.{column}"
    t = sa.table(table, sa.column(pk), sa.column(column, JSON() if as_json else Text()))
    rows = conn.execute(sa.select(t.c[pk], t.c[column]).where(t.c[column].is_not(None))).all()
    count = 0
    for row_id, value in rows:
        if value is None or is_sealed(key, field, value):
            continue  # SQL NULL or JSON null: nothing to hide
        plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")) if as_json else str(value)
        conn.execute(sa.update(t).where(t.c[pk] == row_id).values({column: seal(key, field, plaintext)}))
        count += 1
    return count
