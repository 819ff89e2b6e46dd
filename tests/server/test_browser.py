"""The web UI in a real headless Chromium (Debian's chromium driven by Playwright, no downloaded browser):
log in, upload a sample export, review a match (reveal, confirm), switch to Korean, log out; and the
account page (end another session, change the password).

Screenshots of every step are kept as PNGs under the test's temporary folder (CI keeps them as artifacts);
the review queue's previews are checked blurred and grayscale from the rendered style, not the CSS file.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from reclaim.demo import build_sample_export
from reclaim.persons.service import add_person
from reclaim.server.app import create_app
from reclaim.server.auth import assign, create_user
from reclaim.server.jobs import install_jobs
from reclaim.server.settings import ServerSettings
from reclaim.store.models import Case, Event, Match, User

from .conftest import PASSWORD, SECRET

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TITLE = "Case Browser"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (CI installs Debian's chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
uvicorn = pytest.importorskip("uvicorn")


@dataclass
class Served:
    url: str
    app: Any
    case_id: str
    export_zip: Path
    shots: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The app served by uvicorn on 127.0.0.1 in a thread, with an enrolled person's case (SQLite; the
    HTTP-level tests cover both backends). Local mode: the browser talks plain HTTP to 127.0.0.1."""
    export = build_sample_export(tmp_path / "material" / "ChatExport_demo")
    export_zip = Path(
        shutil.make_archive(str(tmp_path / "ChatExport_demo"), "zip", export.root.parent, export.root.name)
    )
    settings = ServerSettings(
        workspace=tmp_path / "ws", passphrase="browser test passphrase", secret_key=SECRET, mode="local"
    )
    app = create_app(settings)
    install_jobs(app, workers=1)
    ws = app.state.workspace
    with ws.session() as s:
        person = add_person(
            s,
            ws.key,
            name="Demo Person",
            photos=export.enrol_photos,
            known_images=[export.known_image],
            consent="demo: public-domain sample portrait, no real victim",
            recorded_by="tests",
            vault=ws.vault,
            keep_photos=True,
        )
        user = create_user(s, username="advocate", password=PASSWORD, role="advocate")
        case = Case(title=TITLE, person_id=person.person_id, status="open")
        s.add(case)
        s.flush()
        assign(s, case, user)
        s.commit()
        case_id = case.id
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Served(f"http://127.0.0.1:{port}", app, case_id, export_zip, shots)
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def _count(app: Any, stmt: Any) -> int:
    with app.state.workspace.session() as s:
        return int(s.scalar(stmt) or 0)


def _filters(page: Any) -> list[str]:
    result: list[str] = page.eval_on_selector_all(
        "img.preview", "els => els.map(e => getComputedStyle(e).filter)"
    )
    return result


@pytest.mark.timeout(600)
def test_browser_login_upload_review_korean_logout(served: Served) -> None:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(30_000)
            _walk_through(page, served)
        finally:
            browser.close()
    shots = sorted(p.name for p in served.shots.glob("*.png"))
    assert shots == [
        "1-cases.png",
        "2-job.png",
        "3-review-blurred.png",
        "4-review-revealed.png",
        "5-review-confirmed.png",
        "6-korean.png",
        "7-logged-out.png",
    ]
    print(f"screenshots: {served.shots}")


def _walk_through(page: Any, served: Served) -> None:
    shot = served.shots
    # log in
    page.goto(f"{served.url}/")
    assert "/login" in page.url
    page.fill("#username", "advocate")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{served.url}/")
    page.screenshot(path=str(shot / "1-cases.png"), full_page=True)

    # upload a sample export (a zipped Telegram Desktop export) into the case and wait for its scan
    page.click(f"text={TITLE}")
    page.click("#open-upload")
    page.set_input_files("#files", str(served.export_zip))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/jobs/*")
    page.wait_for_selector("#job-done", timeout=300_000)  # the page polls every second, then reloads
    page.screenshot(path=str(shot / "2-job.png"), full_page=True)

    # the review queue: every preview blurred and grayscale as rendered
    page.click("#to-review")
    page.wait_for_selector("article.card img.preview")
    page.wait_for_function(
        # A function, not an expression: Playwright compiles an expression with eval when it has to poll,
        # which the page's CSP (script-src 'self') refuses; a function is passed without eval.
        "() => Array.from(document.querySelectorAll('img.preview'))"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    filters = _filters(page)
    assert filters, "the queue shows previews"
    assert all("blur(" in f and "grayscale(1)" in f for f in filters), filters
    page.screenshot(path=str(shot / "3-review-blurred.png"), full_page=True)

    # reveal the current (first) match with the keyboard: one image, audited
    revealed_before = _count(served.app, select(func.count()).where(Event.kind == "media.revealed"))
    assert revealed_before == 0
    first = page.locator("article.card").first
    assert "current" in (first.get_attribute("class") or "")
    page.keyboard.press("v")
    page.wait_for_selector("article.card.current img.preview.revealed")
    assert first.locator("img.preview").evaluate("e => getComputedStyle(e).filter") == "none"
    others = _filters(page)[1:]
    assert all("blur(" in f and "grayscale(1)" in f for f in others), "only the chosen image is revealed"
    assert _count(served.app, select(func.count()).where(Event.kind == "media.revealed")) == 1
    page.screenshot(path=str(shot / "4-review-revealed.png"), full_page=True)

    # confirm it with the keyboard
    match_id = first.get_attribute("data-match")
    page.keyboard.press("c")
    page.wait_for_selector("#notice")
    with served.app.state.workspace.session() as s:
        match = s.get(Match, match_id)
        assert match is not None and match.status == "confirmed"
        event = s.scalar(select(Event).where(Event.kind == "match.confirmed"))
        assert event is not None and event.actor == "user:advocate"
    assert page.locator(f"#m-{match_id}").count() == 0, "the confirmed match left the queue"
    filters = _filters(page)
    assert all("blur(" in f and "grayscale(1)" in f for f in filters), "after reloading, blurred again"
    page.screenshot(path=str(shot / "5-review-confirmed.png"), full_page=True)

    # switch to Korean
    page.click("button[data-lang=ko]")
    page.wait_for_function("() => document.documentElement.lang === 'ko'")
    assert page.locator("h1").inner_text() == "검토 대기열"
    with served.app.state.workspace.session() as s:
        user = s.scalar(select(User).where(User.username == "advocate"))
        assert user is not None and user.lang == "ko"
    page.screenshot(path=str(shot / "6-korean.png"), full_page=True)

    # log out
    page.click("#logout")
    page.wait_for_url("**/login?out=1")
    assert page.locator("h1").inner_text() == "로그인"
    page.screenshot(path=str(shot / "7-logged-out.png"), full_page=True)
    page.goto(f"{served.url}/")
    assert "/login" in page.url, "signed out: the case list needs a sign-in again"


@pytest.mark.timeout(300)
def test_browser_account_page_ends_another_session_and_changes_the_password(served: Served) -> None:
    """Two browsers signed in as the same user: the first sees both sessions at /account, ends the other
    one (which is sent to the sign-in page on its next click), then changes the password."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            here, there = (browser.new_context().new_page() for _ in range(2))
            for page in (here, there):
                page.set_default_timeout(30_000)
                page.goto(f"{served.url}/login")
                page.fill("#username", "advocate")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit].primary")
                page.wait_for_url(f"{served.url}/")
            here.click("#account-link")
            here.wait_for_url("**/account")
            rows = here.locator("#sessions tbody tr")
            assert rows.count() == 2
            assert here.locator("#sessions .badge").count() == 1, "one row is this session"
            here.screenshot(path=str(served.shots / "account-two-sessions.png"), full_page=True)
            other = here.locator("#sessions tbody tr", has_not=here.locator(".badge"))
            other.locator("button[type=submit]").click()
            here.wait_for_url("**/account?done=ended")
            assert here.locator("#sessions tbody tr").count() == 1
            there.goto(f"{served.url}/")
            assert "/login" in there.url, "the ended session is signed out"

            here.fill("#current_password", PASSWORD)
            here.fill("#new_password", "a brand new password")
            here.fill("#confirm_password", "a brand new password")
            here.click("#password-form button[type=submit]")
            here.wait_for_url("**/account?done=password")
            assert here.locator("p.notice").inner_text() == "Password changed."
            here.screenshot(path=str(served.shots / "account-password-changed.png"), full_page=True)
        finally:
            browser.close()
    with served.app.state.workspace.session() as s:
        kinds = list(s.scalars(select(Event.kind).order_by(Event.id)))
    assert kinds[-2:] == ["session.ended", "user.password_changed"]
