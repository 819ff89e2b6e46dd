"""The event log: every state change writes one, in the same transaction as the change."""

from __future__ import annotations

import getpass
import os
from typing import Any

from sqlalchemy.orm import Session

from reclaim.store.models import Event


def current_actor() -> str:
    env = os.environ.get("RECLAIM_ACTOR")
    if env:
        return env
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"


def log_event(
    session: Session,
    kind: str,
    *,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> Event:
    """Add an event to ``session`` (committed with the change it records). Never put image bytes, face
    vectors or passphrases in ``detail``."""
    event = Event(actor=actor or current_actor(), kind=kind, subject=subject, detail=detail)
    session.add(event)
    return event
