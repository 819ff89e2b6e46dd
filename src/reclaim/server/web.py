"""The server-rendered web UI (Jinja2 templates and ~100 lines of vanilla JavaScript, no SPA).

Pages: ``/login``, ``/`` (the case list), ``/cases/{id}`` (person, consent, sources, matches by cluster,
uploads), ``/cases/{id}/review`` (the review queue), ``/cases/{id}/upload`` and
``/cases/{id}/jobs/{job}`` (an upload's scan, polled every second). Routes stay thin: the case service
(:mod:`reclaim.server.cases`) checks access and writes the custody events, the job service
(:mod:`reclaim.server.jobs`) runs the scans.

Safety: a preview is a server-side blurred grayscale thumbnail (the clear bytes are never sent for it),
shown with a CSS blur and grayscale filter on top. The image itself is sent only in answer to a POST
(a deliberate click), and that reveal is a ``media.revealed`` custody event committed before the bytes
leave. Every page is ``no-store`` and framed by nobody; scripts and styles come from ``/static`` only.

Roles: admin and advocate may review and upload; a viewer reads (and may reveal an image, which is
audited like anyone's); a platform account gets 403 on every page. A case the user may not see is a 404
page, exactly like one that does not exist.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from reclaim.errors import NotFound, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.evidence.report import thumbnail
from reclaim.lang import LANGS
from reclaim.server import cases as case_service
from reclaim.server import jobs as job_service
from reclaim.server.auth import (
    CASE_ROLES,
    AuthError,
    Forbidden,
    Principal,
    RateLimited,
    authenticate,
    case_for,
)
from reclaim.server.deps import (
    CSRF_FIELD,
    DB,
    WS,
    check_form_csrf,
    client_address,
    csrf_token,
    optional_principal,
    request_lang,
    require_writer,
    sign_in,
)
from reclaim.server.i18n import MESSAGES, Translator, normalise_lang
from reclaim.server.sessions import end_session, user_session
from reclaim.store.models import User

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
STATUSES = ("candidate", "confirmed", "rejected")
JOB_STATUSES = ("queued", "running", "finished", "failed")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob:; script-src 'self'; style-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
}
MEDIA_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Content-Disposition": "inline",
}
STILL_MIMES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
"""Originals sent as they are on reveal; anything else is revealed as an unblurred still thumbnail."""


class LoginRequired(Exception):
    """No session: the browser goes to the sign-in page."""


# --- the route class: HTML pages for errors ----------------------------------------------------------------


def _error_page(request: Request, status: int) -> HTMLResponse:
    t = Translator(request_lang(request))
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {"t": t, "lang": t.lang, "status": status, "me": None, "csrf": csrf_token(request)},
        status_code=status,
        headers=SECURITY_HEADERS,
    )


class WebRoute(APIRoute):
    """Turns the service layer's exceptions into pages (the app's handlers answer JSON, for the API)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except (LoginRequired, AuthError):
                if request.method == "GET":
                    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                    return RedirectResponse(f"/login?next={target}", status_code=303)
                return RedirectResponse("/login", status_code=303)
            except Forbidden:
                return _error_page(request, 403)
            except NotFound:
                return _error_page(request, 404)
            except UserError:
                return _error_page(request, 422)
            finally:
                await request.close()  # uploaded files spooled to disk while parsing a form

        return run


router = APIRouter(route_class=WebRoute, include_in_schema=False)


# --- dependencies -----------------------------------------------------------------------------------------


async def web_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    """The signed-in user of a UI page (platform accounts: 403 on every page)."""
    if principal is None:
        raise LoginRequired
    if principal.role not in CASE_ROLES:
        raise Forbidden("this account cannot use the web UI")
    return principal


WebUser = Annotated[Principal, Depends(web_principal)]


def _local(next_url: str | None, default: str = "/") -> str:
    """Only same-site paths are followed after sign-in or a language change (no open redirect)."""
    if not next_url:
        return default
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or not next_url.startswith("/") or next_url.startswith("//"):
        return default
    if "\\" in next_url:
        return default
    return next_url


def _fmt_time(value: str | datetime | None, t: Translator) -> str:
    if value is None:
        return t("common.unknown")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        moment = value
    return t("common.utc", when=moment.strftime("%Y-%m-%d %H:%M"))


def _value(t: Translator, prefix: str, value: object) -> str:
    """A stored value (a status, a role, a signal kind) in the UI's language: ``{prefix}.{value}`` from the
    catalogue, else ``{prefix}.other`` when the catalogue has one, else the value as it is."""
    key = f"{prefix}.{value}"
    if key in MESSAGES:
        return t(key)
    return t(f"{prefix}.other") if f"{prefix}.other" in MESSAGES else str(value)


def render(
    request: Request, name: str, principal: Principal | None, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    t = Translator(request_lang(request))
    base = {
        "t": t,
        "lang": t.lang,
        "langs": LANGS,
        "me": principal,
        "csrf": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "when": lambda v: _fmt_time(v, t),
        "tv": lambda prefix, value: _value(t, prefix, value),
    }
    return TEMPLATES.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code, headers=SECURITY_HEADERS
    )


# --- sign-in, sign-out, language -----------------------------------------------------------------------


@router.get("/login")
async def login_page(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    next: str | None = None,
) -> Response:
    if principal is not None:
        return RedirectResponse(_local(next), status_code=303)
    return render(request, "login.html", None, next=_local(next), error=None)


@router.post("/login")
def login_submit(
    request: Request,
    session: DB,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    check_form_csrf(request, csrf)
    try:
        principal = authenticate(
            session,
            username=username,
            password=password,
            client=client_address(request),
            limiter=request.app.state.limiter,
        )
    except RateLimited as exc:
        error = Translator(request_lang(request))("login.limited", seconds=exc.retry_after)
        response = render(request, "login.html", None, status_code=429, next=_local(next), error=error)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except AuthError:
        error = Translator(request_lang(request))("login.failed")
        return render(request, "login.html", None, status_code=401, next=_local(next), error=error)
    chosen = request.session.get("lang")
    user = session.get(User, principal.user_id)
    assert user is not None
    if chosen in LANGS and chosen != user.lang:
        _store_lang(session, user, str(chosen))
    lang = normalise_lang(user.lang)
    sign_in(request, session, principal)  # a fresh server-side session, cookie and CSRF token
    request.session["lang"] = lang
    return RedirectResponse(_local(next), status_code=303)


@router.post("/logout")
def logout(
    request: Request, session: DB, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Response:
    """End this session server-side (a copy of the cookie stops working too)."""
    lang = request_lang(request)
    if principal is not None and principal.session_id is not None:
        end_session(session, user_session(session, principal.user_id, principal.session_id), reason="logout")
        session.commit()
    request.session.clear()
    request.session["lang"] = lang
    return RedirectResponse("/login?out=1", status_code=303)


def _store_lang(session: Session, user: User, lang: str) -> None:
    user.lang = lang
    log_event(session, EventKind.USER_LANG_CHANGED, subject=subject("user", user.id), detail={"lang": lang})


@router.post("/lang")
async def set_language(
    request: Request,
    session: DB,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    lang: Annotated[str, Form(max_length=5)] = "en",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Switch the UI language: kept in the session, and on the account when signed in."""
    if principal is None:  # signed-in posts were checked by optional_principal already
        form = await request.form()
        value = form.get(CSRF_FIELD)
        check_form_csrf(request, value if isinstance(value, str) else None)
    chosen = normalise_lang(lang)
    request.session["lang"] = chosen
    if principal is not None:
        user = session.get(User, principal.user_id)
        if user is not None and user.lang != chosen:
            _store_lang(session, user, chosen)
            session.commit()
    return RedirectResponse(_local(next), status_code=303)


# --- cases ------------------------------------------------------------------------------------------------


@router.get("/")
def case_list(request: Request, session: DB, principal: WebUser) -> Response:
    return render(request, "cases.html", principal, cases=case_service.list_cases(session, principal))


def _site(web: dict[str, str]) -> str | None:
    """The host a web sighting was seen on (its page's, else the image's)."""
    try:
        return urlsplit(web.get("page_url") or web.get("url") or "").hostname
    except ValueError:
        return None


def _sources(clusters: list[case_service.ClusterOut]) -> list[dict[str, Any]]:
    """Where the case's matched files were seen: one row per (source, chat), each file's sightings once."""
    seen_items: set[str] = set()
    rows: dict[tuple[str, str | None], dict[str, Any]] = {}
    for cluster in clusters:
        for m in cluster.matches:
            if m.item_sha256 in seen_items:
                continue
            seen_items.add(m.item_sha256)
            for s in m.sightings:
                # a web sighting is grouped by the site it was seen on, as a Telegram one by its chat
                chat = _site(s.web) if s.web else s.chat_name
                row = rows.setdefault(
                    (s.source, chat), {"source": s.source, "chat": chat, "sightings": 0, "times": []}
                )
                row["sightings"] += 1
                if s.posted_at:
                    row["times"].append(s.posted_at)
    out = []
    for row in rows.values():
        times = row.pop("times")
        out.append(
            {**row, "first_seen": min(times) if times else None, "last_seen": max(times) if times else None}
        )
    out.sort(key=lambda r: (r["first_seen"] is None, r["first_seen"] or "", r["chat"] or ""))
    return out


@router.get("/cases/{case_id}")
def case_page(request: Request, session: DB, principal: WebUser, case_id: str) -> Response:
    case = case_service.get_case(session, principal, case_id)
    clusters = case_service.case_matches(session, principal, case_id)
    return render(
        request,
        "case.html",
        principal,
        case=case,
        clusters=clusters,
        sources=_sources(clusters),
        jobs=job_service.case_jobs(session, principal, case_id),
    )


# --- review ---------------------------------------------------------------------------------------------


def _statements(t: Translator, explained: case_service.ExplainOut) -> list[str]:
    out = []
    for st in explained.statements:
        code = str(st.get("code") or "")
        key = f"st.{code}"
        if t.lang == "en" and st.get("text"):
            out.append(str(st["text"]))
        else:
            out.append(t(key) if key in MESSAGES else t("st.other"))
    return out


@router.get("/cases/{case_id}/review")
def review_page(
    request: Request,
    session: DB,
    principal: WebUser,
    case_id: str,
    status: str = "candidate",
    done: str | None = None,
    n: int = 0,
) -> Response:
    case = case_service.get_case(session, principal, case_id)
    if status not in (*STATUSES, "all"):
        status = "candidate"
    clusters = case_service.case_matches(
        session, principal, case_id, status=None if status == "all" else status
    )
    t = Translator(request_lang(request))
    cards = []
    for cluster in clusters:
        for m in cluster.matches:
            explained = case_service.explain_case_item(session, principal, m.item_sha256, case_id=case_id)
            cards.append({"m": m, "cluster": cluster, "how": _statements(t, explained)})
    notice = None
    if done in ("confirmed", "rejected"):
        notice = t(f"review.done.{done}", n=max(0, n))
    return render(request, "review.html", principal, case=case, cards=cards, status=status, notice=notice)


@router.post("/cases/{case_id}/matches/{match_id}/review")
def review_submit(
    request: Request,
    session: DB,
    principal: WebUser,
    case_id: str,
    match_id: str,
    decision: Annotated[str, Form()],
    note: Annotated[str | None, Form(max_length=4000)] = None,
    cluster: Annotated[bool, Form()] = False,
    status: Annotated[str, Form()] = "candidate",
    after: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    require_writer(principal)
    if decision not in STATUSES[1:]:
        raise UserError("a review decides 'confirmed' or 'rejected'")
    result = case_service.review_case_match(
        session,
        principal,
        match_id=match_id,
        decision=decision,  # type: ignore[arg-type]
        note=note,
        cluster=cluster,
        case_id=case_id,
    )
    status = status if status in (*STATUSES, "all") else "candidate"
    anchor = f"#m-{after}" if after and after.isalnum() else ""
    url = f"/cases/{quote(case_id)}/review?status={status}&done={decision}&n={len(result.decided)}{anchor}"
    return RedirectResponse(url, status_code=303)


@router.get("/cases/{case_id}/items/{sha256}/preview")
def preview(session: DB, ws: WS, principal: WebUser, case_id: str, sha256: str) -> Response:
    """The blurred grayscale thumbnail (made here: the clear image never leaves for a preview)."""
    item = case_service.case_item(session, principal, case_id, sha256)
    if not item.stored or not ws.vault.has(item.sha256):
        raise NotFound("the media of this item are not stored")
    img = thumbnail(ws.vault.get(item.sha256), blur=True)
    if img is None:
        raise NotFound("no preview for this item")
    buf = io.BytesIO()
    img.convert("L").save(buf, "JPEG", quality=70)
    return Response(buf.getvalue(), media_type="image/jpeg", headers=MEDIA_HEADERS)


@router.post("/cases/{case_id}/items/{sha256}/reveal")
def reveal(session: DB, ws: WS, principal: WebUser, case_id: str, sha256: str) -> Response:
    """The image itself, after a deliberate click: the service logs ``media.revealed`` and commits first."""
    item = case_service.case_item(session, principal, case_id, sha256)
    mime = item.mime or ""
    data = case_service.item_media(session, ws, principal, case_id, sha256)
    if mime in STILL_MIMES:
        return Response(data, media_type=mime, headers=MEDIA_HEADERS)
    img = thumbnail(data, blur=False)
    if img is None:
        raise NotFound("no still picture for this item")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return Response(buf.getvalue(), media_type="image/jpeg", headers=MEDIA_HEADERS)


# --- upload and jobs ------------------------------------------------------------------------------------


@router.get("/cases/{case_id}/upload")
def upload_page(request: Request, session: DB, principal: WebUser, case_id: str) -> Response:
    require_writer(principal)
    case = case_service.get_case(session, principal, case_id)
    return render(request, "upload.html", principal, case=case, error=None)


@router.post("/cases/{case_id}/upload")
async def upload_submit(request: Request, session: DB, principal: WebUser, case_id: str) -> Response:
    require_writer(principal)
    case_for(session, principal, case_id, write=True)
    form = await request.form()
    files: list[job_service.Upload] = [
        (value.filename, value.file)
        for value in form.getlist("files")
        if isinstance(value, UploadFile) and value.filename
    ]
    t = Translator(request_lang(request))
    error = None
    if not files:
        error = t("upload.none")
    else:
        session.rollback()  # no transaction held while the files are written
        try:
            job_id = await run_in_threadpool(
                job_service.submit_upload_scan,
                request.app,
                case_id=case_id,
                user_id=principal.user_id,
                files=files,
            )
        except job_service.UploadError:
            error = t("upload.refused")
    if error is not None:
        case = case_service.get_case(session, principal, case_id)
        return render(request, "upload.html", principal, status_code=422, case=case, error=error)
    return RedirectResponse(f"/cases/{quote(case_id)}/jobs/{quote(job_id)}", status_code=303)


def _job(session: Session, principal: Principal, case_id: str, job_id: str) -> job_service.JobOut:
    job = job_service.get_job(session, principal, job_id)
    if job.case_id != case_id:
        raise NotFound("no such job")
    return job


def _progress(t: Translator, job: job_service.JobOut) -> str:
    if job.total is None:
        return t("job.progress_unknown", done=job.done)
    return t("job.progress", done=job.done, total=job.total)


def _job_status(t: Translator, job: job_service.JobOut) -> str:
    return t(f"job.{job.status}") if job.status in JOB_STATUSES else t("common.unknown")


@router.get("/cases/{case_id}/jobs/{job_id}")
def job_page(request: Request, session: DB, principal: WebUser, case_id: str, job_id: str) -> Response:
    job = _job(session, principal, case_id, job_id)
    case = case_service.get_case(session, principal, case_id)
    t = Translator(request_lang(request))
    return render(
        request,
        "job.html",
        principal,
        case=case,
        job=job,
        progress=_progress(t, job),
        status_text=_job_status(t, job),
    )


@router.get("/cases/{case_id}/jobs/{job_id}/progress")
def job_progress(request: Request, session: DB, principal: WebUser, case_id: str, job_id: str) -> Response:
    """What the job page polls every second (already translated)."""
    job = _job(session, principal, case_id, job_id)
    t = Translator(request_lang(request))
    body = {
        "status": job.status,
        "status_text": _job_status(t, job),
        "done": job.done,
        "total": job.total,
        "text": _progress(t, job),
        "final": job.status in ("finished", "failed"),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def include(app: FastAPI) -> None:
    """The UI's routes and its static files (CSS, the small script)."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
