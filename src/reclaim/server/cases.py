"""Cases on the team server: the service layer the REST API and the web UI both call.

A case is one victim's file at a support centre: the enrolled person (with their consent), the material
scanned for them and the users assigned to it. Access rules (see :mod:`reclaim.server.auth`): an admin
sees every case; an advocate or a viewer only the cases assigned to them (a viewer read-only); a
platform account sees none. A case the caller may not see is reported exactly like a case that does not
exist (NotFound "no such case"), and the same holds for matches, items and jobs reached through a case.

Every function takes the session and the principal explicitly, checks access first, and writes a custody
event for every state change (``case.created``, ``case.assigned``, ``case.unassigned``,
``media.revealed``; enrolment and review log their own). Results are Pydantic models, so the API's
OpenAPI schema is typed by the same classes the UI renders.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.forensics.service import explain_item
from reclaim.matching.queries import list_matches
from reclaim.persons.service import add_person
from reclaim.review.service import ReviewDecision, review_match
from reclaim.server.auth import (
    CASE_ROLES,
    Forbidden,
    Principal,
    assign,
    case_for,
    create_user,
    visible_cases,
)
from reclaim.server.jobs import TMP_DIR, safe_filename
from reclaim.store.models import Case, CaseMember, Consent, Item, Match, Person, Sighting, User, new_id
from reclaim.workspace import Held, Workspace

MAX_TITLE = 200
MAX_PHOTOS = 10
MAX_PHOTO_BYTES = 30 * 1024**2
SHA256_HEX = 64
NO_MATCH = "no such match"
NO_ITEM = "no such item in this case"


# --- schemas ---------------------------------------------------------------------------------------------


class PersonOut(BaseModel):
    person_id: str
    name: str
    minor: bool
    keep_photos: bool
    templates: int
    known_images: int


class ConsentOut(BaseModel):
    statement: str
    recorded_by: str
    recorded_at: datetime


class MemberOut(BaseModel):
    user_id: int
    username: str
    role: str


class MatchCounts(BaseModel):
    candidate: int = 0
    confirmed: int = 0
    rejected: int = 0
    total: int = 0
    items: int = 0
    clusters: int = 0
    sightings: int = 0


class CaseOut(BaseModel):
    """A case as lists show it."""

    case_id: str
    title: str
    status: str
    created_at: datetime
    person: PersonOut | None
    counts: MatchCounts


class CaseDetail(CaseOut):
    """A case with its consent and members."""

    consents: list[ConsentOut]
    members: list[MemberOut]


class SightingOut(BaseModel):
    source: str
    chat_id: str | None = None
    chat_name: str | None = None
    chat_type: str | None = None
    message_id: int | None = None
    sender: str | None = None
    sender_id: str | None = None
    posted_at: str | None = None
    date_local: str | None = None
    caption: str | None = None
    forwarded_from: str | None = None
    reply_to: int | None = None
    media_type: str | None = None
    path: str | None = None
    scanned_root: str | None = None
    web: dict[str, str] | None = None
    """A web sighting's URL, page URL, capture time, HTTP status and archive (reclaim.sources.web)."""


class MatchOut(BaseModel):
    match_id: str
    kind: str
    status: str
    distance: float
    item_sha256: str
    item_kind: str | None
    item_stored: bool
    cluster_id: int | None
    detail: dict[str, Any] | None
    via: dict[str, Any] | None = None
    """For ``kind="repost"``: the matched item and the signal that linked them (see ``reclaim matches``)."""
    sightings: list[SightingOut]


class ClusterOut(BaseModel):
    """The case person's matches on one near-duplicate cluster (or one unclustered item)."""

    cluster_id: int | None
    items: int
    matches: list[MatchOut]
    counts: dict[str, int]
    """Matches by status: candidate, confirmed, rejected."""
    sightings: int
    first_seen: str | None
    """Earliest post time of any sighting (ISO 8601, UTC), when known."""
    last_seen: str | None


class DecisionOut(BaseModel):
    match_id: str
    item_sha256: str
    status: str
    previous_status: str
    via: str


class ReviewOut(BaseModel):
    match_id: str
    decision: str
    decided: list[DecisionOut]
    unchanged: list[str]
    kept: list[DecisionOut]
    cluster_items_without_match: list[str]
    reposts_pending: list[str] = []
    """After a rejection: candidate repost matches carried from the rejected match, still to review."""


class ExplainOut(BaseModel):
    """What reclaim can say about how an item was made (see ``reclaim explain``), limited to the persons
    of the caller's cases."""

    item: dict[str, Any]
    matches: list[dict[str, Any]]
    statements: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    computed: bool
    not_computed: list[str]
    note: str


# --- inputs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """A consenting person to enrol with a new case. Photos are (file name, bytes); they are written to
    a private temporary folder for the enrolment and removed afterwards (kept encrypted in the vault
    only with ``keep_photos``)."""

    name: str
    consent: str
    photos: Sequence[tuple[str, bytes]]
    known_images: Sequence[tuple[str, bytes]] = field(default_factory=tuple)
    minor: bool = False
    keep_photos: bool = False


# --- helpers ----------------------------------------------------------------------------------------------


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def _require_write_role(principal: Principal) -> None:
    if principal.role not in CASE_ROLES:
        raise Forbidden("this account cannot see cases")
    if not principal.can_write:
        raise Forbidden("this account is read-only")


def _require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise Forbidden(f"a {principal.role} account cannot do this")


def _person_out(person: Person | None) -> PersonOut | None:
    if person is None:
        return None
    return PersonOut(
        person_id=person.id,
        name=person.name,
        minor=person.minor,
        keep_photos=person.keep_photos,
        templates=len(person.templates),
        known_images=len(person.known_images),
    )


def _counts(session: Session, person_id: str | None) -> MatchCounts:
    if person_id is None:
        return MatchCounts()
    rows = session.execute(
        select(Match.status, func.count()).where(Match.person_id == person_id).group_by(Match.status)
    ).all()
    by_status = {status: int(n) for status, n in rows}
    items = select(Match.item_id).where(Match.person_id == person_id)
    n_items = session.scalar(
        select(func.count(func.distinct(Match.item_id))).where(Match.person_id == person_id)
    )
    n_clusters = session.scalar(
        select(func.count(func.distinct(Item.cluster_id))).where(
            Item.id.in_(items), Item.cluster_id.is_not(None)
        )
    )
    unclustered = session.scalar(
        select(func.count()).select_from(Item).where(Item.id.in_(items), Item.cluster_id.is_(None))
    )
    n_sightings = session.scalar(
        select(func.count()).select_from(Sighting).where(Sighting.item_id.in_(items))
    )
    return MatchCounts(
        candidate=by_status.get("candidate", 0),
        confirmed=by_status.get("confirmed", 0),
        rejected=by_status.get("rejected", 0),
        total=sum(by_status.values()),
        items=int(n_items or 0),
        clusters=int(n_clusters or 0) + int(unclustered or 0),
        sightings=int(n_sightings or 0),
    )


def _case_out(session: Session, case: Case) -> CaseOut:
    return CaseOut(
        case_id=case.id,
        title=case.title,
        status=case.status,
        created_at=case.created_at,
        person=_person_out(case.person),
        counts=_counts(session, case.person_id),
    )


def _visible_person_ids(session: Session, principal: Principal, *, write: bool = False) -> set[str]:
    """Persons of the cases ``principal`` may see (with ``write``: may change)."""
    if principal.role not in CASE_ROLES or (write and not principal.can_write):
        return set()
    if principal.role == "admin":
        return set(session.scalars(select(Person.id)))
    return {c.person_id for c in visible_cases(session, principal) if c.person_id is not None}


def _enrol(session: Session, ws: Workspace, enrolment: Enrolment, *, recorded_by: str, case_id: str) -> str:
    """Enrol the person from uploaded photos; returns the person id. Holds the workspace's writer lock
    (an enrolment searches every stored item), so it fails with UserError while a scan runs."""
    if not enrolment.photos:
        raise UserError("at least one photo with the person's face is required")
    if len(enrolment.photos) + len(enrolment.known_images) > MAX_PHOTOS:
        raise UserError(f"at most {MAX_PHOTOS} photos and known images per enrolment")
    for name, data in (*enrolment.photos, *enrolment.known_images):
        if len(data) > MAX_PHOTO_BYTES:
            raise UserError(f"{safe_filename(name)}: above the limit of {MAX_PHOTO_BYTES:,} bytes")
    tmp_root = ws.root / TMP_DIR
    tmp_root.mkdir(mode=0o700, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="enrol-", dir=tmp_root))
    held = Held(tmp)  # a server killed mid-enrolment leaves the photos; the next start sweeps them
    try:

        def write(files: Sequence[tuple[str, bytes]], sub: str) -> list[Path]:
            folder = tmp / sub
            folder.mkdir()
            paths = []
            for i, (name, data) in enumerate(files):
                (folder / f"{i:02d}").mkdir()
                path = folder / f"{i:02d}" / safe_filename(name)
                path.write_bytes(data)
                paths.append(path)
            return paths

        photos = write(enrolment.photos, "photos")
        known = write(enrolment.known_images, "known")
        with ws.exclusive("the enrolment"):
            summary = add_person(
                session,
                ws.key,
                name=enrolment.name,
                photos=photos,
                consent=enrolment.consent,
                known_images=known,
                minor=enrolment.minor,
                recorded_by=recorded_by,
                vault=ws.vault,
                keep_photos=enrolment.keep_photos,
                case_id=case_id,
            )
        return summary.person_id
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        held.release()


# --- cases ------------------------------------------------------------------------------------------------


def list_cases(session: Session, principal: Principal) -> list[CaseOut]:
    """The cases ``principal`` may see, newest first (Forbidden for a platform account)."""
    return [_case_out(session, c) for c in visible_cases(session, principal)]


def get_case(session: Session, principal: Principal, case_id: str) -> CaseDetail:
    """A case's summary: person, consent, members and match counts (NotFound when not visible)."""
    case = case_for(session, principal, case_id)
    consents = []
    if case.person_id is not None:
        consents = [
            ConsentOut(statement=c.statement, recorded_by=c.recorded_by, recorded_at=c.recorded_at)
            for c in session.scalars(
                select(Consent).where(Consent.person_id == case.person_id).order_by(Consent.id)
            )
        ]
    members = [
        MemberOut(user_id=u.id, username=u.username, role=u.role)
        for u in session.scalars(
            select(User)
            .join(CaseMember, CaseMember.user_id == User.id)
            .where(CaseMember.case_id == case.id)
            .order_by(User.username)
        )
    ]
    base = _case_out(session, case)
    return CaseDetail(**base.model_dump(), consents=consents, members=members)


def create_case(
    session: Session,
    ws: Workspace,
    principal: Principal,
    *,
    title: str,
    enrolment: Enrolment | None = None,
    person_id: str | None = None,
) -> CaseDetail:
    """Open a case (admin or advocate; an advocate is assigned to the case they open). With
    ``enrolment`` the consenting person is enrolled first (all photos checked before anything is stored:
    one bad photo stores nothing, no case is created). ``person_id`` links an already enrolled person
    (admin only: persons are not otherwise visible across cases). Commits; logs ``case.created``."""
    _require_write_role(principal)
    title = title.strip()
    if not title or len(title) > MAX_TITLE:
        raise UserError(f"a case needs a title of 1 to {MAX_TITLE} characters")
    if enrolment is not None and person_id is not None:
        raise UserError("either enrol a new person or link an enrolled one, not both")
    if person_id is not None:
        _require_admin(principal)
        if session.get(Person, person_id) is None:
            raise NotFound("no such person")
    case_id = new_id()
    if enrolment is not None:
        person_id = _enrol(session, ws, enrolment, recorded_by=f"user:{principal.username}", case_id=case_id)
    case = Case(id=case_id, title=title, person_id=person_id, status="open", created_by=principal.user_id)
    session.add(case)
    session.flush()
    log_event(
        session,
        EventKind.CASE_CREATED,
        subject=subject("case", case.id),
        detail={"person_id": person_id, "enrolled": enrolment is not None},
    )
    if principal.role != "admin":
        user = session.get(User, principal.user_id)
        assert user is not None
        assign(session, case, user)
    session.commit()
    return get_case(session, principal, case.id)


def enrol_case_person(
    session: Session, ws: Workspace, principal: Principal, case_id: str, enrolment: Enrolment
) -> CaseDetail:
    """Enrol the person of a case opened without one (admin, or an advocate of the case)."""
    case = case_for(session, principal, case_id, write=True)
    if case.person_id is not None:
        raise UserError("this case already has an enrolled person")
    person_id = _enrol(session, ws, enrolment, recorded_by=f"user:{principal.username}", case_id=case.id)
    case = case_for(session, principal, case_id, write=True)
    case.person_id = person_id
    log_event(
        session,
        EventKind.CASE_PERSON_ENROLLED,
        subject=subject("case", case.id),
        detail={"person_id": person_id},
    )
    session.commit()
    return get_case(session, principal, case.id)


def _user(session: Session, *, user_id: int | None = None, username: str | None = None) -> User:
    user = None
    if user_id is not None:
        user = session.get(User, user_id)
    elif username is not None:
        user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("no such user")
    return user


def assign_member(
    session: Session,
    principal: Principal,
    case_id: str,
    *,
    user_id: int | None = None,
    username: str | None = None,
) -> CaseDetail:
    """Assign a user (by id or name) to a case (admin only; platform accounts cannot be assigned).
    Idempotent; logs ``case.assigned`` when it changes anything. Commits."""
    _require_admin(principal)
    case = case_for(session, principal, case_id)
    assign(session, case, _user(session, user_id=user_id, username=username))
    session.commit()
    return get_case(session, principal, case_id)


def remove_member(session: Session, principal: Principal, case_id: str, user_id: int) -> CaseDetail:
    """Remove a user from a case (admin only). Logs ``case.unassigned``; NotFound when not a member."""
    _require_admin(principal)
    case = case_for(session, principal, case_id)
    member = session.scalar(
        select(CaseMember).where(CaseMember.case_id == case.id, CaseMember.user_id == user_id)
    )
    if member is None:
        raise NotFound("no such member of this case")
    session.delete(member)
    log_event(
        session, EventKind.CASE_UNASSIGNED, subject=subject("case", case.id), detail={"user_id": user_id}
    )
    session.commit()
    return get_case(session, principal, case_id)


# --- matches and review -----------------------------------------------------------------------------------


def case_matches(
    session: Session, principal: Principal, case_id: str, *, status: str | None = None
) -> list[ClusterOut]:
    """The case person's matches grouped by near-duplicate cluster (unclustered items alone), the
    clusters with candidates first, then by earliest sighting."""
    case = case_for(session, principal, case_id)
    if case.person_id is None:
        return []
    groups: dict[tuple[str, int | str], list[dict[str, Any]]] = defaultdict(list)
    for m in list_matches(session, person_id=case.person_id, status=status):
        key: tuple[str, int | str] = (
            ("c", m["cluster_id"]) if m["cluster_id"] is not None else ("i", m["item_sha256"])
        )
        groups[key].append(m)
    out = []
    for rows in groups.values():
        times = [s["posted_at"] for m in rows for s in m["sightings"] if s["posted_at"]]
        counts = {"candidate": 0, "confirmed": 0, "rejected": 0}
        for m in rows:
            counts[m["status"]] = counts.get(m["status"], 0) + 1
        out.append(
            ClusterOut(
                cluster_id=rows[0]["cluster_id"],
                items=len({m["item_sha256"] for m in rows}),
                matches=[MatchOut.model_validate(m) for m in rows],
                counts=counts,
                sightings=sum(len(m["sightings"]) for m in rows),
                first_seen=min(times) if times else None,
                last_seen=max(times) if times else None,
            )
        )
    out.sort(
        key=lambda c: (
            c.counts["candidate"] == 0,
            c.first_seen is None,
            c.first_seen or "",
            c.cluster_id or 0,
        )
    )
    return out


def review_case_match(
    session: Session,
    principal: Principal,
    *,
    match_id: str,
    decision: ReviewDecision,
    note: str | None = None,
    cluster: bool = False,
    case_id: str | None = None,
) -> ReviewOut:
    """Confirm or reject a match of a case's person (admin, or an advocate of a case of that person; a
    viewer gets Forbidden). With ``case_id`` the match must belong to that case's person. A match the
    caller may not see is NotFound("no such match"), like one that does not exist."""
    if case_id is not None:
        case = case_for(session, principal, case_id, write=True)
        allowed = {case.person_id} if case.person_id else set()
    else:
        _require_write_role(principal)
        allowed = _visible_person_ids(session, principal, write=True)
    match = session.get(Match, match_id)
    if match is None or match.person_id not in allowed:
        raise NotFound(NO_MATCH)
    result = review_match(
        session, match_id=match_id, decision=decision, note=note, cluster=cluster, actor=None
    )

    def d(x: Any) -> DecisionOut:
        return DecisionOut(
            match_id=x.match_id,
            item_sha256=x.item_sha256,
            status=x.status,
            previous_status=x.previous_status,
            via=x.via,
        )

    return ReviewOut(
        match_id=result.match_id,
        decision=result.decision,
        decided=[d(x) for x in result.decided],
        unchanged=list(result.unchanged),
        kept=[d(x) for x in result.kept],
        cluster_items_without_match=list(result.cluster_items_without_match),
        reposts_pending=list(result.reposts_pending),
    )


# --- items: media and explanation --------------------------------------------------------------------------


def case_item(session: Session, principal: Principal, case_id: str, sha256: str) -> Item:
    """An item matched to the case's person (NotFound otherwise, and for a case not visible). Checks
    access only; nothing is logged (use :func:`item_media` to reveal the bytes)."""
    case = case_for(session, principal, case_id)
    sha256 = sha256.strip().lower()
    if case.person_id is None or len(sha256) != SHA256_HEX:
        raise NotFound(NO_ITEM)
    item = session.scalar(
        select(Item)
        .join(Match, Match.item_id == Item.id)
        .where(Item.sha256 == sha256, Match.person_id == case.person_id)
        .limit(1)
    )
    if item is None:
        raise NotFound(NO_ITEM)
    return item


def item_media(session: Session, ws: Workspace, principal: Principal, case_id: str, sha256: str) -> bytes:
    """The bytes of a case item, for a member of the case (any case role, a viewer too) or an admin.
    Every reveal is a custody event (``media.revealed``: who, which case, which item), committed before
    the bytes are returned. NotFound when the item is not the case's, or its media are not stored
    (hash-only scans, a minor's material)."""
    item = case_item(session, principal, case_id, sha256)
    if not item.stored or not ws.vault.has(item.sha256):
        raise NotFound("the media of this item are not stored (hash-only scan, or a minor's material)")
    data = ws.vault.get(item.sha256)
    log_event(
        session,
        EventKind.MEDIA_REVEALED,
        subject=subject("item", item.sha256),
        detail={"case_id": case_id, "sha256": item.sha256},
    )
    session.commit()
    return data


def explain_case_item(
    session: Session, principal: Principal, sha256: str, *, case_id: str | None = None
) -> ExplainOut:
    """``reclaim explain`` for an item matched to the person of a case the caller may see (with
    ``case_id``: of that case). Matches and person-dependent findings of persons outside the caller's
    cases are left out. NotFound otherwise."""
    sha256 = sha256.strip().lower()
    if case_id is not None:
        item = case_item(session, principal, case_id, sha256)
        case = case_for(session, principal, case_id)
        persons = {case.person_id} if case.person_id else set()
    else:
        persons = _visible_person_ids(session, principal)
        found = None
        if persons and len(sha256) == SHA256_HEX:
            found = session.scalar(
                select(Item)
                .join(Match, Match.item_id == Item.id)
                .where(Item.sha256 == sha256, Match.person_id.in_(persons))
                .limit(1)
            )
        if found is None:
            raise NotFound("no such item")
        item = found
    return ExplainOut.model_validate(explain_item(session, item, persons=persons))


# --- users (admin) -----------------------------------------------------------------------------------------


class UserOut(BaseModel):
    user_id: int
    username: str
    role: str
    active: bool
    created_at: datetime
    cases: list[str] = Field(default_factory=list)


def list_users(session: Session, principal: Principal) -> list[UserOut]:
    """Every user with the cases assigned to them (admin only)."""
    _require_admin(principal)
    cases: dict[int, list[str]] = defaultdict(list)
    for m in session.scalars(select(CaseMember).order_by(CaseMember.case_id)):
        cases[m.user_id].append(m.case_id)
    return [
        UserOut(
            user_id=u.id,
            username=u.username,
            role=u.role,
            active=u.active,
            created_at=u.created_at,
            cases=cases[u.id],
        )
        for u in session.scalars(select(User).order_by(User.username))
    ]


def add_user(session: Session, principal: Principal, *, username: str, password: str, role: str) -> UserOut:
    """Create a user (admin only). Logs ``user.created``. Commits."""
    _require_admin(principal)
    user = create_user(session, username=username, password=password, role=role)
    session.commit()
    return UserOut(
        user_id=user.id,
        username=user.username,
        role=user.role,
        active=user.active,
        created_at=user.created_at,
    )
