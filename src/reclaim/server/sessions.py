"""Server-side web sessions: the cookie carries a random id, the ``web_sessions`` table decides.

Design notes:
- Sign-in makes 32 random bytes (``secrets.token_urlsafe(32)``); the browser's cookie holds them, the table
  holds only their SHA-256, the user, when the session started, was last seen and expires, and the client
  address and user agent the user is shown under "your sessions". A stolen database therefore yields no
  usable session, and a forged cookie (even one signed with the right secret) names nobody: the signed
  cookie (Starlette's ``SessionMiddleware``) is only the carrier of the id, the CSRF token and the language.
- A session ends when its row says so: logout, "end this session" (by its user or an admin), a password
  change (the user's other sessions), a password reset, deactivation or deletion (all of them). An ended
  or expired session is refused on its next request, whatever the cookie says.
- ``last_seen_at`` is written at most once a minute per session, so reading pages does not turn every
  request into a database write. Ended and expired rows are kept (a few hundred bytes each): they
  are the history behind the ``session.*`` custody events, and SQLite would reuse a deleted row's number.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound
from reclaim.events import EventKind, log_event, subject
from reclaim.server.auth import AuthError, Principal
from reclaim.store.models import User, WebSession, utcnow

COOKIE_KEY = "sid"
"""The key of the random session id in the signed cookie."""
LAST_SEEN_EVERY = timedelta(seconds=60)
MAX_USER_AGENT = 300
EndReason = Literal["logout", "ended", "password_changed", "password_reset", "deactivated"]


class SessionOut(BaseModel):
    session_id: int
    """The row's number (not the secret id: that never leaves the browser's cookie)."""
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client: str
    user_agent: str
    current: bool = False
    """The session this request came with."""


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def start_session(
    session: Session, *, user_id: int, client: str, user_agent: str, max_age_s: int
) -> tuple[str, WebSession]:
    """A new session for ``user_id``: returns the random id for the cookie (only its SHA-256 is kept) and
    the row. Logs ``session.started``. The caller commits."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        id_sha256=_digest(raw),
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=max_age_s),
        client=client[:100],
        user_agent=user_agent[:MAX_USER_AGENT],
    )
    session.add(row)
    session.flush()
    log_event(
        session, EventKind.SESSION_STARTED, subject=subject("session", row.id), detail={"user_id": user_id}
    )
    return raw, row


def _open(row: WebSession | None, now: datetime) -> bool:
    return row is not None and row.ended_at is None and row.expires_at > now


def principal_for_session(session: Session, raw: str) -> Principal:
    """The signed-in user of the session whose cookie holds ``raw``. AuthError when the session is
    unknown, ended or expired, or its user is deactivated. Updates ``last_seen_at`` (at most once a
    minute; the caller commits)."""
    now = utcnow()
    row = session.scalar(select(WebSession).where(WebSession.id_sha256 == _digest(raw)))
    if row is None or not _open(row, now):
        raise AuthError("your session has ended; log in again")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise AuthError("your session has ended; log in again")
    if now - row.last_seen_at >= LAST_SEEN_EVERY:
        row.last_seen_at = now
    return Principal(user.id, user.username, user.role, "session", row.id)  # type: ignore[arg-type]


def end_session(session: Session, row: WebSession, *, reason: EndReason) -> None:
    """End one session (idempotent). Logs ``session.ended``. The caller commits."""
    if row.ended_at is not None:
        return
    row.ended_at = utcnow()
    row.ended_reason = reason
    log_event(
        session,
        EventKind.SESSION_ENDED,
        subject=subject("session", row.id),
        detail={"user_id": row.user_id, "reason": reason},
    )


def end_user_sessions(session: Session, user_id: int, *, reason: EndReason, keep: int | None = None) -> int:
    """End every open session of ``user_id`` but ``keep``; returns how many were ended."""
    now = utcnow()
    rows = session.scalars(
        select(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
    )
    ended = 0
    for row in list(rows):
        if row.id != keep and row.expires_at > now:
            end_session(session, row, reason=reason)
            ended += 1
    return ended


def user_session(session: Session, user_id: int, session_id: int) -> WebSession:
    """An open session of ``user_id``; NotFound for another user's, an ended or an unknown one."""
    row = session.get(WebSession, session_id)
    if row is None or row.user_id != user_id or not _open(row, utcnow()):
        raise NotFound("no such session")
    return row


def list_sessions(session: Session, user_id: int, *, current: int | None = None) -> list[SessionOut]:
    """The open sessions of ``user_id``, newest first."""
    now = utcnow()
    rows = session.scalars(
        select(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .order_by(WebSession.created_at.desc(), WebSession.id.desc())
    )
    return [
        SessionOut(
            session_id=r.id,
            user_id=r.user_id,
            created_at=r.created_at,
            last_seen_at=r.last_seen_at,
            expires_at=r.expires_at,
            client=r.client,
            user_agent=r.user_agent,
            current=r.id == current,
        )
        for r in rows
        if r.expires_at > now
    ]
