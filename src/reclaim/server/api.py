"""REST API: sign-in for scripts and the UI, and (by the API module's owner) cases, matches, review,
uploads and jobs. Thin: every route calls a service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

from reclaim.server.app import DB, CurrentPrincipal, csrf_token
from reclaim.server.auth import authenticate

router = APIRouter(prefix="/api", tags=["api"])


class LoginIn(BaseModel):
    username: str
    password: str


class MeOut(BaseModel):
    username: str
    role: str
    csrf_token: str | None = None


@router.get("/health")
def health() -> dict[str, Any]:
    return {"ok": True}


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
def logout(request: Request, principal: CurrentPrincipal) -> dict[str, bool]:
    request.session.clear()
    return {"ok": True}


@router.get("/me")
def me(request: Request, principal: CurrentPrincipal) -> MeOut:
    token = csrf_token(request) if principal.via == "session" else None
    return MeOut(username=principal.username, role=principal.role, csrf_token=token)


def include(app: FastAPI) -> None:
    app.include_router(router)
