"""One settings object for the server, with safe defaults that fail closed in server mode."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reclaim.errors import UserError

Mode = Literal["local", "server"]

DEFAULT_SECRET = "change-me"
"""The placeholder secret: accepted in local mode (one user on their own machine), refused in server mode."""
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class ServerSettings:
    workspace: Path
    """The workspace directory (keyring, signing key, vault; the SQLite database unless database_url)."""
    passphrase: str = field(repr=False)
    """Unlocks the workspace's keyring (RECLAIM_PASSPHRASE)."""
    database_url: str | None = None
    """RECLAIM_DATABASE_URL, e.g. postgresql+psycopg://user:pw@host/db; None = the workspace's SQLite."""
    secret_key: str = field(default=DEFAULT_SECRET, repr=False)
    """Signs session cookies (RECLAIM_SECRET_KEY)."""
    mode: Mode = "local"
    cookie_secure: bool | None = None
    """Send session cookies over HTTPS only; default: True in server mode, False in local mode."""
    session_max_age_s: int = 8 * 3600
    login_attempts: int = 5
    """Failed logins allowed per username and client address in ``login_window_s``."""
    login_window_s: int = 300
    upload_max_bytes: int = 2 * 1024**3
    public_url: str | None = None

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.mode == "server"

    def check(self) -> None:
        """Refuse to start in server mode with default or weak secrets. Raises UserError."""
        if self.mode not in ("local", "server"):
            raise UserError(f"unknown mode {self.mode!r}: use local or server")
        if self.mode != "server":
            return
        problems = []
        if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < MIN_SECRET_LENGTH:
            problems.append(
                f"RECLAIM_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if len(self.passphrase) < 12:
            problems.append("RECLAIM_PASSPHRASE must be at least 12 characters in server mode")
        if self.cookie_secure is False:
            problems.append("session cookies must be secure (HTTPS only) in server mode")
        if problems:
            raise UserError("refusing to start in server mode: " + "; ".join(problems))

    @classmethod
    def from_env(cls, workspace: Path, *, mode: Mode | None = None) -> ServerSettings:
        env = os.environ
        passphrase = env.get("RECLAIM_PASSPHRASE", "")
        if not passphrase:
            raise UserError("set RECLAIM_PASSPHRASE to unlock the workspace")
        cookie = env.get("RECLAIM_COOKIE_SECURE")
        return cls(
            workspace=workspace,
            passphrase=passphrase,
            database_url=env.get("RECLAIM_DATABASE_URL") or None,
            secret_key=env.get("RECLAIM_SECRET_KEY", DEFAULT_SECRET),
            mode=mode or ("server" if env.get("RECLAIM_MODE") == "server" else "local"),
            cookie_secure=None if cookie is None else cookie.lower() in ("1", "true", "yes"),
            public_url=env.get("RECLAIM_PUBLIC_URL") or None,
        )
