"""``reclaim capture URL...``: archive web pages (WARC in a WACZ, screenshot, DOM) and scan their images."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from reclaim.cli.common import JsonOption, emit, open_workspace, say, warn


def capture(
    urls: Annotated[list[str], typer.Argument(help="http:// or https:// URLs of the pages to capture.")],
    person: Annotated[
        str | None, typer.Option("--person", help="The person this capture is for (recorded in the log).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note kept with the capture's event.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Capture web pages as evidence: a headless Chromium loads each page and scrolls it; every request and
    response goes into a WARC packed as a WACZ (replayable in ReplayWeb.page or pywb), with a full-page
    screenshot, the DOM, the final URL, status, headers and TLS certificate. All are kept encrypted in the
    workspace; every image on the page is scanned and matched like any scan, and each page's capture is a
    custody event naming its WACZ's SHA-256.

    This contacts the network: each URL given and everything its page loads (images, scripts, styles).
    Only http and https URLs are accepted. Needs Debian's chromium and the extra reclaim[capture].

    Example:
        reclaim capture https://example.org/post/123 --person 3f2a9c --note "reported by a friend" --json
    """
    from reclaim.capture import capture_urls
    from reclaim.takedown.reupload import ReuploadCheck

    with open_workspace() as ws:
        report = capture_urls(ws, urls, person_id=person, note=note, checks=[ReuploadCheck()])
    emit(report.to_dict(), as_json, _render_capture)


def _render_capture(r: dict[str, Any]) -> None:
    for page in r["pages"]:
        say(
            f"{page['final_url']}: HTTP {page['status']}, {len(page['images'])} image(s), "
            f"WACZ {page['wacz_sha256'][:16]}… ({page['warc_records']} WARC records), "
            f"event {page['event_id']}"
        )
    scan = r["scan"]
    if scan:
        say(
            f"{scan['items']} item(s) ({scan['new_items']} new), {scan['face_matches']} face match(es), "
            f"{scan['hash_matches']} hash match(es)."
        )
    for e in r["errors"]:
        warn(f"  {e['url']}: {e['error']}")
