"""Re-upload checks: a later scan's new sightings of a cluster confirmed for a person are flagged, and
follow-up notices citing the earlier ones are drafted.

Rules:

* A sighting added by the scan is a *re-upload* for a person when its item is in a cluster (PDQ near
  duplicates, so recompressed, resized and flipped copies join the original's cluster) holding an item
  with a *confirmed* match for that person, and the person already has a notice that was not refused.
  Before the first notice there is nothing to follow up: the first draft covers every confirmed sighting.
* The flag is kept on the sighting (``Sighting.extra["reupload"]``: ``person_id``, ``cluster_id``,
  ``of_notice``; a second person in the same cluster goes to ``extra["reupload_others"]``) and logged as
  a custody event ``sighting.reupload``. ``of_notice`` is the person's latest notice to a platform the
  sighting is on, else the person's latest notice.
* Then, per person, a follow-up notice is drafted (:func:`reclaim.takedown.drafting.draft_notices`) for
  each platform the flagged sightings are on; it cites the earlier notice to that platform, or the notice
  the re-upload was flagged against (``parent_id`` and a sentence in the text). Its language and contact
  are the cited notice's. A flagged sighting on no platform (a plain file, a personal chat) is routed to
  the platform of the notice it re-uploads (``route`` in its flag), and its follow-up goes there.
* Nothing is sent. Flagging twice is harmless: a flagged sighting is not flagged again.
* A scan runs the check when its caller passes :class:`ReuploadCheck` (the CLI, the team server and the
  demo do); the scan itself does not know takedown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from reclaim.errors import UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.matching.scope import persons_in
from reclaim.scan.checks import CheckCounts
from reclaim.store.models import Item, Match, Notice, Person, Scan, Sighting
from reclaim.takedown.drafting import LangChoice, draft_notices, reupload_of
from reclaim.takedown.platforms import Platform, all_platforms

FLAG = "reupload"
OTHERS = "reupload_others"


@dataclass(frozen=True)
class Reupload:
    sighting_id: int
    person_id: str
    cluster_id: int
    of_notice: str
    platforms: tuple[str, ...]


@dataclass
class ReuploadResult:
    flagged: list[Reupload] = field(default_factory=list)
    follow_ups: list[Notice] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """"person_id/platform" → why no follow-up was drafted there."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "flagged": [r.__dict__ | {"platforms": list(r.platforms)} for r in self.flagged],
            "follow_ups": [n.id for n in self.follow_ups],
            "skipped": self.skipped,
        }


def _platforms(sighting: Sighting) -> list[type[Platform]]:
    return [p for p in all_platforms() if p.scope == "sightings" and p.covers(sighting)]


def _contact(notice: Notice) -> str | None:
    for values in (notice.fields or {}).values():
        if isinstance(values, dict) and str(values.get("contact") or "").strip():
            return str(values["contact"])
    return None


def flag_reuploads(session: Session, scan_id: int, *, draft: bool = True) -> ReuploadResult:
    """Flag the re-uploads among the sightings the scan added and (``draft``) draft the follow-ups (see
    the module rules). Logs the events; the caller commits."""
    result = ReuploadResult()
    rows = session.execute(
        select(Sighting, Item.cluster_id)
        .join(Item, Item.id == Sighting.item_id)
        .where(Sighting.scan_id == scan_id, Item.cluster_id.is_not(None))
        .order_by(Sighting.id)
    ).all()
    if not rows:
        return result
    clusters = {c for _, c in rows}
    persons: dict[int, set[str]] = defaultdict(set)
    for cluster_id, person_id in session.execute(
        select(Item.cluster_id, Match.person_id)
        .join(Match, Match.item_id == Item.id)
        .where(Match.status == "confirmed", Item.cluster_id.in_(clusters))
        .distinct()
    ):
        if cluster_id is not None:
            persons[cluster_id].add(person_id)
    # Only persons matched in the scan's scope: a copy in another case's upload is that case's material,
    # never a re-upload in this one's notices (reclaim.matching.scope).
    scan = session.get(Scan, scan_id)
    in_scope = set(session.scalars(select(Person.id).where(persons_in(scan.case_id if scan else None))))
    for ps in persons.values():
        ps &= in_scope
    wanted = {p for ps in persons.values() for p in ps}
    if not wanted:
        return result
    notices: dict[str, list[Notice]] = defaultdict(list)
    for notice in session.scalars(
        select(Notice)
        .where(Notice.person_id.in_(wanted), Notice.status != "refused")
        .order_by(Notice.created_at, Notice.id)
    ):
        notices[notice.person_id].append(notice)

    for sighting, cluster_id in rows:
        if cluster_id is None:
            continue
        platforms = _platforms(sighting)
        names = tuple(p.name for p in platforms)
        for person_id in sorted(persons.get(cluster_id, ())):
            mine = notices.get(person_id)
            if not mine or reupload_of(sighting, person_id) is not None:
                continue
            on_platform = [n for n in mine if n.platform in names]
            of = (on_platform or mine)[-1]
            flag = {"person_id": person_id, "cluster_id": cluster_id, "of_notice": of.id}
            routes = names
            if not names:
                # A copy found where no platform shows (a plain file an advocate saved, a personal chat):
                # the follow-up goes to the platform of the notice it re-uploads.
                flag["route"] = of.platform
                routes = (of.platform,)
            extra = dict(sighting.extra or {})
            if isinstance(extra.get(FLAG), dict):
                extra[OTHERS] = [*extra.get(OTHERS, []), flag]
            else:
                extra[FLAG] = flag
            sighting.extra = extra  # a new dict: the JSON column is not mutation-tracked
            log_event(
                session,
                EventKind.SIGHTING_REUPLOAD,
                subject=subject("sighting", sighting.id),
                detail={
                    "person_id": person_id,
                    "cluster_id": cluster_id,
                    "sighting_id": sighting.id,
                    "notice_id": of.id,
                    "scan_id": scan_id,
                    "platforms": list(names),
                },
            )
            result.flagged.append(Reupload(sighting.id, person_id, cluster_id, of.id, routes))
    session.flush()
    if draft:
        _draft_follow_ups(session, result, notices)
    return result


class ReuploadCheck:
    """:func:`flag_reuploads` as a scan's post-scan check (:class:`reclaim.scan.checks.PostScanCheck`):
    ``scan_paths(ws, paths, checks=[ReuploadCheck()])`` flags the scan's re-uploads, drafts the
    follow-ups and counts both in the scan's report."""

    label = "re-upload check"

    def __call__(self, session: Session, scan_id: int) -> CheckCounts:
        result = flag_reuploads(session, scan_id)
        return {"reuploads": len(result.flagged), "follow_ups": len(result.follow_ups)}


def _draft_follow_ups(session: Session, result: ReuploadResult, notices: dict[str, list[Notice]]) -> None:
    by_person: dict[str, list[Reupload]] = defaultdict(list)
    for r in result.flagged:
        by_person[r.person_id].append(r)
    for person_id, flagged in by_person.items():
        cited = {n.id: n for n in notices[person_id]}
        names = sorted({name for r in flagged for name in r.platforms})
        for name in names:
            parent = next(cited[r.of_notice] for r in flagged if name in r.platforms)
            try:
                drafted = draft_notices(
                    session,
                    person_id=person_id,
                    platform=name,
                    lang=_lang(parent.lang),
                    contact=_contact(parent),
                    recipient=parent.recipient if parent.platform == name else None,
                )
            except (
                UserError
            ) as exc:  # e.g. a minor's case on a route for adults, an e-mail route without --to
                result.skipped[f"{person_id}/{name}"] = str(exc)
                continue
            result.follow_ups.extend(drafted.notices)
            for platform, why in drafted.skipped.items():
                result.skipped[f"{person_id}/{platform}"] = why


def _lang(value: str | None) -> LangChoice:
    return cast(LangChoice, value) if value in ("en", "ko", "both") else "both"
