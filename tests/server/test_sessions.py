"""Server-side sessions (issue 12, D8): the cookie carries a random id, the ``web_sessions`` table decides.
A cookie captured before logout is dead after it; a forged cookie naming a user id is nobody even when
signed with the right secret; the table stores only the id's SHA-256."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner
from sqlalchemy import select

from reclaim.server.app import SESSION_COOKIE
from reclaim.store.models import WebSession, utcnow

from .conftest import Account, bearer, login

pytestmark = pytest.mark.anyio


def cookie_data(cookie: str) -> dict[str, object]:
    """What Starlette's signed session cookie carries (readable by anyone: signed, not encrypted)."""
    payload = cookie.split(".")[0]
    data: dict[str, object] = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return data


async def test_d8_a_cookie_captured_before_logout_is_dead_after_it(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    csrf = await login(client, "advocate")
    captured = client.cookies.get(SESSION_COOKIE)
    assert captured
    assert (await client.post("/api/logout", headers=csrf)).status_code == 200
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as thief:
        thief.cookies.set(SESSION_COOKIE, captured)
        assert (await thief.get("/api/me")).status_code == 401
        thief.cookies.set(SESSION_COOKIE, captured)
        r = await thief.post("/api/cases", json={"title": "after logout"}, headers=csrf)
        assert r.status_code == 401
        thief.cookies.set(SESSION_COOKIE, captured)
        assert (await thief.get("/", follow_redirects=False)).status_code == 303


async def test_the_cookie_holds_a_random_id_and_the_table_its_digest(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await login(client, "viewer")
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    data = cookie_data(cookie)
    assert "user_id" not in data and isinstance(data["sid"], str) and len(data["sid"]) >= 43
    with app.state.workspace.session() as s:
        rows = list(s.scalars(select(WebSession).where(WebSession.user_id == accounts["viewer"].user_id)))
    assert len(rows) == 1
    assert rows[0].id_sha256 == hashlib.sha256(str(data["sid"]).encode()).hexdigest()
    assert data["sid"] not in rows[0].id_sha256 and rows[0].ended_at is None


async def test_a_cookie_signed_with_the_real_secret_but_naming_a_user_is_nobody(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    """Even with the server's secret (a leaked RECLAIM_SECRET_KEY), a cookie cannot name a user: only a
    session id the server issued, and has not ended, counts."""
    secret = app.state.settings.secret_key
    admin = accounts["admin"].user_id
    for data in ({"user_id": admin, "csrf": "x"}, {"sid": "guessed", "csrf": "x"}):
        payload = base64.b64encode(json.dumps(data).encode())
        client.cookies.set(SESSION_COOKIE, TimestampSigner(secret).sign(payload).decode())
        assert (await client.get("/api/me")).status_code == 401
        body = {"username": "mallory", "password": "a long password", "role": "admin"}
        assert (await client.post("/api/users", json=body, headers={"X-CSRF-Token": "x"})).status_code == 401


async def test_an_expired_session_is_refused(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await login(client, "viewer")
    assert (await client.get("/api/me")).status_code == 200
    viewer = accounts["viewer"].user_id
    with app.state.workspace.session() as s:
        row = s.scalars(select(WebSession).where(WebSession.user_id == viewer)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
    assert (await client.get("/api/me")).status_code == 401
    assert (await client.get("/api/me/sessions", headers=bearer(accounts["viewer"]))).json() == []
