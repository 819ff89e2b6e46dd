"""One settings object for the server, with safe defaults that fail closed in server mode."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reclaim.errors import UserError

Mode = Literal["local", "server"]

DEFAULT_SECRET = "change-me"
"""The old public placeholder: refused everywhere (0.1 signed local-mode cookies with it)."""
MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT = 12
"""A secret must use at least this many different characters (32 × "a" or 32 spaces are no secret)."""
LOCAL_SECRET_FILE = "server-secret"
"""Local mode without RECLAIM_SECRET_KEY: a random secret made once per workspace, kept in this file."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def weak_secret(secret: str) -> str | None:
    """Why ``secret`` cannot sign session cookies, or None when it can."""
    if secret == DEFAULT_SECRET:
        return "it is the public placeholder 'change-me'"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"it is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(secret)) < MIN_SECRET_DISTINCT or not secret.strip():
        return f"it uses fewer than {MIN_SECRET_DISTINCT} different characters"
    return None


def local_secret(workspace_root: Path) -> str:
    """The workspace's own random session secret (made on first use, mode 0600)."""
    import secrets

    path = workspace_root / LOCAL_SECRET_FILE
    try:
        value = path.read_text(encoding="ascii").strip()
        if weak_secret(value) is None:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    return value


@dataclass(frozen=True)
class ServerSettings:
    workspace: Path
    """The workspace directory (keyring, signing key, vault; the SQLite database unless database_url)."""
    passphrase: str = field(repr=False)
    """Unlocks the workspace's keyring (RECLAIM_PASSPHRASE)."""
    database_url: str | None = None
    """RECLAIM_DATABASE_URL, e.g. postgresql+psycopg://user:pw@host/db; None = the workspace's SQLite."""
    secret_key: str | None = field(default=None, repr=False)
    """Signs session cookies (RECLAIM_SECRET_KEY). None in local mode: the workspace's own random secret
    (:func:`local_secret`); required in server mode."""
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
        problems = []
        why = weak_secret(self.secret_key) if self.secret_key is not None else None
        if self.mode != "server":
            if why is not None:
                raise UserError(f"refusing RECLAIM_SECRET_KEY: {why}; unset it to use the workspace's own")
            return
        if self.secret_key is None or why is not None:
            problems.append(
                f"RECLAIM_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                + (f": {why}" if why else "")
            )
        if len(self.passphrase) < 12:
            problems.append("RECLAIM_PASSPHRASE must be at least 12 characters in server mode")
        if self.cookie_secure is False:
            problems.append("session cookies must be secure (HTTPS only) in server mode")
        if problems:
            raise UserError("refusing to start in server mode: " + "; ".join(problems))

    def check_host(self, host: str) -> None:
        """Local mode listens on loopback only: a network address is a team server (UserError)."""
        if self.mode != "server" and host not in LOOPBACK_HOSTS and not host.startswith("127."):
            raise UserError(
                f"refusing to listen on {host} in local mode (one person on their own machine): a server "
                "others can reach must run with --server-mode (a strong RECLAIM_SECRET_KEY, HTTPS cookies)"
            )

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
            secret_key=env.get("RECLAIM_SECRET_KEY") or None,
            mode=mode or ("server" if env.get("RECLAIM_MODE") == "server" else "local"),
            cookie_secure=None if cookie is None else cookie.lower() in ("1", "true", "yes"),
            public_url=env.get("RECLAIM_PUBLIC_URL") or None,
        )
