"""The spread network page and the cross-case view in a real headless Chromium (Debian's chromium driven by
Playwright, as in test_browser.py): the graph draws the case's nodes (cytoscape.js served from the app,
nothing from elsewhere: every request is recorded and must go to 127.0.0.1), a hostile sender name shows as
text in the node's details and on the admin page, a cluster's preview is the blurred /preview thumbnail
(no reveal), the CSP reports no violation, and advocates get 403 on the cross-case page.

Screenshots are kept as PNGs under the test's temporary folder.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from reclaim.spread import case_network

from .conftest import PASSWORD
from .test_browser import CHROMIUM, CHROMIUM_ARGS
from .test_network_views import HOSTILE, NetWorld, build_world

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
uvicorn = pytest.importorskip("uvicorn")


@dataclass
class Served:
    url: str
    world: NetWorld
    expected_nodes: int
    expected_edges: int
    shots: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("netbrowser")
    world = build_world(root, mode="local")
    with world.ws.session() as s:
        net = case_network(s, world.case_a)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    shots = root / "screenshots"
    shots.mkdir()
    try:
        yield Served(f"http://127.0.0.1:{port}", world, len(net.nodes), len(net.edges), shots)
    finally:
        server.should_exit = True
        thread.join(timeout=60)


class Recorder:
    """Every request the page makes, and every console message about the CSP."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        self.csp: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("console", lambda m: self.csp.append(m.text) if "Content Security Policy" in m.text else None)

    def hosts(self) -> set[str]:
        return {urlsplit(u).hostname or "" for u in self.urls if not u.startswith(("data:", "blob:"))}


def _login(page: Any, served: Served, who: str) -> None:
    page.goto(f"{served.url}/login")
    page.fill("#username", who)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{served.url}/")


def tap(page: Any, node_id: str) -> None:
    """Tap a node of the graph. The function returns nothing on purpose: ``emit`` returns the cytoscape
    collection, and Playwright serialises whatever an evaluation returns; that object graph took the page's
    JavaScript heap past 2 GB and crashed the renderer."""
    page.evaluate("(id) => { window.reclaimCy.getElementById(id).emit('tap'); }", node_id)


def _browser(pw: Any) -> Any:
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.mark.timeout(300)
def test_network_page_draws_the_graph_locally_with_text_details(served: Served) -> None:
    case = served.world.case_a
    with sync_api.sync_playwright() as pw:
        browser = _browser(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.set_default_timeout(30_000)
            rec = Recorder(page)
            _login(page, served, "viewer")
            page.goto(f"{served.url}/cases/{case}")
            page.click("#open-network")
            page.wait_for_selector('#spread[data-ready="true"]')
            assert page.evaluate("window.reclaimCy.nodes().length") == served.expected_nodes
            assert page.evaluate("window.reclaimCy.edges().length") == served.expected_edges
            assert page.get_attribute("#spread", "data-nodes") == str(served.expected_nodes)
            bars = page.eval_on_selector_all("#timeline-chart rect", "els => els.length")
            assert bars == int(page.get_attribute("#timeline-chart", "data-points") or 0) > 0
            page.screenshot(path=str(served.shots / "1-network.png"), full_page=True)

            # the hostile sender: its name is text in the details, no element is made of it
            tap(page, "sender:user666")
            assert page.text_content("#node-label") == HOSTILE
            assert HOSTILE in (page.text_content("#node-facts") or "")
            assert page.evaluate("document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
            assert page.evaluate("document.querySelectorAll('#node-details *').length") > 0
            page.screenshot(path=str(served.shots / "2-hostile-details.png"), full_page=True)

            # a cluster: no picture until asked, then only the blurred preview
            cluster = page.evaluate("window.reclaimCy.nodes('[kind = \"cluster\"]')[0].id()")
            tap(page, cluster)
            assert page.eval_on_selector_all("img", "els => els.length") == 0
            page.click("#show-preview")
            page.wait_for_selector("#node-details img.preview")
            deadline = time.monotonic() + 30  # wait_for_function evaluates a string: the CSP forbids that
            while not page.evaluate("document.querySelector('#node-details img.preview').naturalWidth > 0"):
                assert time.monotonic() < deadline, "the preview did not load"
                time.sleep(0.1)
            src = page.get_attribute("#node-details img.preview", "src") or ""
            assert src.startswith(f"/cases/{case}/items/") and src.endswith("/preview")
            srcs = page.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('src'))")
            assert srcs and all(s.endswith("/preview") for s in srcs), srcs
            style = page.eval_on_selector("#node-details img.preview", "e => getComputedStyle(e).filter")
            assert "blur" in style and "grayscale" in style
            page.screenshot(path=str(served.shots / "3-cluster-preview.png"), full_page=True)
        finally:
            browser.close()
    assert rec.hosts() == {"127.0.0.1"}, rec.urls
    assert not [u for u in rec.urls if "/reveal" in u or "/media" in u]
    assert any(u.endswith("/static/vendor/cytoscape.min.js") for u in rec.urls)
    assert rec.csp == []


@pytest.mark.timeout(300)
def test_cross_case_page_in_the_browser(served: Served) -> None:
    with sync_api.sync_playwright() as pw:
        browser = _browser(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            rec = Recorder(page)
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            _login(page, served, "admin")
            page.click("#shared-actors-link")
            page.wait_for_selector("#shared-actors")
            row = page.locator('tr[data-actor="sender:user666"]')
            assert row.locator(".aliases li").all_text_contents() == [HOSTILE]
            cases = row.locator(".cases li").all_text_contents()
            both = {served.world.case_a, served.world.case_b}
            assert len(cases) == 2 and both <= set(" ".join(cases).split())
            assert page.evaluate("document.querySelectorAll('img').length") == 0
            page.screenshot(path=str(served.shots / "4-shared-actors.png"), full_page=True)
            page.context.clear_cookies()
            _login(page, served, "advocate")
            assert page.goto(f"{served.url}/admin/shared-actors").status == 403
            assert page.locator("#shared-actors-link").count() == 0
        finally:
            browser.close()
    assert rec.hosts() == {"127.0.0.1"} and rec.csp == []
    assert dialogs == [], "no script ran from a name"
