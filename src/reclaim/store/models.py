"""SQLAlchemy 2 typed models. One code path for SQLite (embedded default) and PostgreSQL.

Secrets never sit here in the clear: face templates are AES-256-GCM ciphertexts (see crypto.py); media
bytes live in the encrypted vault, not in the database; every column holding a person's or an attacker's
words (names, consent, chat and sender names, captions, file names, notes, notices, the custody log's
details) is an ``EncryptedText`` or ``EncryptedJSON`` column (see fields.py).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from reclaim.store.fields import EncryptedJSON, EncryptedText

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return secrets.token_hex(8)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no zone: values come back naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(EncryptedText("persons.name", 200))
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    keep_photos: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """The person agreed that their enrolment photos are kept (encrypted) for source-photo matching."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    consents: Mapped[list[Consent]] = relationship(back_populates="person", cascade="all, delete-orphan")
    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )
    known_images: Mapped[list[KnownImage]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )
    matches: Mapped[list[Match]] = relationship(back_populates="person", cascade="all, delete-orphan")
    reference_photos: Mapped[list[ReferencePhoto]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )


class Consent(Base):
    """The consent statement under which a person's face may be searched for."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    statement: Mapped[str] = mapped_column(EncryptedText("consents.statement"))
    recorded_by: Mapped[str] = mapped_column(EncryptedText("consents.recorded_by", 200))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="consents")


class FaceTemplate(Base):
    """An enrolled face: 128-d vector, stored encrypted."""

    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    vector_ct: Mapped[bytes] = mapped_column(LargeBinary)
    photo_label: Mapped[str] = mapped_column(EncryptedText("face_templates.photo_label", 500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="templates")


class KnownImage(Base):
    """An image (or a video) the person already holds, kept as hashes only (the bytes are never stored)."""

    __tablename__ = "known_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(EncryptedText("known_images.label", 500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    md5: Mapped[str] = mapped_column(String(32))
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    pdq64: Mapped[str | None] = mapped_column(String(64))
    pdq64_quality: Mapped[int | None] = mapped_column(Integer)
    vpdq: Mapped[str | None] = mapped_column(Text)
    """A known *video*'s vPDQ in python-threatexchange's serialisation (``signals.vpdq.to_te``); None for
    images, and for videos enrolled where the ``vpdq`` package is not installed."""
    features_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The robust repost engine's features (region hashes, ORB keypoints; no pixels), encrypted with the
    data key (``matching.robust.encrypt_features``); None for images enrolled before it."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="known_images")

    def perceptual(self) -> dict[str, tuple[str, int | None]]:
        """Variant-0 perceptual hashes by signal type."""
        out: dict[str, tuple[str, int | None]] = {}
        if self.pdq:
            out["pdq"] = (self.pdq, self.pdq_quality)
        if self.pdq64:
            out["pdq64"] = (self.pdq64, self.pdq64_quality)
        return out


class ReferencePhoto(Base):
    """A photo the person gave at enrolment (a reference photo or a known image), kept only with their
    agreement (``--keep-photos``) and only to show that a face was copied from it. The bytes are in the
    encrypted vault under ``sha256``; they are deleted when the person is forgotten."""

    __tablename__ = "reference_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    """"reference" (an enrolment photo) or "known" (an image the person already holds)."""
    label: Mapped[str] = mapped_column(EncryptedText("reference_photos.label", 500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="reference_photos")


class Cluster(Base):
    """Near-duplicate items: one image and its reposts, recompressions, resizes, flips."""

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Item(Base):
    """One distinct file, content-addressed by SHA-256."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    size: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str | None] = mapped_column(String(20))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    frame_count: Mapped[int | None] = mapped_column(Integer)
    stored: Mapped[bool] = mapped_column(Boolean, default=False)
    faces_deferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", index=True)
    """Only a quick face search ran and found no face (see :data:`reclaim.scan.analyze.FaceSearch`)."""
    """True when the encrypted bytes are in the vault (False for hash-only scans and minors)."""
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    signals: Mapped[list[Signal]] = relationship(back_populates="item", cascade="all, delete-orphan")
    faces: Mapped[list[Face]] = relationship(back_populates="item", cascade="all, delete-orphan")
    findings: Mapped[list[Finding]] = relationship(back_populates="item", cascade="all, delete-orphan")
    sightings: Mapped[list[Sighting]] = relationship(back_populates="item")
    robust_features: Mapped[ItemFeatureRow | None] = relationship(cascade="all, delete-orphan")


class ItemFeatureRow(Base):
    """An item's features for the robust repost engine (``matching.robust``: region hashes and ORB
    keypoints of its first frame, no pixels), encrypted with the data key and bound to the item. They let
    an item matched later serve as a reference for its edited reposts, and an enrolment after the scan
    find what the scan would have found, without decoding the media again."""

    __tablename__ = "item_features"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    features_ct: Mapped[bytes] = mapped_column(LargeBinary)


class FileStamp(Base):
    """A file a scan read, by a keyed hash (``DataKey.blind``) of its path, size, mtime and inode (and the
    case), with the item its bytes were: a rescan recognises an unchanged file by one indexed look-up,
    without reading, hashing or decoding it. No path is stored in the clear; an erased item takes its
    stamps with it, and a file whose stamp changed is read again."""

    __tablename__ = "file_stamps"

    stamp: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)


class Signal(Base):
    """One measured signal of an item: a hash of a frame (and its flips/rotations) or similar."""

    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_type_value", "signal_type", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    signal_type: Mapped[str] = mapped_column(String(40))
    frame_index: Mapped[int] = mapped_column(Integer, default=0)
    variant: Mapped[int] = mapped_column(Integer, default=0)
    """0 = the image as is; 1-7 = its dihedral transforms (flips, rotations) for PDQ."""
    value: Mapped[str] = mapped_column(String(128))
    quality: Mapped[int | None] = mapped_column(Integer)

    item: Mapped[Item] = relationship(back_populates="signals")


class Face(Base):
    """A face found in an item: box and encrypted 128-d template."""

    __tablename__ = "faces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    frame_index: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str] = mapped_column(String(64))
    box: Mapped[dict[str, Any]] = mapped_column()
    vector_ct: Mapped[bytes] = mapped_column(LargeBinary)

    item: Mapped[Item] = relationship(back_populates="faces")


class Finding(Base):
    """What one forensic signal reported about an item (see reclaim.forensics.base.ForensicResult).
    ``scope`` is "" for findings about the file alone, or "person:<id>" for those that depend on an
    enrolled person (source-photo match); they are deleted with the person."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("item_id", "signal", "scope", name="uq_findings_item_signal_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    signal: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(64), default="")
    person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(64))
    strength: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(EncryptedText("findings.summary"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("findings.detail"))
    caveats: Mapped[list[str] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(EncryptedText("findings.error"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[Item] = relationship(back_populates="findings")


class Scan(Base):
    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="running")
    paths: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("scans.paths"))
    summary: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("scans.summary"))
    case_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """The team server's case the material was uploaded to; None for the CLI's workspace (one case). A
    person is matched only against material of their own cases (:mod:`reclaim.matching.scope`). Not a
    foreign key: deleting a case must not move its material into another scope."""


class Sighting(Base):
    """One place an item was seen: a Telegram message, a file in a folder."""

    __tablename__ = "sightings"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_sightings_dedupe_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(64))
    """SHA-256 of (source key, item SHA-256): rescanning the same material adds nothing."""
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    source: Mapped[str] = mapped_column(String(40))
    source_key: Mapped[str] = mapped_column(EncryptedText("sightings.source_key"))
    path: Mapped[str | None] = mapped_column(EncryptedText("sightings.path"))
    chat_id: Mapped[str | None] = mapped_column(String(64), index=True)
    chat_name: Mapped[str | None] = mapped_column(EncryptedText("sightings.chat_name"))
    chat_type: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(Integer)
    sender: Mapped[str | None] = mapped_column(EncryptedText("sightings.sender"))
    sender_id: Mapped[str | None] = mapped_column(String(64))
    posted_at: Mapped[datetime | None] = mapped_column()
    caption: Mapped[str | None] = mapped_column(EncryptedText("sightings.caption"))
    forwarded_from: Mapped[str | None] = mapped_column(EncryptedText("sightings.forwarded_from"))
    reply_to: Mapped[int | None] = mapped_column(Integer)
    media_type: Mapped[str | None] = mapped_column(String(64))
    placeholder: Mapped[str | None] = mapped_column(EncryptedText("sightings.placeholder"))
    extra: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("sightings.extra"))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[Item | None] = relationship(back_populates="sightings")


class Match(Base):
    """A candidate (or reviewed) link between a person and an item."""

    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("person_id", "item_id", "kind", name="uq_matches_person_item_kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="candidate")
    distance: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("matches.detail"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="matches")
    item: Mapped[Item] = relationship()


class Event(Base):
    """The custody log: every state change appends one, in the transaction of the change. Events form a
    hash chain (``prev_hash`` → ``hash``), each hash signed with the workspace's Ed25519 key; ``id`` is
    the position in the chain (assigned by the log, not by the database)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("events.detail"))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    signature: Mapped[str | None] = mapped_column(String(128))
    tool: Mapped[str | None] = mapped_column(String(100))
    """The software that wrote the event and its version ("reclaim 0.1.0"); None in events written
    before it was recorded (their hash does not cover it: see ``custody.event_hash``)."""
    host: Mapped[str | None] = mapped_column(String(255))
    """The machine (hostname) that wrote the event; None in older events. The operator is ``actor``."""


# --- the team server: users, API tokens, cases, background jobs ------------------------------------------


class User(Base):
    """A person who uses the team server. Passwords are argon2 hashes; never stored in the clear."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    """admin | advocate | viewer | platform (see reclaim.server.auth.ROLES)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    lang: Mapped[str] = mapped_column(String(5), default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for scripts and platforms; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A signed-in browser session. The cookie carries only a random id; only its SHA-256 is stored, and
    this row (not the cookie) decides whether the session is still valid: logging out, a password change
    or reset, deactivation and deletion end it here. ``client`` and ``user_agent`` are what the user sees
    under "your sessions" to recognise each one."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    ended_reason: Mapped[str | None] = mapped_column(String(20))
    """logout | ended | password_changed | password_reset | deactivated (see reclaim.server.sessions)."""
    client: Mapped[str] = mapped_column(String(100), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class Case(Base):
    """One victim's case at a support centre: the enrolled person, the material scanned for them, and the
    users assigned to it (an advocate sees only the cases assigned to them)."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(EncryptedText("cases.title", 200))
    person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[CaseMember]] = relationship(back_populates="case", cascade="all, delete-orphan")
    person: Mapped[Person | None] = relationship()


class CaseMember(Base):
    __tablename__ = "case_members"
    __table_args__ = (UniqueConstraint("case_id", "user_id", name="uq_case_members_case_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    case: Mapped[Case] = relationship(back_populates="members")


class Job(Base):
    """A background job of the server (a scan of uploaded material), with visible progress."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    """queued | running | finished | failed"""
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("jobs.result"))
    error: Mapped[str | None] = mapped_column(EncryptedText("jobs.error"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


# --- takedown notices (reclaim.takedown) ---------------------------------------------------------------


class Notice(Base):
    """A takedown notice to one platform for one person, covering their confirmed sightings there.

    ``status``: draft | sent | acknowledged | removed | refused | overdue. Every change is a custody event
    (``takedown.*``). ``fields`` holds the values the platform's route asks for, per language
    (``{"en": {...}, "ko": {...}}``); ``text`` is the notice as written (both languages when ``lang`` is
    "both"). ``parent_id`` links a follow-up to the notice it cites. Deleted with the person."""

    __tablename__ = "notices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    lang: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(EncryptedText("notices.text"))
    fields: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("notices.fields"))
    recipient: Mapped[str | None] = mapped_column(String(320))
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(EncryptedText("notices.error"))
    """The last sending error (the notice stays a draft)."""
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("notices.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()
    """sent_at + the platform's stated response time; None when the platform states none."""
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    overdue_at: Mapped[datetime | None] = mapped_column()
    removed_at: Mapped[datetime | None] = mapped_column()
    refused_at: Mapped[datetime | None] = mapped_column()

    sightings: Mapped[list[NoticeSighting]] = relationship(
        back_populates="notice", cascade="all, delete-orphan"
    )


class NoticeSighting(Base):
    """A sighting a notice covers."""

    __tablename__ = "notice_sightings"
    __table_args__ = (
        UniqueConstraint("notice_id", "sighting_id", name="uq_notice_sightings_notice_sighting"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    sighting_id: Mapped[int] = mapped_column(ForeignKey("sightings.id", ondelete="CASCADE"), index=True)

    notice: Mapped[Notice] = relationship(back_populates="sightings")
    sighting: Mapped[Sighting] = relationship()


# --- hash sharing: imported hash banks (reclaim.sharing) -----------------------------------------------


class ImportedBank(Base):
    """A named list of hashes imported from elsewhere (a python-threatexchange signal list, a StopNCII-style
    or NCMEC file) that scans match against. Hashes only: no media, no identities."""

    __tablename__ = "imported_banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    hashes: Mapped[list[ImportedHash]] = relationship(back_populates="bank", cascade="all, delete-orphan")


class ImportedHash(Base):
    """One hash of an imported bank: ``signal_type`` "pdq" (standard PDQ, 64 hex), "md5" (32 hex) or
    "vpdq" (a video's vPDQ: ``value`` is the SHA-256 of its serialisation, so the unique key stays short,
    and ``vpdq`` the serialisation itself)."""

    __tablename__ = "imported_hashes"
    __table_args__ = (
        UniqueConstraint("bank_id", "signal_type", "value", name="uq_imported_hashes_bank_type_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("imported_banks.id", ondelete="CASCADE"), index=True)
    signal_type: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(64))
    vpdq: Mapped[str | None] = mapped_column(Text)

    bank: Mapped[ImportedBank] = relationship(back_populates="hashes")


class BankHit(Base):
    """An item that matched an imported bank (by PDQ within 31 bits, any dihedral variant, or equal MD5).
    Not a match to a person: it says "this file is on someone else's list"."""

    __tablename__ = "bank_hits"
    __table_args__ = (UniqueConstraint("item_id", "bank_id", name="uq_bank_hits_item_bank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("imported_banks.id", ondelete="CASCADE"), index=True)
    signal_type: Mapped[str] = mapped_column(String(20))
    distance: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[Item] = relationship()
    bank: Mapped[ImportedBank] = relationship()


class EncryptionPass(Base):
    """A one-time pass over stored data that has run to completion (``fields.PASS_NAME``: the values
    written in plaintext before field encryption are now encrypted)."""

    __tablename__ = "encryption_passes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)
