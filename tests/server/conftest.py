"""Server fixtures: a real app over a real database (SQLite, and PostgreSQL when RECLAIM_TEST_PG_URL
names a server we may create databases on: CI starts one), called through httpx's ASGI transport."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reclaim.server.app import create_app
from reclaim.server.auth import create_token, create_user
from reclaim.server.deps import CSRF_HEADER
from reclaim.server.settings import ServerSettings
from reclaim.workspace import Workspace
from tests.pgdb import drop_database

PG_URL = os.environ.get("RECLAIM_TEST_PG_URL", "")
PASSWORD = "correct horse battery"
SECRET = "tests-only-3xQ9vLm2Rk7Tz4Wb8Nc1Hd6Jf5Gp0Ya-Se"  # strong enough for server mode
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _pg_database() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("RECLAIM_TEST_PG_URL is not set (CI starts PostgreSQL and sets it)")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"reclaim_t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        drop_database(admin, name)
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None = the workspace's SQLite; else a fresh PostgreSQL database for this test."""
    if request.param == "sqlite":
        yield None
    else:
        yield from _pg_database()


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> ServerSettings:
    return ServerSettings(
        workspace=tmp_path / "ws",
        passphrase="server test passphrase",
        database_url=database_url,
        secret_key=SECRET,
        mode="server",
        cookie_secure=True,
    )


@pytest.fixture
def app(settings: ServerSettings) -> Iterator[FastAPI]:
    app = create_app(settings)
    try:
        yield app
    finally:
        app.state.workspace.close()


@dataclass
class Account:
    username: str
    role: str
    user_id: int
    token: str


def add_account(app: FastAPI, username: str, role: str) -> Account:
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        user = create_user(s, username=username, password=PASSWORD, role=role)
        token = create_token(s, user, label="tests")
        s.commit()
        return Account(username, role, user.id, token)


@pytest.fixture
def accounts(app: FastAPI) -> dict[str, Account]:
    """One account per role (and a second advocate), each with an API token."""
    return {
        name: add_account(app, name, role)
        for name, role in (
            ("admin", "admin"),
            ("advocate", "advocate"),
            ("advocate2", "advocate"),
            ("viewer", "viewer"),
            ("platform", "platform"),
        )
    }


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


def bearer(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Log in with the UI session cookie; returns the CSRF header to send with state changes."""
    r = await client.post("/api/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {CSRF_HEADER: r.json()["csrf_token"]}
