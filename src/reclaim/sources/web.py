"""Where a picture was seen on the web: the one shape every web sighting has.

Two paths produce web sightings: ``reclaim capture URL`` (a page loaded by reclaim's own headless browser)
and the web-archive source (a WARC or WACZ written by another tool: wget, warcio, ArchiveWeb.page,
Browsertrix). Both call :func:`web_sighting`, so a picture reads the same whichever way it came in.

A web sighting has ``source = "web"``. The URL of the image and of the page it sat on, the time of capture,
the HTTP status and the archive that holds the response live in ``extra`` under the keys below; the alt or
caption text is the sighting's ``caption``. Every one of these strings came from a web server or a page an
attacker may have written: they are stored through :func:`reclaim.text.storable` like a Telegram caption.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from reclaim.sources.base import SightingInfo

WEB_SOURCE = "web"
"""``SightingInfo.source`` of every web sighting."""

URL = "url"
"""``extra`` key: the URL the image was served from (after redirects, as recorded)."""
PAGE_URL = "page_url"
"""``extra`` key: the page the image appeared on, when known (a capture, a WARC's referer or page record)."""
CAPTURED_AT = "captured_at"
"""``extra`` key: when the response was recorded, ISO 8601 UTC (``2026-12-04T21:15:03Z``)."""
HTTP_STATUS = "http_status"
"""``extra`` key: the HTTP status of the image response, as text (``"200"``)."""
ARCHIVE = "archive"
"""``extra`` key: the file name of the WARC/WACZ that holds the response, when there is one."""
ARCHIVE_SHA256 = "archive_sha256"
"""``extra`` key: the SHA-256 of that archive file, naming exactly which archive it came from."""

WEB_EXTRA_KEYS = (URL, PAGE_URL, CAPTURED_AT, HTTP_STATUS, ARCHIVE, ARCHIVE_SHA256)

MAX_URL = 8192
"""URLs longer than this are cut (and the cut is marked): a hostile page can write megabyte URLs."""


def _one_line(text: str, limit: int = MAX_URL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def iso_utc(at: datetime) -> str:
    """``at`` as ISO 8601 UTC with a ``Z`` (a naive datetime is taken to be UTC already)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def web_sighting(
    *,
    url: str,
    page_url: str | None,
    captured_at: datetime,
    http_status: int | None,
    alt: str | None = None,
    archive: str | None = None,
    archive_sha256: str | None = None,
) -> SightingInfo:
    """The sighting of one image response seen on the web.

    The key is stable for the same (page, image URL, capture time), so rescanning the same archive adds
    nothing, while a second capture of the same page at another time is a second sighting (that is the
    point of capturing again: the picture was still there then)."""
    extra: dict[str, str] = {URL: _one_line(url), CAPTURED_AT: iso_utc(captured_at)}
    if page_url:
        extra[PAGE_URL] = _one_line(page_url)
    if http_status is not None:
        extra[HTTP_STATUS] = str(int(http_status))
    if archive:
        extra[ARCHIVE] = _one_line(archive, 1024)
    if archive_sha256:
        extra[ARCHIVE_SHA256] = archive_sha256
    digest = hashlib.sha256("\x00".join([page_url or "", url, extra[CAPTURED_AT]]).encode("utf-8", "replace"))
    return SightingInfo(
        source=WEB_SOURCE,
        key=f"web|{digest.hexdigest()}",
        path=None,
        caption=alt or None,
        media_type="photo",
        extra=extra,
    )
