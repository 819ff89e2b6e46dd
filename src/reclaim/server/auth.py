"""Users, passwords, API tokens, roles and per-case access (the service layer; routes stay thin).

Roles:
- ``admin``: everything, including users and case assignments.
- ``advocate``: the cases assigned to them: read, upload material, review matches, export.
- ``viewer``: the cases assigned to them, read-only (e.g. a police liaison).
- ``platform``: the hash API only (``/h`` and ``/m``); never sees media, persons or cases.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.store.models import ApiToken, Case, CaseMember, Event, User, utcnow

Role = Literal["admin", "advocate", "viewer", "platform"]
ROLES: tuple[Role, ...] = ("admin", "advocate", "viewer", "platform")
CASE_ROLES: tuple[Role, ...] = ("admin", "advocate", "viewer")
"""Roles that may see cases at all (an admin sees every case; the others only those assigned)."""
WRITE_ROLES: tuple[Role, ...] = ("admin", "advocate")
TOKEN_PREFIX = "rct_"
MIN_PASSWORD = 10

_hasher = PasswordHasher()


class AuthError(Exception):
    """Not authenticated (401)."""


class Forbidden(Exception):
    """Authenticated but not allowed (403)."""


class RateLimited(Exception):
    """Too many failed logins (429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    via: Literal["session", "token"]
    session_id: int | None = None
    """The ``web_sessions`` row of a cookie sign-in (None for an API token)."""

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    """UserError unless ``password`` is long enough to be a password."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")


def verify_password(user: User, password: str) -> bool:
    """Whether ``password`` is ``user``'s (argon2 verification; never raises on a wrong one)."""
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def actor_name(username: str) -> str:
    """How the custody log names a server user as an event's actor."""
    return f"user:{username}"


def create_user(session: Session, *, username: str, password: str, role: str) -> User:
    username = username.strip()
    if not username or len(username) > 100:
        raise UserError("a username of 1 to 100 characters is required")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    check_password_rules(password)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise UserError(f"a user named {username!r} already exists")
    if session.scalar(select(Event.id).where(Event.actor == actor_name(username)).limit(1)) is not None:
        # a deleted account's name: the custody log names actors by username, so a new account with the
        # same name would be indistinguishable from the old one in the log
        raise UserError(
            f"the name {username!r} belonged to a deleted account that appears in the custody log; "
            "choose another name so the log stays unambiguous"
        )
    user = User(username=username, password_hash=hash_password(password), role=role, active=True, lang="en")
    session.add(user)
    session.flush()
    log_event(session, EventKind.USER_CREATED, subject=subject("user", user.id), detail={"role": role})
    return user


def user_by_name(session: Session, username: str) -> User:
    """The user called ``username``; NotFound when there is none."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r} (add one with 'reclaim user add')")
    return user


class LoginLimiter:
    """Failed logins per (username, client address) in a sliding window, in memory."""

    def __init__(self, attempts: int, window_s: int) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def check(self, username: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            q = self._recent((username.lower(), client), now)
            if len(q) >= self.attempts:
                raise RateLimited(max(1, int(q[0] + self.window_s - now) + 1))

    def failed(self, username: str, client: str) -> None:
        with self._lock:
            self._recent((username.lower(), client), time.monotonic()).append(time.monotonic())

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), client), None)


_DUMMY_HASH = _hasher.hash("a password nobody has")


def authenticate(
    session: Session, *, username: str, password: str, client: str, limiter: LoginLimiter
) -> Principal:
    """Check a username and password. Raises RateLimited or AuthError (the same message whether the
    user exists or not; the hash is always computed so timing does not tell either)."""
    limiter.check(username, client)
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None and user.active
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        limiter.failed(username, client)
        raise AuthError("wrong username or password")
    limiter.succeeded(username, client)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return Principal(user.id, user.username, user.role, "session")  # type: ignore[arg-type]


def create_token(session: Session, user: User, *, label: str = "") -> str:
    """A new API token for ``user``; the plaintext is returned once and only its SHA-256 is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(user_id=user.id, token_sha256=hashlib.sha256(token.encode()).hexdigest(), label=label[:200])
    )
    session.flush()
    log_event(
        session, EventKind.TOKEN_CREATED, subject=subject("user", user.id), detail={"label": label[:200]}
    )
    return token


def principal_for_token(session: Session, token: str) -> Principal:
    if not token.startswith(TOKEN_PREFIX):
        raise AuthError("invalid API token")
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_sha256 == hashlib.sha256(token.encode()).hexdigest())
    )
    if row is None or row.revoked:
        raise AuthError("invalid API token")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise AuthError("invalid API token")
    row.last_used_at = utcnow()
    return Principal(user.id, user.username, user.role, "token")  # type: ignore[arg-type]


def principal_for_user_id(session: Session, user_id: int) -> Principal:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise AuthError("your session has ended; log in again")
    return Principal(user.id, user.username, user.role, "session")  # type: ignore[arg-type]


# --- per-case access ------------------------------------------------------------------------------------


def visible_cases(session: Session, principal: Principal) -> list[Case]:
    if principal.role not in CASE_ROLES:
        raise Forbidden("this account cannot see cases")
    stmt = select(Case).order_by(Case.created_at.desc(), Case.id)
    if principal.role != "admin":
        stmt = stmt.join(CaseMember, CaseMember.case_id == Case.id).where(
            CaseMember.user_id == principal.user_id
        )
    return list(session.scalars(stmt))


def case_for(session: Session, principal: Principal, case_id: str, *, write: bool = False) -> Case:
    """The case if ``principal`` may see it (and change it, with ``write``). A case the principal may not
    see is reported exactly like a case that does not exist (NotFound), so its existence does not leak."""
    if principal.role not in CASE_ROLES:
        raise Forbidden("this account cannot see cases")
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("no such case")
    if principal.role != "admin":
        member = session.scalar(
            select(CaseMember).where(CaseMember.case_id == case_id, CaseMember.user_id == principal.user_id)
        )
        if member is None:
            raise NotFound("no such case")
    if write and not principal.can_write:
        raise Forbidden("this account is read-only")
    return case


def assign(session: Session, case: Case, user: User) -> None:
    if user.role not in CASE_ROLES:
        raise UserError(f"a {user.role} account cannot be assigned to a case")
    exists = session.scalar(
        select(CaseMember).where(CaseMember.case_id == case.id, CaseMember.user_id == user.id)
    )
    if exists is None:
        session.add(CaseMember(case_id=case.id, user_id=user.id))
        session.flush()
        log_event(
            session, EventKind.CASE_ASSIGNED, subject=subject("case", case.id), detail={"user_id": user.id}
        )


def assign_by_name(session: Session, *, case_id: str, username: str) -> None:
    """Assign the user called ``username`` to case ``case_id`` (an administrator's act: no principal is
    checked). NotFound for an unknown case or user."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id!r}")
    assign(session, case, user_by_name(session, username))
