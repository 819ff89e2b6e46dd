"""The spread network on the team server (issue 15): the case network and timeline API (JSON, GraphML,
CSV), the network page, the vendored cytoscape.js, and the admins' cross-case view (API and page, audited;
403 for advocates and viewers; a hostile sender name stays text).

World: two cases of two persons (enrolled from the same generated photos); case A holds the generated
Telegram export (the ground truth of tests/test_spread.py) plus a post by a sender named like an HTML
attack, case B a stranger's post, one by blue_fox (user201) and one by the hostile sender (user666): both
senders are seen in two cases.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import networkx as nx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from reclaim.scan.service import scan_paths
from reclaim.server.app import create_app
from reclaim.server.auth import Principal
from reclaim.server.cases import Enrolment, assign_member, create_case
from reclaim.server.deps import CSRF_FIELD
from reclaim.server.settings import ServerSettings
from reclaim.server.web import SECURITY_HEADERS
from reclaim.spread import case_network
from reclaim.store.models import Event
from reclaim.workspace import Workspace

from .. import spread_gen as gen
from .conftest import SECRET, Account, add_account, bearer
from .test_api import client_for
from .test_web import csrf_of, form_login

pytestmark = pytest.mark.anyio

HOSTILE = "<img src=x onerror=alert(1)>"
PERSON_NAME = "Person Seventeen"
TITLE_A = "Case Alpha"
CYTOSCAPE_VERSION = "3.35.0"
CYTOSCAPE_SHA256 = "71fa9ebec21a7ca2c40cff6aacc30d1f6464e363662ad4b2c197e1adc770cd94"
STATIC = Path(__file__).parents[2] / "src" / "reclaim" / "server" / "static"
DOCS = Path(__file__).parents[2] / "docs" / "network.md"

POSTS_A = (*gen.POSTS, gen.Post(10, 1001, 14, "P1", HOSTILE, "user666"))
POSTS_B = (
    gen.Post(20, 1001, 50, "P1", "stranger", "user999"),
    gen.Post(21, 1002, 60, "P2", "blue_fox", "user201"),
    gen.Post(22, 1003, 70, "P3", HOSTILE, "user666"),
)


@dataclass
class NetWorld:
    app: FastAPI
    accounts: dict[str, Account]
    case_a: str
    case_b: str

    @property
    def ws(self) -> Workspace:
        ws: Workspace = self.app.state.workspace
        return ws


def _principal(a: Account) -> Principal:
    return Principal(a.user_id, a.username, a.role, "token")  # type: ignore[arg-type]


def build_world(root: Path, *, mode: str = "server") -> NetWorld:
    """The two cases, their material scanned, advocate and viewer on case A, advocate2 on case B."""
    settings = ServerSettings(
        workspace=root / "ws",
        passphrase="network test passphrase",
        secret_key=SECRET,
        mode=mode,  # type: ignore[arg-type]
        cookie_secure=mode == "server",
    )
    app = create_app(settings)
    roles = ("admin", "advocate", "advocate2", "viewer", "platform")
    accounts = {n: add_account(app, n, "advocate" if n == "advocate2" else n) for n in roles}
    ws: Workspace = app.state.workspace
    photos = [(p.name, p.read_bytes()) for p in gen.enrol_photos(root / "own")]
    gen.write_export(root / "a", POSTS_A)
    gen.write_export(root / "b", POSTS_B)
    with ws.session() as s:
        s.info["actor"] = "user:admin"
        admin = _principal(accounts["admin"])
        case_a = create_case(s, ws, admin, title=TITLE_A, enrolment=Enrolment(PERSON_NAME, "consent", photos))
        case_b = create_case(s, ws, admin, title="Case Beta", enrolment=Enrolment("Other", "consent", photos))
        for name in ("advocate", "viewer"):
            assign_member(s, admin, case_a.case_id, username=name)
        assign_member(s, admin, case_b.case_id, username="advocate2")
    scan_paths(ws, [root / "a"], workers=1, case_id=case_a.case_id)
    scan_paths(ws, [root / "b"], workers=1, case_id=case_b.case_id)
    return NetWorld(app, accounts, case_a.case_id, case_b.case_id)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetWorld]:
    w = build_world(tmp_path_factory.mktemp("netviews"))
    try:
        yield w
    finally:
        w.ws.close()


@pytest.fixture
async def api(world: NetWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(world.app) as c:
        yield c


def _as(world: NetWorld, name: str) -> dict[str, str]:
    return bearer(world.accounts[name])


def _events(world: NetWorld) -> list[Event]:
    with world.ws.session() as s:
        return list(s.scalars(select(Event).where(Event.kind == "network.shared_actors_viewed")))


# --- the case network and timeline API ----------------------------------------------------------------------


async def test_case_network_json_is_the_library_network_for_members(
    api: httpx.AsyncClient, world: NetWorld
) -> None:
    with world.ws.session() as s:
        expected = case_network(s, world.case_a).to_json()
    for who in ("admin", "advocate", "viewer"):
        r = await api.get(f"/api/cases/{world.case_a}/network", headers=_as(world, who))
        assert r.status_code == 200, r.text
        got = r.json()
        assert [n["id"] for n in got["nodes"]] == [n["id"] for n in expected["nodes"]]
        assert [e["id"] for e in got["edges"]] == [e["id"] for e in expected["edges"]]
    ids = {n["id"] for n in got["nodes"]}
    # case A's own senders and chats; case B's stranger never shows in case A's network
    assert {"sender:user201", "sender:user202", "sender:user203", "sender:user666"} <= ids
    assert "sender:user999" not in ids
    hostile = next(n for n in got["nodes"] if n["id"] == "sender:user666")
    assert hostile["aliases"] == [HOSTILE] and hostile["label"] == HOSTILE
    fox = next(n for n in got["nodes"] if n["id"] == "sender:user201")
    assert fox["count"] == 2, "blue_fox's post in case B is not counted in case A"


async def test_case_network_is_hidden_like_a_missing_case(api: httpx.AsyncClient, world: NetWorld) -> None:
    for route in ("network", "timeline"):
        r = await api.get(f"/api/cases/{world.case_a}/{route}", headers=_as(world, "advocate2"))
        assert r.status_code == 404 and r.json()["detail"] == "no such case"
        r = await api.get(f"/api/cases/{world.case_a}/{route}", headers=_as(world, "platform"))
        assert r.status_code == 403
        assert (await api.get(f"/api/cases/{world.case_a}/{route}")).status_code == 401
    r = await api.get(f"/api/cases/{world.case_b}/network", headers=_as(world, "advocate2"))
    assert "sender:user999" in {n["id"] for n in r.json()["nodes"]}


async def test_case_network_as_graphml_and_csv(api: httpx.AsyncClient, world: NetWorld) -> None:
    h = _as(world, "viewer")
    r = await api.get(f"/api/cases/{world.case_a}/network?format=graphml", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/graphml+xml")
    graph = nx.read_graphml(io.BytesIO(r.content))
    js = (await api.get(f"/api/cases/{world.case_a}/network", headers=h)).json()
    assert set(graph.nodes) == {n["id"] for n in js["nodes"]}
    assert graph.nodes["sender:user666"]["label"] == HOSTILE
    nodes = await api.get(f"/api/cases/{world.case_a}/network?format=csv&table=nodes", headers=h)
    edges = await api.get(f"/api/cases/{world.case_a}/network?format=csv&table=edges", headers=h)
    assert nodes.headers["content-type"].startswith("text/csv")
    disposition = f'attachment; filename="network-{world.case_a}.edges.csv"'
    assert edges.headers["content-disposition"] == disposition
    assert len(nodes.text.strip().splitlines()) == len(js["nodes"]) + 1
    assert len(edges.text.strip().splitlines()) == len(js["edges"]) + 1
    bad = await api.get(f"/api/cases/{world.case_a}/network?format=xlsx", headers=h)
    assert bad.status_code == 422


async def test_case_timeline(api: httpx.AsyncClient, world: NetWorld) -> None:
    r = await api.get(f"/api/cases/{world.case_a}/timeline", headers=_as(world, "advocate"))
    assert r.status_code == 200, r.text
    tl = r.json()
    assert tl["clusters"] and all(c["steps"] for c in tl["clusters"])
    firsts = [c["first"]["at"] for c in tl["clusters"]]
    assert firsts == sorted(firsts), "clusters by their first sighting"
    assert sum(p["count"] for p in tl["series"]) == sum(len(c["steps"]) for c in tl["clusters"])
    assert {p["platform"] for p in tl["series"]} == {"telegram"}
    chats = {p["chat"] for p in tl["series"]}
    assert chats <= {"chat:1001", "chat:1002", "chat:1003", "chat:1004"}


async def test_confirmed_only_network_is_smaller(api: httpx.AsyncClient, world: NetWorld) -> None:
    h = _as(world, "advocate")
    r = await api.get(f"/api/cases/{world.case_a}/network?confirmed=true", headers=h)
    assert r.status_code == 200 and r.json() == {"nodes": [], "edges": []}, "nothing is confirmed yet"


# --- the cross-case view ------------------------------------------------------------------------------------


async def test_shared_actors_for_admins_audited(api: httpx.AsyncClient, world: NetWorld) -> None:
    before = len(_events(world))
    r = await api.get("/api/admin/shared-actors", headers=_as(world, "admin"))
    assert r.status_code == 200, r.text
    actors = {a["id"]: a for a in r.json()}
    assert {"sender:user201", "sender:user666"} <= set(actors)
    assert "sender:user999" not in actors and "sender:user202" not in actors
    fox = actors["sender:user201"]
    assert set(fox["cases"]) == {world.case_a, world.case_b}
    assert fox["counts"] == {world.case_a: 2, world.case_b: 1}
    assert actors["sender:user666"]["aliases"] == [HOSTILE]
    assert PERSON_NAME not in r.text and TITLE_A not in r.text
    after = _events(world)
    assert len(after) == before + 1
    assert after[-1].actor == "user:admin" and after[-1].detail["actors"] == len(actors)


async def test_shared_actors_forbidden_to_others(api: httpx.AsyncClient, world: NetWorld) -> None:
    before = len(_events(world))
    for who in ("advocate", "advocate2", "viewer", "platform"):
        assert (await api.get("/api/admin/shared-actors", headers=_as(world, who))).status_code == 403
        assert (await api.get("/admin/shared-actors", headers=_as(world, who))).status_code == 403
    assert (await api.get("/api/admin/shared-actors")).status_code == 401
    assert len(_events(world)) == before, "a refused view is not a view"


async def test_shared_actors_page_shows_hostile_names_as_text(
    api: httpx.AsyncClient, world: NetWorld
) -> None:
    before = len(_events(world))
    r = await api.get("/admin/shared-actors", headers=_as(world, "admin"))
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    html = r.text
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'data-actor="sender:user201"' in html and 'data-actor="sender:user666"' in html
    assert world.case_b in html and PERSON_NAME not in html and TITLE_A not in html
    assert "<img" not in html, "no media on the cross-case view"
    assert len(_events(world)) == before + 1


# --- the page and its vendored library ----------------------------------------------------------------------


async def test_network_page_for_case_members(api: httpx.AsyncClient, world: NetWorld) -> None:
    r = await api.get(f"/cases/{world.case_a}/network", headers=_as(world, "viewer"))
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    html = r.text
    assert '<script src="/static/vendor/cytoscape.min.js" defer></script>' in html
    assert '<script src="/static/network.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline script"
    assert not re.search(r"<style|\sstyle=", html), "no inline style"
    assert "https://" not in html and "//cdn" not in html
    assert HOSTILE not in html
    assert f'data-network-url="/api/cases/{world.case_a}/network"' in html
    page = await api.get(f"/cases/{world.case_a}", headers=_as(world, "viewer"))
    assert f'href="/cases/{world.case_a}/network"' in page.text
    hidden = await api.get(f"/cases/{world.case_a}/network", headers=_as(world, "advocate2"))
    assert hidden.status_code == 404


async def test_vendored_cytoscape_is_the_recorded_file(api: httpx.AsyncClient, world: NetWorld) -> None:
    r = await api.get("/static/vendor/cytoscape.min.js")
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == CYTOSCAPE_SHA256
    assert f"cytoscape@{CYTOSCAPE_VERSION}`" in DOCS.read_text(encoding="utf-8")
    assert CYTOSCAPE_SHA256 in DOCS.read_text(encoding="utf-8")
    assert "Permission is hereby granted" in (STATIC / "vendor" / "cytoscape.LICENSE").read_text()
    js = (STATIC / "network.js").read_text(encoding="utf-8")
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "/reveal" not in js


async def test_pages_in_korean(api: httpx.AsyncClient, world: NetWorld) -> None:
    """The network page's labels (also those network.js shows) and the admin page follow the UI language."""
    token = await form_login(api, "admin")
    r = await api.post("/lang", data={CSRF_FIELD: token, "lang": "ko", "next": "/"})
    assert r.status_code == 303
    try:
        page = (await api.get(f"/cases/{world.case_a}/network")).text
        assert '<html lang="ko">' in page and "유포 네트워크" in page
        assert 'data-l-aliases="확인된 이름"' in page and 'data-l-kind-sender="게시자"' in page
        shared = (await api.get("/admin/shared-actors")).text
        assert "여러 사건에서 발견된 게시자와 대화방" in shared
        assert "&lt;img src=x onerror=alert(1)&gt;" in shared
    finally:
        token = csrf_of((await api.get("/")).text)
        await api.post("/lang", data={CSRF_FIELD: token, "lang": "en", "next": "/"})


async def test_network_page_confirmed_only(api: httpx.AsyncClient, world: NetWorld) -> None:
    h = _as(world, "advocate")
    page = (await api.get(f"/cases/{world.case_a}/network?confirmed=true", headers=h)).text
    assert f'data-network-url="/api/cases/{world.case_a}/network?confirmed=true"' in page
    assert f'data-timeline-url="/api/cases/{world.case_a}/timeline?confirmed=true"' in page
    assert f'id="scope-toggle" href="/cases/{world.case_a}/network"' in page
    default = (await api.get(f"/cases/{world.case_a}/network", headers=h)).text
    assert f'id="scope-toggle" href="/cases/{world.case_a}/network?confirmed=true"' in default
