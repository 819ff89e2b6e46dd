"""A workspace: the database, the encrypted vault and the keyring, in one directory.

Resolution order for its location: ``--workspace DIR``, then ``RECLAIM_WORKSPACE``, then the user data
directory (platformdirs). The passphrase comes from ``RECLAIM_PASSPHRASE`` or a prompt.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from reclaim.custody import Signer, create_signer, load_signer, read_log, verify_chain
from reclaim.errors import UserError
from reclaim.events import EventKind, log_event
from reclaim.store import crypto
from reclaim.store.crypto import DataKey
from reclaim.store.db import make_engine, session_factory, upgrade
from reclaim.store.fields import bind_key, encrypt_plaintext_fields
from reclaim.store.models import Base
from reclaim.store.vault import Vault

WORKSPACE_FILE = "workspace.json"
KEYRING_FILE = "keyring.json"
DB_FILE = "reclaim.db"
VAULT_DIR = "vault"
LOCK_FILE = "writer.lock"
C2PA_TRUST_FILE = "c2pa-trust.pem"
"""Trust anchors for C2PA signatures (PEM certificates), set with `reclaim trust set`. None is shipped
and nothing is downloaded: without it, every valid C2PA signature is reported as valid but untrusted."""
FORMAT_VERSION = 1


def default_workspace_dir() -> Path:
    env = os.environ.get("RECLAIM_WORKSPACE")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("reclaim", appauthor=False))


@dataclass
class Workspace:
    root: Path
    engine: Engine
    sessions: sessionmaker[Session]
    key: DataKey
    vault: Vault
    signer: Signer

    @classmethod
    def create(cls, root: Path, passphrase: str, *, database_url: str | None = None) -> Workspace:
        root = root.expanduser()
        if (root / WORKSPACE_FILE).exists():
            raise UserError(f"a workspace already exists at {root}")
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        key = crypto.create_keyring(root / KEYRING_FILE, passphrase)
        signer = create_signer(root, key)
        meta = {"format": FORMAT_VERSION, "database_url": database_url}
        (root / WORKSPACE_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        ws = cls.open(root, passphrase)
        with ws.session() as session:
            log_event(
                session,
                EventKind.WORKSPACE_CREATED,
                subject="workspace",
                detail={"signing_key": {"alg": "Ed25519", "public_key": signer.public_hex}},
            )
            session.commit()
        return ws

    @classmethod
    def open(cls, root: Path, passphrase: str, *, database_url: str | None = None) -> Workspace:
        """Open the workspace at ``root``. ``database_url`` (e.g. from RECLAIM_DATABASE_URL) must be the
        database the workspace was created with: a different one is a UserError, never silently
        ignored (a server following its set-up steps must not end up on the wrong database)."""
        root = root.expanduser()
        meta_path = root / WORKSPACE_FILE
        if not meta_path.exists():
            raise UserError(f"no workspace at {root}: run 'reclaim init' first (or pass --workspace)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{meta_path} is damaged: {exc}") from exc
        recorded = meta.get("database_url") or None
        if database_url and database_url != recorded:
            uses = _shown_url(recorded) if recorded else "its own SQLite file"
            raise UserError(
                f"the workspace at {root} uses {uses}, "
                f"but RECLAIM_DATABASE_URL is {_shown_url(database_url)}: unset it, or create a new "
                "workspace for that database ('reclaim init' reads RECLAIM_DATABASE_URL)"
            )
        key = crypto.open_keyring(root / KEYRING_FILE, passphrase)
        url = recorded or f"sqlite:///{root / DB_FILE}"
        engine = make_engine(url)
        try:
            upgrade(engine)
            bind_key(engine, key)
            encrypt_plaintext_fields(engine, key, Base.metadata)  # once, for workspaces made before 0014
        except BaseException:
            engine.dispose()
            raise
        vault_root = root / VAULT_DIR
        vault_root.mkdir(exist_ok=True)
        vault = Vault(vault_root, key)
        vault.sweep()
        signer = load_signer(root, key)
        sessions = session_factory(engine, info={"signer": signer})
        return cls(root=root, engine=engine, sessions=sessions, key=key, vault=vault, signer=signer)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    @contextmanager
    def exclusive(self, what: str) -> Iterator[None]:
        """Hold the workspace's writer lock for ``what`` (one scan at a time). Raises UserError when
        another process holds it."""
        import fcntl

        path = self.root / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise UserError(
                    f"cannot start {what}: another reclaim process (a scan or an enrolment) is writing to "
                    "this workspace; wait for it to finish"
                ) from exc
            yield
        finally:
            os.close(fd)  # closing releases the lock, also when the process is killed

    def c2pa_trust_pem(self) -> str | None:
        """The configured C2PA trust anchors (PEM text), or None when none are configured."""
        path = self.root / C2PA_TRUST_FILE
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return None
        return text if text.strip() else None

    def set_c2pa_trust_pem(self, anchors_pem: str) -> Path:
        """Replace the C2PA trust anchors with ``anchors_pem`` (checked PEM text, e.g. from
        ``forensics.c2pa.load_trust``), atomically; returns the file written."""
        target = self.root / C2PA_TRUST_FILE
        tmp = target.with_suffix(".tmp")
        tmp.write_text(anchors_pem, encoding="ascii")
        os.replace(tmp, target)
        return target

    def clear_c2pa_trust(self) -> None:
        """Remove the C2PA trust anchors: valid signatures are then reported as valid but untrusted."""
        (self.root / C2PA_TRUST_FILE).unlink(missing_ok=True)

    def verify_custody(self) -> list[str]:
        """Check the whole custody log against this workspace's public key; [] when intact. An event whose
        stored detail does not decrypt (changed after it was written) is reported, not raised."""
        with self.session() as session:
            return verify_chain(read_log(session), self.signer.public_hex)

    def close(self) -> None:
        self.engine.dispose()


def _shown_url(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(an unreadable URL)"


HELD_FILE = ".held"
WORK_TMP = "tmp"
"""The workspace's folder of plaintext work files (each sub-folder :class:`Held` while in use)."""


class Held:
    """A folder of plaintext work files (an upload, an enrolment's photos) that a live process is using.

    The process holds an exclusive ``flock`` on the folder's ``.held`` file for as long as it needs the
    folder; the kernel drops the lock when the process ends, however it ends (kill -9 included). A sweep
    (:func:`sweep_unheld`) can therefore remove what a dead process left behind without touching what a
    running one (this process or another server on the same workspace) is still using.
    """

    def __init__(self, folder: Path, *, create: bool = True) -> None:
        import fcntl

        if create:
            folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        self.folder = folder
        self._fd: int | None = os.open(folder / HELD_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise

    @classmethod
    def attempt(cls, folder: Path) -> Held | None:
        """Hold ``folder`` (which must exist) if no live process does; None when one does."""
        try:
            return cls(folder, create=False)
        except BlockingIOError:
            return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sweep_unheld(area: Path, *, remove: Callable[[Path], bool] = lambda _p: True) -> list[Path]:
    """Remove the sub-folders of ``area`` that no live process holds (see :class:`Held`) and for which
    ``remove(folder)`` says so (it may also tidy the folder itself and return False to keep it). Returns
    the folders removed."""
    removed: list[Path] = []
    if not area.is_dir():
        return removed
    for folder in sorted(area.iterdir()):
        if not folder.is_dir() or folder.is_symlink():
            continue
        held = Held.attempt(folder)
        if held is None:
            continue
        try:
            if remove(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        finally:
            held.release()
    return removed
