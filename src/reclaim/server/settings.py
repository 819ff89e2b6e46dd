"""One settings object for the server, with safe defaults that fail closed.

Session cookies are signed with ``RECLAIM_SECRET_KEY``. There is no public default: in local mode, when it
is not set, each workspace gets its own random secret (:func:`workspace_secret`, a file of mode 0600 in the
workspace); in server mode it must be set, and a secret that is short, has whitespace or too little
variety (``"a" * 32``) is refused. The cookie only carries a random session id and the CSRF token: who is
signed in is decided by the ``web_sessions`` table (:mod:`reclaim.server.sessions`), so a forged cookie
names no user.
"""

from __future__ import annotations

import ipaddress
import math
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reclaim.errors import UserError

Mode = Literal["local", "server"]

DEFAULT_SECRET = "change-me"
"""The placeholder secret of reclaim 0.1 (public: anyone could sign cookies with it). Refused always."""
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 90
"""A secret's length times the Shannon entropy of its characters must reach this: a rough estimate that
undercounts random secrets (``token_urlsafe(32)`` scores about 220, 32 random hex digits 99 or more in
2,000 draws) and gives ``"a" * 32`` zero, ``"ab" * 20`` 40."""
MIN_SECRET_DISTINCT = 10
SECRET_FILE = "session-secret"
"""The workspace's own cookie-signing secret (local mode without RECLAIM_SECRET_KEY)."""


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot sign session cookies, or None when it can."""
    if secret == DEFAULT_SECRET:
        return f"RECLAIM_SECRET_KEY is the public placeholder {DEFAULT_SECRET!r}"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"RECLAIM_SECRET_KEY must be a random value of at least {MIN_SECRET_LENGTH} characters"
    if any(c.isspace() for c in secret):
        return "RECLAIM_SECRET_KEY must not contain whitespace"
    counts = Counter(secret)
    bits = max(0.0, -sum(n * math.log2(n / len(secret)) for n in counts.values()))
    periodic = (secret + secret).find(secret, 1) < len(secret)  # "0123456789abcdef" * 2
    if len(counts) < MIN_SECRET_DISTINCT or bits < MIN_SECRET_BITS or periodic:
        return (
            f"RECLAIM_SECRET_KEY looks guessable (about {bits:.0f} bits; at least {MIN_SECRET_BITS} needed)"
        )
    return None


SECRET_HINT = "e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def workspace_secret(root: Path) -> str:
    """The workspace's random cookie secret, made on first use (mode 0600, never overwritten)."""
    path = root / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="ascii").strip()
        problem = secret_problem(value)
        if problem is not None:
            raise UserError(
                f"{path} holds an unusable secret ({problem}); delete it to make a new one"
            ) from None
        return value
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value + "\n")
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
    """Signs session cookies (RECLAIM_SECRET_KEY). None: local mode uses the workspace's own random secret;
    server mode refuses to start."""
    mode: Mode = "local"
    cookie_secure: bool | None = None
    """Send session cookies over HTTPS only; default: True in server mode, False in local mode."""
    session_max_age_s: int = 8 * 3600
    """A session ends this long after sign-in (the table's expires_at; the cookie lives as long)."""
    login_attempts: int = 5
    """Failed logins allowed per username and client address in ``login_window_s``."""
    login_window_s: int = 300
    upload_max_bytes: int = 2 * 1024**3
    public_url: str | None = None

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.mode == "server"

    def check(self) -> None:
        """Refuse weak secrets in any mode, and default ones in server mode. Raises UserError."""
        if self.mode not in ("local", "server"):
            raise UserError(f"unknown mode {self.mode!r}: use local or server")
        problems = []
        if self.secret_key is not None:
            problem = secret_problem(self.secret_key)
            if problem is not None:
                problems.append(f"{problem} ({SECRET_HINT})")
        if self.mode == "server":
            if self.secret_key is None:
                problems.append(
                    f"RECLAIM_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                    f"characters ({SECRET_HINT})"
                )
            if len(self.passphrase) < 12:
                problems.append("RECLAIM_PASSPHRASE must be at least 12 characters in server mode")
            if self.cookie_secure is False:
                problems.append("session cookies must be secure (HTTPS only) in server mode")
        if problems:
            raise UserError(f"refusing to start in {self.mode} mode: " + "; ".join(problems))

    def signing_secret(self, root: Path) -> str:
        """The cookie secret: RECLAIM_SECRET_KEY, else (local mode) the workspace's own random one."""
        if self.secret_key is not None:
            return self.secret_key
        if self.mode == "server":
            raise UserError("RECLAIM_SECRET_KEY must be set in server mode")
        return workspace_secret(root)

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


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def listen_options(
    settings: ServerSettings, *, host: str, port: int, forwarded_allow_ips: str | None = None
) -> dict[str, Any]:
    """uvicorn's options for ``reclaim serve``. UserError for a non-loopback address in local mode (local
    mode is one person on their own machine: its cookies are not HTTPS-only and it does not demand a set
    secret). Proxy headers are trusted only from the addresses in ``forwarded_allow_ips``; without it the
    client address is the peer's, so nobody can pick their own address (and dodge the sign-in limit) with
    a forged X-Forwarded-For."""
    if settings.mode != "server" and not is_loopback(host):
        raise UserError(
            f"refusing to listen on {host} in local mode: other machines could reach a server meant for "
            "one person. Use --server-mode (with RECLAIM_SECRET_KEY set, behind HTTPS) or --host 127.0.0.1"
        )
    proxies = [p.strip() for p in (forwarded_allow_ips or "").split(",") if p.strip()]
    if forwarded_allow_ips is not None and not proxies:
        raise UserError("--forwarded-allow-ips needs the proxy's address, e.g. 10.0.0.2")
    return {
        "host": host,
        "port": port,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": ",".join(proxies) if proxies else "",
    }
