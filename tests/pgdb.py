"""Dropping a test's throwaway PostgreSQL database."""

from __future__ import annotations

import time

from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

ATTEMPTS = 20


def drop_database(admin: Engine, name: str) -> None:
    """``DROP DATABASE … WITH (FORCE)``, retried while PostgreSQL refuses it because a process of another
    role is connected (an autovacuum worker, which starts on a database when its own schedule picks it):
    the test role may end only its own sessions. Raises the last refusal after ~10 s."""
    for attempt in range(ATTEMPTS):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except ProgrammingError as exc:
            refused = getattr(exc.orig, "sqlstate", None) == "42501"  # insufficient_privilege
            if not refused or attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.5)
