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
) -> str:
    body = {
        "seq": seq,
        "at": timestamp(at),
        "actor": actor,
        "kind": kind,
        "subject": subject,
        "detail": None if detail is None else {k: value_digest(v) for k, v in detail.items()},
        "prev_hash": prev_hash,
    }
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


def verify_chain(
    events: Iterable[ChainEvent], public_key_hex: str, *, start_hash: str = GENESIS
) -> list[str]:
    """Every problem found, as sentences naming the event; an empty list means the chain is intact.
    ``events`` must be in log order; a slice of the log passes ``start_hash`` = the hash before it."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    except ValueError as exc:
        return [f"the public key is not a valid Ed25519 key: {exc}"]
    problems: list[str] = []
    prev = start_hash
    expected_seq: int | None = None
    for ev in events:
        name = f"event {ev.id} ({ev.kind})"
        if expected_seq is not None and ev.id != expected_seq:
            problems.append(
                f"{name}: expected event {expected_seq} here (an event was deleted, inserted or moved)"
            )
        expected_seq = ev.id + 1
        if ev.prev_hash != prev:
            problems.append(f"{name}: does not follow the event before it (previous hash differs)")
        recomputed = event_hash(
            seq=ev.id,
            at=ev.at,
            actor=ev.actor,
            kind=ev.kind,
            subject=ev.subject,
            detail=ev.detail,
            prev_hash=ev.prev_hash or "",
        )
        if ev.hash != recomputed:
            problems.append(f"{name}: its content does not match its hash (changed after it was written)")
        try:
            public.verify(bytes.fromhex(ev.signature or ""), bytes.fromhex(ev.hash or ""))
        except (InvalidSignature, ValueError):
            problems.append(f"{name}: the signature is not valid for the workspace key")
        prev = ev.hash or ""
    return problems


def count_events(session: Session) -> int:
    """How many events the custody log holds."""
    return session.scalar(select(func.count()).select_from(Event)) or 0
