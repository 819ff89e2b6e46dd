"""The custody log: a hash chain of events, each hash signed with the workspace's Ed25519 key.

Event *n* hashes its own content together with event *n-1*'s hash; the signature covers that hash. So
changing, deleting, inserting or reordering any event breaks the chain from that point, and an event
forged without the workspace's private key fails its signature. Verification needs only the public key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reclaim.errors import UserError
from reclaim.store.crypto import DataKey
from reclaim.store.fields import SealError
from reclaim.store.models import Event

GENESIS = "0" * 64
"""The ``prev_hash`` of the first event."""
SIGNING_KEY_FILE = "signing_key.json"
_AAD = b"reclaim-signing-key-v1"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def normalise_detail(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the database will give back (JSON round trip), so the hash covers exactly what is stored."""
    return None if detail is None else json.loads(canonical_json(detail))


ERASED = "erased_sha256"
"""An erased detail value is replaced by ``{ERASED: <SHA-256 of the value>}``: the event's hash covers each
detail value through its digest, so erasing a value (a victim's note, on request) keeps the chain valid,
and the log can still prove what was there by its hash."""


def value_digest(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {ERASED}:
        return str(value[ERASED])
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def erased(value: Any) -> dict[str, str]:
    """The stand-in for an erased detail value."""
    return {ERASED: value_digest(value)}


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    subject: str | None,
    detail: dict[str, Any] | None,
    prev_hash: str,
    tool: str | None = None,
    host: str | None = None,
) -> str:
    """The event's hash. ``tool`` and ``host`` (who and what wrote it, with ``actor`` the operator) are
    covered when the event has them; events written before they were recorded hash as they always did,
    so old logs and packages still verify."""
    body = {
        "seq": seq,
        "at": timestamp(at),
        "actor": actor,
        "kind": kind,
        "subject": subject,
        "detail": None if detail is None else {k: value_digest(v) for k, v in detail.items()},
        "prev_hash": prev_hash,
    }
    if tool is not None:
        body["tool"] = tool
    if host is not None:
        body["host"] = host
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass(frozen=True)
class Signer:
    """The workspace's Ed25519 key. The private half exists only in memory, unwrapped by the data key."""

    private: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"Signer(public={self.public_hex[:16]}…)"

    @property
    def public_hex(self) -> str:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return raw.hex()

    def sign(self, digest_hex: str) -> str:
        return self.private.sign(bytes.fromhex(digest_hex)).hex()


def create_signer(root: Path, key: DataKey) -> Signer:
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    signer = Signer(private)
    doc = {
        "alg": "Ed25519",
        "public_key": signer.public_hex,
        "private_key_ct": key.encrypt(raw, aad=_AAD).hex(),
    }
    path = root / SIGNING_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
    return signer


def load_signer(root: Path, key: DataKey) -> Signer:
    path = root / SIGNING_KEY_FILE
    if not path.exists():  # a workspace from before the custody log: give it a key now
        return create_signer(root, key)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        raw = key.decrypt(bytes.fromhex(doc["private_key_ct"]), aad=_AAD)
        signer = Signer(Ed25519PrivateKey.from_private_bytes(raw))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise UserError(f"the workspace signing key {path} is damaged: {exc}") from exc
    if signer.public_hex != doc.get("public_key"):
        raise UserError(f"the workspace signing key {path} does not match its public key")
    return signer


@dataclass(frozen=True)
class UnreadableEvent:
    """A stored event the database cannot give back as an event: one of its fields holds a value of
    another type (text where a time belongs, JSON that does not parse, a number where text belongs), which
    only an edit of the database file itself can put there."""

    id: int
    kind: str
    reason: str
    hash: str | None
    """Its stored hash, when that field at least is text (the next event's ``prev_hash`` is checked
    against it)."""


class ChainEvent(Protocol):
    """What verification reads of an event (an ORM row or a parsed JSON record)."""

    id: int
    at: datetime
    actor: str
    kind: str
    subject: str | None
    detail: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None
    signature: str | None
    tool: str | None
    host: str | None


def verify_chain(
    events: Iterable[ChainEvent | UnreadableEvent], public_key_hex: str, *, start_hash: str = GENESIS
) -> list[str]:
    """Every problem found, as sentences naming the event; an empty list means the chain is intact.
    ``events`` must be in log order; a slice of the log passes ``start_hash`` = the hash before it.
    An event with a field of the wrong type (edited in the database) is a problem naming it, and the
    check goes on with the next one."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    except ValueError as exc:
        return [f"the public key is not a valid Ed25519 key: {exc}"]
    problems: list[str] = []
    prev = start_hash
    expected_seq: int | None = None
    for ev in events:
        name = f"event {ev.id} ({_shown(ev.kind)})"
        if expected_seq is not None and ev.id != expected_seq:
            problems.append(
                f"{name}: expected event {expected_seq} here (an event was deleted, inserted or moved)"
            )
        expected_seq = ev.id + 1
        if isinstance(ev, UnreadableEvent) or (bad := _mistyped(ev)):
            why = ev.reason if isinstance(ev, UnreadableEvent) else f"{bad} is not of the right type"
            problems.append(f"{name}: a stored field cannot be read ({why}): changed in the database")
            prev = ev.hash if isinstance(ev.hash, str) else ""
            continue
        if ev.prev_hash != prev:
            problems.append(f"{name}: does not follow the event before it (previous hash differs)")
        try:
            recomputed = event_hash(
                seq=ev.id,
                at=ev.at,
                actor=ev.actor,
                kind=ev.kind,
                subject=ev.subject,
                detail=ev.detail,
                prev_hash=ev.prev_hash or "",
                tool=ev.tool,
                host=ev.host,
            )
        except (OverflowError, RecursionError, ValueError) as exc:
            recomputed = f"(cannot be hashed: {type(exc).__name__})"
        if ev.hash != recomputed:
            problems.append(f"{name}: its content does not match its hash (changed after it was written)")
        try:
            public.verify(bytes.fromhex(ev.signature or ""), bytes.fromhex(ev.hash or ""))
        except (InvalidSignature, ValueError):
            problems.append(f"{name}: the signature is not valid for the workspace key")
        prev = ev.hash or ""
    return problems


_STR_OR_NONE = ("subject", "prev_hash", "hash", "signature", "tool", "host")


def _mistyped(ev: ChainEvent) -> str | None:
    """The first field of ``ev`` whose value is not of its type, if any (an ORM row gives back whatever
    type an edit of the database file put in a column)."""
    if not isinstance(ev.id, int) or isinstance(ev.id, bool):
        return "id"
    if not isinstance(ev.at, datetime):
        return "at"
    for field in ("actor", "kind"):
        if not isinstance(getattr(ev, field), str):
            return field
    for field in _STR_OR_NONE:
        if not isinstance(getattr(ev, field), str | None):
            return field
    if ev.detail is not None and not (
        isinstance(ev.detail, dict) and all(isinstance(k, str) for k in ev.detail)
    ):
        return "detail"
    return None


def _shown(value: object) -> str:
    return value if isinstance(value, str) else f"{type(value).__name__} value"


_UNREADABLE = (ValueError, TypeError, OverflowError, RecursionError)
"""What reading a row raises when a column holds a value its type cannot convert (SQLite stores any value
in any column: fromisoformat on a non-time, json.loads on non-JSON or too deep JSON, a time past year
9999)."""
_CHUNK = 1000


def read_log(session: Session, *, kind: str | None = None) -> list[Event | UnreadableEvent]:
    """The custody log's events in order (only those of ``kind``, if given). An event whose stored fields
    cannot be converted back (edited in the database file) is an :class:`UnreadableEvent` in its place:
    it is reported by :func:`verify_chain`, never stops the reading. Leaves ``session`` without loaded
    objects if any row is unreadable."""
    where = [] if kind is None else [Event.kind == kind]
    try:
        return list(session.scalars(select(Event).where(*where).order_by(Event.id)).all())
    except _UNREADABLE:
        session.expunge_all()
    # Some row is unreadable: read in chunks, and the failing chunks one row at a time.
    heads = session.execute(select(Event.id, Event.kind, Event.hash).where(*where).order_by(Event.id)).all()
    out: list[Event | UnreadableEvent] = []
    for start in range(0, len(heads), _CHUNK):
        chunk = heads[start : start + _CHUNK]
        ids = [int(h[0]) for h in chunk]
        try:
            out += session.scalars(select(Event).where(Event.id.in_(ids)).order_by(Event.id)).all()
            continue
        except _UNREADABLE:
            session.expunge_all()
        for ev_id, ev_kind, ev_hash in chunk:
            try:
                out += session.scalars(select(Event).where(Event.id == ev_id)).all()
            except _UNREADABLE as exc:
                session.expunge_all()
                out.append(
                    UnreadableEvent(
                        id=int(ev_id),
                        kind=_shown(ev_kind),
                        reason=str(exc) if isinstance(exc, SealError) else type(exc).__name__,
                        hash=ev_hash if isinstance(ev_hash, str) else None,
                    )
                )
    return out


NOT_RECORDED = "not recorded"
"""How :func:`recorded_by` names the tool or machine of an event written before they were recorded."""


def recorded_by(events: Iterable[ChainEvent]) -> dict[str, dict[str, int]]:
    """Who and what wrote the events: per tool (name and version), operator (``actor``) and machine
    (hostname), how many events each wrote, most first."""
    out: dict[str, dict[str, int]] = {"tools": {}, "operators": {}, "machines": {}}
    for ev in events:
        for key, value in (("tools", ev.tool), ("operators", ev.actor), ("machines", ev.host)):
            name = value or NOT_RECORDED
            out[key][name] = out[key].get(name, 0) + 1
    return {k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in out.items()}


def log_recorded_by(session: Session) -> dict[str, dict[str, int]]:
    """:func:`recorded_by` over the whole custody log (events that cannot be read are left out: verification
    reports them)."""
    return recorded_by(ev for ev in read_log(session) if not isinstance(ev, UnreadableEvent))


def recorded_by_lines(summary: dict[str, dict[str, int]]) -> list[str]:
    """The summary for people, a line per key: "tools: reclaim 0.1.0 (30)", "operators: local:ana (30)"."""
    return [
        f"{key}: " + ", ".join(f"{name} ({n})" for name, n in names.items()) for key, names in summary.items()
    ]


def count_events(session: Session) -> int:
    """How many events the custody log holds."""
    return session.scalar(select(func.count()).select_from(Event)) or 0
