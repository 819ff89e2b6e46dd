"""Takedown notices: draft them from a case, send those with an e-mail route, track their status.

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
* Nothing is sent automatically. :func:`send_notice` sends only e-mail routes, through the SMTP server
  the user configured (the only network call of this package). A failure leaves the notice a draft with
  the error recorded.
* Every change (draft, send, send failure, status change, overdue) is a custody event ``takedown.*``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import smtplib
import ssl
import statistics
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Literal, cast, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from reclaim.errors import DependencyError, NotFound, UserError
from reclaim.events import log_event
from reclaim.forensics.service import STATEMENT_KO, item_findings, statements
from reclaim.persons.service import get_person
from reclaim.store.models import Event, Item, Match, Notice, NoticeSighting, Person, Sighting, utcnow
from reclaim.takedown.platforms import Platform, all_platforms, get_platform, host_matches, url_host
from reclaim.takedown.templates import (
    LABELS,
    LANGS,
    PLATFORM_TITLES_KO,
    RESPONSE_BASIS_KO,
    Lang,
    t,
)

NoticeStatus = Literal["draft", "sent", "acknowledged", "removed", "refused", "overdue"]
STATUSES: tuple[str, ...] = get_args(NoticeStatus)
LangChoice = Literal["en", "ko", "both"]
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

EXPORT_EVENT = "evidence.exported"


# --- drafting ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceRef:
    manifest_sha256: str | None
    source: str
    """"export event <id>", "package <file>" or "none"."""


def latest_evidence(session: Session, person_id: str) -> EvidenceRef:
    """The manifest hash of the person's latest exported evidence package (its ``evidence.exported``
    event), or none."""
    events = session.scalars(
        select(Event)
        .where(Event.kind == EXPORT_EVENT, Event.subject == f"person:{person_id}")
        .order_by(Event.id.desc())
    )
    for event in events:
        sha = (event.detail or {}).get("manifest_sha256")
        if isinstance(sha, str) and len(sha) == 64:
            return EvidenceRef(sha, f"export event {event.id}")
    return EvidenceRef(None, "none")


def package_evidence(path: Path, person_id: str) -> EvidenceRef:
    """The manifest hash of a given evidence package (SHA-256 of its manifest.json bytes); the package must
    be this person's."""
    try:
        with zipfile.ZipFile(path) as zf:
            data = zf.read("manifest.json")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not an evidence package ({exc})") from None
    try:
        manifest = json.loads(data)
        owner = manifest["person"]["person_id"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path}: manifest.json names no person") from None
    if owner != person_id:
        raise UserError(f"{path}: this package is for another person")
    return EvidenceRef(hashlib.sha256(data).hexdigest(), f"package {path.name}")


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
    return sorted(rows, key=lambda s: (_when(s), s.id))


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


def _when(s: Sighting) -> datetime:
    return s.posted_at or s.first_seen_at


def _date(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M UTC")


def _platform_title(platform: type[Platform], lang: Lang) -> str:
    return PLATFORM_TITLES_KO.get(platform.name, platform.title) if lang == "ko" else platform.title


def _location_lines(platform: type[Platform], sightings: Sequence[Sighting], lang: Lang) -> list[str]:
    lines = []
    for s in sightings:
        when = t("posted", lang, when=_date(s.posted_at)) if s.posted_at else t("date_unknown", lang)
        locs = platform.locations(s)
        if s.source == "telegram" or not locs:
            locs = [_describe_sighting(s, lang), *locs]
        for loc in locs:
            lines.append(f"- {loc} ({when})")
    return lines


def _describe_sighting(s: Sighting, lang: Lang) -> str:
    if s.source == "telegram":
        return (
            f"Telegram {t('chat', lang)} {s.chat_name or '?'} ({s.chat_id or '?'}), "
            f"{t('message', lang)} {s.message_id}"
        )
    return s.path or s.source_key


def _forensic_lines(session: Session, items: Sequence[Item], lang: Lang) -> list[str]:
    lines = [t("forensic_intro", lang)]
    for item in items:
        found = statements([r for _, r in item_findings(session, item)])
        said = "; ".join(STATEMENT_KO.get(st.code, st.code) if lang == "ko" else st.text for st in found)
        lines.append(f"- {t('image', lang)} {item.sha256[:16]}: {said}")
    return lines


def _field_values(
    session: Session,
    *,
    platform: type[Platform],
    person: Person,
    sightings: Sequence[Sighting],
    evidence: EvidenceRef,
    lang: Lang,
    name_visible: bool,
    contact: str | None,
    recipient: str | None,
) -> dict[str, str]:
    items: list[Item] = []
    for s in sightings:
        if s.item is not None and s.item not in items:
            items.append(s.item)
    first = min(_when(s) for s in sightings)
    name = person.name if name_visible else t("pseudonym", lang, ref=person.id[:8])
    locations = _location_lines(platform, sightings, lang)
    search = [
        u
        for s in sightings
        for u in platform.locations(s)
        if host_matches(url_host(u), ("google.*",)) and "/search" in u
    ]
    chats = sorted(
        {f"{s.chat_name or '?'} ({s.chat_id or '?'})" for s in sightings if s.source == "telegram"}
    )
    values: dict[str, str] = {
        "reporter_name": name,
        "depicted_relation": t("relation", lang),
        "content_locations": "\n".join(locations),
        "search_urls": "\n".join(search),
        "chat_name": ", ".join(chats),
        "content_kind": t("content_kind", lang),
        "good_faith_statement": t("good_faith", lang),
        "criteria_statement": t("criteria", lang),
        "description": t(
            "description", lang, copies=len(sightings), images=len(items), first=_date(first)[:10]
        ),
        "first_seen": _date(first),
        "evidence_hash": (
            t("evidence_hash", lang, sha=evidence.manifest_sha256)
            if evidence.manifest_sha256
            else t("no_evidence", lang)
        ),
        "forensic_explanation": "\n".join(_forensic_lines(session, items, lang)),
        "signature": f"{name}, {utcnow().date().isoformat()}",
        "contact": contact or "",
        "recipient": recipient or "",
        "subject": t("subject", lang, n=len(locations)),
        "age_statement": t("age_minor" if person.minor else "age_adult", lang),
        "item_hashes": "\n".join([t("hash_note", lang)] + [f"- {i.sha256}" for i in items]),
    }
    return {f.name: values[f.name] for f in platform.fields}


def render_text(
    platform: type[Platform], values: dict[str, str], lang: Lang, *, parent: Notice | None = None
) -> str:
    """The notice as text: greeting, intro, each field with its label, the stated response time."""
    hours = platform.response_hours
    if hours is None:
        response = t("not_stated", lang)
    else:
        basis = RESPONSE_BASIS_KO.get(platform.name, "") if lang == "ko" else platform.response_basis
        response = t("hours", lang, h=f"{hours:g}") + (f" ({basis})" if basis else "")
    parts = [t("greeting", lang, platform=_platform_title(platform, lang)), "", t("intro", lang), ""]
    if parent is not None:
        parts += [_follow_up_line(parent, lang), ""]
    for f in platform.fields:
        if f.name in ("recipient", "subject"):
            continue
        value = values.get(f.name) or (t("to_complete", lang) if f.required else "")
        if not value:
            continue
        label = LABELS[f.name][lang]
        parts.append(f"{label}:\n{value}" if "\n" in value else f"{label}: {value}")
    parts += ["", t("response", lang, value=response), "", t("closing", lang)]
    return "\n".join(parts) + "\n"


_FOLLOW_UP: dict[str, dict[Lang, str]] = {
    "sent": {
        "en": "This follows our earlier notice {ref} to {platform}, sent on {when}.",
        "ko": "이 신고는 {when}에 {platform}에 보낸 이전 신고 {ref}에 이어지는 것입니다.",
    },
    "drafted": {
        "en": "This follows our earlier notice {ref} to {platform}, drafted on {when}.",
        "ko": "이 신고는 {when}에 {platform} 앞으로 작성한 이전 신고 {ref}에 이어지는 것입니다.",
    },
}


def _follow_up_line(parent: Notice, lang: Lang) -> str:
    """The sentence citing the earlier notice: its id, platform and the date it was sent (or drafted)."""
    title = _platform_title(get_platform(parent.platform), lang)
    how = "sent" if parent.sent_at is not None else "drafted"
    when = parent.sent_at or parent.created_at
    return _FOLLOW_UP[how][lang].format(ref=parent.id, platform=title, when=_date(when))


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
) -> DraftResult:
    """Draft notices for the person's confirmed sightings (see the module rules). Logs one
    ``takedown.drafted`` event per notice; the caller commits."""
    person = get_person(session, person_id)
    langs = _langs(lang)
    if package is not None:
        evidence = package_evidence(package, person.id)
    else:
        evidence = latest_evidence(session, person.id)
    sightings = confirmed_sightings(session, person)
    if not sightings:
        raise UserError("this person has no confirmed match with a sighting: review matches first")
    if platform is not None:
        chosen = [get_platform(platform)]
        p = chosen[0]
        if person.minor and not p.for_minors:
            allowed = ", ".join(x.name for x in all_platforms() if x.for_minors)
            raise UserError(f"{p.name}: this person is a minor; notices go only to {allowed}")
        if p.adults_only and person.minor:
            raise UserError(f"{p.name} is for adults only")
        if p.name == "email" and not recipient:
            raise UserError("the generic e-mail platform needs --to ADDRESS")
    elif person.minor:
        chosen = [p for p in all_platforms() if p.for_minors]
    else:
        chosen = [p for p in all_platforms() if p.scope == "sightings"]
    result = DraftResult(evidence=evidence)
    covered_ids: set[int] = set()
    for p in chosen:
        mine = [s for s in sightings if p.covers(s) or reupload_route(s, person.id) == p.name]
        if not mine:
            if platform is not None:
                raise UserError(f"no confirmed sighting of this person is on {p.name}")
            continue
        earlier = session.scalars(
            select(Notice)
            .where(Notice.person_id == person.id, Notice.platform == p.name)
            .options(selectinload(Notice.sightings))
            .order_by(Notice.created_at, Notice.id)
        ).all()
        done = {ns.sighting_id for n in earlier if n.status != "refused" for ns in n.sightings}
        new = [s for s in mine if s.id not in done]
        covered_ids.update(s.id for s in mine)
        if not new:
            result.skipped[p.name] = "every sighting there is already in a notice"
            continue
        parent = earlier[-1] if earlier else None
        if parent is None:  # a re-upload cites the notice it was flagged against (on another platform)
            cited = next((c for s in new if (c := reupload_of(s, person.id)) is not None), None)
            parent = session.get(Notice, cited) if cited else None
        values = {
            lg: _field_values(
                session, platform=p, person=person, sightings=new, evidence=evidence, lang=lg,
                name_visible=name_visible, contact=contact, recipient=recipient,
            )
            for lg in langs
        }  # fmt: skip
        text = "\n\n".join(render_text(p, values[lg], lg, parent=parent) for lg in langs)
        now = utcnow()
        notice = Notice(
            person_id=person.id,
            platform=p.name,
            status="draft",
            lang=lang,
            text=text,
            fields=cast(dict[str, Any], values),
            recipient=recipient if p.can_send() else None,
            evidence_sha256=evidence.manifest_sha256,
            parent_id=parent.id if parent else None,
            created_at=now,
            updated_at=now,
        )
        notice.sightings = [NoticeSighting(sighting_id=s.id) for s in new]
        session.add(notice)
        session.flush()
        log_event(
            session,
            "takedown.drafted",
            subject=f"notice:{notice.id}",
            detail={
                "notice_id": notice.id,
                "person_id": person.id,
                "platform": p.name,
                "lang": lang,
                "sightings": [s.id for s in new],
                "evidence_manifest_sha256": evidence.manifest_sha256,
                "parent_id": notice.parent_id,
                "name_visible": name_visible,
            },
        )
        result.notices.append(notice)
    result.unrouted = [s.id for s in sightings if s.id not in covered_ids]
    if not result.notices and not result.skipped:
        raise UserError("no platform covers this person's confirmed sightings; name one with --platform")
    return result


def missing_fields(notice: Notice) -> dict[str, list[str]]:
    """Per language, the fields the platform requires that are still empty (e.g. the contact)."""
    p = get_platform(notice.platform)
    out: dict[str, list[str]] = {}
    for lg, values in (notice.fields or {}).items():
        gaps = [f.name for f in p.fields if f.required and not str(values.get(f.name) or "").strip()]
        if gaps:
            out[lg] = gaps
    return out


# --- status -----------------------------------------------------------------------------------------------


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
        "takedown.status_changed",
        subject=f"notice:{notice.id}",
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


def list_notices(
    session: Session,
    *,
    person_id: str | None = None,
    status: str | None = None,
    platform: str | None = None,
) -> list[Notice]:
    stmt = select(Notice).options(selectinload(Notice.sightings)).order_by(Notice.created_at, Notice.id)
    if person_id is not None:
        stmt = stmt.where(Notice.person_id == person_id)
    if status is not None:
        stmt = stmt.where(Notice.status == status)
    if platform is not None:
        stmt = stmt.where(Notice.platform == platform)
    return list(session.scalars(stmt))


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
        "overdue_by_hours": (
            round((now - notice.due_at).total_seconds() / 3600, 1)
            if notice.due_at is not None and notice.status in OPEN and notice.due_at < now
            else None
        ),
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


# --- sending ----------------------------------------------------------------------------------------------

SMTP_FILE = "smtp.json"
TlsMode = Literal["starttls", "ssl", "none"]


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsMode = "starttls"
    timeout: float = 30.0


def smtp_settings(workspace_root: Path | None = None, env: dict[str, str] | None = None) -> SmtpSettings:
    """SMTP settings from RECLAIM_SMTP_HOST / _PORT / _USER / _PASSWORD / _FROM / _TLS (starttls, ssl or
    none; default starttls), else from the workspace's smtp.json with the same keys in lower case
    (host, port, user, password, from, tls). Raises UserError when no server is configured."""
    env = dict(os.environ) if env is None else env
    conf: dict[str, Any] = {}
    if workspace_root is not None and (workspace_root / SMTP_FILE).is_file():
        try:
            conf = json.loads((workspace_root / SMTP_FILE).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(f"{SMTP_FILE}: not valid JSON ({exc})") from None
        if not isinstance(conf, dict):
            raise UserError(f"{SMTP_FILE}: expected an object")
    for key in ("host", "port", "user", "password", "from", "tls"):
        value = env.get(f"RECLAIM_SMTP_{key.upper()}")
        if value:
            conf[key] = value
    if not conf.get("host") or not conf.get("from"):
        raise UserError(
            "no SMTP server configured: set RECLAIM_SMTP_HOST and RECLAIM_SMTP_FROM (and _PORT, _USER, "
            f"_PASSWORD, _TLS) or write {SMTP_FILE} in the workspace"
        )
    tls = str(conf.get("tls") or "starttls").lower()
    if tls not in get_args(TlsMode):
        raise UserError("SMTP tls must be starttls, ssl or none")
    try:
        port = int(conf.get("port") or (465 if tls == "ssl" else 587))
    except ValueError:
        raise UserError("SMTP port must be a number") from None
    return SmtpSettings(
        host=str(conf["host"]),
        port=port,
        sender=str(conf["from"]),
        user=conf.get("user") or None,
        password=conf.get("password") or None,
        tls=cast(TlsMode, tls),
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _message(notice: Notice, settings: SmtpSettings, recipient: str) -> EmailMessage:
    msg = EmailMessage()
    langs = [lg for lg in LANGS if lg in (notice.fields or {})]
    subject = next(
        (str(notice.fields[lg].get("subject")) for lg in langs if notice.fields[lg].get("subject")), ""
    )
    msg["Subject"] = subject or f"Removal request {notice.id}"
    msg["From"] = settings.sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(idstring=f"reclaim-{notice.id}")
    msg.set_content(notice.text)
    return msg


def _deliver(settings: SmtpSettings, msg: EmailMessage) -> None:
    if settings.user and settings.tls == "none" and not _is_loopback(settings.host):
        raise UserError("refusing to send an SMTP password without TLS to a remote server: set tls")
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.tls == "ssl":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with smtp:
        if settings.tls == "starttls":
            smtp.starttls(context=context)
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(msg)


@dataclass(frozen=True)
class SendResult:
    notice: Notice
    sent: bool
    error: str | None
    message_id: str | None


def send_notice(
    session: Session, *, notice_id: str, settings: SmtpSettings, recipient: str | None = None
) -> SendResult:
    """Send a draft notice with an e-mail route through the configured SMTP server. On success the
    notice becomes "sent" (due time from the platform's stated time); on failure it stays a draft with the
    error recorded (``takedown.send_failed``). Commits either way."""
    notice = get_notice(session, notice_id)
    p = get_platform(notice.platform)
    if not p.can_send():
        raise UserError(
            f"{p.name} has no e-mail route ({p.route_kind}): file the notice by hand, then "
            f"'reclaim takedown mark {notice.id} --status sent'"
        )
    if notice.status != "draft":
        raise UserError(f"notice {notice.id} is {notice.status}, not a draft")
    to = recipient or notice.recipient
    if not to:
        raise UserError("no recipient: give --to ADDRESS")
    msg = _message(notice, settings, to)
    try:
        _deliver(settings, msg)
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        notice.error = f"{type(exc).__name__}: {exc}"
        notice.updated_at = utcnow()
        log_event(
            session,
            "takedown.send_failed",
            subject=f"notice:{notice.id}",
            detail={"notice_id": notice.id, "person_id": notice.person_id, "platform": p.name,
                    "error": notice.error},
        )  # fmt: skip
        session.commit()
        return SendResult(notice, False, notice.error, None)
    notice.recipient = to
    notice.error = None
    set_status(session, notice_id=notice.id, status="sent", reason="smtp")
    session.commit()
    return SendResult(notice, True, None, str(msg["Message-ID"]))


def send_failed(result: SendResult) -> DependencyError:
    return DependencyError(f"sending notice {result.notice.id} failed, it stays a draft: {result.error}")
