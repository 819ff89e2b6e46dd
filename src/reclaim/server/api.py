"""REST API: sign-in, cases, matches, review, uploads (background scan jobs), audited media, users.
Thin: every route checks the caller's role and calls a service (:mod:`reclaim.server.cases`,
:mod:`reclaim.server.jobs`), which checks per-case access and writes the custody events.

Roles: an admin may do everything; an advocate reads and changes the cases assigned to them; a viewer
reads the cases assigned to them (403 on every write); a platform account gets 403 on every route here
but ``/api/health``, ``/api/login``, ``/api/logout`` and ``/api/me``. A case (and its matches, items and
jobs) the caller may not see is 404 "no such case", exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from reclaim.errors import NotFound
from reclaim.server import cases, jobs
from reclaim.server.auth import (
    CASE_ROLES,
    WRITE_ROLES,
    Principal,
    Role,
    authenticate,
    case_for,
    create_token,
)
from reclaim.server.cases import (
    CaseDetail,
    CaseOut,
    ClusterOut,
    Enrolment,
    ExplainOut,
    ReviewOut,
    UserOut,
)
from reclaim.server.deps import DB, WS, CurrentPrincipal, csrf_token, multipart_body, require
from reclaim.server.jobs import JobOut
from reclaim.store.models import User

router = APIRouter(prefix="/api", tags=["api"])


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""A string without NUL characters (PostgreSQL cannot store them)."""

ID_PATTERN = r"^[0-9a-f]{1,32}$"
CaseId = Annotated[str, Path(pattern=ID_PATTERN, description="A case id (hex).")]
MatchId = Annotated[str, Path(pattern=ID_PATTERN, description="A match id (hex, see the case's matches).")]
JobId = Annotated[str, Path(pattern=ID_PATTERN, description="A job id (hex).")]
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$", description="An item's SHA-256 (hex).")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]

CaseReader = Annotated[Principal, Depends(require(*CASE_ROLES))]
"""admin, advocate or viewer (per-case access is checked by the service)."""
CaseWriter = Annotated[Principal, Depends(require(*WRITE_ROLES))]
"""admin or advocate."""
Admin = Annotated[Principal, Depends(require("admin"))]


# --- sign-in ----------------------------------------------------------------------------------------------


class LoginIn(BaseModel):
    username: Annotated[Text, Field(max_length=200)]
    password: Annotated[Text, Field(max_length=1000)]


class MeOut(BaseModel):
    username: str
    role: str
    csrf_token: str | None = None


class Ok(BaseModel):
    ok: bool


@router.get("/health")
def health() -> Ok:
    return Ok(ok=True)


@router.post("/login")
def login(body: LoginIn, request: Request, session: DB) -> MeOut:
    """Start a UI session (cookie). Scripts use API tokens instead."""
    client = request.client.host if request.client else "unknown"
    principal = authenticate(
        session,
        username=body.username,
        password=body.password,
        client=client,
        limiter=request.app.state.limiter,
    )
    session.commit()
    request.session.clear()
    request.session["user_id"] = principal.user_id
    return MeOut(username=principal.username, role=principal.role, csrf_token=csrf_token(request))


@router.post("/logout")
def logout(request: Request, principal: CurrentPrincipal) -> Ok:
    request.session.clear()
    return Ok(ok=True)


@router.get("/me")
def me(request: Request, principal: CurrentPrincipal) -> MeOut:
    token = csrf_token(request) if principal.via == "session" else None
    return MeOut(username=principal.username, role=principal.role, csrf_token=token)


# --- cases ------------------------------------------------------------------------------------------------


class CaseIn(BaseModel):
    title: Annotated[Text, Field(min_length=1, max_length=cases.MAX_TITLE)]
    person_id: Annotated[str | None, Field(pattern=ID_PATTERN)] = None
    """Link an already enrolled person (admin only). Otherwise enrol with POST /api/cases/{id}/person."""


class MemberIn(BaseModel):
    user_id: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None
    username: Annotated[Text | None, Field(max_length=100)] = None

    @model_validator(mode="after")
    def one_of(self) -> MemberIn:
        if (self.user_id is None) == (self.username is None):
            raise ValueError("give either user_id or username")
        return self


@router.get("/cases")
def list_cases(session: DB, principal: CaseReader) -> list[CaseOut]:
    """The cases the caller may see, newest first."""
    return cases.list_cases(session, principal)


@router.post("/cases", status_code=201)
def create_case(body: CaseIn, session: DB, ws: WS, principal: CaseWriter) -> CaseDetail:
    """Open a case (an advocate is assigned to the case they open). Enrol its person next."""
    return cases.create_case(session, ws, principal, title=body.title, person_id=body.person_id)


@router.get("/cases/{case_id}")
def get_case(case_id: CaseId, session: DB, principal: CaseReader) -> CaseDetail:
    """A case: person, consent, members, match counts."""
    return cases.get_case(session, principal, case_id)


class EnrolForm(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    consent: Text = Field(min_length=1, max_length=5000)
    minor: bool = False
    keep_photos: bool = False


_FILES = {"type": "array", "items": {"type": "string", "format": "binary"}}
_ENROL_BODY = multipart_body(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "consent": {"type": "string", "minLength": 1, "maxLength": 5000},
        "photos": {**_FILES, "description": "Photos each showing only the person's face."},
        "known_images": {**_FILES, "description": "Images the person already holds."},
        "minor": {"type": "boolean", "default": False},
        "keep_photos": {"type": "boolean", "default": False},
    },
    ["name", "consent", "photos"],
)


@router.post("/cases/{case_id}/person", status_code=201, openapi_extra=_ENROL_BODY, responses={413: {}})
async def enrol_person(
    case_id: CaseId, request: Request, session: DB, ws: WS, principal: CaseWriter
) -> CaseDetail:
    """Enrol the case's consenting person (once). Every photo is checked before anything is stored. Who
    may write to the case is checked before a byte of the body is read."""
    await run_in_threadpool(case_for, session, principal, case_id, write=True)
    session.rollback()
    async with request.form(max_files=cases.MAX_PHOTOS + 1, max_fields=10) as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            parsed = EnrolForm.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None

        def read(key: str) -> list[tuple[str, bytes]]:
            return [
                (f.filename or "photo", f.file.read(cases.MAX_PHOTO_BYTES + 1))
                for f in form.getlist(key)
                if isinstance(f, StarletteUpload)
            ]

        enrolment = Enrolment(
            name=parsed.name,
            consent=parsed.consent,
            photos=read("photos"),
            known_images=read("known_images"),
            minor=parsed.minor,
            keep_photos=parsed.keep_photos,
        )
    return await run_in_threadpool(cases.enrol_case_person, session, ws, principal, case_id, enrolment)


@router.post("/cases/{case_id}/members")
def add_member(case_id: CaseId, body: MemberIn, session: DB, principal: Admin) -> CaseDetail:
    """Assign a user to a case (admin)."""
    return cases.assign_member(session, principal, case_id, user_id=body.user_id, username=body.username)


@router.delete("/cases/{case_id}/members/{user_id}")
def remove_member(case_id: CaseId, user_id: UserId, session: DB, principal: Admin) -> CaseDetail:
    """Remove a user from a case (admin)."""
    return cases.remove_member(session, principal, case_id, user_id)


MatchStatus = Literal["candidate", "confirmed", "rejected"]


@router.get("/cases/{case_id}/matches")
def case_matches(
    case_id: CaseId, session: DB, principal: CaseReader, status: MatchStatus | None = None
) -> list[ClusterOut]:
    """The case person's matches, grouped by near-duplicate cluster, with first and last sighting."""
    return cases.case_matches(session, principal, case_id, status=status)


class ReviewIn(BaseModel):
    decision: Literal["confirmed", "rejected"]
    note: Annotated[Text | None, Field(max_length=2000)] = None
    cluster: bool = False
    """Also decide the person's candidate matches on the other items of the same cluster."""
    case_id: Annotated[str | None, Field(pattern=ID_PATTERN)] = None
    """When given, the match must belong to this case's person."""


@router.post("/matches/{match_id}/review")
def review(match_id: MatchId, body: ReviewIn, session: DB, principal: CaseWriter) -> ReviewOut:
    """Confirm or reject a match of a case's person (admin, or an advocate of the case)."""
    return cases.review_case_match(
        session,
        principal,
        match_id=match_id,
        decision=body.decision,
        note=body.note,
        cluster=body.cluster,
        case_id=body.case_id,
    )


# --- uploads and jobs -------------------------------------------------------------------------------------


class JobRef(BaseModel):
    job_id: str


_UPLOAD_BODY = multipart_body(
    {"files": {**_FILES, "description": "Images, videos, or ZIPs of Telegram exports."}}, ["files"]
)


@router.post("/cases/{case_id}/uploads", status_code=202, openapi_extra=_UPLOAD_BODY, responses={413: {}})
async def upload(case_id: CaseId, request: Request, session: DB, principal: CaseWriter) -> JobRef:
    """Upload material to scan for the case; the scan runs in the background (poll GET /api/jobs/{id}).
    Who may write to the case is checked before a byte of the body is read."""
    await run_in_threadpool(case_for, session, principal, case_id, write=True)
    session.rollback()  # no transaction held while the files arrive
    limits = jobs.jobs_for(request.app).limits
    async with request.form(max_files=limits.max_files, max_fields=10) as form:
        files: list[jobs.Upload] = [
            (f.filename or "upload", f.file) for f in form.getlist("files") if isinstance(f, StarletteUpload)
        ]
        job_id = await run_in_threadpool(
            jobs.submit_upload_scan, request.app, case_id=case_id, user_id=principal.user_id, files=files
        )
    return JobRef(job_id=job_id)


@router.get("/cases/{case_id}/jobs")
def case_jobs(case_id: CaseId, session: DB, principal: CaseReader) -> list[JobOut]:
    """The case's scan jobs, newest first."""
    return jobs.case_jobs(session, principal, case_id)


@router.get("/jobs/{job_id}")
def get_job(job_id: JobId, session: DB, principal: CaseReader) -> JobOut:
    """A job's status and progress (done of total entries), result or error."""
    return jobs.get_job(session, principal, job_id)


@router.post("/jobs/{job_id}/retry", status_code=202)
def retry_job(job_id: JobId, request: Request, principal: CaseWriter) -> JobOut:
    """Run a failed job again from its kept uploads."""
    return jobs.retry_job(request.app, principal, job_id)


# --- items ------------------------------------------------------------------------------------------------

SAFE_INLINE = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff", "video/")


@router.get(
    "/cases/{case_id}/items/{sha256}/media",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The item's bytes."}},
)
def item_media(case_id: CaseId, sha256: Sha256, session: DB, ws: WS, principal: CaseReader) -> Response:
    """The bytes of an item matched to the case's person. Every reveal is logged (media.revealed)."""
    item = cases.case_item(session, principal, case_id, sha256)
    data = cases.item_media(session, ws, principal, case_id, sha256)
    mime = item.mime or ""
    inline = mime.startswith(SAFE_INLINE)
    return Response(
        content=data,
        media_type=mime if inline else "application/octet-stream",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": "inline" if inline else "attachment",
        },
    )


@router.get("/items/{sha256}/explain")
def explain(
    sha256: Sha256,
    session: DB,
    principal: CaseReader,
    case_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> ExplainOut:
    """What reclaim can say about how an item of one of the caller's cases was made."""
    return cases.explain_case_item(session, principal, sha256, case_id=case_id)


# --- users (admin) ----------------------------------------------------------------------------------------


class UserIn(BaseModel):
    username: Annotated[Text, Field(min_length=1, max_length=100)]
    password: Annotated[Text, Field(min_length=10, max_length=1000)]
    role: Role


class TokenIn(BaseModel):
    label: Annotated[Text, Field(max_length=200)] = ""


class TokenOut(BaseModel):
    token: str
    """Shown once: only its SHA-256 is stored."""


@router.get("/users")
def list_users(session: DB, principal: Admin) -> list[UserOut]:
    return cases.list_users(session, principal)


@router.post("/users", status_code=201)
def add_user(body: UserIn, session: DB, principal: Admin) -> UserOut:
    return cases.add_user(session, principal, username=body.username, password=body.password, role=body.role)


@router.post("/users/{user_id}/tokens", status_code=201)
def add_token(user_id: UserId, body: TokenIn, session: DB, principal: Admin) -> TokenOut:
    """A new API token for a user (e.g. a platform's integration); the plaintext is returned once."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    token = create_token(session, user, label=body.label)
    session.commit()
    return TokenOut(token=token)


def include(app: FastAPI) -> None:
    app.include_router(router)
