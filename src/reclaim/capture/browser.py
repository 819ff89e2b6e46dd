"""Load a page in a headless Chromium and record what it received.

Recording: every response the page receives is collected from Playwright's ``page.on("response")`` and its
body read with ``response.body()`` once the page has settled (before the page closes). Why not a route
handler with ``route.fetch()``: in Chromium a route handler never sees the target of a redirect (a page at
``/old`` that redirects to ``/`` is routed once, for ``/old``, and the body of ``/`` is never handed to the
handler; measured with Playwright 1.65 and Debian's Chromium), and ``route.fetch()`` re-sends each request
through Playwright's own HTTP client instead of the browser's, so the archive would hold a second request
rather than the one the page rendered. The response listener sees every hop the browser made, redirects
included (a redirect has no body: it is recorded with its status and ``Location``). Service workers are
blocked so that no response bypasses the listener.

Playwright is imported inside :func:`load_page` only: it is an optional extra (``reclaim[capture]``) and
costs a second to import.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from reclaim.errors import DependencyError, UserError

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium: reclaim never downloads a browser."""
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--metrics-recording-only",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--disable-breakpad",
)
CHROMIUM_SERVICE_HOSTS = (
    "accounts.google.com",
    "clients2.google.com",
    "clients2.googleusercontent.com",
    "clientservices.googleapis.com",
    "content-autofill.googleapis.com",
    "edgedl.me.gvt1.com",
    "optimizationguide-pa.googleapis.com",
    "redirector.gvt1.com",
    "safebrowsing.googleapis.com",
    "update.googleapis.com",
)
"""Hosts Chromium's own services call (updates, sign-in, safe browsing), which the flags above do not
silence: traced with ``strace -f``, Debian's Chromium 156 looked up update.googleapis.com and
accounts.google.com while capturing a page on 127.0.0.1. They resolve to nothing inside the capture's
browser, so a capture contacts only the pages named and what those pages load (a page that itself loads
from one of these hosts is recorded with that request failed)."""
RESOLVER_RULES = "--host-resolver-rules=" + ", ".join(f"MAP {h} ~NOTFOUND" for h in CHROMIUM_SERVICE_HOSTS)
VIEWPORT = {"width": 1280, "height": 900}
MAX_SCROLL_STEPS = 40
"""At most this many screens are scrolled (an endless feed stops here)."""
MAX_BODY_BYTES = 64 * 1024 * 1024
"""A response body above this is recorded without its body (and said so)."""
MAX_TOTAL_BYTES = 768 * 1024 * 1024
"""Bodies of one page past this total are recorded without their bodies (a page that streams forever)."""
NAV_TIMEOUT_MS = 45_000
SETTLE_MS = 400

# Where each <img> sits: its current source, alt text and caption (its figure's figcaption, else the
# text of the post (article) around it).
_IMAGES_JS = """
() => [...document.images].map(img => {
  const fig = img.closest('figure');
  const cap = fig && fig.querySelector('figcaption');
  const art = img.closest('article');
  let caption = cap ? cap.innerText : '';
  if (!caption && art) {
    const clone = art.cloneNode(true);
    clone.querySelectorAll('img, figure').forEach(n => n.remove());
    caption = clone.innerText;
  }
  return {src: img.currentSrc || img.src || '', alt: img.getAttribute('alt') || '',
          caption: (caption || '').trim().slice(0, 4000)};
})
"""

_SCROLL_JS = """
() => { window.scrollBy(0, Math.max(window.innerHeight * 0.8, 200));
        return [window.scrollY + window.innerHeight, document.documentElement.scrollHeight]; }
"""


@dataclass
class Exchange:
    """One HTTP request and its response, as the browser made and received it."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    status: int
    status_text: str
    headers: list[tuple[str, str]]
    body: bytes
    body_problem: str | None
    """Why the body is missing (a redirect has none; one above the size limit is left out), or None."""
    resource_type: str
    at: datetime


@dataclass
class PageImage:
    src: str
    alt: str
    caption: str


@dataclass
class TlsInfo:
    subject: str
    sha256: str


@dataclass
class PageRecord:
    """Everything one page load produced."""

    url: str
    final_url: str
    status: int | None
    headers: list[tuple[str, str]]
    title: str
    captured_at: datetime
    screenshot: bytes
    dom: bytes
    exchanges: list[Exchange] = field(default_factory=list)
    images: list[PageImage] = field(default_factory=list)
    tls: TlsInfo | None = None
    problems: list[str] = field(default_factory=list)


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host; a :class:`UserError` naming it otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UserError(f"not an http or https URL, refused: {url[:200]!r}")
    return url.strip()


def tls_certificate(url: str, timeout: float = 15.0) -> TlsInfo | None:
    """The certificate an https server presents (subject, SHA-256 of the DER), read on a connection of its
    own (the browser does not hand it out for every response); None for http."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # record what is presented, valid or not
    with (
        socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=parts.hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        return None
    cert = x509.load_der_x509_certificate(der)
    return TlsInfo(subject=cert.subject.rfc4514_string(), sha256=hashlib.sha256(der).hexdigest())


def _exchange(response: Any, at: datetime) -> Exchange:
    request = response.request
    status = int(response.status)
    body = b""
    problem: str | None = None
    if 300 <= status < 400:
        problem = "redirect"
    else:
        try:
            body = response.body()
        except Exception as exc:  # the browser dropped the body (evicted, aborted): say so
            problem = f"body unavailable: {str(exc).splitlines()[0][:200]}"
        if len(body) > MAX_BODY_BYTES:
            body, problem = b"", f"body of {len(body):,} bytes above the limit, left out"
    try:
        post = request.post_data_buffer
    except Exception:
        post = None
    return Exchange(
        url=response.url,
        method=request.method,
        request_headers=[(h["name"], h["value"]) for h in request.headers_array()],
        request_body=post,
        status=status,
        status_text=response.status_text or "",
        headers=[(h["name"], h["value"]) for h in response.headers_array()],
        body=body,
        body_problem=problem,
        resource_type=request.resource_type,
        at=at,
    )


def _exchanges(responses: list[tuple[Any, datetime]], problems: list[str]) -> list[Exchange]:
    out: list[Exchange] = []
    total = 0
    for response, at in responses:
        ex = _exchange(response, at)
        total += len(ex.body)
        if total > MAX_TOTAL_BYTES:
            ex.body, ex.body_problem = b"", f"page above {MAX_TOTAL_BYTES:,} bytes of bodies, left out"
        out.append(ex)
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{total:,} bytes of responses: bodies past {MAX_TOTAL_BYTES:,} were left out")
    return out


def load_page(url: str, *, chromium: Path = CHROMIUM) -> PageRecord:
    """Open ``url`` in a fresh headless Chromium profile, scroll to the end (lazy images load), and record
    every response, a full-page screenshot, the DOM, the final URL and its status and headers."""
    try:  # optional extra (reclaim[capture]), a second to import: loaded only when a capture runs
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise DependencyError(f"capture needs Playwright: pip install 'reclaim[capture]' ({exc})") from exc

    if not chromium.exists():
        raise DependencyError(f"{chromium} is missing: capture uses Debian's chromium (apt install chromium)")
    url = check_url(url)
    captured_at = datetime.now(UTC)
    responses: list[tuple[Any, datetime]] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=[*CHROMIUM_ARGS, RESOLVER_RULES])
        try:
            context = browser.new_context(viewport=VIEWPORT, service_workers="block")  # type: ignore[arg-type]
            page = context.new_page()
            page.set_default_timeout(NAV_TIMEOUT_MS)
            page.on("response", lambda r: responses.append((r, datetime.now(UTC))))
            main = page.goto(url, wait_until="load", timeout=NAV_TIMEOUT_MS)
            _scroll_to_end(page, problems)
            page.evaluate("() => window.scrollTo(0, 0)")
            page.wait_for_timeout(SETTLE_MS)
            screenshot = page.screenshot(full_page=True, type="png")
            dom = page.content().encode("utf-8")
            images = [PageImage(i["src"], i["alt"], i["caption"]) for i in page.evaluate(_IMAGES_JS)]
            title = page.title()
            final_url = page.url
            exchanges = _exchanges(responses, problems)
            main_status = int(main.status) if main is not None else None
            main_headers = [(h["name"], h["value"]) for h in main.headers_array()] if main is not None else []
            context.close()
        except PlaywrightError as exc:
            first_line = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise UserError(f"{url}: the page could not be captured: {first_line}") from exc
        finally:
            browser.close()
    tls = None
    if urlsplit(final_url).scheme == "https":
        try:
            tls = tls_certificate(final_url)
        except (OSError, ValueError) as exc:
            problems.append(f"TLS certificate not read: {exc}")
    return PageRecord(
        url=url,
        final_url=final_url,
        status=main_status,
        headers=main_headers,
        title=title,
        captured_at=captured_at,
        screenshot=screenshot,
        dom=dom,
        exchanges=exchanges,
        images=images,
        tls=tls,
        problems=problems,
    )


def _scroll_to_end(page: Any, problems: list[str]) -> None:
    """Scroll a screen at a time until the bottom stays put, letting lazy images load on the way."""
    for _ in range(MAX_SCROLL_STEPS):
        bottom, height = page.evaluate(_SCROLL_JS)
        page.wait_for_timeout(SETTLE_MS // 2)
        with contextlib.suppress(Exception):  # a page that never goes idle (polling) is captured as it is
            page.wait_for_load_state("networkidle", timeout=5_000)
        if bottom >= page.evaluate("() => document.documentElement.scrollHeight") and bottom >= height:
            return
    problems.append(f"stopped scrolling after {MAX_SCROLL_STEPS} screens")
