"""Confirm or reject a match, optionally across its near-duplicate cluster. Every change is an event.

Rules:

* The named match takes the decision whatever its status: changing a decision (confirmed → rejected) is
  explicit because the user named that match, and the event records the previous status.
* With ``cluster=True`` the same person's other matches on items of the same cluster take the decision
  only while they are still candidates. A sibling someone already decided the other way is left as it is
  (reported in ``kept``): a cluster-wide decision never silently overturns an explicit one.
* Re-applying the status a match already has is a no-op: no event, reported in ``unchanged``.
* Repost matches (``kind="repost"``, carried over the cluster from a face or hash match: see
  :mod:`reclaim.matching.service`) are matches like the others: ``cluster=True`` decides them with the
  rest. Rejecting the match a repost was carried from does not reject the repost: without ``cluster`` it
  stays a candidate for review, and the result names it (``reposts_pending``), an edited repost found by
  the robust engine (in another cluster, ``via.signal`` "robust:…") included.
* No new matches are created: cluster items without a match for the person are only reported, so the
  user can look at them.
* One commit at the end: all or nothing.

Also here: the record that someone chose to see a person's media unblurred (:func:`record_unblurred`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.store.models import Item, Match

ReviewDecision = Literal["confirmed", "rejected"]
DECISION_EVENTS: dict[ReviewDecision, EventKind] = {
    "confirmed": EventKind.MATCH_CONFIRMED,
    "rejected": EventKind.MATCH_REJECTED,
}
DECISIONS: tuple[str, ...] = get_args(ReviewDecision)
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class Decision:
    """One match whose status this review changed."""

    match_id: str
    item_sha256: str
    status: str
    previous_status: str
    via: Literal["direct", "cluster"]


@dataclass(frozen=True)
class ReviewResult:
    match_id: str
    decision: ReviewDecision
    decided: list[Decision] = field(default_factory=list)
    """Matches whose status changed (the named one first), one event each."""
    unchanged: list[str] = field(default_factory=list)
    """Match ids that already had the decided status: nothing written."""
    kept: list[Decision] = field(default_factory=list)
    """Cluster siblings already decided the other way, left as they are (``status`` is their status)."""
    cluster_items_without_match: list[str] = field(default_factory=list)
    """SHA-256 of items in the cluster with no match at all for the person (only with ``cluster=True``)."""
    reposts_pending: list[str] = field(default_factory=list)
    """After a rejection: candidate repost matches carried from a match this review rejected (they stay
    for review: a repost can show the person even when the item it was linked through was rejected)."""


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise UserError(f"the note is {len(note)} characters long; keep it under {MAX_NOTE_CHARS}")
    return note or None


def review_match(
    session: Session,
    *,
    match_id: str,
    decision: ReviewDecision,
    note: str | None = None,
    cluster: bool = False,
    actor: str | None = None,
) -> ReviewResult:
    """Set ``decision`` on a match (and, with ``cluster``, on the person's candidate matches of every item
    in the match's near-duplicate cluster). Writes one ``match.confirmed`` / ``match.rejected`` event per
    changed match and commits once. Raises NotFound for an unknown id, UserError for a bad decision."""
    if decision not in DECISIONS:
        raise UserError(f"a review decides 'confirmed' or 'rejected', not {decision!r}")
    note = _clean_note(note)
    match = session.get(Match, match_id)
    if match is None:
        raise NotFound(f"no match with id {match_id!r} (see 'reclaim matches')")
    result = ReviewResult(match_id=match.id, decision=decision)

    targets: list[tuple[Match, Literal["direct", "cluster"]]] = [(match, "direct")]
    cluster_id = match.item.cluster_id
    if cluster and cluster_id is not None:
        siblings = session.scalars(
            select(Match)
            .join(Item, Item.id == Match.item_id)
            .where(Match.person_id == match.person_id, Item.cluster_id == cluster_id, Match.id != match.id)
            .order_by(Item.sha256, Match.kind, Match.id)
        ).all()
        targets += [(m, "cluster") for m in siblings]
        matched_items = {match.item_id} | {m.item_id for m in siblings}
        result.cluster_items_without_match.extend(
            session.scalars(
                select(Item.sha256)
                .where(Item.cluster_id == cluster_id, Item.id.not_in(matched_items))
                .order_by(Item.sha256)
            )
        )

    for m, via in targets:
        previous = m.status
        if previous == decision:
            result.unchanged.append(m.id)
            continue
        if via == "cluster" and previous != "candidate":
            result.kept.append(Decision(m.id, m.item.sha256, previous, previous, via))
            continue
        m.status = decision
        detail = {
            "match_id": m.id,
            "person_id": m.person_id,
            "item_sha256": m.item.sha256,
            "previous_status": previous,
            "note": note,
            "via": via,
        }
        if via == "cluster":
            detail["via_match"] = match.id
        log_event(
            session, DECISION_EVENTS[decision], subject=subject("match", m.id), detail=detail, actor=actor
        )
        result.decided.append(Decision(m.id, m.item.sha256, decision, previous, via))

    rejected = {d.match_id for d in result.decided if d.status == "rejected"}
    if rejected:
        # the cluster's reposts, and edited reposts the robust engine linked from another cluster
        reposts = session.scalars(
            select(Match)
            .join(Item, Item.id == Match.item_id)
            .where(
                Match.person_id == match.person_id,
                Match.kind == "repost",
                Match.status == "candidate",
            )
            .order_by(Item.sha256, Match.id)
        )
        result.reposts_pending.extend(
            m.id for m in reposts if ((m.detail or {}).get("via") or {}).get("match_id") in rejected
        )
    if result.decided:
        session.commit()
    return result


def record_unblurred(session: Session, *, person_id: str, purpose: str, lang: str) -> None:
    """Record, as a ``media.unblurred`` custody event, that someone chose to see ``person_id``'s media
    unblurred (``purpose``: e.g. "evidence report", in language ``lang``), and commit it. Seeing a
    victim's images is a deliberate act: it is logged before the images are shown."""
    log_event(
        session,
        EventKind.MEDIA_UNBLURRED,
        subject=subject("person", person_id),
        detail={"purpose": purpose, "lang": lang},
    )
    session.commit()
