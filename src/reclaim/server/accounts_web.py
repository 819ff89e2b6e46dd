"""The account pages of the web UI.

``/account`` (everyone signed in): your open sessions (when, from where, which browser; end any of them)
and your password (changing it ends your other sessions). ``/users`` and ``/users/{id}`` (admins): every
account, and per account its sessions, API tokens (revoke), deactivation or reactivation, a password reset
and deletion. Every form is a POST with the CSRF field; every change goes through
:mod:`reclaim.server.accounts` (one custody event each) and comes back to its page with a notice.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from reclaim.errors import UserError
from reclaim.server import accounts
from reclaim.server.auth import Forbidden, Principal, RateLimited
from reclaim.server.cases import list_users
from reclaim.server.deps import DB, client_address, request_lang
from reclaim.server.i18n import Translator
from reclaim.server.sessions import list_sessions
from reclaim.server.web import WebRoute, WebUser, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

NOTICES = ("password", "ended", "revoked", "deactivated", "activated", "reset", "deleted")
"""``?done=`` values the pages turn into a notice (``account.done.*``)."""
PasswordField = Annotated[str, Form(max_length=1000)]


def _notice(t: Translator, done: str | None) -> str | None:
    return t(f"account.done.{done}") if done in NOTICES else None


def _admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise Forbidden("only an administrator manages accounts")


# --- your account ---------------------------------------------------------------------------------------


def _account_page(
    request: Request, session: DB, principal: Principal, *, error: str | None = None, status_code: int = 200
) -> Response:
    t = Translator(request_lang(request))
    return render(
        request,
        "account.html",
        principal,
        status_code=status_code,
        sessions=list_sessions(session, principal.user_id, current=principal.session_id),
        end_prefix="/account",
        notice=_notice(t, request.query_params.get("done")),
        error=error,
    )


@router.get("/account")
def account_page(request: Request, session: DB, principal: WebUser) -> Response:
    return _account_page(request, session, principal)


@router.post("/account/password")
def account_password(
    request: Request,
    session: DB,
    principal: WebUser,
    current_password: PasswordField = "",
    new_password: PasswordField = "",
    confirm_password: PasswordField = "",
) -> Response:
    """Change your own password; your other sessions end."""
    t = Translator(request_lang(request))
    if new_password != confirm_password:
        return _account_page(request, session, principal, error=t("account.mismatch"), status_code=422)
    try:
        accounts.change_password(
            session,
            accounts.user_by_id(session, principal.user_id),
            current=current_password,
            new=new_password,
            keep_session=principal.session_id,
            limiter=request.app.state.limiter,
            client=client_address(request),
        )
    except RateLimited as exc:
        error = t("login.limited", seconds=exc.retry_after)
        return _account_page(request, session, principal, error=error, status_code=429)
    except UserError:
        session.rollback()
        error = t("account.password_refused")
        return _account_page(request, session, principal, error=error, status_code=422)
    session.commit()
    return RedirectResponse("/account?done=password", status_code=303)


@router.post("/account/sessions/{session_id}/end")
def account_end_session(session: DB, principal: WebUser, session_id: int) -> Response:
    """End one of your sessions (this one too: then you are signed out)."""
    accounts.end_one_session(session, accounts.user_by_id(session, principal.user_id), session_id)
    session.commit()
    if session_id == principal.session_id:
        return RedirectResponse("/login?out=1", status_code=303)
    return RedirectResponse("/account?done=ended", status_code=303)


# --- every account (admins) -----------------------------------------------------------------------------


@router.get("/users")
def users_page(request: Request, session: DB, principal: WebUser) -> Response:
    _admin(principal)
    t = Translator(request_lang(request))
    notice = _notice(t, request.query_params.get("done"))
    return render(request, "users.html", principal, users=list_users(session, principal), notice=notice)


def _user_page(
    request: Request,
    session: DB,
    principal: Principal,
    user_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    _admin(principal)
    user = accounts.user_by_id(session, user_id)
    t = Translator(request_lang(request))
    return render(
        request,
        "user.html",
        principal,
        status_code=status_code,
        user=user,
        tokens=accounts.list_tokens(session, user),
        sessions=list_sessions(session, user.id, current=principal.session_id),
        end_prefix=f"/users/{user.id}",
        notice=_notice(t, request.query_params.get("done")),
        error=error,
    )


@router.get("/users/{user_id}")
def user_page(request: Request, session: DB, principal: WebUser, user_id: int) -> Response:
    return _user_page(request, session, principal, user_id)


def _back(user_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/users/{user_id}?done={done}", status_code=303)


@router.post("/users/{user_id}/active")
def user_active(
    request: Request,
    session: DB,
    principal: WebUser,
    user_id: int,
    active: Annotated[bool, Form()] = False,
) -> Response:
    """Deactivate (sessions end, tokens fail) or reactivate an account."""
    _admin(principal)
    try:
        accounts.set_active(session, accounts.user_by_id(session, user_id), active=active)
    except UserError:
        session.rollback()
        error = Translator(request_lang(request))("users.last_admin")
        return _user_page(request, session, principal, user_id, error=error, status_code=422)
    session.commit()
    if not active and user_id == principal.user_id:
        return RedirectResponse("/login?out=1", status_code=303)
    return _back(user_id, "activated" if active else "deactivated")


@router.post("/users/{user_id}/delete")
def user_delete(
    request: Request,
    session: DB,
    principal: WebUser,
    user_id: int,
    confirm: Annotated[bool, Form()] = False,
) -> Response:
    """Delete an account (the form's confirmation box must be ticked)."""
    _admin(principal)
    t = Translator(request_lang(request))
    if not confirm:
        return _user_page(request, session, principal, user_id, error=t("users.confirm"), status_code=422)
    try:
        accounts.delete_user(session, accounts.user_by_id(session, user_id))
    except UserError:
        session.rollback()
        error = t("users.last_admin")
        return _user_page(request, session, principal, user_id, error=error, status_code=422)
    session.commit()
    if user_id == principal.user_id:
        return RedirectResponse("/login?out=1", status_code=303)
    return RedirectResponse("/users?done=deleted", status_code=303)


@router.post("/users/{user_id}/password")
def user_password(
    request: Request, session: DB, principal: WebUser, user_id: int, password: PasswordField = ""
) -> Response:
    """Set an account's password: its sessions end."""
    _admin(principal)
    try:
        accounts.reset_password(session, accounts.user_by_id(session, user_id), new=password)
    except UserError:
        session.rollback()
        error = Translator(request_lang(request))("account.password_refused")
        return _user_page(request, session, principal, user_id, error=error, status_code=422)
    session.commit()
    if user_id == principal.user_id:
        return RedirectResponse("/login?out=1", status_code=303)
    return _back(user_id, "reset")


@router.post("/users/{user_id}/tokens/{token_id}/revoke")
def user_revoke_token(session: DB, principal: WebUser, user_id: int, token_id: int) -> Response:
    _admin(principal)
    accounts.revoke_token(session, accounts.user_by_id(session, user_id), token_id)
    session.commit()
    return _back(user_id, "revoked")


@router.post("/users/{user_id}/sessions/{session_id}/end")
def user_end_session(session: DB, principal: WebUser, user_id: int, session_id: int) -> Response:
    _admin(principal)
    accounts.end_one_session(session, accounts.user_by_id(session, user_id), session_id)
    session.commit()
    if session_id == principal.session_id:
        return RedirectResponse("/login?out=1", status_code=303)
    return _back(user_id, "ended")


def include(app: FastAPI) -> None:
    app.include_router(router)
