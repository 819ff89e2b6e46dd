"""Takedown notices on the server: the API (draft, list, read, status, overdue) and the UI page (text and
form fields with copy buttons, status forms with CSRF), on both database backends, with per-case access
(another advocate's case is 404, a viewer is read-only, a platform account is refused)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import select

from reclaim.demo import SampleExport, build_sample_export
from reclaim.server.cases import review_case_match
from reclaim.server.deps import CSRF_FIELD
from reclaim.store.models import Item, Match, Notice, Sighting
from reclaim.takedown.drafting import draft_notices
from reclaim.takedown.removal import ALLOW_PRIVATE_ENV
from reclaim.takedown.status import TRANSITIONS

from .conftest import BACKENDS
from .test_api import World, as_, client_for, events, world_for
from .test_web import csrf_of, form_login

pytestmark = pytest.mark.anyio


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def confirm_all(world: World) -> None:
    """Confirm every candidate match of case A's person (through the review service)."""
    with world.ws.session() as s:
        s.info["actor"] = "user:admin"
        ids = s.scalars(
            select(Match.id).where(Match.person_id == world.person_id, Match.status == "candidate")
        ).all()
        for match_id in ids:
            review_case_match(s, world.principal("admin"), match_id=match_id, decision="confirmed")
        s.commit()


def ensure_notice(world: World) -> str:
    """A notice of case A's person (drafted for Telegram after confirming the matches, if none yet)."""
    with world.ws.session() as s:
        found = s.scalars(
            select(Notice.id).where(Notice.person_id == world.person_id).order_by(Notice.created_at)
        ).first()
        if found is not None:
            return found
    confirm_all(world)
    with world.ws.session() as s:
        s.info["actor"] = "user:admin"
        result = draft_notices(s, person_id=world.person_id, platform="telegram", lang="en")
        s.commit()
        return result.notices[0].id


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sample: SampleExport
) -> Iterator[World]:
    with world_for(request.param, tmp_path_factory.mktemp(f"td-{request.param}"), sample) as w:
        yield w


@pytest.fixture
async def api(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(world.app) as c:
        yield c


async def test_api_draft_list_status_overdue(world: World, api: httpx.AsyncClient) -> None:
    case = world.case_a
    confirm_all(world)
    draft = {"platform": "telegram", "lang": "en"}
    assert (await api.post(f"/api/cases/{case}/notices/draft", json=draft)).status_code == 401
    for who, code in (("viewer", 403), ("platform", 403), ("advocate2", 404)):
        r = await api.post(f"/api/cases/{case}/notices/draft", json=draft, headers=as_(world, who))
        assert r.status_code == code, (who, r.text)
    r = await api.post(f"/api/cases/{case}/notices/draft", json=draft, headers=as_(world, "advocate"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert [n["platform"] for n in out["notices"]] == ["telegram"]
    notice = out["notices"][0]
    nid = notice["notice_id"]
    assert notice["status"] == "draft" and notice["sightings"] and "Telegram" in notice["text"]
    assert notice["fields"]["en"]["chat_name"] and notice["can_send"] is False
    assert [e.detail["notice_id"] for e in events(world, "takedown.drafted")] == [nid]
    # drafting again: the sightings are already in a notice
    r = await api.post(f"/api/cases/{case}/notices/draft", json=draft, headers=as_(world, "admin"))
    assert r.status_code == 200 and r.json()["notices"] == [] and "telegram" in r.json()["skipped"]

    # list and read (viewer may read; advocate2 and platform may not)
    r = await api.get(f"/api/cases/{case}/notices", headers=as_(world, "viewer"))
    assert r.status_code == 200 and [n["notice_id"] for n in r.json()] == [nid]
    assert "text" not in r.json()[0]
    assert (await api.get(f"/api/cases/{case}/notices", headers=as_(world, "advocate2"))).status_code == 404
    assert (await api.get(f"/api/cases/{case}/notices", headers=as_(world, "platform"))).status_code == 403
    r = await api.get(f"/api/notices/{nid}", headers=as_(world, "viewer"))
    assert r.status_code == 200 and r.json()["text"] == notice["text"] and "missing_fields" in r.json()
    assert r.json()["fields"] == notice["fields"]
    assert (await api.get(f"/api/notices/{nid}", headers=as_(world, "advocate2"))).status_code == 404
    assert (await api.get(f"/api/notices/{nid}", headers=as_(world, "platform"))).status_code == 403
    missing = await api.get(f"/api/notices/{'f' * 32}", headers=as_(world, "admin"))
    assert missing.status_code == 404

    # status: viewer read-only, another case's advocate sees nothing, the service checks transitions
    url = f"/api/notices/{nid}/status"
    past = {"status": "sent", "at": "2020-01-01T09:00:00+09:00", "note": "filed in the app"}
    assert (await api.post(url, json=past, headers=as_(world, "viewer"))).status_code == 403
    assert (await api.post(url, json=past, headers=as_(world, "platform"))).status_code == 403
    assert (await api.post(url, json=past, headers=as_(world, "advocate2"))).status_code == 404
    r = await api.post(url, json=past, headers=as_(world, "advocate"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "sent" and when(r.json()["sent_at"]) == datetime(2020, 1, 1, tzinfo=UTC)
    naive = {"status": "acknowledged", "at": "2020-01-02T00:00:00"}
    assert (await api.post(url, json=naive, headers=as_(world, "advocate"))).status_code == 422
    overdue_url = f"/api/cases/{case}/notices?overdue=true"
    assert (await api.get(overdue_url, headers=as_(world, "advocate"))).json() == []  # no stated time
    r = await api.post(url, json={"status": "overdue"}, headers=as_(world, "advocate"))
    assert r.status_code == 200 and r.json()["status"] == "overdue"
    assert [n["notice_id"] for n in (await api.get(overdue_url, headers=as_(world, "advocate"))).json()] == [
        nid
    ]
    assert (await api.post(url, json={"status": "sent"}, headers=as_(world, "advocate"))).status_code == 422
    changes = [e.detail for e in events(world, "takedown.status_changed")]
    assert [(c["previous_status"], c["status"]) for c in changes][-2:] == [
        ("draft", "sent"),
        ("sent", "overdue"),
    ]
    assert changes[-2]["note"] == "filed in the app"
    # no sending API: sending by e-mail stays on the command line
    assert not any("send" in path for path in world.app.openapi()["paths"])


async def test_ui_page_copy_buttons_and_status_form(world: World) -> None:
    nid = ensure_notice(world)
    page = f"/cases/{world.case_a}/takedown"
    async with client_for(world.app) as c:
        token = await form_login(c, "advocate")
        r = await c.get(page)
        assert r.status_code == 200 and '<html lang="en">' in r.text
        assert f'id="n-{nid}"' in r.text and "<textarea readonly" in r.text
        assert r.text.count('data-action="copy"') >= 2 and ">Copy<" in r.text
        assert 'id="draft-form"' in r.text and f'name="{CSRF_FIELD}"' in r.text
        assert "Takedown notices" in (await c.get(f"/cases/{world.case_a}")).text

        # a status change through the form: refused without the CSRF field, then applied
        with world.ws.session() as s:
            notice = s.get(Notice, nid)
            assert notice is not None
            before = notice.status
        target = next(s for s in ("sent", "acknowledged", "removed", "refused") if s in TRANSITIONS[before])
        form = f"/cases/{world.case_a}/notices/{nid}/status"
        assert (await c.post(form, data={"status": target})).status_code == 403
        r = await c.post(form, data={"status": target, CSRF_FIELD: token})
        assert r.status_code == 303 and r.headers["location"] == f"{page}#n-{nid}"
        with world.ws.session() as s:
            notice = s.get(Notice, nid)
            assert notice is not None and notice.status == target
        assert events(world, "takedown.status_changed")[-1].detail["status"] == target
        other = f"/cases/{world.case_b}/notices/{nid}/status"
        assert (await c.post(other, data={"status": "removed", CSRF_FIELD: token})).status_code == 404

        # the draft form (in Korean): nothing new to draft for Telegram, the page says so
        r = await c.post("/lang", data={CSRF_FIELD: token, "lang": "ko", "next": page})
        assert r.status_code == 303
        r = await c.post(
            f"{page}/draft",
            data={"platform": "telegram", "lang": "ko", CSRF_FIELD: csrf_of((await c.get(page)).text)},
        )
        assert r.status_code == 303 and "drafted=0" in r.headers["location"]
        r = await c.get(r.headers["location"])
        assert r.status_code == 200 and '<html lang="ko">' in r.text
        assert "삭제 요청서" in r.text and ">복사<" in r.text and "건너뛰었습니다" in r.text

    async with client_for(world.app) as c:
        await form_login(c, "viewer")
        r = await c.get(page)
        assert r.status_code == 200 and 'data-action="copy"' in r.text
        assert 'id="draft-form"' not in r.text and "/status" not in r.text
        token = csrf_of(r.text)
        form = f"/cases/{world.case_a}/notices/{nid}/status"
        assert (await c.post(form, data={"status": "removed", CSRF_FIELD: token})).status_code == 403
        await form_login(c, "advocate2")
        assert (await c.get(page)).status_code == 404


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A local web site on 127.0.0.1: path → image bytes (404 for any other path)."""
    routes: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "image/jpeg" if body is not None else "text/plain")
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()


async def test_removal_check_api_route_and_button(
    world: World, api: httpx.AsyncClient, site: tuple[str, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")  # the test site is on 127.0.0.1
    base, routes = site
    confirm_all(world)
    with world.ws.session() as s:
        item = s.scalars(select(Item).where(Item.sha256 == world.item_sha)).one()
        routes["/still.jpg"] = world.ws.vault.get(item.sha256)
        scan_id = s.scalars(select(Sighting.scan_id).where(Sighting.item_id == item.id)).first()  # case A's
        for url in (f"{base}/still.jpg", f"{base}/gone.jpg"):
            s.add(Sighting(dedupe_key=f"web|{url}", item_id=item.id, source="web", source_key=f"web|{url}",
                           scan_id=scan_id, extra={"url": url}))  # fmt: skip
        s.commit()
    with world.ws.session() as s:
        s.info["actor"] = "user:admin"
        nid = draft_notices(s, person_id=world.person_id, platform="web_form", lang="en").notices[0].id
        s.commit()
    url = f"/api/notices/{nid}/check"
    for who, code in (("viewer", 403), ("platform", 403), ("advocate2", 404)):
        assert (await api.post(url, headers=as_(world, who))).status_code == code, who
    assert not events(world, "takedown.checked")
    r = await api.post(url, headers=as_(world, "advocate"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["outcome"] == "still_up" and out["status"] == "draft"
    assert [(u["http_status"], u["outcome"], u["matched_by"]) for u in out["urls"]] == [
        (200, "still_up", "sha256"),
        (404, "removed", None),
    ]
    checked = events(world, "takedown.checked")
    assert len(checked) == 2 and {e.actor for e in checked} == {"user:advocate"}
    assert all(e.tool and e.host for e in checked)

    page = f"/cases/{world.case_a}/takedown"
    async with client_for(world.app) as c:
        token = await form_login(c, "advocate")
        r = await c.get(page)
        assert 'data-action="check"' in r.text
        assert "Check removal now" in r.text or "지금 삭제 여부 확인" in r.text  # the account's language
        assert r.text.count('data-outcome="still_up"') == 1 and 'data-outcome="removed"' in r.text
        form = f"/cases/{world.case_a}/notices/{nid}/check"
        assert (await c.post(form)).status_code == 403  # no CSRF field
        routes.pop("/still.jpg")
        r = await c.post(form, data={CSRF_FIELD: token})
        assert r.status_code == 303 and r.headers["location"] == f"{page}#n-{nid}"
        r = await c.get(page)
        assert 'data-outcome="still_up"' not in r.text and r.text.count('data-outcome="removed"') >= 2
    with world.ws.session() as s:
        notice = s.get(Notice, nid)
        assert notice is not None and notice.status == "removed"
    async with client_for(world.app) as c:
        await form_login(c, "viewer")
        assert 'data-action="check"' not in (await c.get(page)).text
