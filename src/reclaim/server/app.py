"""The FastAPI app factory: settings, the session middleware, the error handlers and the routers.

Routers: ``api`` (REST for cases, matches, review, uploads, jobs), ``hashapi`` (the platforms' hash API,
``/h`` and ``/m``), ``web`` (the server-rendered UI), ``takedown_api`` and ``takedown_web`` (notices).
Each stays thin and calls the library's services; the dependencies they share are in
:mod:`reclaim.server.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.sessions import SessionMiddleware

from reclaim.errors import NotFound, ReclaimError, UserError
from reclaim.server import api, hashapi, takedown_api, takedown_web, web
from reclaim.server.auth import AuthError, Forbidden, LoginLimiter, RateLimited
from reclaim.server.hashapi import HASH_MAX_BYTES
from reclaim.server.limits import BodyLimit
from reclaim.server.settings import ServerSettings
from reclaim.workspace import WORKSPACE_FILE, Workspace

SESSION_COOKIE = "reclaim_session"


def open_workspace(settings: ServerSettings) -> Workspace:
    root = settings.workspace.expanduser()
    if (root / WORKSPACE_FILE).exists():
        return Workspace.open(root, settings.passphrase, database_url=settings.database_url)
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
    # Outermost: a body is capped before anything parses it or authenticates its sender.
    app.add_middleware(BodyLimit, upload_max=settings.upload_max_bytes, hash_max=HASH_MAX_BYTES)
    _error_handlers(app)
    for router in (api, hashapi, web, takedown_api, takedown_web):
        router.include(app)
    return app


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
