"""Case isolation (issue 12, D3 and D5): what one case's person is matched against, and what explaining an
item shows, is limited to that case. Real SQLite workspace; the sample export's pasted faces."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from sqlalchemy import select

from reclaim.demo import build_sample_export
from reclaim.evidence.package import export_package
from reclaim.evidence.verify import verify_package
from reclaim.forensics.service import explain_item, resolve_item
from reclaim.matching.queries import list_matches
from reclaim.persons.service import add_person
from reclaim.review import review_match
from reclaim.scan.service import scan_paths
from reclaim.store.models import Case, Item, Match, Notice, Scan, Sighting, new_id
from reclaim.takedown.drafting import draft_notices
from reclaim.workspace import Workspace


def test_explain_for_one_person_shows_nothing_of_another(workspace: Workspace, tmp_path: Path) -> None:
    sample = build_sample_export(tmp_path / "export")
    persons = {}
    for label in ("A", "B"):
        folder = tmp_path / f"photos-{label}"
        folder.mkdir()
        photos = []
        for i, p in enumerate(sample.enrol_photos):
            photos.append(folder / f"{label}_private_selfie_from_her_phone_{i}.jpg")
            shutil.copy(p, photos[-1])
        with workspace.session() as s:
            persons[label] = add_person(
                s,
                workspace.key,
                name=f"Person {label}",
                photos=photos,
                consent="test",
                recorded_by="test",
                vault=workspace.vault,
                keep_photos=True,
            ).person_id
    scan_paths(workspace, [sample.root])
    with workspace.session() as s:
        rows = list_matches(s, person_id=persons["A"])
        assert rows
        item = resolve_item(s, rows[0]["match_id"])
        everything = json.dumps(explain_item(s, item))
        only_a = explain_item(s, item, persons={persons["A"]})
    # the unfiltered explanation does name B's reference photo (so the check below can fail)
    assert "B_private_selfie" in everything
    text = json.dumps(only_a)
    assert "B_private_selfie" not in text and persons["B"] not in text and "Person B" not in text
    assert "A_private_selfie" in text
    assert {m["person_id"] for m in only_a["matches"]} == {persons["A"]}


def _case(ws: Workspace, label: str, photos: list[Path]) -> tuple[str, str]:
    """A team-server case with its person enrolled (as the server does: the person is matched against
    the case's own material only)."""
    case_id = new_id()
    with ws.session() as s:
        pid = add_person(
            s,
            ws.key,
            name=f"Person {label}",
            photos=photos,
            consent="test",
            recorded_by="test",
            case_id=case_id,
        ).person_id
        s.add(Case(id=case_id, title=f"Case {label}", person_id=pid, status="open"))
        s.commit()
    return case_id, pid


def test_a_case_person_is_matched_only_against_their_cases_material(
    workspace: Workspace, tmp_path: Path
) -> None:
    """D3: advocate A enrols *the same face* that case B's material shows. Before, matching was global and A
    got B's items, sightings and media; now A gets nothing of B's, and B's own person gets their matches."""
    sample = build_sample_export(tmp_path / "export")
    case_a, person_a = _case(workspace, "A", sample.enrol_photos)
    case_b, person_b = _case(workspace, "B", sample.enrol_photos)
    scan_paths(workspace, [sample.root], case_id=case_b)
    with workspace.session() as s:
        assert list_matches(s, person_id=person_b), "B's person is matched in B's material"
        assert list_matches(s, person_id=person_a) == [], "A sees nothing of case B"
    # enrolment after the scan obeys the same rule
    _, person_c = _case(workspace, "C", sample.enrol_photos)
    with workspace.session() as s:
        assert list_matches(s, person_id=person_c) == []
    # the same material uploaded to case A too: A is matched through A's own sightings only
    scan_paths(workspace, [sample.root], case_id=case_a)
    with workspace.session() as s:
        rows_a = list_matches(s, person_id=person_a)
        rows_b = list_matches(s, person_id=person_b)
        a_sightings = {sg["scanned_root"] for m in rows_a for sg in m["sightings"]}
        b_sightings = {(m["item_sha256"], len(m["sightings"])) for m in rows_b}
        scans = {sc.id: sc.case_id for sc in s.scalars(select(Scan))}
        a_scan_ids = {
            sg.scan_id
            for sg in s.scalars(select(Sighting).join(Match, Match.item_id == Sighting.item_id))
            if sg.scan_id is not None
        }
    assert rows_a and {m["item_sha256"] for m in rows_a} == {sha for sha, _ in b_sightings}
    assert len(a_sightings) == 1
    assert {scans[i] for i in a_scan_ids} == {case_a, case_b}, "both cases hold sightings of the items"
    for m in rows_a + rows_b:
        assert len({sg["source"] + str(sg["message_id"]) + str(sg["path"]) for sg in m["sightings"]}) == len(
            m["sightings"]
        ), "each match lists its own case's sightings once, not the other case's copies"
    with workspace.session() as s:
        for m in list_matches(s, person_id=person_a):
            (item,) = s.scalars(select(Item).where(Item.sha256 == m["item_sha256"]))
            mine = [sg for sg in item.sightings if scans.get(sg.scan_id) == case_a]
            assert len(m["sightings"]) == len(mine)


def test_takedown_and_evidence_of_a_case_carry_only_its_own_sightings(
    workspace: Workspace, tmp_path: Path
) -> None:
    sample = build_sample_export(tmp_path / "export")
    case_a, person_a = _case(workspace, "A", sample.enrol_photos)
    case_b, _ = _case(workspace, "B", sample.enrol_photos)
    scan_paths(workspace, [sample.root], case_id=case_a)
    scan_paths(workspace, [sample.root], case_id=case_b)
    with workspace.session() as s:
        for m in list_matches(s, person_id=person_a):
            review_match(s, match_id=m["match_id"], decision="confirmed")
        s.commit()
    with workspace.session() as s:
        a_scans = set(s.scalars(select(Scan.id).where(Scan.case_id == case_a)))
        result = draft_notices(s, person_id=person_a, platform="kcsc", lang="en", contact="a@example.org")
        s.commit()
        covered = [
            s.get(Sighting, ns.sighting_id)
            for n in result.notices
            for ns in s.get(Notice, n.id).sightings  # type: ignore[union-attr]
        ]
    assert covered and all(sg is not None and sg.scan_id in a_scans for sg in covered)
    out = tmp_path / "a.zip"
    export_package(workspace, person_id=person_a, out=out)
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    roots = {sg["scanned_root"] for it in manifest["items"] for sg in it["sightings"]}
    counts = [len(it["sightings"]) for it in manifest["items"]]
    with workspace.session() as s:
        expected = {
            it.sha256: sum(1 for sg in it.sightings if sg.scan_id in a_scans)
            for it in s.scalars(
                select(Item).join(Match, Match.item_id == Item.id).where(Match.person_id == person_a)
            )
        }
    assert len(roots) == 1 and counts == [expected[it["sha256"]] for it in manifest["items"]]


def test_a_package_carries_other_cases_events_only_as_digests(workspace: Workspace, tmp_path: Path) -> None:
    """The package's custody log must be whole to verify from GENESIS, but what other cases did (their
    person's enrolment, their scans, their matches and notes) is none of the recipient's business: those
    events keep their place, kind and time with their details reduced to digests, and the package still
    verifies. Before, person B's review note and scan summary went to whoever received A's package."""
    sample = build_sample_export(tmp_path / "export")
    case_a, person_a = _case(workspace, "A", sample.enrol_photos)
    case_b, person_b = _case(workspace, "B", sample.enrol_photos)
    scan_paths(workspace, [sample.root], case_id=case_b)
    note_b = "B told us the photos came from her ex-partner's phone"
    with workspace.session() as s:
        for m in list_matches(s, person_id=person_b):
            review_match(s, match_id=m["match_id"], decision="confirmed", note=note_b)
        s.commit()
    scan_paths(workspace, [sample.root], case_id=case_a)
    with workspace.session() as s:
        for m in list_matches(s, person_id=person_a):
            review_match(s, match_id=m["match_id"], decision="confirmed", note="A's own note")
        s.commit()
    out = tmp_path / "a.zip"
    export_package(workspace, person_id=person_a, out=out)
    with zipfile.ZipFile(out) as zf:
        custody = json.loads(zf.read("custody.json"))
        manifest = json.loads(zf.read("manifest.json"))
    text = json.dumps(custody, ensure_ascii=False)
    assert note_b not in text and "A's own note" in text
    own = (
        {f"item:{it['sha256']}" for it in manifest["items"]}
        | {f"match:{m['match_id']}" for it in manifest["items"] for m in it["matches"]}
        | {f"person:{person_a}"}
    )
    foreign = [r for r in custody if r["subject"] and r["subject"] not in own and r["detail"]]
    assert any(r["subject"] == f"person:{person_b}" for r in foreign)
    assert any(r["kind"] == "scan.finished" for r in foreign)
    for r in foreign:
        if r["kind"] in ("workspace.created", "custody.timestamped"):
            continue
        assert all(set(v) == {"erased_sha256"} for v in r["detail"].values()), r["kind"]
    report = verify_package(out)
    assert report.ok, report.problems
