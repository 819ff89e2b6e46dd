"""``reclaim capture``: a headless Chromium (Debian's, through Playwright) captures a LOCAL site on 127.0.0.1
(tests/capture_site.py: pages, a redirect, lazy images, a 404, an X-like post). Checked: every image on
every page is an item with its page URL; the WACZ passes ``wacz validate``; the WARC reads back with
``warcio index``; the screenshot is a non-blank PNG; the custody event names the WACZ's SHA-256; the
evidence package carries the WACZ; bad URLs are refused; no request left 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim.capture import CaptureReport, capture_urls
from reclaim.capture.browser import CHROMIUM
from reclaim.demo import sample_picture
from reclaim.errors import UserError
from reclaim.events import EventKind
from reclaim.evidence.package import export_package
from reclaim.evidence.verify import verify_package
from reclaim.persons.service import add_person
from reclaim.store.models import Event, Item, Match, Sighting
from reclaim.workspace import Workspace
from tests.capture_site import Site, serve_site
from tests.conftest import PASSPHRASE

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (CI installs Debian's chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="capture needs the extra reclaim[capture]")
pytest.importorskip("warcio", reason="capture needs the extra reclaim[capture]")
pytest.importorskip("wacz", reason="capture needs the extra reclaim[capture]")

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.timeout(600)


@dataclass
class Captured:
    site: Site
    ws: Workspace
    report: CaptureReport
    tmp: Path


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    tmp = tmp_path_factory.mktemp("capture")
    ws = Workspace.create(tmp / "ws", PASSPHRASE)
    try:
        with serve_site() as site:
            urls = [f"{site.base}/old", f"{site.base}/post/1", f"{site.base}/missing"]
            report = capture_urls(ws, urls, note="test capture", workers=1)
            yield Captured(site, ws, report, tmp)
    finally:
        ws.close()


def _path(url: str, site: Site) -> str:
    assert url.startswith(site.base + "/"), url
    return url[len(site.base) :]


def test_every_image_on_every_page_is_an_item_with_its_page_url(captured: Captured) -> None:
    site = captured.site
    with captured.ws.session() as s:
        rows = s.scalars(select(Sighting).where(Sighting.source == "web")).all()
        seen = {(_path(r.extra["url"], site), _path(r.extra["page_url"], site)) for r in rows}
        assert all(r.item_id is not None for r in rows)
        stored = {i.sha256 for i in s.scalars(select(Item)) if i.stored}
        by_url = {_path(r.extra["url"], site): r for r in rows}
        item_sha = {r.id: s.get(Item, r.item_id).sha256 for r in rows}  # type: ignore[union-attr]
    assert seen == {
        ("/img/hero.jpg", "/"),
        ("/img/coins.png", "/"),
        ("/img/lazy.jpg", "/"),  # loading=lazy, far below the fold
        ("/img/observed.jpg", "/"),  # src set by an IntersectionObserver on scroll
        ("/img/post.jpg", "/post/1"),
    }
    for url, sighting in by_url.items():
        name = url.rsplit("/", 1)[1]
        assert item_sha[sighting.id] == hashlib.sha256(site.images[name]).hexdigest()  # the bytes served
        assert item_sha[sighting.id] in stored
        assert sighting.extra["http_status"] == "200"
        assert sighting.extra["archive_sha256"] in {p.wacz_sha256 for p in captured.report.pages}
    assert by_url["/img/hero.jpg"].caption == "A camera operator\nTaken on a sunny day"  # alt + figcaption


def test_x_like_post_keeps_alt_text_and_the_post_text(captured: Captured) -> None:
    with captured.ws.session() as s:
        post = s.scalars(select(Sighting).where(Sighting.source == "web")).all()
        caption = next(r.caption for r in post if r.extra["url"].endswith("/img/post.jpg"))
    assert caption is not None
    assert caption.startswith("Image of a person at a café\n")
    assert "look at this picture" in caption


def test_redirect_404_and_page_facts(captured: Captured) -> None:
    site = captured.site
    pages = {_path(p.url, site): p for p in captured.report.pages}
    assert set(pages) == {"/old", "/post/1", "/missing"}
    home = pages["/old"]
    assert _path(home.final_url, site) == "/" and home.status == 200
    assert pages["/missing"].status == 404 and pages["/post/1"].status == 200
    assert ["content-type", "text/html; charset=utf-8"] in home.headers
    for page in pages.values():
        assert page.tls_subject == "none" and page.tls_sha256 == "none"  # plain http
        assert page.captured_at.endswith("Z") and page.stored
    # The 404 page's image was never served: one error naming it; the capture went on.
    assert [e["url"] for e in captured.report.errors] == [f"{site.base}/img/gone.jpg"]
    assert "HTTP 404" in captured.report.errors[0]["error"]
    assert captured.report.scan["new_items"] == 5 and captured.report.scan["errors"] == []


def _wacz(captured: Captured, path: str) -> Path:
    page = next(p for p in captured.report.pages if _path(p.url, captured.site) == path)
    data = captured.ws.vault.get(page.wacz_sha256)  # decrypts and checks the SHA-256
    out = captured.tmp / page.wacz
    out.write_bytes(data)
    return out


def test_wacz_validates_and_has_pages_index_and_hashes(captured: Captured) -> None:
    wacz = _wacz(captured, "/old")
    proc = subprocess.run(
        [str(BIN / "wacz"), "validate", "-f", str(wacz)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the passed WACZ is valid" in proc.stdout
    with zipfile.ZipFile(wacz) as zf:
        names = set(zf.namelist())
        assert {"pages/pages.jsonl", "datapackage.json", "indexes/index.cdx.gz", "indexes/index.idx"} <= names
        package = json.loads(zf.read("datapackage.json"))
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()]
    assert all(r["hash"].startswith("sha256:") for r in package["resources"])
    assert pages[1]["url"] == f"{captured.site.base}/" and pages[1]["ts"].endswith("Z")


def test_warc_reads_back_with_warcio_index(captured: Captured) -> None:
    wacz = _wacz(captured, "/old")
    with zipfile.ZipFile(wacz) as zf:
        (member,) = [n for n in zf.namelist() if n.startswith("archive/")]
        warc = captured.tmp / Path(member).name
        warc.write_bytes(zf.read(member))
    fields = "warc-type,warc-target-uri,warc-date,warc-payload-digest,http:status"
    proc = subprocess.run(
        [str(BIN / "warcio"), "index", "-f", fields, str(warc)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    site = captured.site
    responses = {_path(r["warc-target-uri"], site): r for r in records if r["warc-type"] == "response"}
    requests = {_path(r["warc-target-uri"], site) for r in records if r["warc-type"] == "request"}
    assert records[0]["warc-type"] == "warcinfo"
    paths = {"/old", "/", "/img/hero.jpg", "/img/coins.png", "/img/lazy.jpg", "/img/observed.jpg"}
    assert paths <= set(responses) and paths <= requests
    assert responses["/old"]["http:status"] == "301" and responses["/"]["http:status"] == "200"
    for r in responses.values():
        assert r["warc-date"].endswith("Z") and r["warc-payload-digest"].startswith("sha1:")
    # The recorded body is the served body, byte for byte.
    from warcio.archiveiterator import ArchiveIterator

    with warc.open("rb") as fh:
        bodies = {
            rec.rec_headers.get_header("WARC-Target-URI"): rec.content_stream().read()
            for rec in ArchiveIterator(fh)
            if rec.rec_type == "response"
        }
    assert bodies[f"{site.base}/img/lazy.jpg"] == site.images["lazy.jpg"]


def test_screenshot_is_a_non_blank_png_and_dom_is_kept(captured: Captured) -> None:
    for page in captured.report.pages:
        png = captured.ws.vault.get(page.screenshot_sha256)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)
        assert pixels.std() > 10, f"{page.url}: the screenshot is blank"
        dom = captured.ws.vault.get(page.dom_sha256).decode()
        assert "<html" in dom
    home = next(p for p in captured.report.pages if p.url.endswith("/old"))
    shot = Image.open(io.BytesIO(captured.ws.vault.get(home.screenshot_sha256)))
    assert shot.height > 5000  # full page: both spacers, not one screen
    dom = captured.ws.vault.get(home.dom_sha256).decode()
    assert 'src="/img/observed.jpg"' in dom  # the DOM after the scroll set the lazy src


def test_custody_event_names_the_wacz_sha256(captured: Captured) -> None:
    with captured.ws.session() as s:
        events = s.scalars(select(Event).where(Event.kind == EventKind.CAPTURE_RECORDED)).all()
        assert len(events) == 3
        for ev, page in zip(events, captured.report.pages, strict=True):
            wacz_sha = hashlib.sha256(captured.ws.vault.get(page.wacz_sha256)).hexdigest()
            assert ev.subject == f"capture:{wacz_sha}" and ev.detail["wacz_sha256"] == wacz_sha
            assert ev.detail["url"] == page.url and ev.detail["final_url"] == page.final_url
            assert ev.detail["tls_sha256"] == "none" and ev.detail["note"] == "test capture"
            assert ev.id == page.event_id
    assert captured.ws.verify_custody() == []


def test_nothing_left_127_0_0_1(captured: Captured) -> None:
    site = captured.site
    assert site.hosts == {site.base.removeprefix("http://")}
    assert site.paths[0] == "/old"
    for page in captured.report.pages:
        assert page.final_url.startswith("http://127.0.0.1:")
    with captured.ws.session() as s:
        for r in s.scalars(select(Sighting).where(Sighting.source == "web")):
            assert r.extra["url"].startswith(site.base) and r.extra["page_url"].startswith(site.base)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "javascript:alert(1)", "ftp://127.0.0.1/x", "http://", "data:text/html,hi"]
)
def test_bad_urls_are_refused_before_anything_is_fetched(workspace: Workspace, url: str) -> None:
    with pytest.raises(UserError, match="not an http or https URL"):
        capture_urls(workspace, ["http://127.0.0.1:9/fine", url])
    with workspace.session() as s:
        assert s.scalar(select(Event.id).where(Event.kind == EventKind.CAPTURE_RECORDED)) is None


def test_unreachable_page_and_broken_image_are_one_error_each_and_the_rest_goes_on(
    workspace: Workspace,
) -> None:
    with serve_site() as site:
        urls = ["http://127.0.0.1:9/nothing-listens", f"{site.base}/broken"]
        report = capture_urls(workspace, urls, workers=1)
    assert [e["url"] for e in report.errors] == ["http://127.0.0.1:9/nothing-listens"]
    assert "could not be captured" in report.errors[0]["error"]
    assert [p.status for p in report.pages] == [200]
    assert len(report.pages[0].images) == 2
    (broken,) = report.scan["errors"]  # the scan names the image by its URL
    assert broken["url"] == f"{site.base}/img/broken.jpg" and broken["error"]
    assert report.scan["new_items"] == 1


def test_evidence_package_carries_the_wacz(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with serve_site() as site:
            photo = tmp_path / "astronaut.png"
            Image.fromarray(sample_picture("astronaut")).save(photo)
            known = tmp_path / "post.jpg"
            known.write_bytes(site.images["post.jpg"])
            with ws.session() as s:
                person = add_person(
                    s, ws.key, name="Demo Person", photos=[photo], known_images=[known],
                    consent="test: public-domain sample portrait", recorded_by="tests",
                )  # fmt: skip
                s.commit()
            report = capture_urls(ws, [f"{site.base}/post/1"], person_id=person.person_id, workers=1)
        with ws.session() as s:
            assert s.scalar(select(Match.id).where(Match.person_id == person.person_id)) is not None
        out = export_package(ws, person_id=person.person_id, out=tmp_path / "evidence.zip")
    finally:
        ws.close()
    (page,) = report.pages
    with zipfile.ZipFile(out.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        member = f"captures/{page.wacz_sha256}.wacz"
        assert hashlib.sha256(zf.read(member)).hexdigest() == page.wacz_sha256
        custody = json.loads(zf.read("custody.json"))
    # the capture's own event is part of this package's story: its detail travels in full
    (event,) = [e for e in custody if e["subject"] == f"capture:{page.wacz_sha256}"]
    assert event["detail"]["wacz_sha256"] == page.wacz_sha256 and event["detail"]["url"].endswith("/post/1")
    assert manifest["captures"] == [
        {"sha256": page.wacz_sha256, "archive": page.wacz, "page_url": page.final_url, "member": member}
    ]
    web = [sg["web"] for it in manifest["items"] for sg in it["sightings"] if sg["source"] == "web"]
    assert web and web[0]["archive_sha256"] == page.wacz_sha256 and web[0]["page_url"] == page.final_url
    verified = verify_package(out.path)
    assert verified.ok, verified.problems


def test_cli_capture_json_and_bad_url_exit_2(cli_env: Path) -> None:
    from reclaim.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["init", "--json"]).exit_code == 0
    bad = runner.invoke(app, ["capture", "javascript:alert(1)"])
    assert bad.exit_code == 2 and "not an http or https URL" in bad.output
    with serve_site() as site:
        result = runner.invoke(app, ["capture", f"{site.base}/post/1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    (page,) = out["pages"]
    assert page["status"] == 200 and len(page["wacz_sha256"]) == 64 and page["tls_sha256"] == "none"
    assert out["scan"]["new_items"] == 1 and out["errors"] == []


IPV6_PROBE = ("2001:4860:4860::8888", 443)
"""Chromium's IPv6 reachability probe: a connect() on a UDP socket, which sends no packet (checked by
tracing socket() too: SOCK_DGRAM, no send on it). Nothing leaves the machine by it."""


def test_capture_under_strace_reaches_only_the_local_site(tmp_path: Path) -> None:
    """The whole command (Playwright's driver, every Chromium process, the scan) traced: no DNS query, no
    connection but to the site on 127.0.0.1 (Chromium's own services are resolved to nothing)."""
    from tests.netaudit import STRACE, audit_env, contacts, destinations, read_logs, traced

    if STRACE is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    home = tmp_path / "home"
    home.mkdir()
    env = audit_env(
        __import__("os").environ, home, RECLAIM_PASSPHRASE=PASSPHRASE, RECLAIM_WORKSPACE=str(tmp_path / "ws")
    )
    reclaim = str(BIN / "reclaim")
    subprocess.run([reclaim, "init"], env=env, check=True, capture_output=True, timeout=300)
    log = tmp_path / "strace-capture.log"
    with serve_site() as site:
        proc = traced([reclaim, "capture", f"{site.base}/old", f"{site.base}/post/1", "--json"], log, env=env)
        port = int(site.base.rsplit(":", 1)[1])
    assert len(json.loads(proc.stdout)["pages"]) == 2
    trace = read_logs([log])
    names = sorted({c.dns_name for c in contacts(trace) if c.dns_name and c.dns_name.isprintable()})
    assert names == [], f"DNS queries for {names}"
    reached = destinations(trace) - {IPV6_PROBE}
    assert reached == {("127.0.0.1", port)}, f"reached {sorted(reached)}"


def test_a_minor_is_refused_and_a_capture_matching_a_minor_keeps_no_media(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with serve_site() as site:
            photo = tmp_path / "astronaut.png"
            Image.fromarray(sample_picture("astronaut")).save(photo)
            known = tmp_path / "post.jpg"
            known.write_bytes(site.images["post.jpg"])
            with ws.session() as s:
                minor = add_person(
                    s, ws.key, name="Minor", photos=[photo], known_images=[known], minor=True, vault=ws.vault,
                    consent="test: public-domain sample portrait", recorded_by="tests",
                )  # fmt: skip
                s.commit()
            with pytest.raises(UserError, match="a minor's case"):
                capture_urls(ws, [f"{site.base}/post/1"], person_id=minor.person_id)
            report = capture_urls(ws, [f"{site.base}/post/1"], workers=1)  # no --person: matched anyway
        (page,) = report.pages
        assert not page.stored
        for sha in (page.wacz_sha256, page.screenshot_sha256, page.dom_sha256):
            assert not ws.vault.has(sha)
        with ws.session() as s:
            event = s.scalar(select(Event).where(Event.kind == EventKind.CAPTURE_RECORDED))
            assert event is not None and event.detail["stored"] is False and event.detail["reason"] == "minor"
            item = s.scalar(select(Item).where(Item.sha256 == page.images[0]["sha256"]))
            assert item is not None and not item.stored
    finally:
        ws.close()
