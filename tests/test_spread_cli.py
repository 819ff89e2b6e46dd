"""``reclaim network`` (issue 15): the CLI over reclaim.spread writes JSON, GraphML and CSV, records a
custody event with counts and no names, and refuses what it cannot do with one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.store.models import Event
from reclaim.workspace import Workspace

from . import spread_gen as gen
from .conftest import PASSPHRASE

runner = CliRunner()


def test_network_command_formats_and_custody(cli_env: Path, tmp_path: Path) -> None:
    gen.write_export(tmp_path / "export")
    ws = Workspace.create(cli_env, PASSPHRASE)
    try:
        with ws.session() as s:
            pid = add_person(
                s,
                ws.key,
                name="Person",
                photos=gen.enrol_photos(tmp_path / "own"),
                consent="t",
                recorded_by="t",
            ).person_id
            s.commit()
        scan_paths(ws, [tmp_path / "export"])
    finally:
        ws.close()

    r = runner.invoke(app, ["network", "--person", pid])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["nodes"] == {"sender": 3, "chat": 4, "cluster": 3}
    assert len(doc["network"]["nodes"]) == 10 and len(doc["network"]["edges"]) == 20

    r = runner.invoke(
        app, ["network", "--person", pid, "--format", "graphml", "--out", str(tmp_path / "n.graphml")]
    )
    assert r.exit_code == 0, r.output
    assert "3 sender(s), 4 chat(s), 3 cluster(s)" in r.stdout
    assert nx.read_graphml(tmp_path / "n.graphml", force_multigraph=True).number_of_edges() == 20

    r = runner.invoke(
        app, ["network", "--person", pid, "--format", "csv", "--out", str(tmp_path / "t"), "--json"]
    )
    assert r.exit_code == 0, r.output
    assert sorted(Path(f).name for f in json.loads(r.stdout)["files"]) == ["edges.csv", "nodes.csv"]
    assert (tmp_path / "t" / "nodes.csv").read_text("utf-8").startswith("id,kind,label")

    for bad, says in (
        (["--format", "csv"], "give --out"),
        (["--format", "xml", "--out", str(tmp_path / "x")], "unknown format"),
        (["--case", "nope"], "not a case of person"),
    ):
        r = runner.invoke(app, ["network", "--person", pid, *bad])
        assert r.exit_code == 2 and says in r.output, (bad, r.output)
    r = runner.invoke(app, ["network", "--person", "nobody"])
    assert r.exit_code == 2 and "no person" in r.output

    package = tmp_path / "case.zip"
    r = runner.invoke(
        app, ["evidence", "export", "--person", pid, "--network", "--out", str(package), "--json"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["evidence", "verify", str(package), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["checked"]["network"] == 3, r.output

    ws = Workspace.open(cli_env, PASSPHRASE)
    try:
        with ws.session() as s:
            events = list(s.scalars(select(Event).where(Event.kind == "network.exported").order_by(Event.id)))
            details = [e.detail for e in events]
        assert ws.verify_custody() == []
    finally:
        ws.close()
    assert len(details) == 3, "one event per export; refused exports write none"
    assert details[1]["files"] == ["n.graphml"] and details[1]["nodes"]["sender"] == 3
    text = json.dumps(details)
    assert "blue_fox" not in text and "Room One" not in text and "Person" not in text
