"""A notice's status after drafting: the allowed changes, the clock that makes a waiting notice overdue,
listing notices and their JSON form, and per-platform statistics.

Every status change (by hand, by sending, by the clock) is a custody event ``takedown.status_changed``.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from reclaim.errors import NotFound, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.store.models import Notice, utcnow
from reclaim.takedown.platforms import Platform, get_platform

NoticeStatus = Literal["draft", "sent", "acknowledged", "removed", "refused", "overdue"]
STATUSES: tuple[str, ...] = get_args(NoticeStatus)
OPEN = ("sent", "acknowledged", "overdue")
"""Statuses waiting for the platform."""

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("sent", "removed"),
    "sent": ("acknowledged", "removed", "refused", "overdue"),
    "acknowledged": ("removed", "refused", "overdue"),
    "overdue": ("acknowledged", "removed", "refused"),
    "removed": (),
    "refused": (),
}
"""Allowed status changes. "draft → removed": the material went before the notice was sent. Removed and
refused are final; ask again with a new notice (it cites the refused one)."""


def missing_fields(notice: Notice) -> dict[str, list[str]]:
    """Per language, the fields the platform requires that are still empty (e.g. the contact)."""
    p = get_platform(notice.platform)
    out: dict[str, list[str]] = {}
    for lg, values in (notice.fields or {}).items():
        gaps = [f.name for f in p.fields if f.required and not str(values.get(f.name) or "").strip()]
        if gaps:
            out[lg] = gaps
    return out


def get_notice(session: Session, notice_id: str) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"no notice {notice_id!r} (see 'reclaim takedown list')")
    return notice


def _due(platform: type[Platform], sent: datetime) -> datetime | None:
    return sent + timedelta(hours=platform.response_hours) if platform.response_hours is not None else None


def set_status(
    session: Session,
    *,
    notice_id: str,
    status: str,
    at: datetime | None = None,
    note: str | None = None,
    reason: str = "marked",
) -> Notice:
    """Change a notice's status (see :data:`TRANSITIONS`), record its time and log
    ``takedown.status_changed``. ``at`` is when it happened (default now; tz-aware)."""
    if status not in STATUSES:
        raise UserError(f"status must be one of {', '.join(STATUSES)}")
    if at is not None and at.tzinfo is None:
        raise UserError("give the time with its zone, e.g. 2026-11-20T09:00:00+09:00")
    notice = get_notice(session, notice_id)
    previous = notice.status
    if status == previous:
        return notice
    if status not in TRANSITIONS[previous]:
        raise UserError(f"a {previous} notice cannot become {status}")
    when = at or utcnow()
    if status == "sent":
        notice.sent_at = when
        notice.due_at = _due(get_platform(notice.platform), when)
    elif status == "acknowledged":
        notice.acknowledged_at = when
    elif status == "overdue":
        notice.overdue_at = when
    elif status == "removed":
        notice.removed_at = when
    elif status == "refused":
        notice.refused_at = when
    notice.status = status
    notice.updated_at = utcnow()
    log_event(
        session,
        EventKind.TAKEDOWN_STATUS_CHANGED,
        subject=subject("notice", notice.id),
        detail={
            "notice_id": notice.id,
            "person_id": notice.person_id,
            "platform": notice.platform,
            "previous_status": previous,
            "status": status,
            "at": when.isoformat(),
            "reason": reason,
            "note": note,
        },
    )
    return notice


def refresh_overdue(session: Session, *, now: datetime | None = None) -> list[Notice]:
    """Mark every notice still waiting past its platform's stated time as overdue (one event each)."""
    now = now or utcnow()
    flipped = []
    waiting = session.scalars(
        select(Notice).where(Notice.status.in_(("sent", "acknowledged")), Notice.due_at.is_not(None))
    ).all()
    for notice in waiting:
        if notice.due_at is not None and notice.due_at < now:
            flipped.append(set_status(session, notice_id=notice.id, status="overdue", at=now, reason="clock"))
    return flipped


def overdue_by_hours(notice: Notice, now: datetime) -> float | None:
    """Hours a notice still waiting for its platform is past its due time (one decimal), else None."""
    if notice.due_at is not None and notice.status in OPEN and notice.due_at < now:
        return round((now - notice.due_at).total_seconds() / 3600, 1)
    return None


def is_overdue(notice: Notice, now: datetime) -> bool:
    """Marked overdue, or past its due time while still waiting (before the clock marks it)."""
    return notice.status == "overdue" or overdue_by_hours(notice, now) is not None


def list_notices(
    session: Session,
    *,
    person_id: str | None = None,
    status: str | None = None,
    platform: str | None = None,
    overdue_only: bool = False,
    open_only: bool = False,
    now: datetime | None = None,
) -> list[Notice]:
    """Notices, oldest first; ``overdue_only``: those :func:`is_overdue` at ``now`` (default: now);
    ``open_only``: those still waiting for the platform (:data:`OPEN`)."""
    stmt = select(Notice).options(selectinload(Notice.sightings)).order_by(Notice.created_at, Notice.id)
    if person_id is not None:
        stmt = stmt.where(Notice.person_id == person_id)
    if status is not None:
        stmt = stmt.where(Notice.status == status)
    if platform is not None:
        stmt = stmt.where(Notice.platform == platform)
    if open_only:
        stmt = stmt.where(Notice.status.in_(OPEN))
    notices = list(session.scalars(stmt))
    if overdue_only:
        at = now or utcnow()
        notices = [n for n in notices if is_overdue(n, at)]
    return notices


def _iso(d: datetime | None) -> str | None:
    return d.isoformat().replace("+00:00", "Z") if d else None


def notice_dict(notice: Notice, *, now: datetime | None = None, text: bool = False) -> dict[str, Any]:
    now = now or utcnow()
    p = get_platform(notice.platform)
    out: dict[str, Any] = {
        "notice_id": notice.id,
        "person_id": notice.person_id,
        "platform": notice.platform,
        "status": notice.status,
        "lang": notice.lang,
        "sightings": sorted(ns.sighting_id for ns in notice.sightings),
        "parent_id": notice.parent_id,
        "evidence_sha256": notice.evidence_sha256,
        "route_kind": p.route_kind,
        "can_send": p.can_send(),
        "response": p.response_text(),
        "created_at": _iso(notice.created_at),
        "sent_at": _iso(notice.sent_at),
        "due_at": _iso(notice.due_at),
        "acknowledged_at": _iso(notice.acknowledged_at),
        "overdue_at": _iso(notice.overdue_at),
        "removed_at": _iso(notice.removed_at),
        "refused_at": _iso(notice.refused_at),
        "overdue_by_hours": overdue_by_hours(notice, now),
        "error": notice.error,
        "missing_fields": missing_fields(notice),
    }
    if text:
        out["text"] = notice.text
        out["fields"] = notice.fields
    return out


def platform_stats(session: Session) -> list[dict[str, Any]]:
    """Per platform: notices by status, median hours from sending to removal, share refused (of the notices
    the platform decided: removed + refused)."""
    out = []
    notices = session.scalars(select(Notice)).all()
    for name in sorted({n.platform for n in notices}):
        mine = [n for n in notices if n.platform == name]
        counts = {s: sum(1 for n in mine if n.status == s) for s in STATUSES}
        hours = [
            (n.removed_at - n.sent_at).total_seconds() / 3600
            for n in mine
            if n.status == "removed" and n.removed_at is not None and n.sent_at is not None
        ]
        decided = counts["removed"] + counts["refused"]
        out.append(
            {
                "platform": name,
                "notices": len(mine),
                "by_status": counts,
                "median_hours_to_removal": round(statistics.median(hours), 2) if hours else None,
                "share_refused": round(counts["refused"] / decided, 4) if decided else None,
            }
        )
    return out
