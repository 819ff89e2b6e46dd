"""``reclaim capture URL...``: load each page, archive it (WARC → WACZ), keep the screenshot and the DOM,
and scan every image on it like any other material.

Per URL, in order: the page is loaded and recorded (:mod:`reclaim.capture.browser`); the responses are
written as a WARC and packed as a WACZ (:mod:`reclaim.capture.archive`); the WACZ, the screenshot and the
DOM go into the vault, encrypted and named by their SHA-256; every image the page received becomes an
entry with a web sighting (:func:`reclaim.sources.web.web_sighting`, naming the WACZ and its SHA-256) and
all entries of all pages go through one scan (:func:`reclaim.scan.service.scan_paths`, with
:class:`CapturedImages` as its source), so they are hashed, analysed and matched exactly like a folder's.
Then one ``capture.recorded`` custody event per page names the WACZ's SHA-256 and what the page answered.

Policy for a minor, as for scans: when a captured image matched a minor, the capture's WACZ, screenshot
and DOM (which hold the image) are not kept; the event says so.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urldefrag

from sqlalchemy import select

from reclaim.capture.archive import write_wacz, write_warc
from reclaim.capture.browser import CHROMIUM, PageRecord, check_url, load_page
from reclaim.errors import NotFound, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.media import sniff_mime
from reclaim.scan.checks import PostScanCheck
from reclaim.scan.service import ScanReport, scan_paths
from reclaim.sources.base import Entry, EntryError, Skipped, Source
from reclaim.sources.web import iso_utc, web_sighting
from reclaim.store.models import Item, Match, Person
from reclaim.text import storable
from reclaim.workspace import WORK_TMP, Held, Workspace, sweep_unheld

NO_TLS = "none"
"""What the TLS fields hold for a page served over plain http."""
MAX_CAPTION = 2000
_KEPT_HEADERS = 60


@dataclass
class CapturedImage:
    """One image a captured page received (or held inline as a ``data:`` URL)."""

    url: str
    page_url: str
    http_status: int | None
    alt: str
    data: bytes
    sha256: str = ""

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()


@dataclass
class PageCapture:
    """What one captured URL gave: the archive and the page's answer."""

    url: str
    final_url: str
    status: int | None
    title: str
    captured_at: str
    headers: list[list[str]]
    tls_subject: str
    tls_sha256: str
    wacz: str
    wacz_sha256: str
    wacz_size: int
    warc_records: int
    screenshot_sha256: str
    dom_sha256: str
    images: list[dict[str, Any]]
    stored: bool = True
    event_id: int | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class CaptureReport:
    pages: list[PageCapture] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    """One per URL that could not be captured, or image that could not be read: ``{"url", "error"}``."""
    scan: dict[str, Any] = field(default_factory=dict)
    """The scan of the captured images (its report's counts)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CapturedImages(Source):
    """The images of a capture as a scan source: each was written to ``files`` under the folder scanned, and
    comes back as an entry with its web sighting (the scan never guesses what a captured file is)."""

    name = "capture"

    def __init__(self, files: Sequence[tuple[str, Entry]]) -> None:
        self.files = list(files)

    @classmethod
    def detect(cls, path: Path) -> bool:
        return False  # never detected: only handed to the scan by a capture

    def entries(self, path: Path) -> Iterator[Entry | EntryError | Skipped]:
        yield from (entry for _, entry in self.files)


def _header(headers: Sequence[tuple[str, str]], name: str) -> str:
    return next((v for k, v in headers if k.lower() == name), "")


def _data_url(src: str) -> bytes | None:
    """The bytes of a ``data:image/...`` URL, or None."""
    head, sep, payload = src.partition(",")
    if not sep or not head.lower().startswith("data:image/"):
        return None
    try:
        if head.endswith(";base64"):
            return base64.b64decode(payload, validate=False)
        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        return None


def _squeeze(text: str) -> str:
    """Text as a page shows it, without the layout's blank lines and indentation."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def page_images(page: PageRecord) -> tuple[list[CapturedImage], list[dict[str, str]]]:
    """Every image ``page`` received: each image response with a body (an ``<img>``'s alt text and caption
    attached when one shows it), and each inline ``data:`` image. Images the page shows but never received
    (a 404, a refused request) are errors naming their URL."""
    described: dict[str, str] = {}
    for img in page.images:
        parts = dict.fromkeys([_squeeze(img.alt), _squeeze(img.caption)])
        text = "\n".join(t for t in parts if t)[:MAX_CAPTION]
        key = urldefrag(img.src)[0]
        if text and not described.get(key):
            described[key] = text
        elif key not in described:
            described[key] = ""
    images: list[CapturedImage] = []
    errors: list[dict[str, str]] = []
    received: set[str] = set()
    for ex in page.exchanges:
        mime = _header(ex.headers, "content-type").split(";")[0].strip().lower()
        is_image = ex.resource_type == "image" or mime.startswith("image/")
        if not is_image or ex.status in range(300, 400):
            continue
        key = urldefrag(ex.url)[0]
        if ex.status >= 400 or not ex.body:
            why = ex.body_problem or (f"HTTP {ex.status}" if ex.status >= 400 else "empty body")
            errors.append({"url": ex.url, "error": f"image on {page.final_url} not received: {why}"})
            received.add(key)
            continue
        if mime == "image/svg+xml" or (sniff_mime(ex.body[:512]) is None and not mime.startswith("image/")):
            continue  # icons drawn as SVG are not pictures of anyone
        received.add(key)
        images.append(CapturedImage(ex.url, page.final_url, ex.status, described.get(key, ""), ex.body))
    for img in page.images:
        key = urldefrag(img.src)[0]
        if key in received or not key:
            continue
        received.add(key)
        data = _data_url(key)
        if data is not None:
            images.append(CapturedImage(key[:80] + "…", page.final_url, None, described.get(key, ""), data))
        elif not key.startswith(("data:", "blob:")):
            errors.append({"url": key, "error": f"image on {page.final_url} was never received"})
    return images, errors


def capture_urls(
    ws: Workspace,
    urls: Sequence[str],
    *,
    person_id: str | None = None,
    note: str | None = None,
    checks: Sequence[PostScanCheck] = (),
    chromium: Path = CHROMIUM,
    workers: int | None = None,
) -> CaptureReport:
    """Capture every URL (an explicit network action: each page and everything it loads is fetched), store
    the archives, and scan the images. A URL that is not http(s) is refused before anything is fetched
    (:class:`UserError`); a page that cannot be loaded is an error naming it and the others go on."""
    clean = [check_url(u) for u in urls]
    if not clean:
        raise UserError("no URL to capture")
    if person_id is not None:
        with ws.session() as s:
            person = s.get(Person, person_id)
            if person is None:
                raise NotFound(f"no person with id {person_id!r}")
            if person.minor:
                raise UserError(
                    "a minor's case: reclaim keeps no media of a minor, and a capture is media; "
                    "report the URL to NCMEC Take It Down or KCSC instead (reclaim takedown draft)"
                )
    report = CaptureReport()
    # Plaintext work files (images, the WACZ before it is sealed into the vault) live in the workspace's
    # own tmp area, held by this process: what a killed capture leaves behind is removed by the next one
    # (or by the server's start-up sweep), never left in the system's temporary folder.
    area = ws.root / WORK_TMP
    area.mkdir(mode=0o700, exist_ok=True)
    sweep_unheld(area)
    with (
        tempfile.TemporaryDirectory(prefix="capture-", dir=area, ignore_cleanup_errors=True) as tmp_name,
        _held(Path(tmp_name)),
    ):
        folder = Path(tmp_name) / "images"
        folder.mkdir()
        records: list[tuple[PageRecord, PageCapture, list[CapturedImage]]] = []
        files: list[tuple[str, Entry]] = []
        for n, url in enumerate(clean, 1):
            try:
                page = load_page(url, chromium=chromium)
            except UserError as exc:
                report.errors.append({"url": url, "error": str(exc)})
                continue
            images, image_errors = page_images(page)
            report.errors.extend(image_errors)
            cap = _archive(ws, folder.parent, n, page, images)
            files.extend(_entries(folder, len(files), page, cap, images))
            page.exchanges.clear()  # the bodies are in the WACZ and the image files now: free them
            page.screenshot = page.dom = b""
            records.append((page, cap, images))
        try:
            if files:
                source = CapturedImages(files)
                scanned = scan_paths(ws, [folder], source=source, checks=checks, workers=workers)
                report.scan = _scan_summary(scanned)
        finally:  # the pages were captured and their archives stored, even when the scan was interrupted
            for page, cap, images in records:
                _record(ws, page, cap, images, person_id=person_id, note=note)
                report.pages.append(cap)
    return report


@contextlib.contextmanager
def _held(folder: Path) -> Iterator[None]:
    held = Held(folder)
    try:
        yield
    finally:
        held.release()


def _entries(
    folder: Path, start: int, page: PageRecord, cap: PageCapture, images: list[CapturedImage]
) -> Iterator[tuple[str, Entry]]:
    """Each image written to ``folder`` as an entry with its web sighting (naming the page's WACZ)."""
    for n, image in enumerate(images, start):
        name = f"img-{n:05d}"
        path = folder / name
        path.write_bytes(image.data)
        image.data = b""
        sighting = web_sighting(
            url=image.url,
            page_url=image.page_url,
            captured_at=page.captured_at,
            http_status=image.http_status,
            alt=image.alt or None,
            archive=cap.wacz,
            archive_sha256=cap.wacz_sha256,
        )
        yield name, Entry(sighting=sighting, file=path)


def _scan_summary(scanned: ScanReport) -> dict[str, Any]:
    out = scanned.to_dict()
    prefix = f"{CapturedImages.name}/"
    out["errors"] = [{"url": e.path.removeprefix(prefix), "error": e.error} for e in scanned.errors]
    return out


def _alt(image: CapturedImage) -> str:
    return storable(image.alt, multiline=True)


def _archive(ws: Workspace, tmp: Path, n: int, page: PageRecord, images: list[CapturedImage]) -> PageCapture:
    """Write the page's WARC and WACZ and put the WACZ, screenshot and DOM in the vault."""
    stamp = page.captured_at.strftime("%Y%m%dT%H%M%SZ")
    warc = tmp / f"capture-{stamp}-{n}.warc.gz"
    records = write_warc(warc, [page])
    wacz = tmp / f"capture-{stamp}-{n}.wacz"
    write_wacz(wacz, warc, [page])
    data = wacz.read_bytes()
    wacz_sha = ws.vault.put(data)
    shot_sha = ws.vault.put(page.screenshot)
    dom_sha = ws.vault.put(page.dom)
    return PageCapture(
        url=storable(page.url),
        final_url=storable(page.final_url),
        status=page.status,
        title=storable(page.title)[:500],
        captured_at=iso_utc(page.captured_at),
        headers=[[storable(k), storable(v)[:2000]] for k, v in page.headers[:_KEPT_HEADERS]],
        tls_subject=storable(page.tls.subject) if page.tls else NO_TLS,
        tls_sha256=page.tls.sha256 if page.tls else NO_TLS,
        wacz=wacz.name,
        wacz_sha256=wacz_sha,
        wacz_size=len(data),
        warc_records=records,
        screenshot_sha256=shot_sha,
        dom_sha256=dom_sha,
        images=[{"url": storable(i.url), "sha256": i.sha256, "alt": _alt(i)} for i in images],
        problems=list(page.problems),
    )


def _record(
    ws: Workspace,
    page: PageRecord,
    cap: PageCapture,
    images: list[CapturedImage],
    *,
    person_id: str | None,
    note: str | None,
) -> None:
    """The page's custody event; first, when an image matched a minor, the capture's blobs leave the vault."""
    with ws.session() as s:
        shas = [i.sha256 for i in images]
        minor_hit = bool(shas) and s.scalar(
            select(Match.id)
            .join(Item, Item.id == Match.item_id)
            .join(Person, Person.id == Match.person_id)
            .where(Item.sha256.in_(shas), Person.minor.is_(True))
            .limit(1)
        )
        if minor_hit:
            for sha in (cap.wacz_sha256, cap.screenshot_sha256, cap.dom_sha256):
                ws.vault.delete(sha)
            cap.stored = False
        event = log_event(
            s,
            EventKind.CAPTURE_RECORDED,
            subject=subject("capture", cap.wacz_sha256),
            detail={
                "url": cap.url,
                "final_url": cap.final_url,
                "status": cap.status,
                "captured_at": cap.captured_at,
                "headers": cap.headers,
                "tls_subject": cap.tls_subject,
                "tls_sha256": cap.tls_sha256,
                "wacz": cap.wacz,
                "wacz_sha256": cap.wacz_sha256,
                "wacz_size": cap.wacz_size,
                "warc_records": cap.warc_records,
                "screenshot_sha256": cap.screenshot_sha256,
                "dom_sha256": cap.dom_sha256,
                "images": [i["sha256"] for i in cap.images],
                "stored": cap.stored,
                **({"reason": "minor"} if not cap.stored else {}),
                **({"person_id": person_id} if person_id else {}),
                **({"note": storable(note, multiline=True)} if note else {}),
            },
        )
        s.commit()
        cap.event_id = event.id
