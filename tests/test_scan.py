"""The scan service on real workspaces: idempotent rescans, hash-only and minor policies, enrolment
after a scan, folders holding exports, and the real Telegram exports in ../shared/data."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reclaim.demo import SampleExport, build_sample_export, paste_face
from reclaim.events import log_event
from reclaim.persons.service import add_person, forget_person
from reclaim.scan.checks import CheckCounts
from reclaim.scan.service import scan_paths
from reclaim.store.models import Event, Face, FaceTemplate, Item, Match, Scan, Sighting
from reclaim.workspace import Workspace


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


def enrol(ws: Workspace, sample: SampleExport, *, minor: bool = False, known: bool = True) -> str:
    with ws.session() as s:
        return add_person(
            s,
            ws.key,
            name="P",
            photos=sample.enrol_photos,
            known_images=[sample.known_image] if known else [],
            consent="test consent",
            minor=minor,
            vault=ws.vault,
        ).person_id


def counts(ws: Workspace) -> tuple[int, int, int]:
    with ws.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Item)) or 0,
            s.scalar(select(func.count()).select_from(Sighting)) or 0,
            s.scalar(select(func.count()).select_from(Match)) or 0,
        )


def test_rescan_adds_nothing(workspace: Workspace, sample: SampleExport) -> None:
    enrol(workspace, sample)
    first = scan_paths(workspace, [sample.root], workers=1)
    assert first.new_items == first.items == 9
    assert first.face_matches == sample.expected_face_items and first.hash_matches == 1
    # 11 media messages with a usable path + 1 placeholder; broken.jpg and the traversal are errors
    assert first.sightings == first.new_sightings == 11
    before = counts(workspace)
    second = scan_paths(workspace, [sample.root], workers=1)
    assert (second.new_items, second.new_sightings, second.new_matches) == (0, 0, 0)
    assert (second.items, second.face_matches, second.hash_matches) == (9, first.face_matches, 1)
    assert counts(workspace) == before
    with workspace.session() as s:
        placeholder = s.scalars(select(Sighting).where(Sighting.item_id.is_(None))).one()
        assert placeholder.placeholder and placeholder.placeholder.startswith("(File not included")
        assert placeholder.chat_name == "Room A" and placeholder.message_id == 5
        kinds = set(s.scalars(select(Event.kind)))
    assert {"person.enrolled", "scan.started", "item.added", "match.created", "scan.finished"} <= kinds


def test_worker_pool_gives_the_same_result(tmp_path: Path, sample: SampleExport) -> None:
    results = []
    for workers in (1, 2):
        ws = Workspace.create(tmp_path / f"ws{workers}", "pw")
        try:
            enrol(ws, sample)
            scan_paths(ws, [sample.root], workers=workers)
            with ws.session() as s:
                results.append(
                    sorted((m.kind, m.item.sha256, round(m.distance, 3)) for m in s.scalars(select(Match)))
                )
        finally:
            ws.close()
    assert results[0] == results[1]


def test_enrolling_after_a_scan_finds_stored_items(workspace: Workspace, sample: SampleExport) -> None:
    report = scan_paths(workspace, [sample.root], workers=1)
    assert report.face_matches == 0
    with workspace.session() as s:
        summary = add_person(
            s, workspace.key, name="Late", photos=sample.enrol_photos, known_images=[sample.known_image],
            consent="c",
        )  # fmt: skip
    assert summary.matches_created == sample.expected_face_items + 1


def test_hash_only_and_minor_never_store_media(tmp_path: Path, sample: SampleExport) -> None:
    ws = Workspace.create(tmp_path / "h", "pw")
    try:
        scan_paths(ws, [sample.root], workers=1, hash_only=True)
        with ws.session() as s:
            assert not any(s.scalars(select(Item.stored)))
            assert s.scalar(select(func.count()).select_from(Face)) or 0 > 0
        assert not [p for p in (ws.root / "vault").rglob("*") if p.is_file()]
    finally:
        ws.close()
    ws = Workspace.create(tmp_path / "m", "pw")
    try:
        enrol(ws, sample, minor=True)
        scan_paths(ws, [sample.root], workers=1)
        with ws.session() as s:
            matched = set(s.scalars(select(Match.item_id)))
            items = s.scalars(select(Item)).all()
        assert matched
        for item in items:
            assert item.stored == (item.id not in matched)
            assert ws.vault.has(item.sha256) == item.stored
    finally:
        ws.close()


def test_forget_erases_templates_and_matches(workspace: Workspace, sample: SampleExport) -> None:
    pid = enrol(workspace, sample)
    scan_paths(workspace, [sample.root], workers=1)
    with workspace.session() as s:
        erased = forget_person(s, pid)
    assert erased["templates"] == 2 and erased["matches"] == sample.expected_face_items + 1
    with workspace.session() as s:
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 0
        assert s.scalar(select(func.count()).select_from(Match)) == 0
        event = s.scalars(select(Event).where(Event.kind == "person.forgotten")).one()
        assert event.subject == f"person:{pid}"
    # the scanned material itself stays (it is evidence for other persons and cases)
    assert counts(workspace)[0] == 9


def _mp4(frames: list[np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=2)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def test_folder_with_files_video_and_a_nested_export(
    workspace: Workspace, sample: SampleExport, tmp_path: Path
) -> None:
    enrol(workspace, sample, known=False)
    folder = tmp_path / "collected"
    (folder / "sub").mkdir(parents=True)
    shutil.copytree(sample.root, folder / "sub" / "ChatExport")
    from skimage import data

    fake = np.asarray(paste_face(data.chelsea(), width=140, at=(0.4, 0.3)))
    Image.fromarray(fake).save(folder / "screenshot.PNG")
    Image.fromarray(fake).save(folder / "no_extension", "PNG")  # content, not name, decides
    (folder / "notes.txt").write_text("not media: a counted skip")
    still = np.asarray(Image.fromarray(fake).resize((320, 240)))
    (folder / "clip.mp4").write_bytes(_mp4([still] * 6))
    report = scan_paths(workspace, [folder], workers=1)
    with workspace.session() as s:
        sightings = s.scalars(select(Sighting)).all()
        by_path = {x.path: x for x in sightings}
        assert by_path["screenshot.PNG"].source == "file" and by_path["screenshot.PNG"].chat_id is None
        assert "no_extension" in by_path
        assert by_path["clip.mp4"].item is not None and by_path["clip.mp4"].item.kind == "video"
        assert "notes.txt" not in by_path
        telegram = [x for x in sightings if x.source == "telegram"]
        assert {x.chat_name for x in telegram} == {"Room A", "Room B", "trader"}
        video_match = s.scalar(select(Match).where(Match.item_id == by_path["clip.mp4"].item_id))
        assert video_match is not None and video_match.kind == "face"
    assert not any("notes.txt" in e.path for e in report.errors)
    assert report.skipped == {"not_media": 1, "export_file": 1}  # notes.txt; the export's result.json
    assert {(x.path.rsplit("/", 1)[-1], x.reason) for x in report.skipped_paths} == {
        ("notes.txt", "not_media"),
        ("result.json", "export_file"),
    }


def test_real_telegram_exports(workspace: Workspace, shared_data: Path) -> None:
    exports = shared_data / "telegram_real"
    report = scan_paths(workspace, [exports], hash_only=True, workers=1)
    with workspace.session() as s:
        sightings = s.scalars(select(Sighting)).all()
    export_dirs = {x.path.split("/")[0] for x in sightings if x.path}
    assert len(export_dirs) == 8, export_dirs  # the ninth export (database-isolation-level) has no media
    # Media no message points to (two stickers and their thumbnails) is scanned as plain files.
    unreferenced = {x.path for x in sightings if x.source == "file"}
    assert all(x.source in ("telegram", "file") for x in sightings)
    assert unreferenced == {
        f"dependency-injection-in-a-nutshell/stickers/{name}"
        for name in (
            "sticker.webp",
            "sticker.webp_thumb.jpg",
            "sticker (1).webp",
            "sticker (1).webp_thumb.jpg",
        )
    }, unreferenced
    assert report.skipped["not_media"] == 1  # the licence file beside the exports
    assert report.skipped["export_file"] == 23  # nine result.json files and 14 thumbnails
    assert report.items > 10
    telegram = [x for x in sightings if x.source == "telegram"]
    with_time = [x for x in telegram if x.posted_at is not None]
    old_format = [x for x in telegram if x.posted_at is None]
    assert with_time and old_format
    assert all((x.extra or {}).get("date_local") for x in old_format)
    for e in report.errors:
        assert e.error and "Traceback" not in e.error


def scan_with_a_crashing_file(
    tmp_path: Path, sample: SampleExport, *, env: dict[str, str] | None = None, timeout: float = 120
) -> None:
    """Scan the sample with the CLI (2 workers) while the decoder takes its worker process down on the
    second photo of chat_002 (injected), and check that this file alone is reported and every other
    file is stored. ``env``: more environment variables."""
    import hashlib
    import json
    import os
    import subprocess
    import sys

    files = sorted((sample.root / "chats" / "chat_002" / "photos").glob("*.jpg"))
    victim = hashlib.sha256(files[1].read_bytes()).hexdigest()
    full_env = dict(os.environ, RECLAIM_PASSPHRASE="pw", RECLAIM_FAULT_CRASH_SHA256=victim, **(env or {}))
    ws = tmp_path / "ws"
    run = [sys.executable, "-m", "reclaim.cli", "--workspace", str(ws)]
    assert subprocess.run([*run, "init"], env=full_env, capture_output=True, check=False).returncode == 0
    proc = subprocess.run(
        [*run, "scan", str(sample.root), "--json", "--workers", "2"],
        env=full_env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    crashed = [e for e in report["errors"] if "crashed its worker" in e["error"]]
    assert [e["path"].rsplit("/", 1)[-1] for e in crashed] == [files[1].name]
    assert report["new_items"] == 8  # the 9 good items of the export, less the one that crashed


def test_a_crashing_worker_costs_one_file(tmp_path: Path, sample: SampleExport) -> None:
    """A decoder that takes its worker process down (injected for one file) is reported for that file
    only; every other file of the scan is analysed and stored."""
    scan_with_a_crashing_file(tmp_path, sample)


def test_one_scan_at_a_time_and_killed_scans_are_marked(workspace: Workspace, sample: SampleExport) -> None:
    from reclaim.errors import UserError
    from reclaim.store.models import Scan

    with workspace.exclusive("a test"), pytest.raises(UserError, match="another reclaim process"):
        scan_paths(workspace, [sample.root], workers=1)
    with workspace.session() as s:
        s.add(Scan(paths={"paths": ["x"]}, status="running"))  # as a killed scan leaves it
        s.commit()
    scan_paths(workspace, [sample.root / "chats" / "chat_001"], workers=1)
    with workspace.session() as s:
        statuses = sorted(s.scalars(select(Scan.status)))
    assert statuses == ["finished", "interrupted"]


def test_enrolling_a_minor_purges_media_already_stored(workspace: Workspace, sample: SampleExport) -> None:
    scan_paths(workspace, [sample.root], workers=1)
    with workspace.session() as s:
        assert all(s.scalars(select(Item.stored)))
    pid = enrol(workspace, sample, minor=True, known=False)
    with workspace.session() as s:
        matched = set(s.scalars(select(Match.item_id).where(Match.person_id == pid)))
        items = s.scalars(select(Item)).all()
        purged = s.scalars(select(Event).where(Event.kind == "item.media_purged")).all()
    assert len(matched) == sample.expected_face_items
    for item in items:
        assert item.stored == (item.id not in matched)
        assert workspace.vault.has(item.sha256) == item.stored
    assert len(purged) == len(matched)


def test_post_scan_checks_run_after_the_items_and_a_failing_one_is_a_scan_error(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Checks passed by the caller see the scan's items; one that raises is rolled back and reported as
    an error under its label, the others still count, and the scan finishes with its items kept."""
    folder = tmp_path / "material"
    folder.mkdir()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(folder / "a.png")
    seen: list[int] = []

    class Counting:
        label = "counting check"

        def __call__(self, session: Session, scan_id: int) -> CheckCounts:
            seen.append(len(session.scalars(select(Sighting).where(Sighting.scan_id == scan_id)).all()))
            return {"reuploads": 2, "follow_ups": 1}

    class Failing:
        label = "failing check"

        def __call__(self, session: Session, scan_id: int) -> CheckCounts:
            log_event(session, "never.kept", subject="test")
            raise RuntimeError("boom")

    report = scan_paths(
        workspace, [folder], workers=1, faces=False, forensics="none", checks=[Failing(), Counting()]
    )
    assert seen == [1]
    assert [(e.path, e.error) for e in report.errors] == [("failing check", "RuntimeError: boom")]
    assert (report.new_items, report.reuploads, report.follow_ups) == (1, 2, 1)
    with workspace.session() as s:
        scan = s.get(Scan, report.scan_id)
        assert scan is not None and scan.status == "finished"
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "never.kept")) == 0
