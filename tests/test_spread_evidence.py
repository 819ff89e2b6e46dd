"""``evidence export --network`` (issue 15, outcomes 3 and 5): the spread network's three members are in the
signed package, ``evidence verify`` accepts it and rejects a flipped byte in each; report.pdf gets the
network figure and the who-posted-where-when section, with attacker-chosen names kept as plain text."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest
from sqlalchemy import select

from reclaim.evidence.package import export_package
from reclaim.evidence.report import pdf_report
from reclaim.evidence.spread import network_png
from reclaim.evidence.verify import NETWORK_GRAPHML, NETWORK_SENDERS, NETWORK_TIMELINE, verify_package
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.store.models import Event
from reclaim.workspace import Workspace

from . import spread_gen as gen
from .conftest import PASSPHRASE
from .test_evidence import flip, read_members, replace, write_members
from .test_report import _text

HOSTILE = "<b>$\\alpha$</b> =cmd|' /C calc'!A0"
POSTS = (*gen.POSTS, gen.Post(10, 1001, 14, "P1", HOSTILE, "user204"))
MEMBERS = (NETWORK_GRAPHML, NETWORK_SENDERS, NETWORK_TIMELINE)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Workspace]]:
    tmp = tmp_path_factory.mktemp("spread-evidence")
    gen.write_export(tmp / "export", POSTS)
    ws = Workspace.create(tmp / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            pid = add_person(
                s, ws.key, name="Person", photos=gen.enrol_photos(tmp / "own"), consent="t", recorded_by="t"
            ).person_id
            s.commit()
        scan_paths(ws, [tmp / "export"])
        out = tmp / "package.zip"
        export_package(ws, person_id=pid, out=out, report=pdf_report("en"), network=True)
        yield out, ws
    finally:
        ws.close()


def test_network_members_are_signed_and_verified(package: tuple[Path, Workspace], tmp_path: Path) -> None:
    path, ws = package
    report = verify_package(path)
    assert report.ok, report.problems
    assert report.checked["network"] == 3
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        graphml = zf.read(NETWORK_GRAPHML)
        senders = zf.read(NETWORK_SENDERS).decode("utf-8")
        timeline = zf.read(NETWORK_TIMELINE).decode("utf-8")
    assert set(MEMBERS) <= set(manifest["files"])
    assert manifest["network"]["nodes"] == {"sender": 4, "chat": 4, "cluster": 3}
    graph = nx.read_graphml(io.BytesIO(graphml), force_multigraph=True)
    assert (
        graph.number_of_nodes() == 11 and graph.nodes["sender:user202"]["aliases"] == "night owl | owl_2026"
    )
    rows = list(csv.DictReader(io.StringIO(senders)))
    hostile = next(r for r in rows if r["sender_id"] == "user204")
    assert hostile["name"] == HOSTILE, "a name starting with < is not a formula: kept as is"
    assert len(list(csv.DictReader(io.StringIO(timeline)))) == 10
    with ws.session() as s:
        export = s.scalars(select(Event).where(Event.kind == "evidence.exported")).one()
        assert export.detail["network"]["nodes"] == {"sender": 4, "chat": 4, "cluster": 3}
        assert "blue_fox" not in json.dumps(export.detail)

    members = read_members(path)
    for name in MEMBERS:
        data = next(d for info, d in members if info.filename == name)
        for offset in (0, len(data) // 2, len(data) - 1):
            bad = write_members(tmp_path / "bad.zip", replace(members, name, flip(data, offset)))
            result = verify_package(bad)
            assert not result.ok and any(name in p and "changed" in p for p in result.problems), (
                name,
                offset,
            )


def test_report_has_the_figure_and_the_who_posted_section(
    package: tuple[Path, Workspace], tmp_path: Path
) -> None:
    path, _ = package
    pdf = tmp_path / "report.pdf"
    with zipfile.ZipFile(path) as zf:
        pdf.write_bytes(zf.read("report/report.pdf"))
        manifest = json.loads(zf.read("manifest.json"))
    text = " ".join(_text(pdf))
    assert "Spread network: who posted, where" in text and "Who posted, where, when" in text
    assert "4 sender(s), 4 chat(s), 3 image cluster(s); 21 link(s)." in text
    for expected in ("user201", "night owl | owl_2026", "(deleted account)", "https://t.me/c/1001/10"):
        assert expected in text, expected
    assert "<b>$\\alpha$</b>" in text, "markup and mathtext in a name stay literal text"
    png = network_png(manifest["network"], [])
    assert png is not None and png.startswith(b"\x89PNG")
