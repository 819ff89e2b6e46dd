"""The takedown page of the web UI: ``/cases/{id}/takedown`` lists the case person's notices with their
status and due time (the overdue ones first, in their own list), drafts new ones (platform, language), and
shows each notice's text and form fields, each with a copy button, to file it by hand. Status changes
(sent, acknowledged, removed, refused) are POST forms with the CSRF field, and so is "check removal"
(a network action: it fetches the notice's URLs; the latest check of each URL is shown).

Every change goes through :mod:`reclaim.takedown` (custody events ``takedown.*``). Sending by e-mail
is not offered here: it stays a CLI command (``reclaim takedown send``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from reclaim.errors import UserError
from reclaim.lang import LANGS
from reclaim.server import cases as case_service
from reclaim.server.auth import Principal
from reclaim.server.deps import DB, WS, request_lang, require_writer
from reclaim.server.takedown_api import case_notices, case_person, notice_of_case, platform_title
from reclaim.server.web import WebRoute, WebUser, render
from reclaim.store.models import Notice, utcnow
from reclaim.takedown.drafting import LangChoice, draft_notices
from reclaim.takedown.platforms import all_platforms, get_platform
from reclaim.takedown.removal import check_notices, latest_checks
from reclaim.takedown.status import TRANSITIONS, is_overdue, list_notices, set_status
from reclaim.takedown.templates import LABELS

router = APIRouter(route_class=WebRoute, include_in_schema=False)

UI_STATUSES = ("sent", "acknowledged", "removed", "refused")
"""The status buttons the page offers (those the notice's current status may become)."""
LANG_CHOICES: tuple[LangChoice, ...] = ("both", *LANGS)


def _fields(notice: Notice) -> list[dict[str, Any]]:
    """Per language of the notice: its form fields in the platform's order, labelled in that language."""
    p = get_platform(notice.platform)
    out = []
    for lg, values in (notice.fields or {}).items():
        rows = []
        for f in p.fields:
            value = str(values.get(f.name) or "")
            label = LABELS.get(f.name, {}).get(lg, f.name)  # type: ignore[call-overload]
            rows.append({"name": f.name, "label": label, "value": value, "required": f.required})
        out.append({"lang": lg, "rows": rows})
    return out


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    case_id: str,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    case = case_service.get_case(session, principal, case_id)
    lang = request_lang(request)
    notices = []
    if case.person is not None:
        rows = case_notices(session, principal, case_id)
        by_id = {n.id: n for n in list_notices(session, person_id=case.person.person_id)}
        now = utcnow()
        for row in rows:
            notice = by_id[row["notice_id"]]
            allowed = TRANSITIONS.get(row["status"], ())
            notices.append(
                {
                    **row,
                    "title": platform_title(row["platform"], lang),
                    "overdue": is_overdue(notice, now),
                    "text": notice.text,
                    "fields": _fields(notice),
                    "next": [s for s in UI_STATUSES if s in allowed],
                    "checks": latest_checks(session, notice.id),
                }
            )
    platforms = [{"name": p.name, "title": platform_title(p.name, lang)} for p in all_platforms()]
    return render(
        request,
        "takedown.html",
        principal,
        status_code=status_code,
        case=case,
        notices=notices,
        overdue=[n for n in notices if n["overdue"]],
        platforms=platforms,
        lang_choices=LANG_CHOICES,
        **{"error": None, "drafted": None, "skipped": 0, **extra},
    )


@router.get("/cases/{case_id}/takedown")
def takedown_page(
    request: Request,
    session: DB,
    principal: WebUser,
    case_id: str,
    drafted: int | None = None,
    skipped: int = 0,
) -> Response:
    return _page(request, session, principal, case_id, drafted=drafted, skipped=max(0, skipped))


@router.post("/cases/{case_id}/takedown/draft")
def takedown_draft(
    request: Request,
    session: DB,
    principal: WebUser,
    case_id: str,
    platform: Annotated[str, Form(max_length=40)] = "",
    lang: Annotated[str, Form(max_length=4)] = "both",
    name_visible: Annotated[bool, Form()] = False,
) -> Response:
    require_writer(principal)
    person_id = case_person(session, principal, case_id, write=True)
    choice = next((c for c in LANG_CHOICES if c == lang), LANG_CHOICES[0])  # unknown: "both"
    try:
        result = draft_notices(
            session, person_id=person_id, platform=platform or None, lang=choice, name_visible=name_visible
        )
    except UserError:
        session.rollback()
        return _page(request, session, principal, case_id, status_code=422, error="draft")
    session.commit()
    url = f"/cases/{quote(case_id)}/takedown?drafted={len(result.notices)}&skipped={len(result.skipped)}"
    return RedirectResponse(url, status_code=303)


@router.post("/cases/{case_id}/notices/{notice_id}/status")
def takedown_status(
    session: DB,
    principal: WebUser,
    case_id: str,
    notice_id: str,
    status: Annotated[str, Form(max_length=20)],
    note: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    require_writer(principal)
    notice = notice_of_case(session, principal, case_id, notice_id, write=True)
    if status not in UI_STATUSES:
        raise UserError(f"status must be one of {', '.join(UI_STATUSES)}")
    set_status(session, notice_id=notice.id, status=status, note=note or None)
    session.commit()
    return RedirectResponse(f"/cases/{quote(case_id)}/takedown#n-{notice.id}", status_code=303)


@router.post("/cases/{case_id}/notices/{notice_id}/check")
def takedown_check(
    request: Request, session: DB, ws: WS, principal: WebUser, case_id: str, notice_id: str
) -> Response:
    """The "check removal" button: fetch the notice's URLs now (see :mod:`reclaim.takedown.removal`)."""
    require_writer(principal)
    notice = notice_of_case(session, principal, case_id, notice_id, write=True)
    try:
        check_notices(session, ws.vault, notice_id=notice.id)
    except UserError:  # no web address to check
        session.rollback()
        return _page(request, session, principal, case_id, status_code=422, error="check")
    return RedirectResponse(f"/cases/{quote(case_id)}/takedown#n-{notice.id}", status_code=303)


def include(app: FastAPI) -> None:
    app.include_router(router)
