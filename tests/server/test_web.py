"""The web UI through the ASGI client: pages per role, CSRF on every form, blurred previews, the audited
reveal, review, upload, and a Korean UI with no English left (both database backends). The catalogue
test checks every key has both languages and every template string goes through it."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select

from reclaim.demo import jpeg, paste_face
from reclaim.demo import sample_picture as _sk
from reclaim.lang import LANGS
from reclaim.server import accounts_web, web
from reclaim.server.auth import assign
from reclaim.server.deps import CSRF_FIELD, CSRF_HEADER
from reclaim.server.i18n import KEY_PATTERN, MESSAGES, placeholders, translate
from reclaim.server.jobs import install_jobs, jobs_for
from reclaim.store.models import (
    Case,
    Cluster,
    Consent,
    Event,
    Item,
    Match,
    Person,
    Scan,
    Sighting,
    User,
    new_id,
)
from reclaim.workspace import Workspace

from .conftest import PASSWORD, Account

pytestmark = pytest.mark.anyio

TEMPLATES = Path(web.__file__).parent / "templates"
TITLE = "Case Alpha"
PERSON = "Demo Person"
CHAT = "Room A"


# --- fixtures -------------------------------------------------------------------------------------------


class Seed:
    def __init__(self, case_id: str, stored: Match, hash_only: Match, original: bytes, sha: str) -> None:
        self.case_id = case_id
        self.match_id = stored.id
        self.hash_only_match_id = hash_only.id
        self.original = original
        self.sha = sha
        self.hash_only_sha = hash_only.item.sha256


@pytest.fixture
def seed(app: FastAPI, accounts: dict[str, Account]) -> Seed:
    """A case with an enrolled person (consent recorded), one stored matched image in a cluster and one
    hash-only match; the advocate and the viewer are assigned, advocate2 is not."""
    ws: Workspace = app.state.workspace
    original = jpeg(paste_face(_sk("coffee"), width=150, at=(0.5, 0.35)), 92)
    with ws.session() as s:
        person = Person(name=PERSON)
        s.add(person)
        s.flush()
        s.add(
            Consent(person_id=person.id, statement="consent given in person, 2025-11-20", recorded_by="tests")
        )
        cluster = Cluster()
        s.add(cluster)
        s.flush()
        sha = ws.vault.put(original)
        stored = Item(
            sha256=sha,
            md5=hashlib.md5(original).hexdigest(),
            size=len(original),
            mime="image/jpeg",
            kind="image",
            width=512,
            height=400,
            stored=True,
            cluster_id=cluster.id,
        )
        other = b"not kept: hash only"
        hashed = Item(
            sha256=hashlib.sha256(other).hexdigest(),
            md5=hashlib.md5(other).hexdigest(),
            size=len(other),
            mime="image/jpeg",
            kind="image",
            stored=False,
        )
        s.add_all([stored, hashed])
        case_id = new_id()
        scan = Scan(paths={"paths": ["upload"]}, status="finished", case_id=case_id)  # uploaded to the case
        s.add(scan)
        s.flush()
        for n, item in enumerate((stored, hashed)):
            s.add(
                Sighting(
                    dedupe_key=hashlib.sha256(f"seed{n}".encode()).hexdigest(),
                    item_id=item.id,
                    scan_id=scan.id,
                    source="telegram",
                    source_key=f"result.json#message {n + 2}",
                    chat_name=CHAT,
                    posted_at=datetime(2025, 11, 20, 0, n + 1, tzinfo=UTC),
                )
            )
        m1 = Match(person_id=person.id, item_id=stored.id, kind="face", distance=0.31)
        m2 = Match(person_id=person.id, item_id=hashed.id, kind="hash", distance=0.0)
        s.add_all([m1, m2])
        case = Case(id=case_id, title=TITLE, person_id=person.id, status="open")
        s.add(case)
        s.flush()
        for name in ("advocate", "viewer"):
            user = s.scalar(select(User).where(User.username == name))
            assert user is not None
            assign(s, case, user)
        s.commit()
        return Seed(case.id, m1, m2, original, sha)


async def form_login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form (as a new browser); returns the session's CSRF token for later forms."""
    client.cookies.clear()
    page = await client.get("/login")
    token = csrf_of(page.text)
    r = await client.post("/login", data={"username": username, "password": password, CSRF_FIELD: token})
    assert r.status_code == 303, r.text
    return csrf_of((await client.get("/")).text) if username != "platform" else token


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found, "every page carries the CSRF token"
    return found.group(1)


def events(app: FastAPI, kind: str) -> list[Event]:
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        return list(s.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


# --- sign-in ---------------------------------------------------------------------------------------------


async def test_login_form_csrf_errors_and_logout(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI
) -> None:
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    page = await client.get("/login")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    token = csrf_of(page.text)
    assert f'name="{CSRF_FIELD}" value="{token}"' in page.text
    creds = {"username": "advocate", "password": PASSWORD}
    assert (await client.post("/login", data=creds)).status_code == 403  # no CSRF field
    assert (await client.post("/login", data={**creds, CSRF_FIELD: "forged"})).status_code == 403
    bad = await client.post("/login", data={**creds, "password": "wrong password", CSRF_FIELD: token})
    assert bad.status_code == 401 and "Wrong username or password." in bad.text
    ok = await client.post("/login", data={**creds, CSRF_FIELD: token, "next": "https://evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/", "no open redirect"
    home = await client.get("/")
    assert home.status_code == 200 and "Signed in as advocate" in home.text
    fresh = csrf_of(home.text)
    assert fresh != token, "a new session (and CSRF token) at sign-in"
    assert (await client.post("/logout")).status_code == 403
    out = await client.post("/logout", data={CSRF_FIELD: fresh})
    assert out.status_code == 303 and out.headers["location"].startswith("/login")
    assert (await client.get("/")).status_code == 303


async def test_login_form_is_rate_limited(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI
) -> None:
    token = csrf_of((await client.get("/login")).text)
    wrong = {"username": "admin", "password": "wrong password", CSRF_FIELD: token}
    for _ in range(app.state.settings.login_attempts):
        assert (await client.post("/login", data=wrong)).status_code == 401
    r = await client.post("/login", data={**wrong, "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "Too many failed sign-ins" in r.text


# --- pages per role ---------------------------------------------------------------------------------------


async def test_pages_per_role(client: httpx.AsyncClient, seed: Seed, app: FastAPI) -> None:
    case = f"/cases/{seed.case_id}"
    await form_login(client, "admin")
    assert TITLE in (await client.get("/")).text
    assert (await client.get(case)).status_code == 200
    await client.post("/logout", data={CSRF_FIELD: csrf_of((await client.get("/")).text)})

    await form_login(client, "advocate2")
    listing = await client.get("/")
    assert listing.status_code == 200 and TITLE not in listing.text and "No case is assigned" in listing.text
    for path in (case, f"{case}/review", f"{case}/upload", f"{case}/items/{seed.sha}/preview", "/cases/nope"):
        r = await client.get(path)
        assert r.status_code == 404 and "Not found" in r.text, path
    await client.post("/logout", data={CSRF_FIELD: csrf_of(listing.text)})

    token = await form_login(client, "advocate")
    page = await client.get(case)
    assert page.status_code == 200
    for text in (PERSON, "consent given in person", CHAT, "Matches by cluster", "Open the review queue (2"):
        assert text in page.text, text
    assert 'id="open-upload"' in page.text
    review = await client.get(f"{case}/review")
    assert review.text.count('class="decide"') == 2 and 'data-action="confirm"' in review.text
    upload = await client.get(f"{case}/upload")
    assert upload.status_code == 200 and 'enctype="multipart/form-data"' in upload.text
    await client.post("/logout", data={CSRF_FIELD: token})

    token = await form_login(client, "viewer")
    page = await client.get(case)
    assert page.status_code == 200 and 'id="open-upload"' not in page.text
    review = await client.get(f"{case}/review")
    assert 'class="decide"' not in review.text and 'data-action="confirm"' not in review.text
    assert "read-only" in review.text and 'class="preview"' in review.text
    assert (await client.get(f"{case}/upload")).status_code == 403
    decide = {CSRF_FIELD: token, "decision": "confirmed"}
    r = await client.post(f"{case}/matches/{seed.match_id}/review", data=decide)
    assert r.status_code == 403
    # a viewer may look at one image (read access), and that reveal is audited like anyone's
    r = await client.post(f"{case}/items/{seed.sha}/reveal", headers={CSRF_HEADER: token})
    assert r.status_code == 200 and [e.actor for e in events(app, "media.revealed")] == ["user:viewer"]
    files = {"files": ("x.jpg", seed.original, "image/jpeg")}
    assert (await client.post(f"{case}/upload", data={CSRF_FIELD: token}, files=files)).status_code == 403
    await client.post("/logout", data={CSRF_FIELD: token})

    await form_login(client, "platform")
    for path in ("/", case, f"{case}/review", f"{case}/upload"):
        r = await client.get(path)
        assert r.status_code == 403 and "Not allowed" in r.text, path


# --- review, previews and the audited reveal -------------------------------------------------------------


async def test_preview_is_blurred_and_reveal_is_audited(
    client: httpx.AsyncClient, seed: Seed, app: FastAPI
) -> None:
    token = await form_login(client, "advocate")
    case = f"/cases/{seed.case_id}"
    review = await client.get(f"{case}/review")
    assert f"/items/{seed.sha}/preview" in review.text
    assert f"/items/{seed.hash_only_sha}/preview" not in review.text and "Media not stored" in review.text
    css = (await client.get("/static/app.css")).text
    assert re.search(r"img\.preview \{[^}]*filter: blur\(\d+px\) grayscale\(1\)", css)

    preview = await client.get(f"{case}/items/{seed.sha}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert preview.headers["cache-control"] == "no-store"
    assert preview.content != seed.original
    with Image.open(io.BytesIO(preview.content)) as img:
        assert img.mode == "L", "the preview is grayscale on the server already"
        assert max(img.size) <= 480
    assert (await client.get(f"{case}/items/{seed.hash_only_sha}/preview")).status_code == 404
    assert events(app, "media.revealed") == [], "a blurred preview is not a reveal"

    reveal = f"{case}/items/{seed.sha}/reveal"
    assert (await client.get(reveal)).status_code == 405, "revealing takes a POST"
    assert (await client.post(reveal)).status_code == 403, "and the CSRF token"
    assert events(app, "media.revealed") == []
    r = await client.post(reveal, headers={CSRF_HEADER: token})
    assert r.status_code == 200 and r.content == seed.original and r.headers["cache-control"] == "no-store"
    [event] = events(app, "media.revealed")
    assert event.actor == "user:advocate"
    assert event.detail == {"case_id": seed.case_id, "sha256": seed.sha}
    assert (
        await client.post(f"{case}/items/{seed.hash_only_sha}/reveal", headers={CSRF_HEADER: token})
    ).status_code == 404
    assert len(events(app, "media.revealed")) == 1


async def test_review_confirm_and_reject(client: httpx.AsyncClient, seed: Seed, app: FastAPI) -> None:
    token = await form_login(client, "advocate")
    case = f"/cases/{seed.case_id}"
    url = f"{case}/matches/{seed.match_id}/review"
    assert (await client.post(url, data={"decision": "confirmed"})).status_code == 403
    assert events(app, "match.confirmed") == []
    r = await client.post(url, data={CSRF_FIELD: token, "decision": "confirmed", "note": "her face, checked"})
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{case}/review?status=candidate&done=confirmed&n=1")
    [event] = events(app, "match.confirmed")
    assert event.actor == "user:advocate" and event.detail and event.detail["note"] == "her face, checked"
    after = await client.get(r.headers["location"])
    assert "Confirmed: 1 match(es) changed." in after.text
    assert after.text.count('class="card"') == 1, "the confirmed match left the queue of candidates"
    confirmed = await client.get(f"{case}/review?status=confirmed")
    assert seed.match_id in confirmed.text
    r = await client.post(
        f"{case}/matches/{seed.hash_only_match_id}/review", data={CSRF_FIELD: token, "decision": "rejected"}
    )
    assert r.status_code == 303 and len(events(app, "match.rejected")) == 1
    assert "Nothing left to review" in (await client.get(f"{case}/review")).text
    bad = await client.post(url, data={CSRF_FIELD: token, "decision": "maybe"})
    assert bad.status_code == 422
    assert (
        await client.post(f"{case}/matches/nope/review", data={CSRF_FIELD: token, "decision": "rejected"})
    ).status_code == 404


# --- upload ----------------------------------------------------------------------------------------------


async def test_upload_runs_a_scan_job(client: httpx.AsyncClient, seed: Seed, app: FastAPI) -> None:
    install_jobs(app, workers=1)
    token = await form_login(client, "advocate")
    case = f"/cases/{seed.case_id}"
    empty = await client.post(f"{case}/upload", data={CSRF_FIELD: token})
    assert empty.status_code == 422 and "Choose at least one file." in empty.text
    files = {"files": ("scene.jpg", jpeg(Image.fromarray(_sk("horse"))), "image/jpeg")}
    assert (await client.post(f"{case}/upload", files=files)).status_code == 403, "no CSRF token"
    r = await client.post(f"{case}/upload", data={CSRF_FIELD: token}, files=files)
    assert r.status_code == 303 and r.headers["location"].startswith(f"{case}/jobs/")
    job_url = r.headers["location"]
    try:
        assert jobs_for(app).wait(timeout=120)
    finally:
        jobs_for(app).shutdown()
    progress = (await client.get(f"{job_url}/progress")).json()
    assert progress["status"] == "finished" and progress["final"] and progress["text"] == "1 of 1 files"
    page = await client.get(job_url)
    assert "The scan has finished." in page.text and "data-poll" not in page.text
    assert "Uploads" in (await client.get(case)).text
    await form_login(client, "advocate2")
    assert (await client.get(job_url)).status_code == 404


# --- Korean ----------------------------------------------------------------------------------------------


class _Text(HTMLParser):
    """Visible text and the attributes people read (alt, title, aria-label, placeholder, data-*-text),
    leaving out <code>, <kbd>, <script> and <style>."""

    SKIP = frozenset({"code", "kbd", "script", "style"})
    READ = ("alt", "title", "aria-label", "placeholder")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        for name, value in attrs:
            if value and (name in self.READ or (name.startswith("data-") and name.endswith("-text"))):
                self.parts.append(value)
            if value and name.startswith("data-alt"):
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


# Proper nouns, technical names and the test's own data (user names, the case title, the chat).
ALLOWED_LATIN = {"reclaim", "English", "ZIP", "result", "json", "C2PA", "AI", "ID", "UTC"}
DATA = {"advocate", "viewer", "admin", "Case", "Alpha", "Demo", "Person", "Room", "A", "tests"}
DATA |= {"consent", "given", "in", "person"}  # the recorded consent statement, shown as recorded


def english_left(html: str) -> set[str]:
    parser = _Text()
    parser.feed(html)
    words = set(re.findall(r"[A-Za-z][A-Za-z'-]*", " ".join(parser.parts)))
    return words - ALLOWED_LATIN - DATA


async def test_korean_ui_has_no_english_left(client: httpx.AsyncClient, seed: Seed, app: FastAPI) -> None:
    install_jobs(app, workers=1)
    token = await form_login(client, "advocate")
    case = f"/cases/{seed.case_id}"
    assert {"Review", "queue", "Confirm"} <= english_left((await client.get(f"{case}/review")).text), (
        "the check sees"
    )
    assert (await client.post("/lang", data={"lang": "ko", "next": case})).status_code == 403, "CSRF"
    r = await client.post("/lang", data={CSRF_FIELD: token, "lang": "ko", "next": case})
    assert r.status_code == 303 and r.headers["location"] == case
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        user = s.scalar(select(User).where(User.username == "advocate"))
        assert user is not None and user.lang == "ko", "the choice is kept on the account"
    files = {"files": ("scene.jpg", jpeg(Image.fromarray(_sk("horse"))), "image/jpeg")}
    job_url = (await client.post(f"{case}/upload", data={CSRF_FIELD: token}, files=files)).headers["location"]
    try:
        assert jobs_for(app).wait(timeout=120)
    finally:
        jobs_for(app).shutdown()
    pages = [
        "/",
        case,
        f"{case}/review",
        f"{case}/review?status=all",
        f"{case}/upload",
        job_url,
        "/cases/nope",
    ]
    for path in pages:
        r = await client.get(path)
        assert r.status_code in (200, 404), path
        assert '<html lang="ko">' in r.text, path
        assert english_left(r.text) == set(), path
    assert "검토 대기열" in (await client.get(f"{case}/review")).text
    # the choice survives signing out (the sign-in page stays Korean) and comes back at the next sign-in
    await client.post("/logout", data={CSRF_FIELD: token})
    login = await client.get("/login")
    assert '<html lang="ko">' in login.text and english_left(login.text) == set()
    client.cookies.clear()
    await form_login(client, "advocate")
    assert '<html lang="ko">' in (await client.get("/")).text


# --- the catalogue ----------------------------------------------------------------------------------------


def test_every_key_has_both_languages() -> None:
    assert LANGS == ("en", "ko")
    hangul = re.compile(r"[\uac00-\ud7a3]")
    same_in_both = {"app.name", "lang.en", "lang.ko"}
    for key, entry in MESSAGES.items():
        assert set(entry) == set(LANGS), key
        assert all(entry[lang].strip() for lang in LANGS), key
        assert placeholders(entry["en"]) == placeholders(entry["ko"]), key
        if key not in same_in_both:
            assert hangul.search(entry["ko"]), f"{key}: the Korean text is not Korean"
            assert not hangul.search(entry["en"]), f"{key}: the English text has Korean in it"
    assert translate("ko", "job.progress", done=1, total=2) == "파일 2개 중 1개"


def _templates() -> dict[str, str]:
    found = {p.name: p.read_text(encoding="utf-8") for p in TEMPLATES.glob("*.html")}
    assert {
        "base.html",
        "login.html",
        "cases.html",
        "case.html",
        "review.html",
        "upload.html",
        "job.html",
    } <= set(found)
    return found


def test_every_template_string_goes_through_the_catalogue() -> None:
    used: set[str] = set()
    for name, source in _templates().items():
        used |= {k for k in KEY_PATTERN.findall(source) if not k.endswith(".")}  # not t("role." ~ x)
        # Text of the template's own, outside Jinja expressions and tags: none may be left.
        bare = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)
        text = re.sub(r"<[^>]*>", " ", bare, flags=re.S)
        leftover = re.findall(r"[^\W\d_]{2,}", text)
        assert leftover == [], f"{name}: text outside the catalogue: {leftover}"
        # Attributes people read must come from the catalogue too.
        for attr, value in re.findall(
            r'\s(alt|title|placeholder|aria-label|data-[a-z-]*text)="([^"]*)"', source
        ):
            assert re.fullmatch(r"(\s*\{\{.*?\}\}\s*)*", value), f"{name}: {attr}={value!r}"
    unknown = used - set(MESSAGES)
    assert unknown == set(), f"keys used but not in the catalogue: {unknown}"
    # Keys the templates build from values (``t("error." ~ status ~ ...)``, ``tv(prefix, value)``) and the
    # ones web.py uses directly count as used.
    source = "".join(Path(m.__file__).read_text(encoding="utf-8") for m in (web, accounts_web))
    used |= set(re.findall(r'["\']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["\']', source))
    dynamic = (
        "error.",
        "status.",
        "match.",
        "kind.",
        "source.",
        "job.",
        "role.",
        "lang.",
        "st.",
        "review.filter.",
        "review.done.",
        "account.done.",
    )
    unused = {k for k in set(MESSAGES) - used if not k.startswith(dynamic)}
    assert unused == set(), f"catalogue keys nobody uses: {unused}"
