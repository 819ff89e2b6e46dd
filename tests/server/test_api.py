"""The REST API end to end: cases, matches by cluster, review, audited media, explain, uploads as background
scan jobs (progress, failure, retry, unsafe ZIPs), users. Real app, real database (SQLite and PostgreSQL),
the demo's sample Telegram export scanned for real once per backend (module-scoped ``world``)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from reclaim.demo import SampleExport, build_sample_export
from reclaim.scan.service import scan_paths
from reclaim.server.app import create_app
from reclaim.server.auth import Principal
from reclaim.server.cases import Enrolment, assign_member, create_case
from reclaim.server.jobs import (
    FILES,
    UPLOADS_DIR,
    UploadError,
    UploadLimits,
    extract_zip,
    install_jobs,
    safe_filename,
)
from reclaim.server.settings import ServerSettings
from reclaim.store.models import Event, Job, Match
from reclaim.workspace import Workspace

from .conftest import BACKENDS, SECRET, Account, _pg_database, add_account, bearer, login

pytestmark = pytest.mark.anyio


# --- the shared world -------------------------------------------------------------------------------------


@dataclass
class World:
    app: FastAPI
    accounts: dict[str, Account]
    case_a: str
    """Client 07's case: advocate and viewer assigned; the sample export scanned."""
    case_b: str
    """advocate2's case (no person)."""
    person_id: str
    match_id: str
    """A face match of case A on a stored item."""
    item_sha: str
    job_id: str
    """A finished job of case A."""

    @property
    def ws(self) -> Workspace:
        ws: Workspace = self.app.state.workspace
        return ws

    def principal(self, name: str) -> Principal:
        a = self.accounts[name]
        return Principal(a.user_id, a.username, a.role, "token")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


def enrolment_of(sample: SampleExport, name: str = "Client 07") -> Enrolment:
    return Enrolment(
        name=name,
        consent="signed consent form, 2026-11-20",
        photos=[(p.name, p.read_bytes()) for p in sample.enrol_photos],
        known_images=[(sample.known_image.name, sample.known_image.read_bytes())],
    )


def make_world(root: Path, database_url: str | None, sample: SampleExport) -> World:
    settings = ServerSettings(
        workspace=root / "ws",
        passphrase="server test passphrase",
        database_url=database_url,
        secret_key=SECRET,
        mode="server",
        cookie_secure=True,
    )
    app = create_app(settings)
    install_jobs(app, workers=1)
    accounts = {
        name: add_account(app, name, role)
        for name, role in (
            ("admin", "admin"),
            ("advocate", "advocate"),
            ("advocate2", "advocate"),
            ("viewer", "viewer"),
            ("platform", "platform"),
        )
    }
    world = World(app, accounts, "", "", "", "", "", "")
    ws = world.ws
    with ws.session() as s:
        s.info["actor"] = "user:admin"
        a = create_case(s, ws, world.principal("admin"), title="Case A", enrolment=enrolment_of(sample))
        assert a.person is not None
        world.case_a, world.person_id = a.case_id, a.person.person_id
    scan_paths(ws, [sample.root], workers=1, case_id=world.case_a)  # material uploaded to case A
    with ws.session() as s:
        s.info["actor"] = "user:admin"
        for name in ("advocate", "viewer"):
            assign_member(s, world.principal("admin"), world.case_a, username=name)
        s.info["actor"] = "user:advocate2"
        world.case_b = create_case(s, ws, world.principal("advocate2"), title="Case B").case_id
        match = s.scalars(
            select(Match).where(Match.person_id == world.person_id, Match.kind == "face").order_by(Match.id)
        ).first()
        assert match is not None and match.item.stored
        world.match_id, world.item_sha = match.id, match.item.sha256
        job = Job(case_id=world.case_a, kind="scan", status="finished", done=1, total=1, result={})
        s.add(job)
        s.commit()
        world.job_id = job.id
    return world


@contextlib.contextmanager
def world_for(backend: str, root: Path, sample: SampleExport) -> Iterator[World]:
    with contextlib.ExitStack() as stack:
        url = None
        if backend == "postgresql":
            url = stack.enter_context(contextlib.contextmanager(_pg_database)())
        world = make_world(root, url, sample)
        try:
            yield world
        finally:
            world.app.state.jobs.shutdown()
            world.ws.close()


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sample: SampleExport
) -> Iterator[World]:
    with world_for(request.param, tmp_path_factory.mktemp(f"world-{request.param}"), sample) as w:
        yield w


@contextlib.asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


@pytest.fixture
async def api(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(world.app) as c:
        yield c


def events(world: World, kind: str) -> list[Event]:
    with world.ws.session() as s:
        return list(s.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def as_(world: World, name: str) -> dict[str, str]:
    return bearer(world.accounts[name])


async def wait_job(api: httpx.AsyncClient, world: World, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await api.get(f"/api/jobs/{job_id}", headers=as_(world, "admin"))
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        if job["status"] in ("finished", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def zip_of(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return buf.getvalue()


# --- cases ------------------------------------------------------------------------------------------------


async def test_cases_are_listed_per_role(api: httpx.AsyncClient, world: World) -> None:
    def ids(r: httpx.Response) -> set[str]:
        assert r.status_code == 200, r.text
        return {c["case_id"] for c in r.json()}

    assert {world.case_a, world.case_b} <= ids(await api.get("/api/cases", headers=as_(world, "admin")))
    assert ids(await api.get("/api/cases", headers=as_(world, "advocate"))) == {world.case_a}
    assert ids(await api.get("/api/cases", headers=as_(world, "viewer"))) == {world.case_a}
    assert world.case_a not in ids(await api.get("/api/cases", headers=as_(world, "advocate2")))
    assert (await api.get("/api/cases", headers=as_(world, "platform"))).status_code == 403

    r = await api.get(f"/api/cases/{world.case_a}", headers=as_(world, "viewer"))
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["title"] == "Case A" and case["person"]["name"] == "Client 07"
    assert case["person"]["templates"] == 2 and case["person"]["known_images"] == 1
    assert case["consents"][0]["statement"] == "signed consent form, 2026-11-20"
    assert case["consents"][0]["recorded_by"] == "user:admin"
    assert [m["username"] for m in case["members"]] == ["advocate", "viewer"]
    counts = case["counts"]
    assert counts["total"] >= 3 and counts["items"] >= 3 and counts["sightings"] >= counts["items"]
    assert counts["candidate"] + counts["confirmed"] + counts["rejected"] == counts["total"]


async def test_an_invisible_case_is_reported_like_a_missing_one(api: httpx.AsyncClient, world: World) -> None:
    """advocate is not on case B: every route about it answers exactly as for an id that does not exist."""
    adv = as_(world, "advocate")
    for case_id in (world.case_b, "0123456789abcdef"):
        for path in ("", "/matches", "/jobs", f"/items/{world.item_sha}/media"):
            r = await api.get(f"/api/cases/{case_id}{path}", headers=adv)
            assert (r.status_code, r.json()) == (404, {"detail": "no such case"}), (case_id, path)
        r = await api.post(f"/api/cases/{case_id}/uploads", headers=adv, files={"files": ("a.jpg", b"x")})
        assert (r.status_code, r.json()) == (404, {"detail": "no such case"})
    # and case A's match, item and job are invisible to advocate2, like ones that do not exist
    adv2 = as_(world, "advocate2")
    for match_id in (world.match_id, "0123456789abcdef"):
        r = await api.post(f"/api/matches/{match_id}/review", headers=adv2, json={"decision": "rejected"})
        assert (r.status_code, r.json()) == (404, {"detail": "no such match"})
    for sha in (world.item_sha, "ab" * 32):
        r = await api.get(f"/api/items/{sha}/explain", headers=adv2)
        assert (r.status_code, r.json()) == (404, {"detail": "no such item"})
    for job_id in (world.job_id, "0123456789abcdef"):
        r = await api.get(f"/api/jobs/{job_id}", headers=adv2)
        assert (r.status_code, r.json()) == (404, {"detail": "no such job"})


async def test_matches_grouped_by_cluster(api: httpx.AsyncClient, world: World) -> None:
    r = await api.get(f"/api/cases/{world.case_a}/matches", headers=as_(world, "viewer"))
    assert r.status_code == 200, r.text
    clusters = r.json()
    total = (await api.get(f"/api/cases/{world.case_a}", headers=as_(world, "viewer"))).json()["counts"]
    assert sum(len(c["matches"]) for c in clusters) == total["total"]
    assert len(clusters) == total["clusters"]
    biggest = max(clusters, key=lambda c: c["items"])
    assert biggest["items"] >= 2 and biggest["cluster_id"] is not None  # the face-swap and its reposts
    for c in clusters:
        assert sum(c["counts"].values()) == len(c["matches"])
        assert c["sightings"] == sum(len(m["sightings"]) for m in c["matches"])
        if c["first_seen"]:
            assert c["first_seen"] <= c["last_seen"]
        assert {m["cluster_id"] for m in c["matches"]} == {c["cluster_id"]}
    r = await api.get(f"/api/cases/{world.case_a}/matches?status=rejected", headers=as_(world, "viewer"))
    assert all(m["status"] == "rejected" for c in r.json() for m in c["matches"])
    assert (
        await api.get(f"/api/cases/{world.case_a}/matches?status=nope", headers=as_(world, "viewer"))
    ).status_code == 422
    # a case without a person has no matches
    r = await api.get(f"/api/cases/{world.case_b}/matches", headers=as_(world, "advocate2"))
    assert (r.status_code, r.json()) == (200, [])


async def test_review_by_role(api: httpx.AsyncClient, world: World) -> None:
    url = f"/api/matches/{world.match_id}/review"
    r = await api.post(url, headers=as_(world, "viewer"), json={"decision": "confirmed"})
    assert r.status_code == 403
    r = await api.post(
        url, headers=as_(world, "advocate2"), json={"decision": "confirmed", "case_id": world.case_b}
    )
    assert (r.status_code, r.json()) == (404, {"detail": "no such match"})
    before = len(events(world, "match.confirmed"))
    r = await api.post(
        url,
        headers=as_(world, "advocate"),
        json={"decision": "confirmed", "note": "seen", "case_id": world.case_a},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["match_id"] == world.match_id and body["decision"] == "confirmed"
    if body["decided"]:
        ev = events(world, "match.confirmed")[-1]
        assert ev.actor == "user:advocate" and ev.detail and ev.detail["match_id"] == world.match_id
        assert len(events(world, "match.confirmed")) == before + 1
    else:
        assert body["unchanged"] == [world.match_id]
    r = await api.post(url, headers=as_(world, "admin"), json={"decision": "maybe"})
    assert r.status_code == 422
    r = await api.post(url, headers=as_(world, "admin"), json={"decision": "confirmed", "note": "x" * 2001})
    assert r.status_code == 422


async def test_media_reveal_is_audited_and_for_case_members_only(
    api: httpx.AsyncClient, world: World
) -> None:
    url = f"/api/cases/{world.case_a}/items/{world.item_sha}/media"
    before = len(events(world, "media.revealed"))
    r = await api.get(url, headers=as_(world, "viewer"))
    assert r.status_code == 200, r.text
    assert hashlib.sha256(r.content).hexdigest() == world.item_sha
    assert r.headers["content-type"].startswith("image/")
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    revealed = events(world, "media.revealed")
    assert len(revealed) == before + 1
    assert revealed[-1].actor == "user:viewer" and revealed[-1].subject == f"item:{world.item_sha}"
    assert revealed[-1].detail == {"case_id": world.case_a, "sha256": world.item_sha}
    for who in ("advocate2",):
        r = await api.get(url, headers=as_(world, who))
        assert (r.status_code, r.json()) == (404, {"detail": "no such case"})
    assert (await api.get(url, headers=as_(world, "platform"))).status_code == 403
    r = await api.get(f"/api/cases/{world.case_a}/items/{'ab' * 32}/media", headers=as_(world, "viewer"))
    assert (r.status_code, r.json()) == (404, {"detail": "no such item in this case"})
    assert len(events(world, "media.revealed")) == before + 1  # refusals reveal nothing and log nothing


async def test_explain_for_case_members(api: httpx.AsyncClient, world: World) -> None:
    r = await api.get(f"/api/items/{world.item_sha}/explain", headers=as_(world, "viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["item"]["sha256"] == world.item_sha
    assert {m["person_id"] for m in body["matches"]} == {world.person_id}
    assert "no blended" in body["note"]
    r = await api.get(
        f"/api/items/{world.item_sha}/explain",
        params={"case_id": world.case_a},
        headers=as_(world, "advocate"),
    )
    assert r.status_code == 200
    r = await api.get(
        f"/api/items/{world.item_sha}/explain",
        params={"case_id": world.case_b},
        headers=as_(world, "advocate2"),
    )
    assert (r.status_code, r.json()) == (404, {"detail": "no such item in this case"})


async def test_open_a_case_and_enrol_its_person(
    api: httpx.AsyncClient, world: World, sample: SampleExport
) -> None:
    adv = as_(world, "advocate")
    assert (
        await api.post("/api/cases", headers=as_(world, "viewer"), json={"title": "x"})
    ).status_code == 403
    r = await api.post("/api/cases", headers=adv, json={"title": "Case C", "person_id": world.person_id})
    assert r.status_code == 403  # linking an enrolled person is for admins
    assert (await api.post("/api/cases", headers=adv, json={"title": ""})).status_code == 422
    r = await api.post("/api/cases", headers=adv, json={"title": "Case C"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["person"] is None and [m["username"] for m in case["members"]] == ["advocate"]
    assert events(world, "case.created")[-1].subject == f"case:{case['case_id']}"
    url = f"/api/cases/{case['case_id']}/person"
    form = {"name": "Client 08", "consent": "verbal consent, recorded 2026-11-21"}
    r = await api.post(url, headers=adv, data=form, files=[("photos", ("bad.jpg", b"not an image"))])
    assert r.status_code == 422 and "bad.jpg" in r.json()["detail"]
    assert (await api.get(f"/api/cases/{case['case_id']}", headers=adv)).json()["person"] is None
    photos = [("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in sample.enrol_photos]
    r = await api.post(url, headers=adv, data=form, files=photos)
    assert r.status_code == 201, r.text
    person = r.json()["person"]
    assert person["name"] == "Client 08" and person["templates"] == 2
    # the new case has no material yet: the faces of case A's material (the same face) are not its matches
    assert r.json()["counts"]["total"] == 0
    assert (await api.post(url, headers=adv, data=form, files=photos)).status_code == 422  # only once
    assert (await api.post(url, headers=as_(world, "viewer"), data=form, files=photos)).status_code == 403


async def test_members_are_assigned_by_admins(api: httpx.AsyncClient, world: World) -> None:
    url = f"/api/cases/{world.case_a}/members"
    assert (
        await api.post(url, headers=as_(world, "advocate"), json={"username": "advocate2"})
    ).status_code == 403
    assert (await api.post(url, headers=as_(world, "admin"), json={"username": "nobody"})).status_code == 404
    assert (
        await api.post(url, headers=as_(world, "admin"), json={"username": "platform"})
    ).status_code == 422
    assert (await api.post(url, headers=as_(world, "admin"), json={})).status_code == 422
    r = await api.post(url, headers=as_(world, "admin"), json={"username": "advocate2"})
    assert r.status_code == 200 and "advocate2" in [m["username"] for m in r.json()["members"]]
    assert (await api.get(f"/api/cases/{world.case_a}", headers=as_(world, "advocate2"))).status_code == 200
    uid = world.accounts["advocate2"].user_id
    r = await api.delete(f"{url}/{uid}", headers=as_(world, "admin"))
    assert r.status_code == 200 and "advocate2" not in [m["username"] for m in r.json()["members"]]
    assert (await api.get(f"/api/cases/{world.case_a}", headers=as_(world, "advocate2"))).status_code == 404
    assert (await api.delete(f"{url}/{uid}", headers=as_(world, "admin"))).status_code == 404
    assert events(world, "case.unassigned")[-1].detail == {"user_id": uid}


async def test_users_and_tokens_are_for_admins(api: httpx.AsyncClient, world: World) -> None:
    for who in ("advocate", "viewer", "platform"):
        assert (await api.get("/api/users", headers=as_(world, who))).status_code == 403
    new = {"username": "liaison", "password": "a long password", "role": "viewer"}
    r = await api.post("/api/users", headers=as_(world, "admin"), json=new)
    assert r.status_code == 201, r.text
    assert (await api.post("/api/users", headers=as_(world, "admin"), json=new)).status_code == 422
    assert (
        await api.post("/api/users", headers=as_(world, "admin"), json={**new, "role": "root"})
    ).status_code == 422
    users = (await api.get("/api/users", headers=as_(world, "admin"))).json()
    assert world.case_a in next(u for u in users if u["username"] == "advocate")["cases"]
    r = await api.post(
        f"/api/users/{r.json()['user_id']}/tokens", headers=as_(world, "admin"), json={"label": "x"}
    )
    assert r.status_code == 201
    me = await api.get("/api/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.json()["username"] == "liaison"
    assert (
        await api.post("/api/users/999999/tokens", headers=as_(world, "admin"), json={})
    ).status_code == 404


async def test_cookie_session_writes_need_csrf(api: httpx.AsyncClient, world: World) -> None:
    csrf = await login(api, "advocate")
    url = f"/api/matches/{world.match_id}/review"
    assert (await api.post(url, json={"decision": "confirmed"})).status_code == 403
    assert (await api.post(url, json={"decision": "confirmed"}, headers=csrf)).status_code == 200
    r = await api.post(f"/api/cases/{world.case_a}/uploads", files={"files": ("a.txt", b"x")})
    assert r.status_code == 403
    assert (await api.get(f"/api/cases/{world.case_a}")).status_code == 200


# --- uploads and jobs -------------------------------------------------------------------------------------


async def test_upload_runs_in_the_background_with_progress(
    api: httpx.AsyncClient, world: World, sample: SampleExport
) -> None:
    runner = world.app.state.jobs
    gate = threading.Event()
    runner._executor.submit(gate.wait, 30)  # occupy the worker: the request must not wait for the scan
    try:
        files = [
            ("files", ("ChatExport.zip", zip_of(sample.root), "application/zip")),
            ("files", ("../../loose photo.jpg", sample.enrol_photos[0].read_bytes(), "image/jpeg")),
        ]
        t0 = time.monotonic()
        r = await api.post(f"/api/cases/{world.case_a}/uploads", headers=as_(world, "advocate"), files=files)
        assert r.status_code == 202, r.text
        assert time.monotonic() - t0 < 5
        job_id = r.json()["job_id"]
        job = (await api.get(f"/api/jobs/{job_id}", headers=as_(world, "viewer"))).json()
        assert job["status"] == "queued" and job["case_id"] == world.case_a and job["done"] == 0
        stored = sorted(p.name for p in (world.ws.root / UPLOADS_DIR / job_id / FILES).iterdir())
        assert stored == ["ChatExport.zip", "loose photo.jpg"]  # names sanitised: no path
    finally:
        gate.set()
    job = await wait_job(api, world, job_id)
    assert job["status"] == "finished", job
    assert job["total"] == job["done"] and job["total"] >= 10
    assert job["result"]["items"] >= 9 and job["error"] is None and job["finished_at"]
    assert not (world.ws.root / UPLOADS_DIR / job_id).exists()  # no plaintext uploads stay at rest
    assert events(world, "job.finished")[-1].subject == f"job:{job_id}"
    assert events(world, "job.submitted")[-1].actor == "user:advocate"
    listed = (await api.get(f"/api/cases/{world.case_a}/jobs", headers=as_(world, "viewer"))).json()
    assert job_id in [j["job_id"] for j in listed]


async def test_a_failed_job_keeps_its_uploads_and_can_be_retried(
    api: httpx.AsyncClient, world: World, sample: SampleExport
) -> None:
    ws = world.ws
    with ws.exclusive("a test holding the writer lock"):
        r = await api.post(
            f"/api/cases/{world.case_a}/uploads",
            headers=as_(world, "advocate"),
            files={"files": ("p.jpg", sample.enrol_photos[1].read_bytes(), "image/jpeg")},
        )
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        job = await wait_job(api, world, job_id)
    assert job["status"] == "failed" and "another reclaim process" in job["error"]
    assert (ws.root / UPLOADS_DIR / job_id / FILES / "p.jpg").exists()
    assert (await api.post(f"/api/jobs/{job_id}/retry", headers=as_(world, "viewer"))).status_code == 403
    r = await api.post(f"/api/jobs/{job_id}/retry", headers=as_(world, "advocate"))
    assert r.status_code == 202, r.text
    job = await wait_job(api, world, job_id)
    assert job["status"] == "finished" and job["result"]["items"] == 1
    assert (await api.post(f"/api/jobs/{job_id}/retry", headers=as_(world, "advocate"))).status_code == 422


async def test_an_unsafe_zip_is_a_named_error_and_writes_nothing_outside(
    api: httpx.AsyncClient, world: World
) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("export/ok.txt", b"fine")
        zf.writestr("../../escaped.txt", b"evil")
    r = await api.post(
        f"/api/cases/{world.case_a}/uploads",
        headers=as_(world, "admin"),
        files={"files": ("x.zip", buf.getvalue())},
    )
    job = await wait_job(api, world, r.json()["job_id"])
    # the archive is refused as a whole (one named error); the job itself goes on and finishes
    assert job["status"] == "finished", job
    (error,) = job["result"]["errors"]
    assert error["path"] == "x.zip" and "outside the archive" in error["error"]
    root = world.ws.root
    assert not any(p.name == "escaped.txt" for p in root.parent.rglob("escaped.txt"))
    assert not any(p.name == "ok.txt" for p in root.rglob("ok.txt")), "nothing of it is kept"
    assert (
        await api.post(f"/api/cases/{world.case_a}/uploads", headers=as_(world, "admin"))
    ).status_code == 422


def _zip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16) | 0
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("members", "symlink", "limits", "error"),
    [
        ({"../up.jpg": b"x"}, None, UploadLimits(), "outside the archive"),
        ({"a/../../up.jpg": b"x"}, None, UploadLimits(), "outside the archive"),
        ({"/etc/abs.jpg": b"x"}, None, UploadLimits(), "absolute path"),
        ({"C:/win.jpg": b"x"}, None, UploadLimits(), "absolute path"),
        ({"ok.jpg": b"x"}, "link.jpg", UploadLimits(), "symbolic link"),
        ({f"f{i}.jpg": b"x" for i in range(5)}, None, UploadLimits(max_files=4), "above the limit"),
        ({"big.bin": b"\0" * 100_000}, None, UploadLimits(max_bytes=10_000), "beyond the upload limit"),
        ({"/".join(["d"] * 40) + "/x.jpg": b"x"}, None, UploadLimits(), "nested too deeply"),
    ],
)
def test_extract_zip_refuses_unsafe_archives(
    tmp_path: Path, members: dict[str, bytes], symlink: str | None, limits: UploadLimits, error: str
) -> None:
    archive = tmp_path / "in" / "a.zip"
    archive.parent.mkdir()
    archive.write_bytes(_zip(members, symlink=symlink))
    with pytest.raises(UploadError, match=error):
        extract_zip(archive, tmp_path / "out" / "a", limits, budget=[limits.max_bytes, limits.max_files])
    assert not (tmp_path / "up.jpg").exists() and not (tmp_path / "out" / "up.jpg").exists()


def test_extract_zip_counts_real_bytes_and_keeps_telegram_names(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    names = {"ChatExport/result.json": b"{}", "ChatExport/photos/photo_1@20-11-2025_10-00-00.jpg": b"j" * 10}
    archive.write_bytes(_zip(names))
    budget = [1000, 10]
    assert extract_zip(archive, tmp_path / "out", UploadLimits(), budget=budget) == 2
    assert (
        tmp_path / "out" / "ChatExport" / "photos" / "photo_1@20-11-2025_10-00-00.jpg"
    ).read_bytes() == b"j" * 10
    assert budget == [1000 - 12, 8]
    (tmp_path / "b.zip").write_bytes(b"PK not really")
    with pytest.raises(UploadError, match="not a readable ZIP"):
        extract_zip(tmp_path / "b.zip", tmp_path / "out2", UploadLimits(), budget=[10, 10])


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\Фото 1.jpg", "Фото 1.jpg"),
        ("..", "upload"),
        (".hidden", "hidden"),
        ("a\x00b\nc.jpg", "abc.jpg"),
        ("", "upload"),
        ("x" * 500 + ".jpeg", "x" * 195 + ".jpeg"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_a_restart_marks_unfinished_jobs_failed(tmp_path: Path) -> None:
    settings = ServerSettings(workspace=tmp_path / "ws", passphrase="server test passphrase")
    app = create_app(settings)
    try:
        with app.state.workspace.session() as s:
            s.add(Job(kind="scan", status="running", done=3, total=9))
            s.commit()
        runner = install_jobs(app, workers=1)
        with app.state.workspace.session() as s:
            job = s.scalars(select(Job)).one()
            assert job.status == "failed" and job.error and "interrupted" in job.error and job.finished_at
        runner.shutdown()
    finally:
        app.state.workspace.close()


def test_cli_user_add_token_and_case_assign(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from reclaim.cli import app as cli
    from reclaim.server.auth import principal_for_token
    from reclaim.store.models import Case

    from ..conftest import PASSPHRASE

    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    monkeypatch.setenv("RECLAIM_NEW_PASSWORD", "a long password")
    r = runner.invoke(cli, ["user", "add", "alice", "--role", "advocate", "--json"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout and '"role": "advocate"' in r.stdout
    assert runner.invoke(cli, ["user", "add", "bob", "--role", "root"]).exit_code == 2
    r = runner.invoke(cli, ["user", "token", "alice", "--label", "script"])
    assert r.exit_code == 0, r.stderr
    token = r.stdout.strip()
    assert runner.invoke(cli, ["user", "token", "nobody"]).exit_code == 2
    ws = Workspace.open(cli_env, PASSPHRASE)
    try:
        with ws.session() as s:
            assert principal_for_token(s, token).username == "alice"
            case = Case(title="t")
            s.add(case)
            s.commit()
            case_id = case.id
        assert runner.invoke(cli, ["case", "assign", case_id, "alice"]).exit_code == 0
        assert runner.invoke(cli, ["case", "assign", "nope", "alice"]).exit_code == 2
        with ws.session() as s:
            assert [e.kind for e in s.scalars(select(Event).order_by(Event.id))][-1] == "case.assigned"
    finally:
        ws.close()


def test_concurrent_custody_appends(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", "server test passphrase")
    try:
        first_logged, errors = threading.Event(), []

        def slow() -> None:
            try:
                with ws.session() as s:
                    from reclaim.events import log_event

                    log_event(s, "test.slow")
                    first_logged.set()
                    time.sleep(0.5)
                    s.commit()
            except Exception as exc:
                errors.append(exc)

        def fast() -> None:
            first_logged.wait(5)
            with ws.session() as s:
                from reclaim.events import log_event

                log_event(s, "test.fast")
                s.commit()

        threads = [threading.Thread(target=slow), threading.Thread(target=fast)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert ws.verify_custody() == []
    finally:
        ws.close()
