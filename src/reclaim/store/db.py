"""Engine, sessions and migrations. SQLite is the embedded default; a PostgreSQL URL works the same."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker

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
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision."""
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
