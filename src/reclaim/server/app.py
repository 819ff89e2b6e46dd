"""The FastAPI app factory and the dependencies every router shares (session, principal, CSRF).

Routers: ``api`` (REST for cases, matches, review, uploads, jobs), ``hashapi`` (the platforms' hash API,
``/h`` and ``/m``), ``web`` (the server-rendered UI). Each stays thin and calls the library's services.
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware

from reclaim.errors import NotFound, ReclaimError, UserError
from reclaim.server.auth import (
    AuthError,
    Forbidden,
    LoginLimiter,
    Principal,
    RateLimited,
    principal_for_token,
    principal_for_user_id,
)
from reclaim.server.settings import ServerSettings
from reclaim.workspace import WORKSPACE_FILE, Workspace

SESSION_COOKIE = "reclaim_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def open_workspace(settings: ServerSettings) -> Workspace:
    root = settings.workspace.expanduser()
    if (root / WORKSPACE_FILE).exists():
        return Workspace.open(root, settings.passphrase)
    return Workspace.create(root, settings.passphrase, database_url=settings.database_url)


def create_app(settings: ServerSettings, *, workspace: Workspace | None = None) -> FastAPI:
    """The server app. Refuses to build in server mode with default secrets (UserError)."""
    settings.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            jobs = getattr(app.state, "jobs", None)
            if jobs is not None:
                jobs.shutdown()
            if workspace is None:
                app.state.workspace.close()

    app = FastAPI(
        title="reclaim",
        version="0.1.0",
        description="Find, prove, preserve and take down non-consensual deepfake imagery: the team server.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.workspace = workspace or open_workspace(settings)
    app.state.limiter = LoginLimiter(settings.login_attempts, settings.login_window_s)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="strict",
        https_only=settings.secure_cookies,
    )
    _error_handlers(app)
    for name in ROUTER_MODULES:
        importlib.import_module(f"reclaim.server.{name}").include(app)
    return app


ROUTER_MODULES = ("api", "hashapi", "web", "takedown_api", "takedown_web")
"""Each module has ``include(app)`` adding its routes."""


def _error_handlers(app: FastAPI) -> None:
    def handler(status: int) -> Callable[[Request, Exception], Any]:
        async def handle(request: Request, exc: Exception) -> JSONResponse:
            headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
            return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

        return handle

    app.add_exception_handler(AuthError, handler(401))
    app.add_exception_handler(Forbidden, handler(403))
    app.add_exception_handler(NotFound, handler(404))
    app.add_exception_handler(RateLimited, handler(429))
    app.add_exception_handler(UserError, handler(422))
    app.add_exception_handler(ReclaimError, handler(422))


# --- dependencies ---------------------------------------------------------------------------------------


def get_workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def get_db(request: Request) -> Iterator[Session]:
    """One database session per request; custody events are attributed to the signed-in user."""
    ws = get_workspace(request)
    with ws.session() as session:
        yield session


DB = Annotated[Session, Depends(get_db)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); forms and HTMX send it back."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def _check_csrf(request: Request) -> None:
    if request.method not in UNSAFE:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not secrets.compare_digest(expected, sent):
        raise Forbidden("missing or wrong CSRF token")


async def optional_principal(request: Request, session: DB) -> Principal | None:
    """Who is calling: an API token (``Authorization: Bearer rct_...``) or the UI session cookie. Cookie
    requests that change state must carry the CSRF token."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError("use 'Authorization: Bearer <token>'")
        principal = principal_for_token(session, token.strip())
        session.commit()  # last_used_at
    else:
        user_id = request.session.get("user_id")
        if not isinstance(user_id, int):
            return None
        try:
            principal = principal_for_user_id(session, user_id)
        except AuthError:
            request.session.clear()
            raise
        await _check_csrf(request)
    session.info["actor"] = f"user:{principal.username}"
    return principal


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise AuthError("log in, or send an API token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"a {principal.role} account cannot do this")
        return principal

    return check


def http_error(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)
