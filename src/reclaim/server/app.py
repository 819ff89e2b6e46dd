"""The FastAPI app factory: settings, the session middleware, the error handlers and the routers.

Routers: ``api`` (REST for cases, matches, review, uploads, jobs), ``hashapi`` (the platforms' hash API,
``/h`` and ``/m``), ``web`` (the server-rendered UI), ``takedown_api`` and ``takedown_web`` (notices).
Each stays thin and calls the library's services; the dependencies they share are in
:mod:`reclaim.server.deps`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reclaim.errors import NotFound, ReclaimError, UserError
from reclaim.server import accounts_web, api, hashapi, spread_views, takedown_api, takedown_web, web
from reclaim.server.auth import AuthError, Forbidden, LoginLimiter, RateLimited
from reclaim.server.deps import CurrentPrincipal
from reclaim.server.hashapi import HASH_MAX_BYTES
from reclaim.server.jobs import install_jobs
from reclaim.server.limits import BodyLimit
from reclaim.server.settings import ServerSettings, local_secret
from reclaim.workspace import WORKSPACE_FILE, Workspace, default_workspace_dir

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
        # What start-up made (the app, its routes, the ORM's mappers, the libraries' modules) lives as long
        # as the process: out of the cyclic collector's full passes, which otherwise stalled a worker's
        # event loop for 0.3-0.44 s now and then (every connection of the worker waited; 1M-hash lookup
        # bench: max 438 ms, 71 ms frozen)
        gc.freeze()
        try:
            yield
        finally:
            jobs = getattr(app.state, "jobs", None)
            if jobs is not None:
                jobs.shutdown()
            if workspace is None:
                app.state.workspace.close()

    app = FastAPI(
        # No Swagger UI or ReDoc pages (they load their scripts from a CDN); the OpenAPI document is for
        # signed-in callers only (see _openapi_route).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
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
        secret_key=settings.secret_key or local_secret(app.state.workspace.root),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="strict",
        https_only=settings.secure_cookies,
    )
    # Outermost: a body is capped before anything parses it or authenticates its sender.
    app.add_middleware(BodyLimit, upload_max=settings.upload_max_bytes, hash_max=HASH_MAX_BYTES)
    app.add_middleware(NoStore)
    _error_handlers(app)
    _openapi_route(app)
    for router in (api, hashapi, web, takedown_api, takedown_web, accounts_web, spread_views):
        router.include(app)
    return app


def app_from_env() -> FastAPI:
    """The server app with its job runner, its settings from the environment (``$RECLAIM_WORKSPACE``, else
    the default workspace; the rest as :meth:`ServerSettings.from_env`), for a process manager that
    builds one app per worker process: ``uvicorn --factory reclaim.server.app:app_from_env --workers 2``
    (what ``reclaim serve --workers 2`` runs). The workers share the workspace's one bank file."""
    root = os.environ.get("RECLAIM_WORKSPACE")
    app = create_app(ServerSettings.from_env(Path(root) if root else default_workspace_dir()))
    install_jobs(app)
    return app


def run_workers(settings: ServerSettings, workers: int, **uvicorn_options: Any) -> None:
    """Serve from ``workers`` processes (uvicorn's process manager): the workspace is made or migrated
    once here, then each worker builds the app from the environment (:func:`app_from_env`); they all map
    the workspace's one bank file."""
    import uvicorn  # only when serving

    settings.check()
    open_workspace(settings).close()
    os.environ.update(RECLAIM_WORKSPACE=str(settings.workspace), RECLAIM_MODE=settings.mode)
    uvicorn.run("reclaim.server.app:app_from_env", factory=True, workers=workers, **uvicorn_options)


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


class NoStore:
    """Every response but the static files says ``Cache-Control: no-store`` (unless the route set its own):
    case data, names and tokens must not stay in a browser's or a proxy's cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/static/"):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)


def _openapi_route(app: FastAPI) -> None:
    @app.get("/openapi.json", include_in_schema=False)
    def openapi(principal: CurrentPrincipal) -> JSONResponse:
        """The OpenAPI document, for signed-in callers (a session or an API token)."""
        return JSONResponse(app.openapi())
