"""The dependencies every router shares: the workspace and a database session per request, who is calling
(API token or session cookie, with CSRF for cookie requests that change state), role checks, the UI
language, and HTTP errors.

Routers import these from here, never from :mod:`reclaim.server.app`, which imports the routers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from reclaim.lang import Lang
from reclaim.server.auth import AuthError, Forbidden, Principal, actor_name, principal_for_token
from reclaim.server.i18n import normalise_lang
from reclaim.server.sessions import COOKIE_KEY, principal_for_session, start_session
from reclaim.workspace import Workspace

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def get_db(request: Request) -> Iterator[Session]:
    """One database session per request; custody events are attributed to the signed-in user."""
    ws = get_workspace(request)
    with ws.session() as session:
        yield session


DB = Annotated[Session, Depends(get_db)]
WS = Annotated[Workspace, Depends(get_workspace)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); forms and HTMX send it back."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_form_csrf(request: Request, sent: str | None) -> None:
    """Forbidden unless ``sent`` is the session's CSRF token (also for forms posted without a sign-in:
    the sign-in form, the language on the sign-in page)."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not sent or not secrets.compare_digest(expected, sent):
        raise Forbidden("missing or wrong CSRF token")


async def check_csrf(request: Request) -> None:
    """A state-changing request must send the CSRF token in the header or the form field."""
    if request.method not in UNSAFE:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
        try:
            check_form_csrf(request, sent)
        except Forbidden:
            await form.close()  # the route that would have closed its uploaded files does not run
            raise
        return
    check_form_csrf(request, sent)


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
        raw = request.session.get(COOKIE_KEY)
        if not isinstance(raw, str):
            return None  # no session (a cookie naming a user by anything else names nobody)
        try:
            principal = principal_for_session(session, raw)
        except AuthError:
            request.session.pop(COOKIE_KEY, None)
            raise
        session.commit()  # last_seen_at
        await check_csrf(request)
    session.info["actor"] = actor_name(principal.username)
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


def require_writer(principal: Principal) -> None:
    """Forbidden for a read-only account (a viewer)."""
    if not principal.can_write:
        raise Forbidden("this account is read-only")


def client_address(request: Request) -> str:
    """The caller's address as the server sees it (a proxy's forwarded address only when the proxy is
    trusted: ``reclaim serve --forwarded-allow-ips``)."""
    return request.client.host if request.client else "unknown"


def sign_in(request: Request, session: Session, principal: Principal) -> None:
    """Start a server-side session for ``principal`` and put its random id in a fresh cookie (a new CSRF
    token too). Commits."""
    settings = request.app.state.settings
    session.info["actor"] = actor_name(principal.username)  # who signed in is who started the session
    raw, _ = start_session(
        session,
        user_id=principal.user_id,
        client=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
        max_age_s=settings.session_max_age_s,
    )
    session.commit()
    request.session.clear()
    request.session[COOKIE_KEY] = raw


def request_lang(request: Request) -> Lang:
    """The UI language of the session (the default when none was chosen)."""
    return normalise_lang(request.session.get("lang"))


def multipart_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads its multipart form itself (after authentication,
    so FastAPI cannot describe it from parameters): pass as ``openapi_extra``."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def http_error(status: int, detail: str, *, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)
