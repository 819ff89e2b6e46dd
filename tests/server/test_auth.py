"""Sign-in, sessions, tokens, CSRF, rate limiting and the refusal of default secrets."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from reclaim.errors import UserError
from reclaim.server.app import create_app
from reclaim.server.settings import DEFAULT_SECRET, ServerSettings

from .conftest import PASSWORD, Account, bearer, login

pytestmark = pytest.mark.anyio


def test_server_mode_refuses_default_secrets(tmp_path: Path) -> None:
    base = {"workspace": tmp_path / "ws", "passphrase": "a long enough passphrase", "mode": "server"}
    with pytest.raises(UserError, match="RECLAIM_SECRET_KEY"):
        create_app(ServerSettings(**base, secret_key=DEFAULT_SECRET))  # type: ignore[arg-type]
    with pytest.raises(UserError, match="at least 32"):
        create_app(ServerSettings(**base, secret_key="short"))  # type: ignore[arg-type]
    with pytest.raises(UserError, match="secure"):
        create_app(ServerSettings(**base, secret_key="x" * 40, cookie_secure=False))  # type: ignore[arg-type]
    with pytest.raises(UserError, match="PASSPHRASE"):
        create_app(
            ServerSettings(workspace=tmp_path / "ws", passphrase="short", mode="server", secret_key="x" * 40)
        )
    assert not (tmp_path / "ws").exists(), "nothing is created before the settings are accepted"


async def test_login_session_csrf_and_logout(client: httpx.AsyncClient, accounts: dict[str, Account]) -> None:
    assert (await client.get("/api/me")).status_code == 401
    r = await client.post("/api/login", json={"username": "advocate", "password": "wrong password"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
    r = await client.post("/api/login", json={"username": "nobody", "password": "wrong password"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
    csrf = await login(client, "advocate")
    cookie = client.cookies.get("reclaim_session")
    assert cookie
    set_cookie = (
        await client.post("/api/login", json={"username": "advocate", "password": PASSWORD})
    ).headers["set-cookie"]
    assert (
        "secure" in set_cookie.lower()
        and "httponly" in set_cookie.lower()
        and "samesite=strict" in set_cookie.lower()
    )
    csrf = {"X-CSRF-Token": (await client.get("/api/me")).json()["csrf_token"]}
    me = await client.get("/api/me")
    assert me.status_code == 200 and me.json()["role"] == "advocate"
    assert (await client.post("/api/logout")).status_code == 403  # a cookie request without the CSRF token
    assert (await client.post("/api/logout", headers={"X-CSRF-Token": "forged"})).status_code == 403
    assert (await client.post("/api/logout", headers=csrf)).status_code == 200
    assert (await client.get("/api/me")).status_code == 401


async def test_tokens_need_no_csrf_and_bad_tokens_are_refused(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    r = await client.get("/api/me", headers=bearer(accounts["viewer"]))
    assert r.status_code == 200 and r.json() == {"username": "viewer", "role": "viewer", "csrf_token": None}
    for header in ("Bearer rct_nope", "Bearer nope", "Basic abc", "Bearer"):
        assert (await client.get("/api/me", headers={"Authorization": header})).status_code == 401


async def test_login_rate_limit(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI
) -> None:
    for _ in range(app.state.settings.login_attempts):
        r = await client.post("/api/login", json={"username": "admin", "password": "wrong password"})
        assert r.status_code == 401
    r = await client.post("/api/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # other users are not locked out
    assert (
        await client.post("/api/login", json={"username": "viewer", "password": PASSWORD})
    ).status_code == 200
