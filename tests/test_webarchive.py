"""Web archives as a scan source: WARCs written by wget (against a local site) and warcio, and WACZs built
with the wacz package. Every image response is an item with its URL and page; the rest are counted skips;
rescanning adds nothing; nothing is extracted to disk."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from reclaim.scan.service import scan_paths
from reclaim.server.jobs import is_archive
from reclaim.sources import EXPORT_FILE, NOT_MEDIA, Entry, EntryError, Skipped, source_for
from reclaim.sources.web import ARCHIVE, ARCHIVE_SHA256, CAPTURED_AT, HTTP_STATUS, PAGE_URL, URL
from reclaim.sources.webarchive import ArchiveLimits, WebArchiveSource
from reclaim.store.models import Item, Sighting
from reclaim.workspace import Workspace

PASSPHRASE = "webarchive-test-passphrase"


def picture(seed: int, fmt: str = "PNG", size: tuple[int, int] = (96, 72)) -> bytes:
    """A distinct, benign picture (a gradient plus seeded noise)."""
    rng = np.random.default_rng(seed)
    w, h = size
    gx = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    gy = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    tint = rng.uniform(0.2, 1.0, size=3).astype(np.float32)
    base = (gx * tint + gy * tint[::-1]) / 2 + rng.normal(0, 25, size=(h, w, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB").save(buf, fmt)
    return buf.getvalue()


def sightings(ws: Workspace) -> list[tuple[Sighting, Item | None]]:
    with ws.session() as s:
        rows = s.execute(select(Sighting, Item).outerjoin(Item, Item.id == Sighting.item_id)).all()
        s.expunge_all()
        return [(sg, it) for sg, it in rows]


def reclaim_cmd() -> list[str]:
    script = Path(sys.executable).with_name("reclaim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reclaim.cli"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECLAIM_")}
    env["RECLAIM_PASSPHRASE"] = PASSPHRASE
    return subprocess.run([*reclaim_cmd(), *args], env=env, capture_output=True, text=True, timeout=300)


# --- a local site -------------------------------------------------------------------------------------


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/old.png":  # a moved image: 301 to where it is now
            self.send_response(301)
            self.send_header("Location", "/img/moved.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A site on 127.0.0.1: two pages with <img>, a redirect to an image, a 404, a stylesheet."""
    root = tmp_path_factory.mktemp("site")
    (root / "img").mkdir()
    (root / "img" / "a.png").write_bytes(picture(1))
    (root / "img" / "b.jpg").write_bytes(picture(2, "JPEG"))
    (root / "img" / "moved.png").write_bytes(picture(3))
    (root / "img" / "fake.png").write_text("<html>not an image, whatever its name says</html>")
    (root / "index.html").write_text(
        '<html><head><link rel="stylesheet" href="s.css"></head><body><img src="img/a.png" alt="a">'
        '<a href="p2.html">two</a> <a href="missing.html">gone</a></body></html>'
    )
    (root / "p2.html").write_text(
        '<html><body><img src="img/b.jpg"><img src="old.png"><img src="img/fake.png"></body></html>'
    )
    (root / "s.css").write_text("body { color: #333 }")

    def handler(*args: Any, **kw: Any) -> _Handler:
        return _Handler(*args, directory=str(root), **kw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def wget_warc(site: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wget = shutil.which("wget")
    if wget is None:
        pytest.skip("wget is not installed (apt-get install wget)")
    out = tmp_path_factory.mktemp("wget")
    subprocess.run(
        [
            wget,
            "-q",
            "--warc-file=site",
            "-p",
            "-r",
            "-l",
            "2",
            "-e",
            "robots=off",
            "--no-proxy",
            f"{site}/index.html",
        ],
        cwd=out,
        timeout=120,
        check=False,
    )  # fmt: skip  (exit 8: the 404 is a server error to wget)
    warc = out / "site.warc.gz"
    assert warc.is_file() and warc.stat().st_size > 0
    return warc


def test_wget_warc_scans_every_image_with_its_url_and_page(
    wget_warc: Path, site: str, tmp_path: Path
) -> None:
    ws_dir = tmp_path / "ws"
    assert run_cli("--workspace", str(ws_dir), "init").returncode == 0
    proc = run_cli("--workspace", str(ws_dir), "scan", str(wget_warc), "--json", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["errors"] == [], result
    assert result["new_items"] == 3, result  # a.png, b.jpg, moved.png (fake.png is HTML)
    # index.html, p2.html, missing.html (404), s.css, old.png (301), fake.png (HTML): all counted
    assert result["skipped"][NOT_MEDIA] == 6, result
    assert result["skipped"][EXPORT_FILE] == 2, result  # wget's own arguments and log
    ws = Workspace.open(ws_dir, PASSPHRASE)
    try:
        found = {sg.extra[URL]: (sg, it) for sg, it in sightings(ws)}
    finally:
        ws.close()
    assert set(found) == {f"{site}/img/a.png", f"{site}/img/b.jpg", f"{site}/img/moved.png"}
    pages = {url: sg.extra.get(PAGE_URL) for url, (sg, _it) in found.items()}
    assert pages[f"{site}/img/a.png"] == f"{site}/index.html"
    assert pages[f"{site}/img/b.jpg"] == f"{site}/p2.html"
    for sg, it in found.values():
        assert sg.source == "web" and it is not None
        assert sg.extra[HTTP_STATUS] == "200" and sg.extra[ARCHIVE] == "site.warc.gz"
        assert sg.extra[CAPTURED_AT].endswith("Z") and len(sg.extra[ARCHIVE_SHA256]) == 64
        assert sg.path is not None and sg.path.startswith("site.warc.gz@")
    again = run_cli("--workspace", str(ws_dir), "scan", str(wget_warc), "--json", "--workers", "1")
    rescan = json.loads(again.stdout)
    assert rescan["new_items"] == 0 and rescan["new_sightings"] == 0, rescan
    assert rescan["items"] == 3


# --- a warcio-written WARC ----------------------------------------------------------------------------


def _write(w: WARCWriter, rec: Any) -> None:
    w.write_record(rec)
    rec.raw_stream.close()  # warcio may have spooled the payload to a temporary file to digest it


def _response(w: WARCWriter, url: str, body: bytes, *, status: str = "200 OK", ctype: str = "image/png",
              extra: list[tuple[str, str]] | None = None, date: str | None = None) -> Any:  # fmt: skip
    http = StatusAndHeaders(status, [("Content-Type", ctype), *(extra or [])], protocol="HTTP/1.1")
    headers = {"WARC-Date": date} if date else None
    rec = w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                               warc_headers_dict=headers)  # fmt: skip
    _write(w, rec)
    return rec


def _request(w: WARCWriter, url: str, referer: str, concurrent_to: str) -> None:
    http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.test"), ("Referer", referer)],
                            is_http_request=True)  # fmt: skip
    rec = w.create_warc_record(url, "request", http_headers=http)
    rec.rec_headers.add_header("WARC-Concurrent-To", concurrent_to)
    _write(w, rec)


def warcio_archive(path: Path, *, gz: bool) -> None:
    """Responses then requests (Browsertrix's order), a revisit, a chunked + gzip-coded image, a
    urn:pageinfo: record naming an image's page, HTML and a video-less 404."""
    with path.open("wb") as out:
        w = WARCWriter(out, gzip=gz)
        page = "https://example.test/gallery.html"
        _response(w, page, b"<html><img src='a.png'></html>", ctype="text/html")
        a = _response(w, "https://example.test/a.png", picture(10), date="2026-11-01T10:00:00Z")
        _request(w, "https://example.test/a.png", page, a.rec_headers.get_header("WARC-Record-ID"))
        raw = picture(11)
        coded = gzip.compress(raw)
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(coded), coded)
        _response(w, "https://example.test/c.png", chunked,
                  extra=[("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")])  # fmt: skip
        _response(
            w, "https://example.test/gone.png", b"not found", status="404 Not Found", ctype="text/plain"
        )
        info = {"url": page, "urls": {"https://example.test/c.png": {"status": 200, "mime": "image/png"}}}
        body = io.BytesIO(json.dumps(info).encode())
        rec = w.create_warc_record(
            f"urn:pageinfo:{page}", "resource", payload=body, warc_content_type="application/json"
        )
        _write(w, rec)
        revisit = w.create_revisit_record(
            "https://example.test/a-copy.png",
            digest=a.rec_headers.get_header("WARC-Payload-Digest"),
            refers_to_uri="https://example.test/a.png",
            refers_to_date="2026-11-01T10:00:00Z",
        )
        _write(w, revisit)


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_warcio_archive(tmp_path: Path, workspace: Workspace, gz: bool) -> None:
    path = tmp_path / ("w.warc.gz" if gz else "w.warc")
    warcio_archive(path, gz=gz)
    entries = list(source_for(path).entries(path))
    assert isinstance(source_for(path), WebArchiveSource)
    found = [e for e in entries if isinstance(e, Entry)]
    assert not [e for e in entries if isinstance(e, EntryError)]
    urls = ["https://example.test/a-copy.png", "https://example.test/a.png", "https://example.test/c.png"]
    assert sorted(e.sighting.extra[URL] for e in found) == urls
    by_url = {e.sighting.extra[URL]: e for e in found}
    assert (
        by_url["https://example.test/a.png"].sighting.extra[PAGE_URL] == "https://example.test/gallery.html"
    )
    assert by_url["https://example.test/a.png"].sighting.extra[CAPTURED_AT] == "2026-11-01T10:00:00Z"
    assert (
        by_url["https://example.test/c.png"].sighting.extra[PAGE_URL] == "https://example.test/gallery.html"
    )
    assert by_url["https://example.test/c.png"].file is None
    read_c = by_url["https://example.test/c.png"].read
    assert read_c is not None and read_c(10**6) == picture(11)  # chunked and gzip coding undone
    read_copy = by_url["https://example.test/a-copy.png"].read
    assert read_copy is not None and read_copy(10**6) == picture(10)  # the revisit resolves to a.png
    skips = [e.reason for e in entries if isinstance(e, Skipped)]
    assert skips.count(NOT_MEDIA) == 2 and skips.count(EXPORT_FILE) == 1, skips  # html, 404 | pageinfo

    report = scan_paths(workspace, [path], workers=1)
    assert report.errors == [] and report.new_items == 2 and report.new_sightings == 3
    again = scan_paths(workspace, [path], workers=1)
    assert again.new_items == 0 and again.new_sightings == 0
    assert not list((workspace.root).glob("tmp/*")), "nothing extracted"


def test_a_web_archive_in_a_folder_is_read_as_an_archive(tmp_path: Path, workspace: Workspace) -> None:
    folder = tmp_path / "material"
    (folder / "sub").mkdir(parents=True)
    warcio_archive(folder / "sub" / "w.warc.gz", gz=True)
    (folder / "photo.png").write_bytes(picture(20))
    report = scan_paths(workspace, [folder], workers=1)
    assert report.errors == [] and report.new_items == 3 and report.new_sightings == 4
    paths = sorted(sg.path or "" for sg, _ in sightings(workspace))
    assert paths[0] == "photo.png" and all(p.startswith("sub/w.warc.gz@") for p in paths[1:]), paths


def test_archive_byte_cap_stops_one_archive_with_one_error(tmp_path: Path) -> None:
    path = tmp_path / "w.warc.gz"
    warcio_archive(path, gz=True)

    class Small(WebArchiveSource):
        limits = ArchiveLimits(max_archive_bytes=2_000)

    entries = list(Small().entries(path))
    errors = [e for e in entries if isinstance(e, EntryError)]
    assert len(errors) == 1 and "inflates past 2,000 bytes" in errors[0].error, errors
    assert errors[0].path.startswith("w.warc.gz@")


# --- WACZ ---------------------------------------------------------------------------------------------


def make_wacz(warc: Path, out: Path) -> None:
    """``wacz create --detect-pages``: the HTML responses become pages/pages.jsonl."""
    if importlib.util.find_spec("wacz") is None:
        pytest.skip("the wacz package is not installed (pip install -e '.[capture]')")
    args = [sys.executable, "-m", "wacz.main", "create", "--detect-pages", "-o", str(out), str(warc)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]


@pytest.fixture(scope="module")
def wacz_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wacz")
    warcio_archive(base / "w.warc.gz", gz=True)
    make_wacz(base / "w.warc.gz", base / "w.wacz")
    return base / "w.wacz"


def test_wacz_created_by_the_wacz_package(wacz_file: Path, tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    assert run_cli("--workspace", str(ws_dir), "init").returncode == 0
    proc = run_cli("--workspace", str(ws_dir), "scan", str(wacz_file), "--json", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["errors"] == [] and result["new_items"] == 2 and result["new_sightings"] == 3, result
    ws = Workspace.open(ws_dir, PASSPHRASE)
    try:
        rows = sightings(ws)
    finally:
        ws.close()
    for sg, it in rows:
        assert it is not None and sg.extra[ARCHIVE] == "w.wacz"
        assert sg.path is not None and sg.path.startswith("w.wacz!archive/")
        # the only page in pages.jsonl, where no Referer or pageinfo names one
        assert sg.extra[PAGE_URL] == "https://example.test/gallery.html"
    again = run_cli("--workspace", str(ws_dir), "scan", str(wacz_file), "--json", "--workers", "1")
    rescan = json.loads(again.stdout)
    assert rescan["new_items"] == 0 and rescan["new_sightings"] == 0 and rescan["errors"] == [], rescan


def test_wacz_members_are_read_in_place(wacz_file: Path) -> None:
    with zipfile.ZipFile(wacz_file) as zf:
        names = zf.namelist()
    assert "datapackage.json" in names and any(n.startswith("archive/") for n in names)
    entries = list(WebArchiveSource().entries(wacz_file))
    skipped = {e.path for e in entries if isinstance(e, Skipped) and e.reason == EXPORT_FILE}
    assert "w.wacz!datapackage.json" in skipped and "w.wacz!pages/pages.jsonl" in skipped, skipped


def test_a_media_record_over_the_size_limit_is_one_named_error(tmp_path: Path) -> None:
    path = tmp_path / "w.warc"
    warcio_archive(path, gz=False)

    class Tight(WebArchiveSource):
        limits = ArchiveLimits(max_record_bytes=100)

    entries = list(Tight().entries(path))
    errors = sorted((e.path, e.error) for e in entries if isinstance(e, EntryError))
    # a.png and the revisit that resolves to it; c.png (chunked, gzip-coded) once decoded
    assert len(errors) == 3 and all("above the limit" in msg for _, msg in errors), errors
    assert not [e for e in entries if isinstance(e, Entry)]


def test_the_server_scans_an_uploaded_wacz_as_an_archive_not_a_zip(wacz_file: Path, tmp_path: Path) -> None:
    zipped = tmp_path / "photos.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("a.png", picture(30))
    assert is_archive(zipped) and not is_archive(wacz_file)


def test_a_decoded_body_under_a_kept_content_encoding_header_is_the_image(tmp_path: Path) -> None:
    """Browser-based archivers store the decoded body and may keep ``Content-Encoding: br``."""
    path = tmp_path / "b.warc.gz"
    with path.open("wb") as out:
        w = WARCWriter(out, gzip=True)
        _response(w, "https://example.test/br.png", picture(12), extra=[("Content-Encoding", "br")])
    (entry,) = [e for e in WebArchiveSource().entries(path) if isinstance(e, Entry)]
    assert entry.read is not None and entry.read(10**6) == picture(12)


@st.composite
def _mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 200))]
        else:
            data[pos:pos] = draw(
                st.sampled_from([b"\r\n", b"\r\n\r\n", b"9999999999", b"WARC/1.0\r\n", b"\x00"])
            )
        if not data:
            data = bytearray(b"W")
    return bytes(data)


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_mutated_archives_give_entries_and_named_errors_only(tmp_path: Path, gz: bool) -> None:
    """Bit flips, cuts and inserted separators in a valid archive: the source yields entries, skips and
    errors (never raises), and each entry's reader returns bytes or a ValueError sentence."""
    good = tmp_path / "seed.warc"
    warcio_archive(good, gz=gz)
    seed = good.read_bytes()
    path = tmp_path / ("m.warc.gz" if gz else "m.warc")

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
    @given(data=_mutated(seed))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        for e in WebArchiveSource().entries(path):
            if isinstance(e, EntryError):
                assert e.error and "\n" not in e.error and len(e.error) < 300, e
            elif isinstance(e, Entry):
                assert e.read is not None
                try:
                    assert isinstance(e.read(10**6), bytes)
                except ValueError as exc:
                    assert str(exc)

    check()
