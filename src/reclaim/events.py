"""The event log: every state change writes one, in the same transaction as the change."""

from __future__ import annotations

import getpass
import os
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from reclaim.custody import GENESIS, Signer, event_hash, normalise_detail
from reclaim.store.db import hold_write_lock
from reclaim.store.models import Event, utcnow


def current_actor() -> str:
    env = os.environ.get("RECLAIM_ACTOR")
    if env:
        return env
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"


def log_event(
    session: Session,
    kind: str,
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
    digest = event_hash(seq=seq, at=at, actor=who, kind=kind, subject=subject, detail=clean, prev_hash=prev)
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
