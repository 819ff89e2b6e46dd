"""No plaintext at rest: after a scan, no file in the workspace (database, WAL, shared memory, vault
blobs, keyring, anything) contains the bytes of a scanned or enrolment image, a face vector, the
passphrase or the data key. Checked while the workspace is open and again after it is closed.

The search is only meaningful if the needles are what reclaim actually handled, so the tests also prove
that the stored (encrypted) vectors decrypt to exactly the recomputed needles and that the vault blobs
decrypt to exactly the scanned files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from reclaim.demo import SampleExport, build_sample_export, paste_face
from reclaim.matching.queries import list_matches
from reclaim.persons.service import _template_from_photo, add_person
from reclaim.review import review_match
from reclaim.scan.analyze import analyze_bytes
from reclaim.scan.service import ScanReport, scan_paths
from reclaim.store.crypto import decrypt_vector
from reclaim.store.models import (
    Case,
    Event,
    Face,
    FaceTemplate,
    Item,
    Job,
    Notice,
    Person,
    ReferencePhoto,
    Scan,
    Sighting,
)
from reclaim.takedown.drafting import draft_notices
from reclaim.text import unescaped
from reclaim.workspace import VAULT_DIR, Workspace
from tests.pgdb import drop_database

PASSPHRASE = "plaintext-test passphrase: tulip-4711"
WINDOW = 64
SMALL = 4096
"""Files up to this size are searched for whole, besides the windows."""


# --- material -----------------------------------------------------------------------------------------


def extra_pictures(folder: Path) -> None:
    """A few more formats and sizes beside the demo export: PNG with a face, a tiny PNG, a WebP."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(4711)
    scene = np.clip(rng.normal(128, 40, (300, 400, 3)), 0, 255).astype(np.uint8)
    paste_face(scene, width=120, at=(0.5, 0.4)).save(folder / "face_scene.png")
    Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)).save(folder / "tiny.png")
    Image.fromarray(scene).save(folder / "scene.webp", quality=80)


def windows(data: bytes) -> list[bytes]:
    """64-byte windows from the start, quarter, middle, three quarters and end; the whole file if small;
    plus base64 and hex of the start, in case bytes were ever stored as text."""
    out = [data] if len(data) <= SMALL else []
    if len(data) >= WINDOW:
        for at in (0, len(data) // 4, len(data) // 2, 3 * len(data) // 4, len(data) - WINDOW):
            out.append(data[at : at + WINDOW])
    out.append(base64.b64encode(data[:48]))
    out.append(data[:32].hex().encode())
    return out


def vector_needles(vector: np.ndarray) -> list[bytes]:
    """A face vector as float32 and float64 bytes, 32-byte windows of those, and the text forms
    ``json.dumps(vector.tolist())`` or a float32 repr would produce for its first values."""
    f32 = np.asarray(vector, dtype=np.float32)
    b32, b64 = f32.tobytes(), f32.astype(np.float64).tobytes()
    out = [b32, b64, b32[:32], b32[len(b32) // 2 : len(b32) // 2 + 32], b32[-32:], b64[:32], b64[-32:]]
    for value in f32[:2]:
        out.append(repr(float(value)).encode())  # float64 repr of the float32 value (JSON of tolist())
        out.append(str(value).encode())  # shortest float32 repr
    return out


@dataclass
class Scanned:
    ws: Workspace
    report: ScanReport
    sample: SampleExport
    scanned_files: dict[str, bytes]
    """Path (for messages) -> bytes of every media file the scan was given."""
    enrol_files: dict[str, bytes]
    face_vectors: list[np.ndarray] = field(default_factory=list)
    """Recomputed with analyze_bytes from the scanned files."""
    template_vectors: list[np.ndarray] = field(default_factory=list)
    """Recomputed from the enrolment photos, as add_person does."""


def media_files(*roots: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes()
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "result.json"
    }


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scanned]:
    base = tmp_path_factory.mktemp("plaintext")
    sample = build_sample_export(base / "material" / "ChatExport")
    extra = base / "material" / "extra"
    extra_pictures(extra)
    ws = Workspace.create(base / "ws", PASSPHRASE)
    try:
        with ws.session() as session:
            add_person(
                session,
                ws.key,
                name="Plaintext Person",
                photos=sample.enrol_photos,
                known_images=[sample.known_image],
                consent="test: public-domain sample portrait",
                vault=ws.vault,
                keep_photos=True,  # the kept photos must be ciphertext too
            )
        report = scan_paths(ws, [sample.root, extra], workers=1)
        scanned_files = media_files(sample.root, extra)
        enrol_files = {str(p): p.read_bytes() for p in [*sample.enrol_photos, sample.known_image]}
        result = Scanned(ws, report, sample, scanned_files, enrol_files)
        for data in scanned_files.values():
            try:
                analysis = analyze_bytes(data)
            except Exception:  # broken.jpg: not an item, its bytes are still searched for
                continue
            result.face_vectors += [np.frombuffer(f.vector, dtype=np.float32) for f in analysis.faces]
        result.template_vectors = [_template_from_photo(p) for p in sample.enrol_photos]
        yield result
    finally:
        ws.close()


def workspace_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def find_plaintext(files: dict[str, bytes], needles: dict[str, list[bytes]]) -> list[str]:
    hits = []
    for name, content in files.items():
        for what, patterns in needles.items():
            for i, pattern in enumerate(patterns):
                if pattern and pattern in content:
                    hits.append(f"{name} contains {what} (needle {i}, {len(pattern)} bytes)")
    return hits


def all_needles(s: Scanned) -> dict[str, list[bytes]]:
    needles: dict[str, list[bytes]] = {}
    for path, data in {**s.scanned_files, **s.enrol_files}.items():
        needles[f"bytes of {Path(path).name}"] = windows(data)
    for i, vector in enumerate(s.face_vectors):
        needles[f"face vector {i}"] = vector_needles(vector)
    for i, vector in enumerate(s.template_vectors):
        needles[f"enrolment template {i}"] = vector_needles(vector)
    key = s.ws.key.key
    needles["passphrase"] = [PASSPHRASE.encode(), PASSPHRASE.encode("utf-16-le")]
    needles["data key"] = [key, key.hex().encode(), base64.b64encode(key)]
    return needles


# --- the needles are real -----------------------------------------------------------------------------


def test_the_scan_stored_media_and_faces(scanned: Scanned) -> None:
    assert scanned.report.new_items >= 10
    assert scanned.report.face_matches >= 6
    assert len(scanned.face_vectors) >= 6
    assert len(scanned.template_vectors) == 2


def test_stored_vectors_are_exactly_the_needles(scanned: Scanned) -> None:
    """Decrypting what the database holds gives back exactly the recomputed vectors, so searching for
    the recomputed vectors is searching for what was stored."""
    key = scanned.ws.key
    with scanned.ws.session() as s:
        faces = [
            decrypt_vector(key, f.vector_ct, kind="face", owner=str(f.item_id))
            for f in s.scalars(select(Face))
        ]
        templates = [
            decrypt_vector(key, t.vector_ct, kind="template", owner=str(t.id))
            for t in s.scalars(select(FaceTemplate))
        ]
    assert sorted(v.tobytes() for v in faces) == sorted(v.tobytes() for v in scanned.face_vectors)
    assert sorted(v.tobytes() for v in templates) == sorted(v.tobytes() for v in scanned.template_vectors)


def test_vault_holds_exactly_the_stored_items_and_they_decrypt(scanned: Scanned) -> None:
    by_sha = {hashlib.sha256(d).hexdigest(): d for d in scanned.scanned_files.values()}
    with scanned.ws.session() as s:
        items = s.execute(select(Item.sha256, Item.stored)).all()
    stored = [sha for sha, is_stored in items if is_stored]
    assert stored and len(stored) == len(items), "a normal scan stores every item"
    with scanned.ws.session() as s:
        kept = set(s.scalars(select(ReferencePhoto.sha256)).all())
    assert len(kept) == len(scanned.enrol_files)  # kept with --keep-photos
    blobs = [p for p in (scanned.ws.root / VAULT_DIR).rglob("*") if p.is_file()]
    assert len(blobs) == len(set(stored) | kept)
    for sha in stored:
        assert scanned.ws.vault.get(sha) == by_sha[sha]
    enrolled = {hashlib.sha256(d).hexdigest(): d for d in scanned.enrol_files.values()}
    for sha in kept:
        assert scanned.ws.vault.get(sha) == enrolled[sha]
    assert not {p.name for p in blobs} & {sha for sha, _ in items}, "blob names must not be the SHA-256"


# --- the search ---------------------------------------------------------------------------------------


def test_no_plaintext_while_the_workspace_is_open(scanned: Scanned) -> None:
    with scanned.ws.session() as s:  # a live connection: the WAL and shared-memory files exist
        assert s.scalar(select(Item.id).limit(1)) is not None
        files = workspace_files(scanned.ws.root)
        assert {"reclaim.db", "reclaim.db-wal", "reclaim.db-shm", "keyring.json"} <= files.keys()
        assert any(name.startswith(VAULT_DIR) for name in files)
        hits = find_plaintext(files, all_needles(scanned))
    assert not hits, "\n".join(hits)


def test_no_plaintext_after_the_workspace_is_closed(scanned: Scanned) -> None:
    scanned.ws.close()  # checkpoints the WAL into the database file
    files = workspace_files(scanned.ws.root)
    hits = find_plaintext(files, all_needles(scanned))
    assert not hits, "\n".join(hits)


def test_the_search_would_find_plaintext(scanned: Scanned) -> None:
    """The grep itself works: a planted copy of a window, a vector or the passphrase is found."""
    data = next(iter(scanned.scanned_files.values()))
    planted = {
        "a.bin": b"x" * 100 + windows(data)[1] + b"y" * 100,
        "b.bin": b"z" + scanned.face_vectors[0].astype(np.float64).tobytes(),
        "c.bin": f"note: {PASSPHRASE}".encode(),
    }
    hits = find_plaintext(planted, all_needles(scanned))
    assert {h.split(" ")[0] for h in hits} == set(planted), hits


def test_hash_only_scan_stores_no_blobs(tmp_path: Path, scanned: Scanned) -> None:
    ws = Workspace.create(tmp_path / "ws-hash-only", PASSPHRASE)
    try:
        report = scan_paths(ws, [scanned.sample.root], hash_only=True, workers=1)
        assert report.new_items >= 8
        with ws.session() as s:
            stored = s.scalars(select(Item.stored)).all()
        assert stored and not any(stored)
        assert [p for p in (ws.root / VAULT_DIR).rglob("*") if p.is_file()] == []
        needles = all_needles(scanned)
        needles["this workspace's data key"] = [ws.key.key, ws.key.key.hex().encode()]
        hits = find_plaintext(workspace_files(ws.root), needles)
        assert not hits, "\n".join(hits)
    finally:
        ws.close()


# --- words: names, consent, chats, senders, captions, file names, notes (both backends) ----------------

PG_URL = os.environ.get("RECLAIM_TEST_PG_URL", "")
WORDS = {
    "person name": "Seo Haeun-Needle 서하은",
    "consent text": "consent-needle: agreed by phone with her aunt present",
    "consent recorded by": "advocate Minji-Needle",
    "chat name": "Needle Chatroom 비밀방",
    "sender name": "needle_sender_uploader",
    "caption": "caption-needle: the new one of our classmate",
    "forwarded from": "Needle Forwarder Channel",
    "hostile caption original": "ctl-needle\x1b[31mgpj-needle.exe",
    "scanned folder name": "NeedleExportFolder",
    "scanned file name": "needle_original_file",
    "enrolment photo name": "needle_portrait_photo",
    "known image name": "needle_already_held",
    "review note": "note-needle: she recognises her school photo",
    "case title": "Case-Needle Seo v. uploader",
    "job error": "job-needle: failed reading NeedleUploadName.zip",
}


def word_needles(words: dict[str, str]) -> dict[str, list[bytes]]:
    """Each word as UTF-8, as JSON would escape it (ASCII-only and as is), and as UTF-16."""
    out: dict[str, list[bytes]] = {}
    for what, word in words.items():
        forms = {word.encode(), json.dumps(word)[1:-1].encode(), word.encode("utf-16-le")}
        forms |= {part.encode() for part in word.split("\x1b")}  # either side of a control character
        out[what] = sorted(forms)
    return out


@dataclass
class Worded:
    ws: Workspace
    backend: str
    person_id: str


def _worded_export(base: Path) -> tuple[SampleExport, Path]:
    """The demo export with every name, caption and file name replaced by a needle; the person's photos
    renamed too."""
    sample = build_sample_export(base / WORDS["scanned folder name"])
    doc_path = sample.root / "result.json"
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    for chat in doc["chats"]["list"]:
        chat["name"] = WORDS["chat name"]
        for m in chat["messages"]:
            if m.get("from"):
                m["from"] = WORDS["sender name"]
            if "forwarded_from" in m:
                m["forwarded_from"] = WORDS["forwarded from"]
            if m.get("photo") == "chats/chat_001/photos/photo_1.jpg":
                m["text"] = WORDS["caption"]
            if m.get("photo") == "chats/chat_002/photos/photo_12.jpg":
                m["text"] = WORDS["hostile caption original"]  # kept escaped in extra["original_text"]
            for field_name in ("photo", "file"):
                if m.get(field_name) == "chats/chat_001/photos/photo_1.jpg":
                    m[field_name] = f"chats/chat_001/photos/{WORDS['scanned file name']}.jpg"
    photo = sample.root / "chats" / "chat_001" / "photos" / "photo_1.jpg"
    photo.rename(photo.with_name(f"{WORDS['scanned file name']}.jpg"))
    doc_path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    enrol = sample.enrol_photos[0].rename(
        sample.enrol_photos[0].with_name(f"{WORDS['enrolment photo name']}.jpg")
    )
    known = sample.known_image.rename(sample.known_image.with_name(f"{WORDS['known image name']}.png"))
    return SampleExport(sample.root, [enrol, sample.enrol_photos[1]], known, sample.expected_face_items), base


def fill_with_words(ws: Workspace, base: Path) -> str:
    """Enrol, scan, review with a note, draft a notice naming the person, open a case and a failed job:
    every kind of word a workspace holds."""
    sample, _ = _worded_export(base)
    with ws.session() as s:
        person = add_person(
            s,
            ws.key,
            name=WORDS["person name"],
            photos=sample.enrol_photos,
            known_images=[sample.known_image],
            consent=WORDS["consent text"],
            recorded_by=WORDS["consent recorded by"],
            vault=ws.vault,
            keep_photos=True,
        )
    scan_paths(ws, [sample.root], workers=1)
    pid = person.person_id
    with ws.session() as s:
        matches = list_matches(s, person_id=pid)
        assert matches
        for m in matches:
            review_match(s, match_id=m["match_id"], decision="confirmed", note=WORDS["review note"])
    with ws.session() as s:
        drafted = draft_notices(s, person_id=pid, platform="kcsc", lang="both", name_visible=True)
        assert drafted.notices
        s.add(Case(title=WORDS["case title"], person_id=pid))
        s.add(
            Job(kind="scan", status="failed", error=WORDS["job error"], result={"error": WORDS["job error"]})
        )
        s.commit()
    return pid


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def worded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worded]:
    base = tmp_path_factory.mktemp(f"words-{request.param}")
    url: str | None = None
    admin = None
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("RECLAIM_TEST_PG_URL is not set (CI starts PostgreSQL and sets it)")
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        name = f"reclaim_t_{secrets.token_hex(6)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    ws = Workspace.create(base / "ws", PASSPHRASE, database_url=url)
    try:
        pid = fill_with_words(ws, base / "material")
        yield Worded(ws, request.param, pid)
    finally:
        ws.close()
        if admin is not None:
            drop_database(admin, name)
            admin.dispose()


def database_text(ws: Workspace) -> dict[str, bytes]:
    """PostgreSQL: every row of every table as text (what pg_dump would write), one entry per table."""
    out: dict[str, bytes] = {}
    with ws.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            rows = conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars().all()
            out[f"table {table}"] = "\n".join(rows).encode()
    return out


def stored_words(w: Worded) -> dict[str, bytes]:
    files = workspace_files(w.ws.root)
    if w.backend == "postgresql":
        files.update(database_text(w.ws))
    return files


def test_the_words_were_stored_and_read_back(worded: Worded) -> None:
    """The needles are what the workspace holds: read through the models, every word is there."""
    with worded.ws.session() as s:
        person = s.get(Person, worded.person_id)
        assert person is not None and person.name == WORDS["person name"]
        assert [c.statement for c in person.consents] == [WORDS["consent text"]]
        assert [c.recorded_by for c in person.consents] == [WORDS["consent recorded by"]]
        assert any(WORDS["enrolment photo name"] in t.photo_label for t in person.templates)
        assert [k.label for k in person.known_images] == [f"{WORDS['known image name']}.png"]
        sightings = s.scalars(select(Sighting)).all()
        assert {sg.chat_name for sg in sightings if sg.source == "telegram"} == {WORDS["chat name"]}
        assert WORDS["sender name"] in {sg.sender for sg in sightings}
        assert WORDS["caption"] in {sg.caption for sg in sightings}
        assert WORDS["forwarded from"] in {sg.forwarded_from for sg in sightings}
        assert any(WORDS["scanned file name"] in (sg.path or "") for sg in sightings)
        originals = [(sg.extra or {}).get("original_text") for sg in sightings]
        assert any(o and unescaped(o["caption"]) == WORDS["hostile caption original"] for o in originals)
        assert any(WORDS["scanned folder name"] in json.dumps(sc.paths) for sc in s.scalars(select(Scan)))
        notes = [e.detail.get("note") for e in s.scalars(select(Event)) if e.detail]
        assert WORDS["review note"] in notes
        assert all(WORDS["person name"] in n.text for n in s.scalars(select(Notice)))
        assert s.scalar(select(Case.title)) == WORDS["case title"]
        assert s.scalar(select(Job.error)) == WORDS["job error"]
    assert worded.ws.verify_custody() == []


def test_no_words_in_plaintext_while_open(worded: Worded) -> None:
    with worded.ws.session() as s:
        assert s.scalar(select(Person.id).limit(1)) is not None
        files = stored_words(worded)
        if worded.backend == "sqlite":
            assert {"reclaim.db", "reclaim.db-wal", "reclaim.db-shm"} <= files.keys()
        hits = find_plaintext(files, word_needles(WORDS))
    assert not hits, "\n".join(hits)


def test_no_words_in_plaintext_after_close(worded: Worded) -> None:
    worded.ws.close()
    hits = find_plaintext(stored_words(worded), word_needles(WORDS))
    assert not hits, "\n".join(hits)


def test_the_word_search_would_find_plaintext(worded: Worded) -> None:
    """The probe works on this backend: a word written in the clear through the database is found."""
    with worded.ws.engine.begin() as conn:
        conn.execute(
            text("UPDATE sightings SET chat_type = :v WHERE id = (SELECT min(id) FROM sightings)"),
            {"v": WORDS["chat name"]},
        )
    try:
        worded.ws.close()  # checkpoint (SQLite)
        hits = find_plaintext(stored_words(worded), word_needles(WORDS))
        assert any(h.startswith(("reclaim.db", "table sightings")) and "chat name" in h for h in hits), hits
    finally:
        with worded.ws.engine.begin() as conn:
            conn.execute(
                text("UPDATE sightings SET chat_type = NULL WHERE chat_type = :v"), {"v": WORDS["chat name"]}
            )
