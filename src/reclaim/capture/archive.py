"""Write what a page load recorded as a WARC (warcio) and pack it as a WACZ (the ``wacz`` package).

Each exchange becomes a ``request`` and a ``response`` record (WARC-Date, WARC-Target-URI, payload and
block digests, WARC-Concurrent-To linking the two), after a ``warcinfo`` record naming reclaim. The browser
hands out bodies already decoded (gzip, brotli): their ``Content-Encoding`` and ``Transfer-Encoding``
headers are kept as ``X-Archive-Orig-…`` and ``Content-Length`` is the length of the body recorded, as
archiving crawlers do, so that pywb and ReplayWeb.page replay them.

warcio and wacz are imported inside the functions: they are the optional extra ``reclaim[capture]``.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from reclaim import __version__
from reclaim.capture.browser import Exchange, PageRecord
from reclaim.errors import DependencyError
from reclaim.sources.web import iso_utc

_RENAMED = {"content-encoding", "transfer-encoding", "content-length"}


def _http_date(record: Exchange) -> str:
    return record.at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{record.at.microsecond // 1000:03d}Z"


def write_warc(path: Path, pages: Sequence[PageRecord]) -> int:
    """Write every exchange of ``pages`` into a gzipped WARC at ``path``; returns the number of records."""
    try:  # optional extra (reclaim[capture])
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.warcwriter import WARCWriter
    except ImportError as exc:
        raise DependencyError(f"capture needs warcio: pip install 'reclaim[capture]' ({exc})") from exc

    count = 0
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="1.1")  # 1.1: WARC-Date with fractions
        info = writer.create_warcinfo_record(
            path.name,
            {
                "software": f"reclaim {__version__} (headless Chromium via Playwright)",
                "format": "WARC File Format 1.1",
            },
        )
        writer.write_record(info)
        count += 1
        for page in pages:
            for ex in page.exchanges:
                date = _http_date(ex)
                parts = urlsplit(ex.url)
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                req_headers = StatusAndHeaders(
                    f"{ex.method} {target} HTTP/1.1",
                    [(k, v) for k, v in ex.request_headers if not k.startswith(":")],
                    protocol="HTTP/1.1",
                    is_http_request=True,
                )
                headers: list[tuple[str, str]] = []
                for k, v in ex.headers:
                    if k.startswith(":"):
                        continue
                    headers.append((f"X-Archive-Orig-{k}", v) if k.lower() in _RENAMED else (k, v))
                headers.append(("Content-Length", str(len(ex.body))))
                resp_headers = StatusAndHeaders(
                    f"{ex.status} {ex.status_text}".strip(), headers, protocol="HTTP/1.1"
                )
                warc_headers = {"WARC-Date": date}
                response = writer.create_warc_record(
                    ex.url,
                    "response",
                    payload=io.BytesIO(ex.body),
                    length=len(ex.body),
                    http_headers=resp_headers,
                    warc_headers_dict=dict(warc_headers),
                )
                request = writer.create_warc_record(
                    ex.url,
                    "request",
                    payload=io.BytesIO(ex.request_body or b""),
                    length=len(ex.request_body or b""),
                    http_headers=req_headers,
                    warc_headers_dict={
                        **warc_headers,
                        "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
                    },
                )
                writer.write_record(response)
                writer.write_record(request)
                count += 2
    return count


def pages_jsonl(path: Path, pages: Sequence[PageRecord]) -> None:
    """The WACZ's ``pages/pages.jsonl``: one line per captured page (its final URL, time and title)."""
    lines = [{"format": "json-pages-1.0", "id": "pages", "title": "Pages captured by reclaim"}]
    for n, page in enumerate(pages, 1):
        ts = iso_utc(page.captured_at)
        lines.append({"id": f"page-{n}", "url": page.final_url, "ts": ts, "title": page.title or page.url})
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")


def write_wacz(wacz_path: Path, warc: Path, pages: Sequence[PageRecord]) -> None:
    """Pack ``warc`` as a WACZ at ``wacz_path``: the archive, its CDXJ index, ``pages/pages.jsonl`` and
    ``datapackage.json`` with the SHA-256 of every member."""
    try:  # optional extra (reclaim[capture])
        from wacz.main import main as wacz_main
    except ImportError as exc:
        raise DependencyError(f"capture needs wacz: pip install 'reclaim[capture]' ({exc})") from exc

    jsonl = warc.with_name("pages.jsonl")
    pages_jsonl(jsonl, pages)
    args = ["create", "-o", str(wacz_path), "-p", str(jsonl), "-c", "--hash-type", "sha256", str(warc)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = wacz_main(args)
    if code not in (0, None) or not wacz_path.exists():
        raise DependencyError(f"the wacz package could not pack the capture: {out.getvalue()[-500:]}")
