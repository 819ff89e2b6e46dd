"""Drafting takedown notices from a case.

Rules:

* ``draft_notices`` makes one notice per platform covering the person's confirmed sightings there
  (sightings of items with a *confirmed* match). Without ``platform`` it drafts for every platform a
  sighting was found on; case-wide routes (KCSC, ADSC, StopNCII, Take It Down, generic e-mail/web form)
  are drafted when named. A minor's case goes only to routes for minors (see
  :mod:`reclaim.takedown.platforms`), and by default to all of them.
* A sighting already covered by a notice to the same platform that was not refused is not drafted again;
  a new notice to a platform with earlier notices for the person cites the latest one (``parent_id``).
* Sightings a scan flagged as re-uploads of a cluster confirmed for the person count as confirmed
  (:mod:`reclaim.takedown.reupload`); without an earlier notice to the platform, the notice cites
  the one they were flagged against. A follow-up's text names the cited notice, platform and date.
* The name shown is a pseudonym ("Case 3f9a0c1d") unless ``name_visible``; names never go into events.
* A notice cites the person's evidence package by its manifest's SHA-256, asked of :mod:`reclaim.evidence`
  (the latest export event, or a given package file).
* Nothing is sent here (see :mod:`reclaim.takedown.sending`); each draft is a custody event
  ``takedown.drafted``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from reclaim.errors import UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.evidence.package import latest_export
from reclaim.evidence.verify import manifest_facts
from reclaim.lang import LANGS, Lang
from reclaim.matching.scope import scopes_of, sightings_in
from reclaim.persons.service import get_person
from reclaim.store.models import Item, Match, Notice, NoticeSighting, Person, Sighting, utcnow
from reclaim.takedown.platforms import Platform, all_platforms, get_platform
from reclaim.takedown.rendering import field_values, posted_or_seen, render_text

LangChoice = Literal["en", "ko", "both"]


@dataclass(frozen=True)
class EvidenceRef:
    manifest_sha256: str | None
    source: str
    """"export event <id>", "package <file>" or "none"."""


def latest_evidence(session: Session, person_id: str) -> EvidenceRef:
    """The manifest hash of the person's latest exported evidence package, or none."""
    export = latest_export(session, person_id=person_id)
    if export is None:
        return EvidenceRef(None, "none")
    return EvidenceRef(export.manifest_sha256, f"export event {export.event_id}")


def package_evidence(path: Path, person_id: str) -> EvidenceRef:
    """The manifest hash of a given evidence package; the package must be this person's."""
    facts = manifest_facts(path)
    if facts.person_id != person_id:
        raise UserError(f"{path}: this package is for another person")
    return EvidenceRef(facts.manifest_sha256, f"package {path.name}")


def confirmed_sightings(session: Session, person: Person) -> list[Sighting]:
    """Every sighting of an item with a confirmed match for the person, plus the sightings a scan flagged
    as re-uploads of a cluster confirmed for the person (:mod:`reclaim.takedown.reupload`), oldest first."""
    item_ids = select(Match.item_id).where(Match.person_id == person.id, Match.status == "confirmed")
    rows = list(
        session.scalars(
            select(Sighting).where(Sighting.item_id.in_(item_ids)).options(selectinload(Sighting.item))
        ).all()
    )
    clusters = select(Item.cluster_id).where(Item.id.in_(item_ids), Item.cluster_id.is_not(None))
    mates = session.scalars(
        select(Sighting)
        .join(Item, Item.id == Sighting.item_id)
        .where(Item.cluster_id.in_(clusters), Sighting.item_id.not_in(item_ids))
        .options(selectinload(Sighting.item))
    ).all()
    rows += [s for s in mates if reupload_of(s, person.id) is not None]
    mine = set(session.scalars(sightings_in(scopes_of(session, person.id))))  # never another case's
    return sorted((s for s in rows if s.id in mine), key=lambda s: (posted_or_seen(s), s.id))


def reupload_of(sighting: Sighting, person_id: str) -> str | None:
    """The notice id a sighting was flagged as a re-upload of, for this person (else None)."""
    flag = (sighting.extra or {}).get("reupload")
    if isinstance(flag, dict) and flag.get("person_id") == person_id and flag.get("of_notice"):
        return str(flag["of_notice"])
    return None


def reupload_route(sighting: Sighting, person_id: str) -> str | None:
    """The platform a re-upload found on no platform was routed to (that of the notice it re-uploads)."""
    flag = (sighting.extra or {}).get("reupload")
    if isinstance(flag, dict) and flag.get("person_id") == person_id and isinstance(flag.get("route"), str):
        return str(flag["route"])
    return None


@dataclass
class DraftResult:
    notices: list[Notice] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Platform name → why no notice was drafted."""
    unrouted: list[int] = field(default_factory=list)
    """Confirmed sightings no drafted platform covers (e.g. personal chats, plain files)."""
    evidence: EvidenceRef | None = None


def _langs(lang: LangChoice) -> tuple[Lang, ...]:
    if lang == "both":
        return LANGS
    if lang not in LANGS:
        raise UserError("--lang must be en, ko or both")
    return (lang,)


def _chosen_platforms(person: Person, platform: str | None, recipient: str | None) -> list[type[Platform]]:
    """The platform named (checked against the person's age and the route's needs), else every platform a
    sighting can be on (every route for minors, for a minor)."""
    if platform is None:
        if person.minor:
            return [p for p in all_platforms() if p.for_minors]
        return [p for p in all_platforms() if p.scope == "sightings"]
    p = get_platform(platform)
    if person.minor and not p.for_minors:
        allowed = ", ".join(x.name for x in all_platforms() if x.for_minors)
        raise UserError(f"{p.name}: this person is a minor; notices go only to {allowed}")
    if p.adults_only and person.minor:
        raise UserError(f"{p.name} is for adults only")
    if p.name == "email" and not recipient:
        raise UserError("the generic e-mail platform needs --to ADDRESS")
    return [p]


@dataclass(frozen=True)
class _Request:
    """What one ``draft_notices`` call asks, shared by the notices it drafts."""

    person: Person
    lang: LangChoice
    langs: tuple[Lang, ...]
    evidence: EvidenceRef
    name_visible: bool
    contact: str | None
    recipient: str | None


def _earlier_notices(session: Session, person: Person, platform: type[Platform]) -> list[Notice]:
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.person_id == person.id, Notice.platform == platform.name)
            .options(selectinload(Notice.sightings))
            .order_by(Notice.created_at, Notice.id)
        ).all()
    )


def _draft_one(
    session: Session, req: _Request, p: type[Platform], new: list[Sighting], parent: Notice | None
) -> Notice:
    """Add the notice to ``p`` for the ``new`` sightings (citing ``parent``) and log its event."""
    values = {
        lg: field_values(
            session, platform=p, person=req.person, sightings=new,
            evidence_sha256=req.evidence.manifest_sha256, lang=lg, name_visible=req.name_visible,
            contact=req.contact, recipient=req.recipient,
        )
        for lg in req.langs
    }  # fmt: skip
    text = "\n\n".join(render_text(p, values[lg], lg, parent=parent) for lg in req.langs)
    now = utcnow()
    notice = Notice(
        person_id=req.person.id,
        platform=p.name,
        status="draft",
        lang=req.lang,
        text=text,
        fields=cast(dict[str, Any], values),
        recipient=req.recipient if p.can_send() else None,
        evidence_sha256=req.evidence.manifest_sha256,
        parent_id=parent.id if parent else None,
        created_at=now,
        updated_at=now,
    )
    notice.sightings = [NoticeSighting(sighting_id=s.id) for s in new]
    session.add(notice)
    session.flush()
    log_event(
        session,
        EventKind.TAKEDOWN_DRAFTED,
        subject=subject("notice", notice.id),
        detail={
            "notice_id": notice.id,
            "person_id": req.person.id,
            "platform": p.name,
            "lang": req.lang,
            "sightings": [s.id for s in new],
            "evidence_manifest_sha256": req.evidence.manifest_sha256,
            "parent_id": notice.parent_id,
            "name_visible": req.name_visible,
        },
    )
    return notice


def draft_notices(
    session: Session,
    *,
    person_id: str,
    platform: str | None = None,
    lang: LangChoice = "both",
    name_visible: bool = False,
    contact: str | None = None,
    recipient: str | None = None,
    package: Path | None = None,
    cites: Notice | None = None,
) -> DraftResult:
    """Draft notices for the person's confirmed sightings (see the module rules). Logs one
    ``takedown.drafted`` event per notice; the caller commits. ``cites``: the notice a new notice cites
    when none to the same platform comes before it (an escalation cites the notice it escalates)."""
    person = get_person(session, person_id)
    langs = _langs(lang)
    if package is not None:
        evidence = package_evidence(package, person.id)
    else:
        evidence = latest_evidence(session, person.id)
    sightings = confirmed_sightings(session, person)
    if not sightings:
        raise UserError("this person has no confirmed match with a sighting: review matches first")
    chosen = _chosen_platforms(person, platform, recipient)
    req = _Request(person, lang, langs, evidence, name_visible, contact, recipient)
    result = DraftResult(evidence=evidence)
    covered_ids: set[int] = set()
    for p in chosen:
        mine = [s for s in sightings if p.covers(s) or reupload_route(s, person.id) == p.name]
        if not mine:
            if platform is not None:
                raise UserError(f"no confirmed sighting of this person is on {p.name}")
            continue
        earlier = _earlier_notices(session, person, p)
        done = {ns.sighting_id for n in earlier if n.status != "refused" for ns in n.sightings}
        new = [s for s in mine if s.id not in done]
        covered_ids.update(s.id for s in mine)
        if not new:
            result.skipped[p.name] = "every sighting there is already in a notice"
            continue
        parent = earlier[-1] if earlier else cites
        if parent is None:  # a re-upload cites the notice it was flagged against (on another platform)
            cited = next((c for s in new if (c := reupload_of(s, person.id)) is not None), None)
            parent = session.get(Notice, cited) if cited else None
        result.notices.append(_draft_one(session, req, p, new, parent))
    result.unrouted = [s.id for s in sightings if s.id not in covered_ids]
    if not result.notices and not result.skipped:
        raise UserError("no platform covers this person's confirmed sightings; name one with --platform")
    return result
