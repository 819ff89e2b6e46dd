"""The role × endpoint matrix: every route the app has (REST API, hash API, web UI, docs) called by every
role, against an explicit table of expected status codes. Routes are read from the app itself, so a new
route without a row in ``EXPECTED`` fails the test until someone decides who may call it.

Callers: ``anon`` (no credentials), ``admin``, ``advocate`` (assigned to case A), ``advocate2`` (not on
case A: must get 404 exactly as for a case that does not exist), ``viewer`` (on case A, read-only: 403
on writes), ``platform`` (403 everywhere but ``/h`` and ``/m``, sign-in and ``/api/me``, its own sessions
and password included). Account routes get fresh objects per call (:func:`account_ids`). Every path
parameter names an object of case A. API calls use tokens; the UI accepts them too (no CSRF needed).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from PIL import Image

from reclaim.demo import SampleExport
from reclaim.server.accounts import list_tokens
from reclaim.server.auth import create_token
from reclaim.server.sessions import start_session
from reclaim.store.models import User

from .conftest import BACKENDS, PASSWORD, add_account
from .test_api import World, client_for, world_for
from .test_takedown_server import ensure_notice

pytestmark = pytest.mark.anyio

CALLERS = ("anon", "admin", "advocate", "advocate2", "viewer", "platform")

# Expected status per caller, in the order of CALLERS.
# 200/201/202: allowed; 303: the UI redirects (to the login page, or after a form); 401: not signed in;
# 403: role not allowed; 404: case A is not theirs (indistinguishable from a missing case);
# 422: allowed, but the request is refused on its merits (e.g. case A already has its person).
EXPECTED: dict[tuple[str, str], str] = {
    # docs
    ("GET", "/openapi.json"): "401 200 200 200 200 200",
    # REST API: sign-in
    ("GET", "/api/health"): "200 200 200 200 200 200",
    ("POST", "/api/login"): "200 200 200 200 200 200",
    ("POST", "/api/logout"): "401 200 200 200 200 200",
    ("GET", "/api/me"): "401 200 200 200 200 200",
    # REST API: your own account (every signed-in role; {session_id} is the caller's own session)
    ("GET", "/api/me/sessions"): "401 200 200 200 200 200",
    ("DELETE", "/api/me/sessions/{session_id}"): "401 200 200 200 200 200",
    ("POST", "/api/me/password"): "401 200 200 200 200 200",
    # REST API: cases
    ("GET", "/api/cases"): "401 200 200 200 200 403",
    ("POST", "/api/cases"): "401 201 201 201 403 403",
    ("GET", "/api/cases/{case_id}"): "401 200 200 404 200 403",
    ("POST", "/api/cases/{case_id}/person"): "401 422 422 404 403 403",
    ("POST", "/api/cases/{case_id}/members"): "401 200 403 403 403 403",
    ("DELETE", "/api/cases/{case_id}/members/{user_id}"): "401 200 403 403 403 403",
    ("GET", "/api/cases/{case_id}/matches"): "401 200 200 404 200 403",
    ("GET", "/api/cases/{case_id}/network"): "401 200 200 404 200 403",
    ("GET", "/api/cases/{case_id}/timeline"): "401 200 200 404 200 403",
    ("GET", "/api/admin/shared-actors"): "401 200 403 403 403 403",
    ("POST", "/api/matches/{match_id}/review"): "401 200 200 404 403 403",
    ("POST", "/api/cases/{case_id}/uploads"): "401 202 202 404 403 403",
    ("GET", "/api/cases/{case_id}/jobs"): "401 200 200 404 200 403",
    ("GET", "/api/jobs/{job_id}"): "401 200 200 404 200 403",
    ("POST", "/api/jobs/{job_id}/retry"): "401 422 422 404 403 403",
    ("GET", "/api/cases/{case_id}/items/{sha256}/media"): "401 200 200 404 200 403",
    ("GET", "/api/items/{sha256}/explain"): "401 200 200 404 200 403",
    ("GET", "/api/users"): "401 200 403 403 403 403",
    ("POST", "/api/users"): "401 201 403 403 403 403",
    ("POST", "/api/users/{user_id}/tokens"): "401 201 403 403 403 403",
    # REST API: managing accounts (admin; DELETE removes a fresh account made for each call)
    ("GET", "/api/users/{user_id}/tokens"): "401 200 403 403 403 403",
    ("DELETE", "/api/users/{user_id}/tokens/{token_id}"): "401 200 403 403 403 403",
    ("POST", "/api/users/{user_id}/deactivate"): "401 200 403 403 403 403",
    ("POST", "/api/users/{user_id}/activate"): "401 200 403 403 403 403",
    ("DELETE", "/api/users/{user_id}"): "401 200 403 403 403 403",
    ("POST", "/api/users/{user_id}/password"): "401 200 403 403 403 403",
    ("GET", "/api/users/{user_id}/sessions"): "401 200 403 403 403 403",
    ("DELETE", "/api/users/{user_id}/sessions/{session_id}"): "401 200 403 403 403 403",
    # REST API: takedown notices (no sending API: e-mail goes out from the CLI only)
    ("GET", "/api/cases/{case_id}/notices"): "401 200 200 404 200 403",
    ("POST", "/api/cases/{case_id}/notices/draft"): "401 200 200 404 403 403",
    ("GET", "/api/notices/{notice_id}"): "401 200 200 404 200 403",
    ("POST", "/api/notices/{notice_id}/status"): "401 200 200 404 403 403",
    # a removal check (the matrix's notice is Telegram's: no web address to fetch, refused on its merits)
    ("POST", "/api/notices/{notice_id}/check"): "401 422 422 404 403 403",
}
"""Filled in below for the hash API and the UI, by their owners' rules."""

EXPECTED_OTHER: dict[tuple[str, str], str] = {
    # hash API: platforms and admins; advocates may hash a file too (for takedowns), never look up
    ("POST", "/h/hash"): "401 200 200 200 403 200",
    ("GET", "/m/lookup"): "401 200 403 403 403 200",
    ("POST", "/m/lookup"): "401 200 403 403 403 200",
    ("POST", "/m/lookup/batch"): "401 200 403 403 403 200",
    ("GET", "/m/bank"): "401 200 403 403 403 200",
    # web UI: anonymous callers are sent to the login page; platform accounts cannot use the UI
    ("GET", "/login"): "200 303 303 303 303 303",
    ("POST", "/login"): "403 403 403 403 403 403",  # the login form needs its CSRF token (GET /login)
    ("POST", "/logout"): "303 303 303 303 303 303",
    ("POST", "/lang"): "403 303 303 303 303 303",  # anonymous: a cookie form without its CSRF token
    ("GET", "/"): "303 200 200 200 200 403",
    ("GET", "/cases/{case_id}"): "303 200 200 404 200 403",
    ("GET", "/cases/{case_id}/network"): "303 200 200 404 200 403",
    ("GET", "/admin/shared-actors"): "303 200 403 403 403 403",
    ("GET", "/cases/{case_id}/review"): "303 200 200 404 200 403",
    ("POST", "/cases/{case_id}/matches/{match_id}/review"): "303 303 303 404 403 403",
    ("GET", "/cases/{case_id}/items/{sha256}/preview"): "303 200 200 404 200 403",
    ("POST", "/cases/{case_id}/items/{sha256}/reveal"): "303 200 200 404 200 403",
    ("GET", "/cases/{case_id}/upload"): "303 200 200 404 403 403",
    ("POST", "/cases/{case_id}/upload"): "303 303 303 404 403 403",
    ("GET", "/cases/{case_id}/jobs/{job_id}"): "303 200 200 404 200 403",
    ("GET", "/cases/{case_id}/jobs/{job_id}/progress"): "303 200 200 404 200 403",
    ("GET", "/cases/{case_id}/takedown"): "303 200 200 404 200 403",
    ("POST", "/cases/{case_id}/takedown/draft"): "303 303 303 404 403 403",
    ("POST", "/cases/{case_id}/notices/{notice_id}/status"): "303 303 303 404 403 403",
    ("POST", "/cases/{case_id}/notices/{notice_id}/check"): "303 422 422 404 403 403",
    # web UI: your account (every UI role), every account (admins)
    ("GET", "/account"): "303 200 200 200 200 403",
    ("POST", "/account/password"): "303 303 303 303 303 403",
    ("POST", "/account/sessions/{session_id}/end"): "303 303 303 303 303 403",
    ("GET", "/users"): "303 200 403 403 403 403",
    ("GET", "/users/{user_id}"): "303 200 403 403 403 403",
    ("POST", "/users/{user_id}/active"): "303 303 403 403 403 403",
    ("POST", "/users/{user_id}/delete"): "303 303 403 403 403 403",
    ("POST", "/users/{user_id}/password"): "303 303 403 403 403 403",
    ("POST", "/users/{user_id}/tokens/{token_id}/revoke"): "303 303 403 403 403 403",
    ("POST", "/users/{user_id}/sessions/{session_id}/end"): "303 303 403 403 403 403",
}
EXPECTED.update(EXPECTED_OTHER)


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route, HEAD aside, included routers flattened; mounts (static files)
    are not endpoints."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI ≥ 0.13x flattens lazily

        routes: Any = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - older FastAPI lists routes flat
        routes = app.routes
    out = set()
    for r in routes:
        methods = getattr(r, "methods", None)
        path = getattr(r, "path", None)
        if not methods or not path:
            continue
        out |= {(m, path) for m in methods if m != "HEAD"}
    return sorted(out, key=lambda mp: (mp[1], mp[0]))


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 80, 40)).save(buf, "JPEG")
    return buf.getvalue()


def account_ids(world: World, method: str, path: str, who: str, extra_user: int) -> dict[str, str]:
    """Fresh objects for the account routes: the account a DELETE removes, the caller's own session for
    ``/api/me/sessions`` and ``/account/sessions``, another session and token of the extra user."""
    user = extra_user
    if path.endswith("/delete") or (method == "DELETE" and path == "/api/users/{user_id}"):
        user = add_account(world.app, f"gone-{who}-{len(path)}", "viewer").user_id
    ids = {"{user_id}": str(user)}
    with world.ws.session() as s:
        if "{session_id}" in path:
            owner = user if "{user_id}" in path or who == "anon" else world.accounts[who].user_id
            _, row = start_session(s, user_id=owner, client="matrix", user_agent="", max_age_s=600)
            ids["{session_id}"] = str(row.id)
        if "{token_id}" in path:
            account = s.get(User, user)
            assert account is not None
            create_token(s, account, label="matrix")
            ids["{token_id}"] = str(max(t.token_id for t in list_tokens(s, account)))
        s.commit()
    return ids


def request_for(
    world: World, method: str, path: str, extra_user: int, ids: dict[str, str] | None = None
) -> dict[str, Any]:
    """Arguments of a valid request to the route; only permissions should decide its fate."""
    a = world
    pdq = "f" * 64
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/login"): {"json": {"username": "admin", "password": PASSWORD}},
        ("POST", "/api/cases"): {"json": {"title": "matrix case"}},
        ("POST", "/api/cases/{case_id}/person"): {
            "data": {"name": "x", "consent": "y"},
            "files": [("photos", ("p.jpg", _jpeg(), "image/jpeg"))],
        },
        ("POST", "/api/cases/{case_id}/members"): {"json": {"username": "viewer"}},
        ("POST", "/api/matches/{match_id}/review"): {"json": {"decision": "confirmed"}},
        ("POST", "/api/cases/{case_id}/uploads"): {"files": [("files", ("a.jpg", _jpeg(), "image/jpeg"))]},
        ("POST", "/api/users"): {
            "json": {"username": "u-{who}", "password": "a long password", "role": "viewer"}
        },
        ("POST", "/api/users/{user_id}/tokens"): {"json": {"label": "matrix"}},
        ("POST", "/api/users/{user_id}/password"): {"json": {"password": "a long password"}},
        ("POST", "/api/me/password"): {"json": {"current_password": PASSWORD, "new_password": PASSWORD}},
        ("POST", "/account/password"): {
            "data": {"current_password": PASSWORD, "new_password": PASSWORD, "confirm_password": PASSWORD}
        },
        ("POST", "/users/{user_id}/active"): {"data": {"active": "false"}},
        ("POST", "/users/{user_id}/delete"): {"data": {"confirm": "true"}},
        ("POST", "/users/{user_id}/password"): {"data": {"password": "a long password"}},
        ("POST", "/h/hash"): {"files": {"file": ("a.jpg", _jpeg(), "image/jpeg")}},
        ("GET", "/m/lookup"): {"params": {"signal_type": "pdq", "signal": pdq}},
        ("POST", "/m/lookup"): {"json": {"signal_type": "pdq", "signal": pdq}},
        ("POST", "/m/lookup/batch"): {"json": {"queries": [{"signal_type": "pdq", "signal": pdq}]}},
        ("POST", "/login"): {"data": {"username": "admin", "password": PASSWORD}},
        ("POST", "/lang"): {"data": {"lang": "en"}},
        ("POST", "/cases/{case_id}/matches/{match_id}/review"): {"data": {"decision": "confirmed"}},
        ("POST", "/cases/{case_id}/upload"): {"files": [("files", ("a.jpg", _jpeg(), "image/jpeg"))]},
        ("POST", "/api/cases/{case_id}/notices/draft"): {"json": {"lang": "en"}},
        ("POST", "/api/notices/{notice_id}/status"): {"json": {"status": "sent"}},
        ("POST", "/cases/{case_id}/takedown/draft"): {"data": {"platform": "", "lang": "en"}},
        ("POST", "/cases/{case_id}/notices/{notice_id}/status"): {"data": {"status": "sent"}},
    }
    notice_id = ensure_notice(world) if "notice" in path or "takedown" in path else ""
    filled = path
    for name, value in (ids or {}).items():
        filled = filled.replace(name, value)
    url = (
        filled.replace("{case_id}", a.case_a)
        .replace("{match_id}", a.match_id)
        .replace("{sha256}", a.item_sha)
        .replace("{job_id}", a.job_id)
        .replace("{user_id}", str(extra_user))
        .replace("{notice_id}", notice_id)
    )

    return {"method": method, "url": url, **bodies.get((method, path), {})}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    from reclaim.demo import build_sample_export

    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path, sample: SampleExport) -> Iterator[World]:
    with world_for(request.param, tmp_path, sample) as w:
        yield w


async def test_every_route_and_role(world: World) -> None:
    app = world.app
    routes = app_routes(app)
    missing = [r for r in routes if r not in EXPECTED]
    assert not missing, f"routes without a row in EXPECTED (decide who may call them): {missing}"
    stale = [r for r in EXPECTED if r not in routes]
    assert not stale, f"rows in EXPECTED for routes the app no longer has: {stale}"
    extra = add_account(app, "extra", "viewer")
    with world.ws.session() as s:
        from reclaim.server.cases import assign_member

        assign_member(s, world.principal("admin"), world.case_a, username="extra")

    failures = []
    matrix = []
    for method, path in routes:
        expected = EXPECTED[(method, path)].split()
        got = []
        for who, want in zip(CALLERS, expected, strict=True):
            ids = account_ids(world, method, path, who, extra.user_id)
            args = request_for(world, method, path, extra.user_id, ids)
            if "json" in args and isinstance(args["json"], dict) and "username" in args["json"]:
                args["json"] = {
                    k: (v.format(who=who) if isinstance(v, str) else v) for k, v in args["json"].items()
                }
            headers = {} if who == "anon" else {"Authorization": f"Bearer {world.accounts[who].token}"}
            async with client_for(app) as c:  # a fresh client: no cookie carries over
                r = await c.request(headers=headers, follow_redirects=False, **args)
            got.append(str(r.status_code))
            if str(r.status_code) != want:
                failures.append(f"{method} {path} as {who}: {r.status_code} (expected {want}) {r.text[:200]}")
        matrix.append(f'    ("{method}", "{path}"): "{" ".join(got)}",')
    app.state.jobs.wait(timeout=60)
    assert not failures, "\n".join(failures) + "\n\nobserved:\n" + "\n".join(matrix)


def test_platform_is_denied_every_case_route() -> None:
    """Read off the table: a platform token gets 403 on everything but sign-in, /api/me, /h and /m
    (and the public docs and health check)."""
    allowed_prefixes = ("/h/", "/m/", "/api/me/")  # /api/me/*: every account manages its own sessions
    public = {"/api/health", "/api/login", "/api/logout", "/api/me", "/openapi.json"}
    for (_, path), row in EXPECTED.items():
        platform = row.split()[CALLERS.index("platform")]
        if path.startswith(allowed_prefixes):
            assert platform == "200", path
        elif (path.startswith("/api/") and path not in public) or path == "/" or path.startswith("/cases/"):
            assert platform == "403", path


def test_advocate2_never_learns_case_a_exists() -> None:
    """Every route with a case A object in its path answers advocate2 with 404 (or 403 for role-only
    refusals that do not depend on the case), never 200 or 422."""
    for (_, path), row in EXPECTED.items():
        if any(p in path for p in ("{case_id}", "{match_id}", "{sha256}", "{job_id}", "{notice_id}")):
            assert row.split()[CALLERS.index("advocate2")] in ("403", "404"), path
