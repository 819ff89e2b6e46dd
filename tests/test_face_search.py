"""Quick and thorough face searches (issue 13, outcome 1): a quick scan runs only the plain detection pass,
defers pictures where it finds no face, searches the deferred pictures with a match at once and leaves the
rest to ``finish_faces``; a thorough scan finds the same faces in one go."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from reclaim.demo import SampleExport, build_sample_export, paste_face, sample_picture
from reclaim.persons.service import add_person
from reclaim.scan.analyze import FaceSearch
from reclaim.scan.service import ScanReport, finish_faces, scan_paths
from reclaim.store.models import Event, Face, Item, Match
from reclaim.workspace import Workspace


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


def _enrol(ws: Workspace, sample: SampleExport) -> str:
    with ws.session() as s:
        return add_person(
            s, ws.key, name="P", photos=sample.enrol_photos, known_images=[], consent="test consent",
            vault=ws.vault,
        ).person_id  # fmt: skip


def _turned_face(path: Path, scene: str) -> Path:
    """A benign scene with the sample face pasted in, the whole picture turned a quarter: the plain
    (upright) detection pass misses the face, the turned fallback finds it."""
    img = paste_face(sample_picture(scene), width=170, at=(0.45, 0.35))
    img.transpose(Image.Transpose.ROTATE_90).save(path, "JPEG", quality=92)
    return path


def _item(ws: Workspace, path: Path) -> tuple[bool, int, set[str]]:
    """(faces_deferred, faces stored, match kinds) of the item scanned from ``path``."""
    import hashlib

    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with ws.session() as s:
        item = s.scalars(select(Item).where(Item.sha256 == sha)).one()
        faces = len(s.scalars(select(Face).where(Face.item_id == item.id)).all())
        kinds = {m.kind for m in s.scalars(select(Match).where(Match.item_id == item.id))}
        return item.faces_deferred, faces, kinds


def _scan_turned(
    ws: Workspace, sample: SampleExport, tmp_path: Path, face_search: FaceSearch
) -> tuple[Path, ScanReport]:
    """Enrol the sample person, then scan a folder holding one picture of their face turned a quarter."""
    _enrol(ws, sample)
    folder = tmp_path / "in"
    folder.mkdir()
    turned = _turned_face(folder / "turned.jpg", "coffee")
    return turned, scan_paths(ws, [folder], workers=1, face_search=face_search)


def test_quick_scan_defers_a_turned_face_and_finish_faces_finds_it(
    workspace: Workspace, sample: SampleExport, tmp_path: Path
) -> None:
    turned, report = _scan_turned(workspace, sample, tmp_path, "quick")
    assert report.new_items == 1 and report.face_matches == 0
    assert report.faces_deferred == 1 and report.faces_finished == 0
    deferred, _, kinds = _item(workspace, turned)  # (a weak upright box may be kept: it matches no one)
    assert deferred and kinds == set()

    done = finish_faces(workspace, workers=1)
    assert (done.searched, done.unavailable, done.errors) == (1, 0, [])
    assert done.faces_found >= 1 and done.new_matches == 1
    deferred, faces, kinds = _item(workspace, turned)
    assert not deferred and faces >= 1 and kinds == {"face"}
    with workspace.session() as s:
        kinds_logged = [e.kind for e in s.scalars(select(Event).order_by(Event.id))]
    assert "item.faces_searched" in kinds_logged
    # nothing is left to search: a second run does nothing
    again = finish_faces(workspace, workers=1)
    assert (again.searched, again.faces_found, again.new_matches) == (0, 0, 0)


def test_a_deferred_picture_with_a_match_is_searched_by_the_scan_itself(
    workspace: Workspace, sample: SampleExport, tmp_path: Path
) -> None:
    """The turned copy of a matched picture joins its near-duplicate cluster (PDQ's rotated variants)
    and gets a repost match: the scan searches it thoroughly at once and finds the face itself."""
    _enrol(workspace, sample)
    folder = tmp_path / "in"
    folder.mkdir()
    upright = paste_face(sample_picture("coffee"), width=170, at=(0.45, 0.35))
    upright.save(folder / "a_upright.jpg", "JPEG", quality=92)
    turned = _turned_face(folder / "b_turned.jpg", "coffee")
    report = scan_paths(workspace, [folder], workers=1, face_search="quick")
    assert report.new_items == 2
    assert report.faces_finished == 1 and report.faces_deferred == 0
    deferred, faces, kinds = _item(workspace, turned)
    assert not deferred and faces >= 1 and "face" in kinds
    assert report.face_matches == 2


def test_thorough_scan_finds_the_turned_face_at_once(
    workspace: Workspace, sample: SampleExport, tmp_path: Path
) -> None:
    turned, report = _scan_turned(workspace, sample, tmp_path, "thorough")
    assert report.face_matches == 1 and report.faces_deferred == 0 and report.faces_finished == 0
    deferred, faces, kinds = _item(workspace, turned)
    assert not deferred and faces == 1 and kinds == {"face"}


def test_hash_only_scans_search_at_once_and_media_not_kept_are_counted(
    workspace: Workspace, sample: SampleExport, tmp_path: Path
) -> None:
    """A hash-only scan keeps no media to search later, so it searches thoroughly at once; a deferred item
    whose media are gone (e.g. purged for a minor) is counted as unavailable and stays deferred."""
    _enrol(workspace, sample)
    folder = tmp_path / "in"
    folder.mkdir()
    turned = _turned_face(folder / "turned.jpg", "coffee")
    report = scan_paths(workspace, [folder], workers=1, face_search="quick", hash_only=True)
    assert report.faces_deferred == 0 and report.face_matches == 1
    assert _item(workspace, turned)[0] is False

    other = tmp_path / "other"
    other.mkdir()
    second = _turned_face(other / "turned2.jpg", "chelsea")
    scan_paths(workspace, [other], workers=1, face_search="quick")
    with workspace.session() as s:
        item = s.scalars(select(Item).where(Item.faces_deferred.is_(True))).one()
        item.stored = False
        workspace.vault.delete(item.sha256)
        s.commit()
    done = finish_faces(workspace, workers=1)
    assert (done.searched, done.unavailable) == (0, 1)
    assert _item(workspace, second)[0] is True  # still deferred: said, not hidden
