"""Case isolation (issue 12, D3 and D5): what one case's person is matched against, and what explaining an
item shows, is limited to that case. Real SQLite workspace; the sample export's pasted faces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from reclaim.demo import build_sample_export
from reclaim.forensics.service import explain_item, resolve_item
from reclaim.matching.queries import list_matches
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
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
