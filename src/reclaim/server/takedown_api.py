"""REST API for takedown notices: list a case's notices (or only the overdue ones), draft notices for the
case's person, read one notice (its text, form fields and the fields still missing), change its status.

Thin: every change goes through :mod:`reclaim.takedown` (drafting, status), which writes the custody events
(``takedown.drafted``, ``takedown.status_changed``). There is no API for sending a notice by e-mail: sending
goes through the SMTP server the user configured and stays a CLI command (``reclaim takedown send``); a
notice filed by hand (web form, in-app report) is marked "sent" here.

Access: a notice belongs to a person; the caller reaches it through a case of that person they may see
(:func:`reclaim.server.auth.case_for`). A notice of another case is 404 "no such notice", exactly like one
that does not exist. A viewer reads (403 on every POST); a platform account gets 403.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound, UserError
from reclaim.lang import Lang
from reclaim.server.api import ID_PATTERN, CaseId, Text
from reclaim.server.auth import CASE_ROLES, WRITE_ROLES, Principal, case_for
from reclaim.server.deps import DB, WS, require
from reclaim.store.models import Case, Notice
from reclaim.takedown.drafting import LangChoice, draft_notices
from reclaim.takedown.platforms import get_platform
from reclaim.takedown.removal import check_notices
from reclaim.takedown.status import list_notices, notice_dict, set_status
from reclaim.takedown.templates import platform_title as title_in

router = APIRouter(prefix="/api", tags=["takedown"])

NoticeId = Annotated[str, Path(pattern=ID_PATTERN, description="A notice id (hex).")]
CaseReader = Annotated[Principal, Depends(require(*CASE_ROLES))]
CaseWriter = Annotated[Principal, Depends(require(*WRITE_ROLES))]
ChangeableStatus = Literal["sent", "acknowledged", "overdue", "removed", "refused"]


# --- access -----------------------------------------------------------------------------------------------


def case_person(session: Session, principal: Principal, case_id: str, *, write: bool = False) -> str:
    """The id of the case's person (the case must be visible to the caller, writable with ``write``)."""
    case = case_for(session, principal, case_id, write=write)
    if case.person_id is None:
        raise UserError("this case has no person yet: enrol the person first")
    return case.person_id


def notice_of_case(
    session: Session, principal: Principal, case_id: str, notice_id: str, *, write: bool = False
) -> Notice:
    """A notice of the case's person; a notice of another case is NotFound like a missing one."""
    case = case_for(session, principal, case_id, write=write)
    notice = session.get(Notice, notice_id)
    if notice is None or case.person_id is None or notice.person_id != case.person_id:
        raise NotFound("no such notice")
    return notice


def visible_notice(session: Session, principal: Principal, notice_id: str, *, write: bool = False) -> Notice:
    """A notice whose person is the person of a case the caller may see (and change, with ``write``)."""
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound("no such notice")
    case_ids = session.scalars(select(Case.id).where(Case.person_id == notice.person_id).order_by(Case.id))
    for case_id in case_ids:
        try:
            case_for(session, principal, case_id, write=write)
        except NotFound:
            continue
        return notice
    raise NotFound("no such notice")


def case_notices(
    session: Session, principal: Principal, case_id: str, *, overdue: bool = False
) -> list[dict[str, Any]]:
    """The case person's notices as :func:`reclaim.takedown.status.notice_dict` (oldest first); with
    ``overdue`` only those past their platform's stated time (or marked overdue)."""
    person_id = case_person(session, principal, case_id)
    return [notice_dict(n) for n in list_notices(session, person_id=person_id, overdue_only=overdue)]


def platform_title(name: str, lang: Lang = "en") -> str:
    return title_in(get_platform(name), lang)


# --- models -----------------------------------------------------------------------------------------------


class NoticeOut(BaseModel):
    notice_id: str
    person_id: str
    platform: str
    platform_title: str
    status: str
    lang: str
    sightings: list[int]
    parent_id: str | None
    evidence_sha256: str | None
    route_kind: str
    can_send: bool
    """An e-mail route: it can be sent with the CLI (``reclaim takedown send``); there is no API for it."""
    response: str
    """The platform's stated time to act, or "not stated"."""
    created_at: str | None
    sent_at: str | None
    due_at: str | None
    acknowledged_at: str | None
    overdue_at: str | None
    removed_at: str | None
    refused_at: str | None
    overdue_by_hours: float | None
    error: str | None
    missing_fields: dict[str, list[str]]
    """Per language, the fields the platform requires that are still empty."""


class NoticeDetail(NoticeOut):
    text: str
    fields: dict[str, dict[str, Any]]
    """Per language, the values of the platform's form fields (to copy into its form)."""


class DraftIn(BaseModel):
    platform: Annotated[str | None, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] = None
    """A platform name; none: every platform a confirmed sighting was found on."""
    lang: LangChoice = "both"
    name_visible: bool = False
    """Show the person's name; by default a pseudonym ("Case 3f9a0c1d")."""


class DraftOut(BaseModel):
    notices: list[NoticeDetail]
    skipped: dict[str, str]
    """Platform name → why no notice was drafted."""
    unrouted: list[int]
    """Confirmed sightings no drafted platform covers."""
    evidence_sha256: str | None


class StatusIn(BaseModel):
    status: ChangeableStatus
    note: Annotated[Text | None, Field(max_length=2000)] = None
    at: AwareDatetime | None = None
    """When it happened (with its zone); default now."""


class UrlCheckOut(BaseModel):
    url: str
    sighting_id: int
    http_status: int | None
    outcome: str
    """removed (HTTP 404/410, or the page no longer shows the image), still_up, changed (another picture),
    error (could not tell)."""
    matched_by: str | None
    """sha256, pdq or robust: how what is served was recognised as the image."""
    distance: int | None
    image_url: str | None
    warc_sha256: str | None
    """The WARC of the check, stored encrypted in the workspace's vault."""
    error: str | None
    event_id: int | None


class NoticeCheckOut(BaseModel):
    notice_id: str
    platform: str
    checked_at: str
    outcome: str
    status: str
    """The notice's status after the check (removed when every URL is removed; overdue when still up
    past the platform's stated time)."""
    escalation: str | None
    """The notice drafted to the next route (e.g. KCSC) when still up past the stated time."""
    escalation_skipped: str | None
    error: str | None
    urls: list[UrlCheckOut]


def notice_out(notice: Notice) -> NoticeOut:
    row = notice_dict(notice)
    return NoticeOut(**row, platform_title=platform_title(notice.platform))


def notice_detail(notice: Notice) -> NoticeDetail:
    row = notice_dict(notice, text=True)
    return NoticeDetail(**row, platform_title=platform_title(notice.platform))


# --- routes -----------------------------------------------------------------------------------------------


@router.get("/cases/{case_id}/notices")
def list_case_notices(
    case_id: CaseId,
    session: DB,
    principal: CaseReader,
    overdue: Annotated[bool, Query(description="Only notices past their platform's stated time.")] = False,
) -> list[NoticeOut]:
    """The takedown notices for the case's person, oldest first."""
    rows = case_notices(session, principal, case_id, overdue=overdue)
    return [NoticeOut(**r, platform_title=platform_title(r["platform"])) for r in rows]


@router.post("/cases/{case_id}/notices/draft")
def draft_case_notices(case_id: CaseId, body: DraftIn, session: DB, principal: CaseWriter) -> DraftOut:
    """Draft notices for the case person's confirmed sightings (one per platform; sightings already in a
    notice are not drafted again). Nothing is sent."""
    person_id = case_person(session, principal, case_id, write=True)
    result = draft_notices(
        session, person_id=person_id, platform=body.platform, lang=body.lang, name_visible=body.name_visible
    )
    session.commit()
    return DraftOut(
        notices=[notice_detail(n) for n in result.notices],
        skipped=result.skipped,
        unrouted=result.unrouted,
        evidence_sha256=result.evidence.manifest_sha256 if result.evidence else None,
    )


@router.get("/notices/{notice_id}")
def get_notice(notice_id: NoticeId, session: DB, principal: CaseReader) -> NoticeDetail:
    """A notice: its text, its form fields per language and the required fields still missing."""
    return notice_detail(visible_notice(session, principal, notice_id))


@router.post("/notices/{notice_id}/status")
def set_notice_status(notice_id: NoticeId, body: StatusIn, session: DB, principal: CaseWriter) -> NoticeOut:
    """Change a notice's status (e.g. "sent" once filed by hand; then acknowledged, removed, refused)."""
    visible_notice(session, principal, notice_id, write=True)
    notice = set_status(session, notice_id=notice_id, status=body.status, at=body.at, note=body.note)
    session.commit()
    return notice_out(notice)


@router.post("/notices/{notice_id}/check")
def check_notice_removal(notice_id: NoticeId, session: DB, ws: WS, principal: CaseWriter) -> NoticeCheckOut:
    """Check whether what the notice asked to remove is still online: the server fetches every URL the
    notice covers (a network action: an HTTP GET naming reclaim, no cookies), compares what is served with
    the image (SHA-256, PDQ, robust match), keeps a WARC of each check and logs a custody event per URL.
    Every URL removed: the notice becomes removed; still up past the stated time: overdue, and an
    escalation is drafted (never sent)."""
    visible_notice(session, principal, notice_id, write=True)
    [result] = check_notices(session, ws.vault, notice_id=notice_id)
    return NoticeCheckOut(**result.to_dict())


def include(app: FastAPI) -> None:
    app.include_router(router)
