"""Managing accounts (issue 12, D6): revoke a token, deactivate, reactivate and delete a user, change and
reset a password, list sessions and end them; through the API, the CLI and the web UI. Every change takes
effect on the next request and is a custody event."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim.cli import app as cli
from reclaim.server.deps import CSRF_FIELD
from reclaim.store.models import ApiToken, CaseMember, Event, User, WebSession
from reclaim.workspace import Workspace

from .conftest import PASSWORD, Account, add_account, bearer, login

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "another long password"


def kinds(app: FastAPI, *, since: int = 0) -> list[tuple[str, str | None]]:
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        return [
            (e.kind, e.subject) for e in s.scalars(select(Event).where(Event.id > since).order_by(Event.id))
        ]


def last_event_id(app: FastAPI) -> int:
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        return max(s.scalars(select(Event.id)))


def new_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


async def test_revoked_token_fails_at_once(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    admin, platform = bearer(accounts["admin"]), accounts["platform"]
    assert (await client.get("/api/me", headers=bearer(platform))).status_code == 200
    listed = (await client.get(f"/api/users/{platform.user_id}/tokens", headers=admin)).json()
    assert [t["label"] for t in listed] == ["tests"] and "token" not in listed[0]
    since = last_event_id(app)
    url = f"/api/users/{platform.user_id}/tokens/{listed[0]['token_id']}"
    r = await client.delete(url, headers=admin)
    assert r.status_code == 200 and r.json()["revoked"] is True
    assert (await client.get("/api/me", headers=bearer(platform))).status_code == 401
    assert kinds(app, since=since) == [("token.revoked", f"token:{listed[0]['token_id']}")]
    # another user's token number is not found through this user
    other = f"/api/users/{accounts['viewer'].user_id}/tokens/{listed[0]['token_id']}"
    assert (await client.delete(other, headers=admin)).status_code == 404


async def test_deactivation_ends_sessions_and_stops_tokens(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    admin, advocate = bearer(accounts["admin"]), accounts["advocate"]
    async with new_client(app) as browser:
        await login(browser, "advocate")
        assert (await browser.get("/api/me")).status_code == 200
        since = last_event_id(app)
        r = await client.post(f"/api/users/{advocate.user_id}/deactivate", headers=admin)
        assert r.status_code == 200 and r.json() == {
            "user_id": advocate.user_id,
            "username": "advocate",
            "active": False,
            "sessions_ended": 1,
        }
        assert (await browser.get("/api/me")).status_code == 401
        assert (await client.get("/api/me", headers=bearer(advocate))).status_code == 401
        r = await browser.post("/api/login", json={"username": "advocate", "password": PASSWORD})
        assert r.status_code == 401
        assert [k for k, _ in kinds(app, since=since)] == ["session.ended", "user.deactivated"]
        # reactivated: the token works again; the ended session stays ended
        assert (
            await client.post(f"/api/users/{advocate.user_id}/activate", headers=admin)
        ).status_code == 200
        assert (await client.get("/api/me", headers=bearer(advocate))).status_code == 200
        assert (await browser.get("/api/me")).status_code == 401
        assert kinds(app, since=since)[-1] == ("user.reactivated", f"user:{advocate.user_id}")


async def test_deleted_user_is_gone_with_tokens_sessions_and_assignments(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    admin, viewer = bearer(accounts["admin"]), accounts["viewer"]
    case = (await client.post("/api/cases", json={"title": "c"}, headers=admin)).json()
    members = f"/api/cases/{case['case_id']}/members"
    assert (await client.post(members, json={"username": "viewer"}, headers=admin)).status_code == 200
    async with new_client(app) as browser:
        await login(browser, "viewer")
        since = last_event_id(app)
        assert (await client.delete(f"/api/users/{viewer.user_id}", headers=admin)).status_code == 200
        assert (await browser.get("/api/me")).status_code == 401
    assert (await client.get("/api/me", headers=bearer(viewer))).status_code == 401
    users = (await client.get("/api/users", headers=admin)).json()
    assert "viewer" not in {u["username"] for u in users}
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        for model in (ApiToken, CaseMember, WebSession):
            assert s.scalars(select(model).where(model.user_id == viewer.user_id)).first() is None
        assert s.get(User, viewer.user_id) is None
    assert [k for k, _ in kinds(app, since=since)] == ["session.ended", "user.deleted"]
    assert (await client.delete(f"/api/users/{viewer.user_id}", headers=admin)).status_code == 404
    # the custody log names actors by username: the deleted account's name is not given to someone else
    again = {"username": "viewer", "password": NEW_PASSWORD, "role": "viewer"}
    refused = await client.post("/api/users", json=again, headers=admin)
    assert refused.status_code == 422 and "deleted account" in refused.text
    never_acted = {"username": "fresh", "password": NEW_PASSWORD, "role": "viewer"}
    assert (await client.post("/api/users", json=never_acted, headers=admin)).status_code == 201


async def test_the_last_admin_cannot_be_deactivated_or_deleted(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    admin = accounts["admin"]
    for call in (
        client.post(f"/api/users/{admin.user_id}/deactivate", headers=bearer(admin)),
        client.delete(f"/api/users/{admin.user_id}", headers=bearer(admin)),
    ):
        r = await call
        assert r.status_code == 422 and "last active administrator" in r.json()["detail"]
    second = add_account(app, "admin2", "admin")
    r = await client.post(f"/api/users/{admin.user_id}/deactivate", headers=bearer(second))
    assert r.status_code == 200
    assert (await client.get("/api/me", headers=bearer(admin))).status_code == 401


async def test_password_change_keeps_this_session_and_ends_the_others(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    async with new_client(app) as here, new_client(app) as there:
        csrf = await login(here, "advocate")
        await login(there, "advocate")
        mine = (await here.get("/api/me/sessions")).json()
        assert len(mine) == 2 and sum(s["current"] for s in mine) == 1
        assert {s["client"] for s in mine} == {"127.0.0.1"}
        body = {"current_password": "not my password", "new_password": NEW_PASSWORD}
        r = await here.post("/api/me/password", json=body, headers=csrf)
        assert r.status_code == 422
        since = last_event_id(app)
        body["current_password"] = PASSWORD
        assert (await here.post("/api/me/password", json=body)).status_code == 403  # CSRF
        r = await here.post("/api/me/password", json=body, headers=csrf)
        assert r.status_code == 200 and r.json()["sessions_ended"] == 1
        assert (await here.get("/api/me")).status_code == 200
        assert (await there.get("/api/me")).status_code == 401
        assert [k for k, _ in kinds(app, since=since)] == ["session.ended", "user.password_changed"]
        r = await there.post("/api/login", json={"username": "advocate", "password": PASSWORD})
        assert r.status_code == 401
        await login(there, "advocate", NEW_PASSWORD)


async def test_wrong_current_passwords_count_against_the_sign_in_limit(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    async with new_client(app) as c:
        csrf = await login(c, "viewer")
        body = {"current_password": "guess guess guess", "new_password": NEW_PASSWORD}
        codes = [(await c.post("/api/me/password", json=body, headers=csrf)).status_code for _ in range(6)]
        assert codes == [422] * 5 + [429]


async def test_reset_and_ending_sessions(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    admin, viewer = bearer(accounts["admin"]), accounts["viewer"]
    async with new_client(app) as one, new_client(app) as two, new_client(app) as three:
        for c in (one, two, three):
            await login(c, "viewer")
        sessions = (await client.get(f"/api/users/{viewer.user_id}/sessions", headers=admin)).json()
        assert len(sessions) == 3
        # the user ends one of their own; an admin ends another; someone else's number is 404
        own = (await one.get("/api/me/sessions")).json()
        other = next(s["session_id"] for s in own if not s["current"])
        csrf = {"X-CSRF-Token": (await one.get("/api/me")).json()["csrf_token"]}
        assert (await one.delete(f"/api/me/sessions/{other}", headers=csrf)).status_code == 200
        assert (await one.delete(f"/api/me/sessions/{other}", headers=csrf)).status_code == 404
        r = await client.delete(f"/api/me/sessions/{sessions[0]['session_id']}", headers=admin)
        assert r.status_code == 404  # the admin's own sessions do not include the viewer's
        alive = [c for c in (one, two, three) if (await c.get("/api/me")).status_code == 200]
        assert len(alive) == 2
        since = last_event_id(app)
        r = await client.post(
            f"/api/users/{viewer.user_id}/password", json={"password": NEW_PASSWORD}, headers=admin
        )
        assert r.status_code == 200 and r.json()["sessions_ended"] == 2
        for c in (one, two, three):
            assert (await c.get("/api/me")).status_code == 401
        assert [k for k, _ in kinds(app, since=since)] == ["session.ended"] * 2 + ["user.password_reset"]
        await login(one, "viewer", NEW_PASSWORD)


async def test_the_account_pages(app: FastAPI, accounts: dict[str, Account]) -> None:
    """The UI: your sessions and password at /account; an admin deactivates, resets, revokes and deletes
    at /users/{id}. Forms carry the CSRF field."""
    async with new_client(app) as me, new_client(app) as elsewhere:
        await login(me, "advocate")
        await login(elsewhere, "advocate")
        page = await me.get("/account")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert page.text.count("/sessions/") == 2 and "this session" in page.text
        csrf = page.text.split(f'name="{CSRF_FIELD}" value="')[1].split('"')[0]
        form = {CSRF_FIELD: csrf, "current_password": PASSWORD, "new_password": NEW_PASSWORD}
        r = await me.post("/account/password", data={**form, "confirm_password": "different"})
        assert r.status_code == 422 and "The new passwords differ." in r.text
        r = await me.post("/account/password", data={**form, "confirm_password": NEW_PASSWORD})
        assert r.status_code == 303 and r.headers["location"] == "/account?done=password"
        assert "Password changed." in (await me.get("/account?done=password")).text
        assert (await elsewhere.get("/", follow_redirects=False)).status_code == 303

    async with new_client(app) as boss:
        await login(boss, "admin")
        viewer = accounts["viewer"]
        assert "/users/" in (await boss.get("/users")).text
        page = (await boss.get(f"/users/{viewer.user_id}")).text
        csrf = page.split(f'name="{CSRF_FIELD}" value="')[1].split('"')[0]
        token_id = page.split(f"/users/{viewer.user_id}/tokens/")[1].split("/")[0]
        r = await boss.post(f"/users/{viewer.user_id}/tokens/{token_id}/revoke", data={CSRF_FIELD: csrf})
        assert r.status_code == 303
        assert (await boss.get("/api/me", headers=bearer(viewer))).status_code == 401
        r = await boss.post(f"/users/{viewer.user_id}/active", data={CSRF_FIELD: csrf, "active": "false"})
        assert r.status_code == 303 and "Account deactivated." in (await boss.get(r.headers["location"])).text
        r = await boss.post(f"/users/{viewer.user_id}/delete", data={CSRF_FIELD: csrf})
        assert r.status_code == 422  # the confirmation box
        r = await boss.post(f"/users/{viewer.user_id}/delete", data={CSRF_FIELD: csrf, "confirm": "true"})
        assert r.status_code == 303 and r.headers["location"] == "/users?done=deleted"
        assert (await boss.get(f"/users/{viewer.user_id}")).status_code == 404
        assert (
            await boss.post(f"/users/{accounts['advocate2'].user_id}/delete", data={"confirm": "true"})
        ).status_code == 403
    async with new_client(app) as advocate:
        await login(advocate, "advocate", NEW_PASSWORD)
        assert (await advocate.get("/users")).status_code == 403
        assert (await advocate.get(f"/users/{accounts['admin'].user_id}")).status_code == 403


def test_cli_manages_accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("RECLAIM_PASSPHRASE", "cli test passphrase")
    monkeypatch.setenv("RECLAIM_NEW_PASSWORD", PASSWORD)
    ws = ["--workspace", str(tmp_path / "ws")]

    def run(*args: str) -> str:
        r = runner.invoke(cli, [*ws, *args])
        assert r.exit_code == 0, r.output
        return r.output

    run("init")
    run("user", "add", "root", "--role", "admin")
    run("user", "add", "alice", "--role", "advocate")
    token = run("user", "token", "alice", "--label", "script").strip()
    tokens = json.loads(run("user", "tokens", "alice", "--json"))
    assert [t["label"] for t in tokens] == ["script"] and token not in json.dumps(tokens)
    assert json.loads(run("user", "revoke-token", "alice", str(tokens[0]["token_id"]), "--json"))["revoked"]
    users = {u["username"]: u for u in json.loads(run("user", "list", "--json"))}
    assert users["alice"]["active"] is True
    assert json.loads(run("user", "deactivate", "alice", "--json"))["active"] is False
    assert "Reactivated alice." in run("user", "activate", "alice")
    assert json.loads(run("user", "sessions", "alice", "--json")) == []
    monkeypatch.setenv("RECLAIM_NEW_PASSWORD", NEW_PASSWORD)
    assert "Password of alice reset" in run("user", "password", "alice")
    assert "Ended 0 session(s)" in run("user", "end-sessions", "alice")
    r = runner.invoke(cli, [*ws, "user", "deactivate", "root"])
    assert r.exit_code == 2 and "last active administrator" in r.output
    r = runner.invoke(cli, [*ws, "user", "end-session", "alice", "99"])
    assert r.exit_code == 2 and "no such session" in r.output
    run("user", "delete", "alice", "--yes")
    r = runner.invoke(cli, [*ws, "user", "tokens", "alice"])
    assert r.exit_code != 0 and "no user named 'alice'" in r.output
    w = Workspace.open(tmp_path / "ws", "cli test passphrase")
    try:
        with w.session() as s:
            logged = [e.kind for e in s.scalars(select(Event).order_by(Event.id))]
    finally:
        w.close()
    assert logged[-5:] == [
        "token.revoked",
        "user.deactivated",
        "user.reactivated",
        "user.password_reset",
        "user.deleted",
    ]
