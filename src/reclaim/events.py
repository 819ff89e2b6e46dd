"""The event log: every state change writes one, in the same transaction as the change."""

from __future__ import annotations

import getpass
import os
import socket
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from reclaim import __version__
from reclaim.custody import GENESIS, Signer, event_hash, normalise_detail
from reclaim.store.db import hold_write_lock
from reclaim.store.models import Event, utcnow


class EventKind(StrEnum):
    """Every kind of event the custody log holds: writers name one of these, the offline verifier
    (``evidence/verify.py``) reads them back by the same names. The values are stored and hashed: never
    change one; add new kinds at the end of their group."""

    WORKSPACE_CREATED = "workspace.created"
    PERSON_ENROLLED = "person.enrolled"
    PERSON_FORGOTTEN = "person.forgotten"
    PERSON_TEMPLATES_REEMBEDDED = "person.templates_reembedded"
    SCAN_STARTED = "scan.started"
    SCAN_FINISHED = "scan.finished"
    ITEM_ADDED = "item.added"
    ITEM_MEDIA_PURGED = "item.media_purged"
    ITEM_FACES_SEARCHED = "item.faces_searched"
    MATCH_CREATED = "match.created"
    MATCH_CONFIRMED = "match.confirmed"
    MATCH_REJECTED = "match.rejected"
    MATCH_SUPERSEDED = "match.superseded"
    CLUSTER_MERGED = "cluster.merged"
    MEDIA_UNBLURRED = "media.unblurred"
    MEDIA_REVEALED = "media.revealed"
    EVIDENCE_EXPORTED = "evidence.exported"
    CUSTODY_TIMESTAMPED = "custody.timestamped"
    TAKEDOWN_DRAFTED = "takedown.drafted"
    TAKEDOWN_STATUS_CHANGED = "takedown.status_changed"
    TAKEDOWN_SEND_FAILED = "takedown.send_failed"
    TAKEDOWN_CHECKED = "takedown.checked"
    SIGHTING_REUPLOAD = "sighting.reupload"
    HASHES_EXPORTED = "hashes.exported"
    BANK_IMPORTED = "bank.imported"
    BANK_HIT = "bank.hit"
    USER_CREATED = "user.created"
    USER_LANG_CHANGED = "user.lang_changed"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    USER_DELETED = "user.deleted"
    USER_PASSWORD_CHANGED = "user.password_changed"
    USER_PASSWORD_RESET = "user.password_reset"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    SESSION_STARTED = "session.started"
    SESSION_ENDED = "session.ended"
    CASE_CREATED = "case.created"
    CASE_ASSIGNED = "case.assigned"
    CASE_UNASSIGNED = "case.unassigned"
    CASE_PERSON_ENROLLED = "case.person_enrolled"
    JOB_SUBMITTED = "job.submitted"
    JOB_FINISHED = "job.finished"
    JOB_FAILED = "job.failed"
    JOB_RETRIED = "job.retried"
    CAPTURE_RECORDED = "capture.recorded"
    NETWORK_EXPORTED = "network.exported"
    SHARED_ACTORS_VIEWED = "network.shared_actors_viewed"


SubjectKind = Literal[
    "person",
    "item",
    "match",
    "cluster",
    "scan",
    "sighting",
    "notice",
    "event",
    "bank",
    "user",
    "case",
    "job",
    "token",
    "session",
    "capture",
]


def subject(of: SubjectKind, ident: object) -> str:
    """An event's subject: ``subject("match", 12)`` is ``"match:12"`` (what the verifier looks up)."""
    return f"{of}:{ident}"


def current_actor() -> str:
    env = os.environ.get("RECLAIM_ACTOR")
    if env:
        return env
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"


TOOL = f"reclaim {__version__}"
"""What every event names as the software that wrote it."""


def current_host() -> str:
    """The machine writing events: RECLAIM_HOSTNAME when set (a fixed name for a shared server), else the
    hostname."""
    return os.environ.get("RECLAIM_HOSTNAME") or socket.gethostname() or "unknown"


def log_event(
    session: Session,
    kind: EventKind,
    *,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> Event:
    """Append an event to the custody log, in ``session``'s transaction (committed with the change it
    records). The session must come from :meth:`reclaim.workspace.Workspace.session`, which carries the
    signing key. Never put image bytes, face vectors or passphrases in ``detail``."""
    signer: Signer | None = session.info.get("signer")
    if signer is None:
        raise RuntimeError("custody events need a session from Workspace.session() (it holds the key)")
    # Serialise appends: this process's writers (threads) by the session's write lock, several processes
    # on PostgreSQL by an advisory lock held to the end of the transaction. (On SQLite, processes are
    # serialised by its own write lock; a concurrent append then fails on the primary key, never forks.)
    hold_write_lock(session)
    if session.info.get(_HEAD) is None and session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    head: tuple[int, str] | None = session.info.get(_HEAD)
    if head is None:
        row = session.execute(select(Event.id, Event.hash).order_by(Event.id.desc()).limit(1)).first()
        head = (row[0], row[1] or GENESIS) if row else (0, GENESIS)
    seq, prev = head[0] + 1, head[1]
    at = utcnow()
    who = actor or session.info.get("actor") or current_actor()
    clean = normalise_detail(detail)
    host = current_host()[:255] or None  # an empty name is "not recorded"
    digest = event_hash(
        seq=seq,
        at=at,
        actor=who,
        kind=kind,
        subject=subject,
        detail=clean,
        prev_hash=prev,
        tool=TOOL,
        host=host,
    )
    event = Event(
        id=seq,
        at=at,
        actor=who,
        kind=kind,
        subject=subject,
        detail=clean,
        prev_hash=prev,
        hash=digest,
        signature=signer.sign(digest),
        tool=TOOL,
        host=host,
    )
    session.add(event)
    session.info[_HEAD] = (seq, digest)
    return event


_HEAD = "custody_head"
_PG_LOCK_KEY = 0x7265636C61696D  # "reclaim"


def _forget_head(session: Session, *_: Any) -> None:
    # After a commit or rollback the head is read from the database again: another process may have
    # appended meanwhile (a concurrent append then fails on the primary key instead of forking the chain).
    session.info.pop(_HEAD, None)


sa_event.listen(Session, "after_commit", _forget_head)
sa_event.listen(Session, "after_rollback", _forget_head)
sa_event.listen(Session, "after_soft_rollback", _forget_head)
