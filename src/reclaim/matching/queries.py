"""Read side of matches: what ``reclaim matches`` prints (a stable, scriptable contract)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from reclaim.matching.scope import SightingFilter
from reclaim.sources.web import WEB_EXTRA_KEYS, WEB_SOURCE
from reclaim.store.models import Item, Match, Person, Sighting


def sighting_dict(s: Sighting) -> dict[str, Any]:
    """A sighting as the `matches --json` contract and the evidence manifest give it."""
    out: dict[str, Any] = {
        "source": s.source,
        "chat_id": s.chat_id,
        "chat_name": s.chat_name,
        "chat_type": s.chat_type,
        "message_id": s.message_id,
        "sender": s.sender,
        "sender_id": s.sender_id,
        "posted_at": s.posted_at.isoformat().replace("+00:00", "Z") if s.posted_at else None,
        "date_local": (s.extra or {}).get("date_local"),
        "caption": s.caption,
        "forwarded_from": s.forwarded_from,
        "reply_to": s.reply_to,
        "media_type": s.media_type,
        "path": s.path,
        "scanned_root": (s.extra or {}).get("scanned_root"),
    }
    if s.source == WEB_SOURCE:  # where on the web: the image and page URLs, capture time, status, archive
        out["web"] = {k: v for k, v in (s.extra or {}).items() if k in WEB_EXTRA_KEYS}
    original = (s.extra or {}).get("original_text")
    if original:
        # The exact text of fields that held control characters, as written (reclaim.text.escaped).
        out["original_text"] = original
    return out


def list_matches(
    session: Session, *, person_id: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    stmt = (
        select(Match)
        .join(Person)
        .join(Item, Item.id == Match.item_id)
        .options(selectinload(Match.item).selectinload(Item.sightings), selectinload(Match.person))
    )
    if person_id:
        stmt = stmt.where(Match.person_id == person_id)
    if status:
        stmt = stmt.where(Match.status == status)
    # Person names are encrypted (store.fields): ordered here, as SQLite's binary collation did.
    matches = sorted(session.scalars(stmt), key=lambda m: (m.person.name, m.kind, m.distance, m.item.sha256))
    out = []
    shown = SightingFilter(session)  # a person's matches show the sightings of their own scopes only
    for m in matches:
        sightings = sorted(
            (s for s in m.item.sightings if shown.allows(m.person_id, s.id)),
            key=lambda s: (s.posted_at is None, s.posted_at.isoformat() if s.posted_at else "", s.id),
        )
        out.append(
            {
                "match_id": m.id,
                "person_id": m.person_id,
                "person_name": m.person.name,
                "kind": m.kind,
                "status": m.status,
                "distance": round(m.distance, 4),
                "item_sha256": m.item.sha256,
                "item_kind": m.item.kind,
                "item_stored": m.item.stored,
                "cluster_id": m.item.cluster_id,
                "detail": m.detail,
                "via": (m.detail or {}).get("via") if m.kind == "repost" else None,
                "sightings": [sighting_dict(s) for s in sightings],
            }
        )
    return out
