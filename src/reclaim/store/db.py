"""Engine, sessions and migrations. SQLite is the embedded default; a PostgreSQL URL works the same."""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # erased data must not linger in free pages
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # alembic (≈ 0.14 CPU s of imports) only when migrating

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


_REVISION = re.compile(r"^revision\b[^=\n]*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=\n]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


@functools.cache
def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files' ``revision`` and ``down_revision``
    lines without importing alembic; None when that is not one clear head (then alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def is_current(engine: Engine) -> bool:
    """Whether the database's schema is at the newest revision (one query of alembic's version table)."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            versions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except SQLAlchemyError:  # a new database: no version table yet
        return False
    return versions == [head]


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision. A workspace already there (every command but the first
    after an update) costs one query: alembic and the migration scripts are not even imported."""
    if is_current(engine):
        return
    from alembic import command  # see alembic_config

    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


_WRITE_LOCK = "write_lock"
_WRITE_HELD = "write_lock_held"


def session_factory(engine: Engine, *, info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """Sessions for ``engine``; ``info`` is copied into every session (the custody log's signer).

    Write transactions of one process are serialised: a session takes the process's write lock at its
    first write (flush or DML statement) and releases it when its transaction ends. Threads of the
    server (requests, the background scan) therefore never interleave custody appends, and always take
    this lock before the database's own write lock (SQLite), so they cannot deadlock on the two."""
    factory = sessionmaker(
        engine, expire_on_commit=False, info={**(info or {}), _WRITE_LOCK: threading.Lock()}
    )

    @event.listens_for(factory, "before_flush")
    def _on_flush(session: Session, _ctx: Any, _instances: Any) -> None:
        hold_write_lock(session)

    @event.listens_for(factory, "do_orm_execute")
    def _on_execute(state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            hold_write_lock(state.session)

    @event.listens_for(factory, "after_transaction_end")
    def _on_end(session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None and session.info.pop(_WRITE_HELD, False):
            session.info[_WRITE_LOCK].release()

    return factory


def hold_write_lock(session: Session) -> None:
    """Take this process's write lock for the rest of ``session``'s transaction (idempotent). Sessions
    not made by :func:`session_factory` have no lock and are left alone."""
    lock = session.info.get(_WRITE_LOCK)
    if lock is None or session.info.get(_WRITE_HELD):
        return
    lock.acquire()
    session.info[_WRITE_HELD] = True
