"""Removal checks: is what a notice asked to remove still online? (an explicit network action)

Rules:

* :func:`check_notice` fetches every URL the notice covers (its platform's :meth:`Platform.locations` of
  each sighting it covers) with a plain HTTP client (:class:`HttpFetcher`: httpx, a timeout, a size cap,
  no cookies kept, a User-Agent naming reclaim). A web page (HTML) is searched for its images
  (``<img src>``, ``srcset``, ``og:image``; at most :data:`MAX_PAGE_IMAGES`), which are fetched too. A page
  showing no image to a plain client (drawn by scripts) or whose images could not all be fetched gets no
  verdict (``error``): only a page whose images were all read, none the item, counts as removed.
* Each URL's outcome compares what is served with the sighting's item: ``still_up`` when an image is the
  same file (SHA-256), a PDQ match within the project's threshold (``signals.index.MATCH_THRESHOLD``) or a
  robust match (``matching.robust``: region hashes + ORB/RANSAC verification); ``removed`` on HTTP 404
  or 410, or a page that no longer serves the image; ``changed`` when the URL serves a different
  picture; ``error`` when the check could not decide (a network error, another HTTP error, a body over
  the cap).
* Every fetch of a URL (redirects, the page's images) is written as request/response records of one WARC
  (warcio, gzip), stored encrypted in the vault by its SHA-256. Each URL checked is a custody event
  ``takedown.checked`` naming the URL, status, outcome, how it matched and the WARC's SHA-256.
* The notice follows: ``removed`` when every URL is removed (the status changes, reason "check");
  ``still_up`` when any URL still serves the image; ``changed`` when none does but one serves another
  picture (left to a person to judge: the status does not change); ``error`` otherwise.
* Still up past the platform's stated time (``due_at``): the notice becomes overdue and an escalation is
  drafted to the platform's next route (:attr:`Platform.escalation`, e.g. KCSC after X), citing the
  notice. Nothing is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import os
import socket
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from reclaim import __version__
from reclaim.errors import MediaError, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.matching.robust import features_of_bytes, first_frame, known_features, verify
from reclaim.media import MediaLimits, decode_media
from reclaim.signals.base import working_copy
from reclaim.signals.index import MATCH_THRESHOLD
from reclaim.signals.pdq import MIN_QUALITY, PdqSignal
from reclaim.store.models import Event, Item, Notice, Sighting, Signal, utcnow
from reclaim.store.vault import Vault
from reclaim.takedown.drafting import LangChoice, draft_notices
from reclaim.takedown.platforms import get_platform
from reclaim.takedown.status import TRANSITIONS, get_notice, list_notices, set_status

Outcome = Literal["removed", "still_up", "changed", "error"]
MatchedBy = Literal["sha256", "pdq", "robust"]

USER_AGENT = f"reclaim/{__version__} (removal check; https://github.com/reclaim-toolkit/reclaim)"
TIMEOUT_S = 20.0
MAX_BYTES = 32 * 2**20
"""A response body larger than this is not read (the check reports an error for the URL)."""
MAX_REDIRECTS = 5
MAX_PAGE_IMAGES = 20
REMOVED_STATUSES = (404, 410)
_DECODE_LIMITS = MediaLimits(max_bytes=MAX_BYTES, max_frames=1, max_side=2048)


@dataclass
class Exchange:
    """One HTTP request and its response, as fetched (what goes into the WARC)."""

    url: str
    status: int | None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    truncated: bool = False
    """The body was cut at the size cap (the WARC record says so: ``WARC-Truncated: length``)."""

    @property
    def content_type(self) -> str:
        for k, v in self.headers:
            if k.lower() == "content-type":
                return v.split(";")[0].strip().lower()
        return ""


Fetcher = Callable[[str], list[Exchange]]
"""Fetches one URL: the exchanges in order (redirects first, the final response last)."""


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


ALLOW_PRIVATE_ENV = "RECLAIM_CHECK_PRIVATE"
"""Set to 1 to let removal checks fetch private, loopback and link-local addresses (a test site, an
intranet); by default they are refused: a sighting's URL comes from untrusted material, and fetching it
must not reach the checker's own network."""


def private_reason(url: str) -> str | None:
    """Why ``url``'s host is not a public internet address (it resolves to a private, loopback,
    link-local, multicast or reserved address), else None."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None  # the fetch reports that the name does not resolve
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return f"{host} is a private or local address ({ip}); set {ALLOW_PRIVATE_ENV}=1 to allow it"
    return None


def allow_private_default() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV) == "1"


class HttpFetcher:
    """The plain HTTP client of a removal check: httpx, :data:`TIMEOUT_S`, bodies capped at
    :data:`MAX_BYTES`, at most :data:`MAX_REDIRECTS` redirects, no cookie kept or sent, and a
    User-Agent naming reclaim. http and https only; public addresses only unless ``allow_private``
    (:data:`ALLOW_PRIVATE_ENV`)."""

    def __init__(
        self, *, timeout: float = TIMEOUT_S, max_bytes: int = MAX_BYTES, allow_private: bool | None = None
    ) -> None:
        self.max_bytes = max_bytes
        self.allow_private = allow_private_default() if allow_private is None else allow_private
        self.client = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "gzip, deflate"},
            cookies=CookieJar(policy=_NoCookies()),
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def __call__(self, url: str) -> list[Exchange]:
        out: list[Exchange] = []
        for _ in range(MAX_REDIRECTS + 1):
            ex = self._one(url)
            out.append(ex)
            location = next((v for k, v in ex.headers if k.lower() == "location"), None)
            if ex.status is None or ex.status not in (301, 302, 303, 307, 308) or not location:
                return out
            url = urljoin(url, location)
        out[-1].error = f"more than {MAX_REDIRECTS} redirects"
        return out

    def _one(self, url: str) -> Exchange:
        if urlsplit(url).scheme not in ("http", "https"):
            return Exchange(url, None, error="only http and https addresses are checked")
        if not self.allow_private and (why := private_reason(url)):
            return Exchange(url, None, error=f"not fetched: {why}")
        try:
            request = self.client.build_request("GET", url)
            ex = Exchange(url, None, request_headers=list(request.headers.items()))
            response = self.client.send(request, stream=True)
            try:
                ex.status, ex.reason = response.status_code, response.reason_phrase
                ex.headers = list(response.headers.items())
                body = bytearray()
                for chunk in response.iter_raw():
                    body += chunk
                    if len(body) > self.max_bytes:
                        ex.error = f"the response is larger than {self.max_bytes // 2**20} MiB"
                        ex.truncated = True
                        break
                ex.body = bytes(body[: self.max_bytes])
            finally:
                response.close()
            return ex
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, UnicodeError) as exc:
            return Exchange(url, None, error=f"{type(exc).__name__}: {exc}")


def _decoded(ex: Exchange, max_bytes: int = MAX_BYTES) -> bytes | None:
    """The body without its content encoding (gzip or deflate, the ones asked for), at most
    ``max_bytes`` of it (a compression bomb stops there); None when it cannot be decoded."""
    encoding = next((v for k, v in ex.headers if k.lower() == "content-encoding"), "").strip().lower()
    if encoding in ("", "identity"):
        return ex.body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None
    try:
        d = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
        out = d.decompress(ex.body, max_bytes)
    except zlib.error:
        try:  # "deflate" sent raw, without its zlib header (common)
            out = zlib.decompressobj(wbits=-15).decompress(ex.body, max_bytes)
        except zlib.error:
            return None
    return out if len(out) < max_bytes else None


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v for k, v in attrs if v}
        if tag == "img":
            self.found += [a[k] for k in ("src", "data-src") if k in a]
            if "srcset" in a:
                self.found += [part.strip().split(" ")[0] for part in a["srcset"].split(",") if part.strip()]
        elif tag == "meta" and a.get("property", a.get("name")) in ("og:image", "twitter:image"):
            self.found += [a["content"]] if "content" in a else []


def page_images(html: bytes, base: str) -> list[str]:
    """The image addresses a page shows, absolute, in order, without duplicates (at most
    :data:`MAX_PAGE_IMAGES`)."""
    parser = _Images()
    with contextlib.suppress(AssertionError):  # HTMLParser on hostile markup
        parser.feed(html.decode("utf-8", errors="replace"))
    out: list[str] = []
    for src in parser.found:
        url = urljoin(base, src.strip())
        if url not in out and urlsplit(url).scheme in ("http", "https"):
            out.append(url)
    return out[:MAX_PAGE_IMAGES]


# --- comparing what is served with the item ----------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    matched_by: MatchedBy | None
    distance: int | None = None
    """PDQ bits for a pdq match; robust: inliers."""
    is_image: bool = True


def _bits(hex_value: str) -> int:
    return int(hex_value, 16)


def compare_image(session: Session, vault: Vault, item: Item, data: bytes) -> Comparison:
    """Whether ``data`` is the item's image: the same bytes, a PDQ match within ``MATCH_THRESHOLD``
    bits (against every stored flip/rotation), or a robust match verified by ORB/RANSAC."""
    if hashlib.sha256(data).hexdigest() == item.sha256:
        return Comparison("sha256", 0)
    try:
        media = decode_media(data, limits=_DECODE_LIMITS)
    except MediaError:
        return Comparison(None, is_image=False)
    if not media.frames:
        return Comparison(None, is_image=False)
    served = [v for v in PdqSignal.hash_working(0, working_copy(media.frames[0].image)) if v.variant == 0]
    known = session.scalars(
        select(Signal).where(Signal.item_id == item.id, Signal.signal_type == PdqSignal.name)
    ).all()
    best: int | None = None
    for s in served:
        if (s.quality or 0) < MIN_QUALITY:
            continue
        for k in known:
            if (k.quality or 0) >= MIN_QUALITY:
                d = (_bits(s.value) ^ _bits(k.value)).bit_count()
                best = d if best is None else min(best, d)
    if best is not None and best <= MATCH_THRESHOLD:
        return Comparison("pdq", best)
    if item.stored and vault.has(item.sha256):
        frame = first_frame(vault.get(item.sha256))
        query = features_of_bytes(data)
        if frame is not None and query is not None:
            v = verify(query, known_features(frame))
            if v.verified:
                return Comparison("robust", v.inliers)
    return Comparison(None, best)


# --- the WARC ----------------------------------------------------------------------------------------------


def write_warc(exchanges: Iterable[Exchange]) -> bytes:
    """One gzipped WARC: a warcinfo record, then per exchange a request and a response record."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    info = {
        "software": f"reclaim {__version__}",
        "format": "WARC File Format 1.1",
        "description": "removal check",
    }
    writer.write_record(writer.create_warcinfo_record("removal-check.warc.gz", info))
    for ex in exchanges:
        date = ex.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = urlsplit(ex.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        req_headers = StatusAndHeaders(f"GET {target} HTTP/1.1", ex.request_headers, is_http_request=True)
        writer.write_record(
            writer.create_warc_record(
                ex.url, "request", http_headers=req_headers, warc_headers_dict={"WARC-Date": date}
            )
        )
        if ex.status is None:
            continue
        headers = StatusAndHeaders(f"{ex.status} {ex.reason}".strip(), ex.headers, protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                ex.url,
                "response",
                payload=io.BytesIO(ex.body),
                length=len(ex.body),
                http_headers=headers,
                warc_headers_dict={
                    "WARC-Date": date,
                    **({"WARC-Truncated": "length"} if ex.truncated else {}),
                },
            )
        )
    return buf.getvalue()


# --- checking a notice -------------------------------------------------------------------------------------


@dataclass
class UrlCheck:
    url: str
    sighting_id: int
    http_status: int | None
    outcome: Outcome
    matched_by: MatchedBy | None = None
    distance: int | None = None
    image_url: str | None = None
    """The image that matched (the URL itself, or an image of the page)."""
    warc_sha256: str | None = None
    error: str | None = None
    event_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class NoticeCheck:
    notice_id: str
    platform: str
    checked_at: datetime
    urls: list[UrlCheck] = field(default_factory=list)
    outcome: Outcome = "error"
    status: str = ""
    """The notice's status after the check."""
    escalation: str | None = None
    """The escalation notice drafted (its id), if any."""
    escalation_skipped: str | None = None
    error: str | None = None
    """Why the notice could not be checked (e.g. it covers no web address)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "notice_id": self.notice_id,
            "platform": self.platform,
            "checked_at": self.checked_at.isoformat().replace("+00:00", "Z"),
            "outcome": self.outcome,
            "status": self.status,
            "escalation": self.escalation,
            "escalation_skipped": self.escalation_skipped,
            "error": self.error,
            "urls": [u.to_dict() for u in self.urls],
        }


def notice_urls(notice: Notice, sightings: Iterable[Sighting]) -> list[tuple[str, Sighting]]:
    """The (URL, sighting) pairs a notice covers, in sighting order, each URL once."""
    p = get_platform(notice.platform)
    out: list[tuple[str, Sighting]] = []
    seen: set[str] = set()
    for s in sorted(sightings, key=lambda s: s.id):
        for url in p.locations(s):
            if url not in seen and urlsplit(url).scheme in ("http", "https"):
                seen.add(url)
                out.append((url, s))
    return out


def _check_url(
    session: Session, vault: Vault, fetch: Fetcher, url: str, item: Item
) -> tuple[UrlCheck, bytes]:
    exchanges = fetch(url)
    final = exchanges[-1]
    check = UrlCheck(url=url, sighting_id=0, http_status=final.status, outcome="error", error=final.error)
    if final.error is None and final.status is not None:
        if final.status in REMOVED_STATUSES:
            check.outcome = "removed"
        elif 200 <= final.status < 300:
            _judge_served(session, vault, fetch, item, final, exchanges, check)
        else:
            check.error = f"HTTP {final.status} {final.reason}".strip()
    return check, write_warc(exchanges)


def _judge_served(
    session: Session,
    vault: Vault,
    fetch: Fetcher,
    item: Item,
    final: Exchange,
    exchanges: list[Exchange],
    check: UrlCheck,
) -> None:
    body = _decoded(final)
    if body is None:
        check.error = "the response's content encoding could not be read (or unpacks to over the cap)"
        return
    if final.content_type in ("text/html", "application/xhtml+xml"):
        images, failed = page_images(body, final.url), 0
        for img in images:
            fetched = fetch(img)
            exchanges.extend(fetched)
            last = fetched[-1]
            data = _decoded(last)
            if last.error is None and last.status is not None and 200 <= last.status < 300 and data:
                c = compare_image(session, vault, item, data)
                if c.matched_by is not None:
                    check.outcome, check.matched_by, check.distance, check.image_url = (
                        "still_up", c.matched_by, c.distance, img,
                    )  # fmt: skip
                    return
            elif last.status not in REMOVED_STATUSES:
                failed += 1
        if not images:  # a page drawn by scripts shows nothing to a plain client: no verdict
            check.error = (
                "the page shows no image to a plain HTTP client (it may need a browser): check it by hand"
            )
        elif failed:
            check.error = f"{failed} of the page's {len(images)} images could not be fetched"
        else:
            check.outcome = "removed"  # the page no longer serves the image
        return
    c = compare_image(session, vault, item, body)
    if c.matched_by is not None:
        check.outcome, check.matched_by, check.distance = "still_up", c.matched_by, c.distance
        check.image_url = final.url
    elif c.is_image:
        check.outcome, check.distance = "changed", c.distance
    else:
        kind = final.content_type or "no content type"
        check.error = f"the address serves neither a page nor an image ({kind})"


def _notice_outcome(checks: list[UrlCheck]) -> Outcome:
    outcomes = {c.outcome for c in checks}
    if "still_up" in outcomes:
        return "still_up"
    if "changed" in outcomes:
        return "changed"
    if outcomes == {"removed"}:
        return "removed"
    return "error"


def check_notice(
    session: Session,
    vault: Vault,
    notice_id: str,
    *,
    fetch: Fetcher,
    now: datetime | None = None,
    escalate: bool = True,
) -> NoticeCheck:
    """Check every URL the notice covers (see the module rules). Logs one ``takedown.checked`` event per
    URL, changes the status, drafts an escalation; the caller commits."""
    notice = get_notice(session, notice_id)
    now = now or utcnow()
    sightings = session.scalars(
        select(Sighting)
        .where(Sighting.id.in_([ns.sighting_id for ns in notice.sightings]))
        .options(selectinload(Sighting.item))
    ).all()
    pairs = notice_urls(notice, sightings)
    if not pairs:
        raise UserError(f"notice {notice.id} covers no web address to check")
    result = NoticeCheck(notice.id, notice.platform, now)
    for url, sighting in pairs:
        if sighting.item is None:
            continue
        check, warc = _check_url(session, vault, fetch, url, sighting.item)
        check.sighting_id = sighting.id
        check.warc_sha256 = vault.put(warc)
        event = log_event(
            session,
            EventKind.TAKEDOWN_CHECKED,
            subject=subject("notice", notice.id),
            detail={
                "notice_id": notice.id,
                "person_id": notice.person_id,
                "platform": notice.platform,
                "sighting_id": sighting.id,
                "item_id": sighting.item_id,
                "url": url,
                "http_status": check.http_status,
                "outcome": check.outcome,
                "matched_by": check.matched_by,
                "distance": check.distance,
                "image_url": check.image_url,
                "error": check.error,
                "warc_sha256": check.warc_sha256,
                "warc_bytes": len(warc),
                "user_agent": USER_AGENT,
            },
        )
        check.event_id = event.id
        result.urls.append(check)
    result.outcome = _notice_outcome(result.urls)
    _follow(session, notice, result, now, escalate)
    result.status = notice.status
    return result


def _follow(session: Session, notice: Notice, result: NoticeCheck, now: datetime, escalate: bool) -> None:
    if result.outcome == "removed" and "removed" in TRANSITIONS[notice.status]:
        set_status(session, notice_id=notice.id, status="removed", at=now, reason="check")
        return
    if result.outcome != "still_up" or notice.due_at is None or notice.due_at >= now:
        return
    if notice.status in ("sent", "acknowledged"):
        set_status(session, notice_id=notice.id, status="overdue", at=now, reason="check")
    if escalate:
        result.escalation, result.escalation_skipped = escalate_notice(session, notice)


def escalate_notice(session: Session, notice: Notice) -> tuple[str | None, str | None]:
    """Draft the notice's escalation to its platform's next route, citing it: (notice id, None), or
    (None, why not)."""
    nxt = get_platform(notice.platform).escalation
    if nxt is None:
        return None, f"{notice.platform} states no route to escalate to"
    earlier = session.scalars(
        select(Notice).where(Notice.parent_id == notice.id, Notice.platform == nxt)
    ).first()
    if earlier is not None:
        return None, f"already escalated to {nxt} (notice {earlier.id})"
    lang: LangChoice = notice.lang if notice.lang in ("en", "ko", "both") else "both"  # type: ignore[assignment]
    try:
        drafted = draft_notices(
            session, person_id=notice.person_id, platform=nxt, lang=lang, contact=notice_contact(notice),
            cites=notice,
        )  # fmt: skip
    except UserError as exc:
        return None, str(exc)
    if not drafted.notices:
        return None, "; ".join(drafted.skipped.values()) or f"nothing to draft to {nxt}"
    return drafted.notices[0].id, None


def notice_contact(notice: Notice) -> str | None:
    for values in (notice.fields or {}).values():
        if isinstance(values, dict) and str(values.get("contact") or "").strip():
            return str(values["contact"])
    return None


def check_notices(
    session: Session,
    vault: Vault,
    *,
    notice_id: str | None = None,
    overdue: bool = False,
    fetch: Fetcher | None = None,
    now: datetime | None = None,
) -> list[NoticeCheck]:
    """Check one notice, or (``overdue``) every notice past its platform's stated time, committing after
    each notice. A notice that cannot be checked (no web address) is reported and the others go on.
    Without ``fetch``, an :class:`HttpFetcher` is opened for the run."""
    if (notice_id is None) == (not overdue):
        raise UserError("name a notice or give --overdue")
    ids = (
        [notice_id]
        if notice_id is not None
        else [n.id for n in list_notices(session, overdue_only=True, now=now)]
    )
    client = None
    if fetch is None:
        fetch = client = HttpFetcher()
    out = []
    try:
        for nid in ids:
            try:
                out.append(check_notice(session, vault, nid, fetch=fetch, now=now))
            except UserError as exc:
                if notice_id is not None:
                    raise
                n = get_notice(session, nid)
                out.append(NoticeCheck(n.id, n.platform, now or utcnow(), status=n.status, error=str(exc)))
            session.commit()
    finally:
        if client is not None:
            client.close()
    return out


def latest_checks(session: Session, notice_id: str) -> list[dict[str, Any]]:
    """The latest check of each URL of the notice, from the custody log (``takedown.checked``), in the
    order the URLs were first checked: the event's detail plus ``at`` and ``event_id``."""
    latest: dict[str, dict[str, Any]] = {}
    for ev in session.scalars(
        select(Event)
        .where(Event.kind == EventKind.TAKEDOWN_CHECKED, Event.subject == subject("notice", notice_id))
        .order_by(Event.id)
    ):
        detail = ev.detail or {}
        latest[str(detail.get("url"))] = {**detail, "at": ev.at, "event_id": ev.id}
    return list(latest.values())
