"""Safe to deploy (issue 12: D1, D15, D17, D18): no public session secret, local mode on loopback only, no
proxy headers trusted unless a proxy is named, weak secrets refused, no caching, no docs pages from a CDN."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner
from typer.testing import CliRunner

from reclaim.cli import app as cli
from reclaim.errors import UserError
from reclaim.server.app import SESSION_COOKIE, create_app
from reclaim.server.settings import LOCAL_SECRET_FILE, ServerSettings, weak_secret

from .conftest import PASSWORD, Account, add_account

pytestmark = pytest.mark.anyio

SRC = Path(__file__).resolve().parents[2] / "src"


def forged_cookie(secret: str, data: dict[str, object]) -> str:
    """A session cookie as Starlette's SessionMiddleware signs it."""
    payload = base64.b64encode(json.dumps(data).encode())
    return TimestampSigner(secret).sign(payload).decode()


async def test_a_cookie_forged_with_the_old_public_secret_is_nobody(tmp_path: Path) -> None:
    settings = ServerSettings(workspace=tmp_path / "ws", passphrase="local passphrase 1", mode="local")
    app = create_app(settings)
    try:
        admin = add_account(app, "admin", "admin")
        secret_file = tmp_path / "ws" / LOCAL_SECRET_FILE
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert weak_secret(secret_file.read_text().strip()) is None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for data in ({"user_id": admin.user_id}, {"user_id": admin.user_id, "csrf": "x"}):
                client.cookies.set(SESSION_COOKIE, forged_cookie("change-me", data))
                assert (await client.get("/api/me")).status_code == 401
                r = await client.post(
                    "/api/users",
                    json={"username": "mallory", "password": "a long password", "role": "admin"},
                    headers={"X-CSRF-Token": "x"},
                )
                assert r.status_code in (401, 403), r.text
    finally:
        app.state.workspace.close()
    # the same workspace keeps its secret (sessions survive a restart)
    before = secret_file.read_text()
    app = create_app(settings)
    app.state.workspace.close()
    assert secret_file.read_text() == before


def test_weak_secrets_are_refused() -> None:
    for weak in ("change-me", "a" * 40, " " * 40, "ab" * 20, "short"):
        assert weak_secret(weak) is not None, weak
    assert weak_secret("tests-only-3xQ9vLm2Rk7Tz4Wb8Nc1Hd6Jf5Gp0Ya-Se") is None


def test_server_mode_refuses_a_low_entropy_secret(tmp_path: Path) -> None:
    for weak in ("a" * 32, " " * 32):
        settings = ServerSettings(
            workspace=tmp_path / "ws", passphrase="a long enough passphrase", mode="server", secret_key=weak
        )
        with pytest.raises(UserError, match="different characters"):
            create_app(settings)


def test_serve_refuses_a_network_address_in_local_mode(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECLAIM_MODE", raising=False)
    r = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert r.exit_code == 2 and "--server-mode" in r.output, r.output
    assert not cli_env.exists(), "refused before anything is created"


async def test_json_is_not_cached_and_docs_are_for_signed_in_callers(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    r = await client.get("/api/health")
    assert r.headers.get("cache-control") == "no-store"
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.get("/openapi.json")).status_code == 401
    r = await client.get("/openapi.json", headers={"Authorization": f"Bearer {accounts['viewer'].token}"})
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.")
    assert r.headers.get("cache-control") == "no-store"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_forwarded_for_is_not_trusted_unless_a_proxy_is_named(tmp_path: Path) -> None:
    """D15: rotating X-Forwarded-For from loopback no longer gives a fresh rate-limit budget."""
    ws = tmp_path / "ws"
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "RECLAIM_PASSPHRASE": "local passphrase 1",
        "RECLAIM_WORKSPACE": str(ws),
        "RECLAIM_NEW_PASSWORD": PASSWORD,
    }
    env.pop("RECLAIM_SECRET_KEY", None)
    env.pop("RECLAIM_MODE", None)
    subprocess.run([sys.executable, "-m", "reclaim.cli", "init"], env=env, check=True, capture_output=True)
    subprocess.run(
        [sys.executable, "-m", "reclaim.cli", "user", "add", "alice", "--role", "advocate"],
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reclaim.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        codes = []
        for i in range(8):
            r = httpx.post(
                f"{base}/api/login",
                json={"username": "alice", "password": "wrong password"},
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
                timeout=10,
            )
            codes.append(r.status_code)
        assert 429 in codes, codes
    finally:
        server.terminate()
        server.wait(timeout=30)
