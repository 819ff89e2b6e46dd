"""Managing team-server accounts: API tokens, deactivation, deletion, passwords and sessions.

Rules:
- Every change writes a custody event in the same transaction (``token.revoked``, ``user.deactivated``,
  ``user.reactivated``, ``user.deleted``, ``user.password_changed``, ``user.password_reset``,
  ``session.ended``); no detail holds a password, a token or a session id.
- What a change takes away, it takes away at once: deactivation and deletion end every session and make
  every token fail (tokens are checked against the user's ``active`` flag on each request; deletion removes
  them); a password reset ends every session; a password change ends every session but the one it was
  made from.
- The last active administrator cannot be deactivated or deleted, so the server always has someone who can
  manage it (``reclaim user add`` from the workspace's machine remains the way back in).
- Functions take the database session and the target explicitly and do not commit; the CLI and the
  routes commit, and check who may call them (admin, or the user for their own password and sessions).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.server.auth import (
    LoginLimiter,
    check_password_rules,
    hash_password,
    verify_password,
)
from reclaim.server.sessions import end_session, end_user_sessions, user_session
from reclaim.store.models import ApiToken, CaseMember, User, WebSession


class TokenInfo(BaseModel):
    token_id: int
    user_id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class AccountChange(BaseModel):
    user_id: int
    username: str
    active: bool
    sessions_ended: int = 0


class UserSummary(BaseModel):
    user_id: int
    username: str
    role: str
    active: bool
    created_at: datetime


def list_user_rows(session: Session) -> list[dict[str, object]]:
    """Every user (for the CLI, which acts as the workspace's owner), as JSON-ready rows."""
    return [
        UserSummary(
            user_id=u.id, username=u.username, role=u.role, active=u.active, created_at=u.created_at
        ).model_dump(mode="json")
        for u in session.scalars(select(User).order_by(User.username))
    ]


def user_by_id(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def list_tokens(session: Session, user: User) -> list[TokenInfo]:
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    return [
        TokenInfo(
            token_id=t.id,
            user_id=t.user_id,
            label=t.label,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
            revoked=t.revoked,
        )
        for t in rows
    ]


def revoke_token(session: Session, user: User, token_id: int) -> TokenInfo:
    """Revoke one of ``user``'s tokens (it fails from its next request). Logs ``token.revoked`` (once)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("no such token")
    if not row.revoked:
        row.revoked = True
        log_event(
            session,
            EventKind.TOKEN_REVOKED,
            subject=subject("token", row.id),
            detail={"user_id": user.id, "label": row.label},
        )
    return TokenInfo(
        token_id=row.id,
        user_id=row.user_id,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked,
    )


def _refuse_last_admin(session: Session, user: User, what: str) -> None:
    if user.role != "admin" or not user.active:
        return
    others = session.scalar(
        select(func.count(User.id)).where(User.role == "admin", User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise UserError(f"cannot {what} the last active administrator: add another admin first")


def set_active(session: Session, user: User, *, active: bool) -> AccountChange:
    """Deactivate (ends every session; tokens fail) or reactivate ``user``. Logs
    ``user.deactivated``/``user.reactivated`` when the flag changes."""
    ended = 0
    if user.active and not active:
        _refuse_last_admin(session, user, "deactivate")
        user.active = False
        ended = end_user_sessions(session, user.id, reason="deactivated")
        log_event(session, EventKind.USER_DEACTIVATED, subject=subject("user", user.id), detail={})
    elif active and not user.active:
        user.active = True
        log_event(session, EventKind.USER_REACTIVATED, subject=subject("user", user.id), detail={})
    return AccountChange(user_id=user.id, username=user.username, active=user.active, sessions_ended=ended)


def delete_user(session: Session, user: User) -> AccountChange:
    """Delete ``user``: their sessions end, their tokens and case assignments go, the cases and jobs they
    made keep no link to them. The custody log keeps what they did. Logs ``user.deleted``."""
    _refuse_last_admin(session, user, "delete")
    ended = end_user_sessions(session, user.id, reason="deactivated")
    log_event(session, EventKind.USER_DELETED, subject=subject("user", user.id), detail={"role": user.role})
    for model in (ApiToken, CaseMember, WebSession):
        session.execute(delete(model).where(model.user_id == user.id))
    change = AccountChange(user_id=user.id, username=user.username, active=False, sessions_ended=ended)
    session.delete(user)
    session.flush()
    return change


def change_password(
    session: Session,
    user: User,
    *,
    current: str,
    new: str,
    keep_session: int | None,
    limiter: LoginLimiter | None = None,
    client: str = "",
) -> AccountChange:
    """The user changes their own password: the current one is checked (failures count against the
    sign-in rate limit), the user's other sessions end. Logs ``user.password_changed``."""
    if limiter is not None:
        limiter.check(user.username, client)
    if not verify_password(user, current):
        if limiter is not None:
            limiter.failed(user.username, client)
        raise UserError("the current password is wrong")
    check_password_rules(new)
    user.password_hash = hash_password(new)
    ended = end_user_sessions(session, user.id, reason="password_changed", keep=keep_session)
    log_event(session, EventKind.USER_PASSWORD_CHANGED, subject=subject("user", user.id), detail={})
    return AccountChange(user_id=user.id, username=user.username, active=user.active, sessions_ended=ended)


def reset_password(session: Session, user: User, *, new: str) -> AccountChange:
    """An administrator sets ``user``'s password: every session of theirs ends. Logs
    ``user.password_reset``."""
    check_password_rules(new)
    user.password_hash = hash_password(new)
    ended = end_user_sessions(session, user.id, reason="password_reset")
    log_event(session, EventKind.USER_PASSWORD_RESET, subject=subject("user", user.id), detail={})
    return AccountChange(user_id=user.id, username=user.username, active=user.active, sessions_ended=ended)


def end_one_session(session: Session, user: User, session_id: int) -> None:
    """End one open session of ``user`` (NotFound for anyone else's). Logs ``session.ended``."""
    end_session(session, user_session(session, user.id, session_id), reason="ended")


def end_all_sessions(session: Session, user: User) -> AccountChange:
    ended = end_user_sessions(session, user.id, reason="ended")
    return AccountChange(user_id=user.id, username=user.username, active=user.active, sessions_ended=ended)
