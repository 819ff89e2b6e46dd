"""Removal checks against a real HTTP site on 127.0.0.1 (http.server): one URL 404s, one still serves the
image, one serves a recompressed copy → removed / still up / still up (PDQ); each URL a custody event and
a WARC (stored encrypted in the vault) that warcio reads back. Then a page that dropped the image, a URL
serving another picture, the notice's status and an escalation to KCSC for a notice still up past X's
48 hours. Nothing but the internet's edge is replaced: a platform's host name is routed to the local site."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from reclaim.cli import app
from reclaim.demo import build_sample_export, jpeg, sample_picture
from reclaim.persons.service import add_person
from reclaim.review import review_match
from reclaim.scan.service import scan_paths
from reclaim.store.models import Event, Item, Match, Notice, Person, Sighting
from reclaim.takedown.drafting import draft_notices
from reclaim.takedown.removal import (
    ALLOW_PRIVATE_ENV,
    USER_AGENT,
    Exchange,
    HttpFetcher,
    check_notice,
    check_notices,
)
from reclaim.takedown.status import set_status
from reclaim.workspace import Workspace

from .conftest import PASSPHRASE


class Site:
    """A tiny web site: path → (status, content type, body); it records each request's headers."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.encodings: dict[str, str] = {}
        self.requests: list[dict[str, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(dict(self.headers.items()))
                status, ctype, body = site.routes.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Set-Cookie", "session=abc; Path=/")
                if self.path in site.encodings:
                    self.send_header("Content-Encoding", site.encodings[self.path])
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    s = Site()
    t = threading.Thread(target=s.server.serve_forever, daemon=True)
    t.start()
    try:
        yield s
    finally:
        s.server.shutdown()
        s.server.server_close()


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample export scanned for one person, every match confirmed."""
    base = tmp_path_factory.mktemp("removal")
    sample = build_sample_export(base / "ChatExport")
    ws = Workspace.create(base / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            add_person(s, ws.key, name="Client 07", photos=sample.enrol_photos,
                       known_images=[sample.known_image], consent="test consent")  # fmt: skip
            s.commit()
        scan_paths(ws, [sample.root], workers=1)
        with ws.session() as s:
            ids = list(s.scalars(select(Match.id).order_by(Match.id)))
        for mid in ids:
            with ws.session() as s:
                review_match(s, match_id=mid, decision="confirmed")
    finally:
        ws.close()
    return base / "ws"


@pytest.fixture
def ws(case_dir: Path, tmp_path: Path) -> Iterator[Workspace]:
    shutil.copytree(case_dir, tmp_path / "ws")
    w = Workspace.open(tmp_path / "ws", PASSPHRASE)
    try:
        yield w
    finally:
        w.close()


def confirmed_item(ws: Workspace) -> Item:
    with ws.session() as s:
        item = s.scalars(
            select(Item)
            .join(Match, Match.item_id == Item.id)
            .where(Match.status == "confirmed", Item.stored.is_(True), Item.mime == "image/jpeg")
            .order_by(Item.id)
        ).first()
        assert item is not None
        s.expunge(item)
        return item


def add_sightings(ws: Workspace, item_id: int, urls: list[str]) -> None:
    with ws.session() as s:
        for url in urls:
            s.add(
                Sighting(
                    dedupe_key=hashlib.sha256(f"web|{url}".encode()).hexdigest(),
                    item_id=item_id,
                    source="web",
                    source_key=f"web|{url}",
                    extra={"url": url},
                )
            )
        s.commit()


def draft(ws: Workspace, platform: str) -> str:
    with ws.session() as s:
        pid = s.scalar(select(Person.id))
        assert pid is not None
        r = draft_notices(s, person_id=pid, platform=platform, lang="en", contact="advocate@support.example")
        s.commit()
        return r.notices[0].id


def recompressed(data: bytes) -> bytes:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    return jpeg(img.resize((img.width * 8 // 10, img.height * 8 // 10)), 55)


def warc_records(ws: Workspace, sha: str) -> list[tuple[str, str, int | None]]:
    out = []
    for rec in ArchiveIterator(io.BytesIO(ws.vault.get(sha))):
        status = (
            rec.http_headers.get_statuscode() if rec.rec_type == "response" and rec.http_headers else None
        )
        out.append(
            (
                rec.rec_type,
                rec.rec_headers.get_header("WARC-Target-URI") or "",
                int(status) if status else None,
            )
        )
    return out


def test_removed_still_up_and_recompressed_copy(ws: Workspace, site: Site) -> None:
    item = confirmed_item(ws)
    original = ws.vault.get(item.sha256)
    copy = recompressed(original)
    assert hashlib.sha256(copy).hexdigest() != item.sha256
    site.routes["/a/same.jpg"] = (200, "image/jpeg", original)
    site.routes["/a/copy.jpg"] = (200, "image/jpeg", copy)
    urls = [site.url("/a/gone.jpg"), site.url("/a/same.jpg"), site.url("/a/copy.jpg")]
    add_sightings(ws, item.id, urls)
    notice_id = draft(ws, "web_form")
    fetch = HttpFetcher(allow_private=True)  # the test site is on 127.0.0.1
    try:
        with ws.session() as s:
            result = check_notice(s, ws.vault, notice_id, fetch=fetch)
            s.commit()
    finally:
        fetch.close()
    by_url = {u.url: u for u in result.urls}
    assert set(by_url) == set(urls)
    gone, same, near = (by_url[u] for u in urls)
    assert (gone.http_status, gone.outcome, gone.matched_by) == (404, "removed", None)
    assert (same.http_status, same.outcome, same.matched_by) == (200, "still_up", "sha256")
    assert (near.http_status, near.outcome, near.matched_by) == (200, "still_up", "pdq")
    assert near.distance is not None and near.distance <= 31
    assert result.outcome == "still_up" and result.status == "draft" and result.escalation is None
    # each URL: one custody event naming its WARC, and the WARC reads back with warcio
    with ws.session() as s:
        events = s.scalars(select(Event).where(Event.kind == "takedown.checked").order_by(Event.id)).all()
        assert [e.detail["url"] for e in events if e.detail] == urls
        assert [e.id for e in events] == [u.event_id for u in result.urls]
        assert all(e.subject == f"notice:{notice_id}" for e in events)
    assert ws.verify_custody() == []
    for u, status in ((gone, 404), (same, 200), (near, 200)):
        assert u.warc_sha256 is not None
        records = warc_records(ws, u.warc_sha256)
        assert records[0][0] == "warcinfo"
        assert ("request", u.url, None) in records and ("response", u.url, status) in records
    # the client names reclaim and sends no cookie back, though the site set one on every response
    mine = site.requests[-3:]
    assert all(r["User-Agent"] == USER_AGENT and "Cookie" not in r for r in mine)


def test_page_without_the_image_changed_picture_and_escalation(ws: Workspace, site: Site) -> None:
    item = confirmed_item(ws)
    original = ws.vault.get(item.sha256)
    other = jpeg(Image.fromarray(sample_picture("coins")), 85)
    site.routes["/b/post.html"] = (
        200,
        "text/html",
        b'<html><body><img src="/b/placeholder.jpg"></body></html>',
    )
    site.routes["/b/placeholder.jpg"] = (200, "image/jpeg", other)
    site.routes["/b/media.jpg"] = (200, "image/jpeg", other)
    add_sightings(ws, item.id, ["https://x.com/someone/status/1/b/post.html", "https://x.com/b/media.jpg"])
    notice_id = draft(ws, "x")

    real = HttpFetcher(allow_private=True)

    def fetch(url: str) -> list[Exchange]:  # the internet's edge: x.com resolves to the local site
        parts = urlsplit(url)
        path = parts.path.removeprefix("/someone/status/1")
        return real(site.url(path) if parts.hostname == "x.com" else url)

    try:
        with ws.session() as s:
            r = check_notice(s, ws.vault, notice_id, fetch=fetch)
            s.commit()
        assert [(u.outcome, u.http_status) for u in r.urls] == [("removed", 200), ("changed", 200)]
        assert r.outcome == "changed" and r.status == "draft"

        # the page shows the image again; the notice was sent 49 hours ago: overdue, escalated to KCSC
        site.routes["/b/placeholder.jpg"] = (200, "image/jpeg", original)
        with ws.session() as s:
            notice = s.get(Notice, notice_id)
            assert notice is not None
            set_status(s, notice_id=notice_id, status="sent", at=notice.created_at - timedelta(hours=49))
            s.commit()
        with ws.session() as s:
            [r2] = check_notices(s, ws.vault, overdue=True, fetch=fetch)
            s.commit()
        assert r2.urls[0].outcome == "still_up" and r2.urls[0].image_url == site.url("/b/placeholder.jpg")
        assert r2.status == "overdue" and r2.escalation is not None
        with ws.session() as s:
            esc = s.get(Notice, r2.escalation)
            assert esc is not None and esc.platform == "kcsc" and esc.parent_id == notice_id
            assert notice_id in esc.text and "still online" in esc.text
            x_notice = s.get(Notice, notice_id)
            assert (
                x_notice is not None and "TAKE IT DOWN Act" in x_notice.text and "2026-05-19" in x_notice.text
            )
        # a second check does not escalate twice
        with ws.session() as s:
            r3 = check_notice(s, ws.vault, notice_id, fetch=fetch)
            s.commit()
        assert r3.escalation is None and r3.escalation_skipped and "already" in r3.escalation_skipped
    finally:
        real.close()


def test_removed_everywhere_marks_the_notice_removed(ws: Workspace, site: Site) -> None:
    item = confirmed_item(ws)
    site.routes["/c/gone.jpg"] = (410, "text/plain", b"gone")
    add_sightings(ws, item.id, [site.url("/c/gone.jpg"), site.url("/c/never.jpg")])
    notice_id = draft(ws, "web_form")
    # the notice also covers /a/... sightings from no earlier test (each test has its own workspace copy)
    fetch = HttpFetcher(allow_private=True)  # the test site is on 127.0.0.1
    try:
        with ws.session() as s:
            r = check_notice(s, ws.vault, notice_id, fetch=fetch)
            s.commit()
    finally:
        fetch.close()
    assert [(u.http_status, u.outcome) for u in r.urls] == [(410, "removed"), (404, "removed")]
    assert r.outcome == "removed" and r.status == "removed"
    with ws.session() as s:
        last = s.scalars(select(Event).order_by(Event.id.desc())).first()
        assert last is not None and last.kind == "takedown.status_changed"
        assert last.detail is not None and last.detail["reason"] == "check"


def test_unreachable_host_is_an_error_not_a_removal(ws: Workspace) -> None:
    item = confirmed_item(ws)
    add_sightings(ws, item.id, ["http://127.0.0.1:9/unreachable.jpg"])
    notice_id = draft(ws, "web_form")
    fetch = HttpFetcher(timeout=2, allow_private=True)
    try:
        with ws.session() as s:
            r = check_notice(s, ws.vault, notice_id, fetch=fetch)
            s.commit()
    finally:
        fetch.close()
    [u] = r.urls
    assert u.outcome == "error" and u.http_status is None and u.error
    assert r.outcome == "error" and r.status == "draft"


def test_cli_check_json(ws: Workspace, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    item = confirmed_item(ws)
    site.routes["/d/same.jpg"] = (200, "image/jpeg", ws.vault.get(item.sha256))
    add_sightings(ws, item.id, [site.url("/d/same.jpg")])
    notice_id = draft(ws, "web_form")
    monkeypatch.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("RECLAIM_WORKSPACE", str(ws.root))
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")  # the test site is on 127.0.0.1
    ws.close()
    result = CliRunner().invoke(app, ["takedown", "check", notice_id, "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["notice_id"] == notice_id and row["outcome"] == "still_up"
    [u] = row["urls"]
    assert u["http_status"] == 200 and u["matched_by"] == "sha256" and len(u["warc_sha256"]) == 64
    bad = CliRunner().invoke(app, ["takedown", "check"])
    assert bad.exit_code != 0 and "--overdue" in bad.stderr


def test_private_addresses_are_refused_by_default(
    ws: Workspace, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sighting's URL comes from untrusted material: by default a check does not fetch the checker's own
    network (loopback, private, link-local), and says why."""
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    item = confirmed_item(ws)
    site.routes["/e/same.jpg"] = (200, "image/jpeg", ws.vault.get(item.sha256))
    add_sightings(ws, item.id, [site.url("/e/same.jpg"), "http://169.254.169.254/latest/meta-data/"])
    notice_id = draft(ws, "web_form")
    before = len(site.requests)
    fetch = HttpFetcher()
    try:
        with ws.session() as s:
            r = check_notice(s, ws.vault, notice_id, fetch=fetch)
            s.commit()
    finally:
        fetch.close()
    assert len(site.requests) == before
    assert [u.outcome for u in r.urls] == ["error", "error"] and r.status == "draft"
    assert all(u.error and "private or local address" in u.error for u in r.urls)


def test_compressed_bodies_and_a_gzip_bomb(ws: Workspace, site: Site) -> None:
    item = confirmed_item(ws)
    original = ws.vault.get(item.sha256)
    page = b'<html><img srcset="/f/img.jpg 1x, /f/none.jpg 2x"></html>'
    site.routes["/f/page.html"] = (200, "text/html", gzip.compress(page))
    site.routes["/f/img.jpg"] = (200, "image/jpeg", original)
    site.routes["/f/bomb.jpg"] = (200, "image/jpeg", gzip.compress(b"\0" * (40 * 2**20)))
    site.encodings = {"/f/page.html": "gzip", "/f/bomb.jpg": "gzip"}
    add_sightings(ws, item.id, [site.url("/f/page.html"), site.url("/f/bomb.jpg")])
    notice_id = draft(ws, "web_form")
    fetch = HttpFetcher(allow_private=True)
    try:
        with ws.session() as s:
            r = check_notice(s, ws.vault, notice_id, fetch=fetch)
            s.commit()
    finally:
        fetch.close()
    page_check, bomb = r.urls
    assert (page_check.outcome, page_check.matched_by, page_check.image_url) == (
        "still_up", "sha256", site.url("/f/img.jpg"),
    )  # fmt: skip
    assert bomb.outcome == "error" and bomb.error and "over the cap" in bomb.error
    assert len(gzip.compress(b"\0" * (40 * 2**20))) < 100_000  # what came over the wire was small


def test_cropped_copy_is_found_by_the_robust_engine(ws: Workspace, site: Site) -> None:
    item = confirmed_item(ws)
    img = Image.open(io.BytesIO(ws.vault.get(item.sha256))).convert("RGB")
    w, h = img.size
    crop = jpeg(img.crop((0, 0, w * 6 // 10, h * 7 // 10)), 80)  # a tight crop: PDQ no longer matches
    site.routes["/g/crop.jpg"] = (200, "image/jpeg", crop)
    add_sightings(ws, item.id, [site.url("/g/crop.jpg")])
    notice_id = draft(ws, "web_form")
    fetch = HttpFetcher(allow_private=True)
    try:
        with ws.session() as s:
            r = check_notice(s, ws.vault, notice_id, fetch=fetch)
            s.commit()
    finally:
        fetch.close()
    [u] = r.urls
    assert (u.outcome, u.matched_by) == ("still_up", "robust"), u


def test_a_page_that_shows_nothing_readable_gets_no_verdict(ws: Workspace, site: Site) -> None:
    """A page drawn by scripts (no image in its HTML) or whose image fails to load is never "removed"."""
    item = confirmed_item(ws)
    site.routes["/h/app.html"] = (200, "text/html", b"<html><script src='/app.js'></script></html>")
    site.routes["/h/broken.html"] = (200, "text/html", b"<html><img src='/h/err.jpg'></html>")
    site.routes["/h/err.jpg"] = (500, "text/plain", b"oops")
    add_sightings(ws, item.id, [site.url("/h/app.html"), site.url("/h/broken.html")])
    notice_id = draft(ws, "web_form")
    fetch = HttpFetcher(allow_private=True)
    try:
        with ws.session() as s:
            r = check_notice(s, ws.vault, notice_id, fetch=fetch)
            s.commit()
    finally:
        fetch.close()
    app_page, broken = r.urls
    assert app_page.outcome == "error" and app_page.error and "browser" in app_page.error
    assert broken.outcome == "error" and broken.error == "1 of the page's 1 images could not be fetched"
    assert r.outcome == "error" and r.status == "draft"


def test_a_body_over_the_cap_is_an_error_and_a_truncated_record(ws: Workspace, site: Site) -> None:
    item = confirmed_item(ws)
    site.routes["/i/big.jpg"] = (200, "image/jpeg", ws.vault.get(item.sha256))
    add_sightings(ws, item.id, [site.url("/i/big.jpg")])
    notice_id = draft(ws, "web_form")
    fetch = HttpFetcher(allow_private=True, max_bytes=4096)
    try:
        with ws.session() as s:
            [u] = check_notice(s, ws.vault, notice_id, fetch=fetch).urls
            s.commit()
    finally:
        fetch.close()
    assert u.outcome == "error" and u.error and "larger than" in u.error and u.warc_sha256
    bodies = [
        (r.rec_headers.get_header("WARC-Truncated"), len(r.content_stream().read()))
        for r in ArchiveIterator(io.BytesIO(ws.vault.get(u.warc_sha256)))
        if r.rec_type == "response"
    ]  # each record is read while the iterator is on it
    assert bodies == [("length", 4096)]
