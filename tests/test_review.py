"""Reviewing matches: confirm/reject, one event per change, cluster-wide decisions, the CLI contract.
Runs on a real SQLite workspace holding the scanned sample export (built once, copied per test)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

import reclaim.events
import reclaim.review.service as review_service
from reclaim.cli import app
from reclaim.demo import build_sample_export
from reclaim.errors import NotFound
from reclaim.persons.service import add_person
from reclaim.review import review_match
from reclaim.scan.service import scan_paths
from reclaim.store.models import Event, Item, Match
from reclaim.workspace import Workspace

from .conftest import PASSPHRASE

runner = CliRunner()
EVENT_KEYS = {"match_id", "person_id", "item_sha256", "previous_status", "note", "via"}


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with one enrolled person and the sample export scanned (6 face matches, 1 hash)."""
    base = tmp_path_factory.mktemp("review")
    sample = build_sample_export(base / "ChatExport")
    ws = Workspace.create(base / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            add_person(s, ws.key, name="Client 07", photos=sample.enrol_photos,
                       known_images=[sample.known_image], consent="test consent")  # fmt: skip
        scan_paths(ws, [sample.root], workers=1)
    finally:
        ws.close()
    return base / "ws"


@pytest.fixture
def ws_dir(scanned: Path, cli_env: Path) -> Path:
    """A fresh copy of the scanned workspace, also the CLI's workspace (RECLAIM_WORKSPACE)."""
    shutil.copytree(scanned, cli_env)
    return cli_env


@pytest.fixture
def ws(ws_dir: Path) -> Iterator[Workspace]:
    w = Workspace.open(ws_dir, PASSPHRASE)
    try:
        yield w
    finally:
        w.close()


def statuses(ws: Workspace) -> dict[str, str]:
    with ws.session() as s:
        return {m.id: m.status for m in s.scalars(select(Match))}


def review_events(ws: Workspace) -> list[Event]:
    with ws.session() as s:
        return list(
            s.scalars(
                select(Event).where(Event.kind.in_(("match.confirmed", "match.rejected"))).order_by(Event.id)
            )
        )


def repost_cluster(ws: Workspace) -> tuple[int, list[str]]:
    """The cluster of photo_1, its resized q40 repost and its mirror: (cluster id, its face match ids)."""
    with ws.session() as s:
        rows = s.execute(
            select(Item.cluster_id, Match.id).join(Item, Item.id == Match.item_id).where(Match.kind == "face")
        ).all()
    by_cluster: dict[int, list[str]] = {}
    for cluster_id, match_id in rows:
        if cluster_id is not None:
            by_cluster.setdefault(cluster_id, []).append(match_id)
    cluster_id, ids = next((c, ids) for c, ids in by_cluster.items() if len(ids) == 3)
    return cluster_id, sorted(ids)


def a_face_match_outside_clusters(ws: Workspace) -> str:
    with ws.session() as s:
        clustered = select(Item.cluster_id).group_by(Item.cluster_id).having(func.count() > 1)
        return s.scalars(
            select(Match.id)
            .join(Item, Item.id == Match.item_id)
            .where(Match.kind == "face", Item.cluster_id.not_in(clustered))
            .order_by(Match.id)
        ).first() or pytest.fail("no unclustered face match in the sample")


def test_confirm_one_match_writes_one_event(ws: Workspace) -> None:
    match_id = a_face_match_outside_clusters(ws)
    before = statuses(ws)
    with ws.session() as s:
        result = review_match(s, match_id=match_id, decision="confirmed", actor="advocate:test")
    assert [(d.match_id, d.status, d.previous_status, d.via) for d in result.decided] == [
        (match_id, "confirmed", "candidate", "direct")
    ]
    assert result.unchanged == [] and result.cluster_items_without_match == []
    after = statuses(ws)
    assert after[match_id] == "confirmed"
    assert {k: v for k, v in after.items() if k != match_id} == {
        k: v for k, v in before.items() if k != match_id
    }
    (event,) = review_events(ws)
    assert event.kind == "match.confirmed" and event.subject == f"match:{match_id}"
    assert event.actor == "advocate:test"
    assert event.detail is not None and set(event.detail) == EVENT_KEYS
    assert event.detail["previous_status"] == "candidate" and event.detail["via"] == "direct"
    assert event.detail["note"] is None and len(event.detail["item_sha256"]) == 64


def test_reject_with_note_and_repeat_is_a_noop(ws: Workspace) -> None:
    match_id = a_face_match_outside_clusters(ws)
    code, out, err = invoke("review", match_id, "--reject", "--note", "  not her: different tattoo  ")
    assert code == 0, err
    assert f"{match_id}: candidate -> rejected" in out
    assert statuses(ws)[match_id] == "rejected"
    (event,) = review_events(ws)
    assert event.kind == "match.rejected" and event.detail is not None
    assert event.detail["note"] == "not her: different tattoo"

    code, out, err = invoke("review", match_id, "--reject", "--json")
    assert code == 0, err
    assert json.loads(out)["decided"] == [] and json.loads(out)["unchanged"] == [match_id]
    with ws.session() as s:
        assert review_match(s, match_id=match_id, decision="rejected").decided == []
    assert len(review_events(ws)) == 1, "re-applying a decision writes nothing"


def test_changing_a_decision_is_logged_with_the_previous_status(ws: Workspace) -> None:
    match_id = a_face_match_outside_clusters(ws)
    assert invoke("review", match_id, "--confirm")[0] == 0
    code, out, err = invoke("review", match_id, "--reject", "--note", "second look", "--json")
    assert code == 0, err
    assert json.loads(out)["decided"] == [
        {"match_id": match_id, "status": "rejected", "previous_status": "confirmed"}
    ]
    first, second = review_events(ws)
    assert (first.kind, second.kind) == ("match.confirmed", "match.rejected")
    assert second.detail is not None and second.detail["previous_status"] == "confirmed"


def test_cluster_confirm_decides_the_reposts(ws: Workspace) -> None:
    cluster_id, face_ids = repost_cluster(ws)
    with ws.session() as s:
        in_cluster = set(
            s.scalars(
                select(Match.id).join(Item, Item.id == Match.item_id).where(Item.cluster_id == cluster_id)
            )
        )
    named = face_ids[0]
    code, out, err = invoke("review", named, "--confirm", "--cluster", "--note", "her photo", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"decided", "unchanged", "kept", "cluster_items_without_match", "reposts_pending"}
    assert result["decided"][0]["match_id"] == named, "the named match comes first"
    assert {d["match_id"] for d in result["decided"]} == in_cluster >= set(face_ids)
    for d in result["decided"]:
        assert set(d) == {"match_id", "status", "previous_status"}
        assert (d["status"], d["previous_status"]) == ("confirmed", "candidate")
    assert result["cluster_items_without_match"] == []
    after = statuses(ws)
    assert all(after[m] == "confirmed" for m in in_cluster)
    assert all(v == "candidate" for k, v in after.items() if k not in in_cluster)

    events = review_events(ws)
    assert len(events) == len(in_cluster)
    vias = {e.detail["match_id"]: e.detail["via"] for e in events if e.detail}
    assert vias[named] == "direct" and {vias[m] for m in in_cluster - {named}} == {"cluster"}
    assert all(e.detail and e.detail["note"] == "her photo" for e in events)

    code, out, _ = invoke("matches", "--status", "confirmed", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["match_id"] for r in rows} == in_cluster and {r["kind"] for r in rows} <= {"face", "hash"}


def test_cluster_keeps_opposite_decisions_and_reports_unmatched_items(ws: Workspace) -> None:
    _, (named, rejected, dropped) = repost_cluster(ws)
    assert invoke("review", rejected, "--reject")[0] == 0
    with ws.session() as s:  # as if matching had missed this repost: its item has no match for the person
        match = s.get(Match, dropped)
        assert match is not None
        dropped_sha = match.item.sha256
        s.execute(delete(Match).where(Match.item_id == match.item_id))
        s.commit()
    code, out, err = invoke("review", named, "--confirm", "--cluster", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert named in {d["match_id"] for d in result["decided"]}
    assert rejected not in {d["match_id"] for d in result["decided"]}
    assert result["kept"] == [{"match_id": rejected, "status": "rejected"}]
    assert result["cluster_items_without_match"] == [dropped_sha]
    assert statuses(ws)[rejected] == "rejected", "a cluster decision never overturns an explicit one"

    code, out, err = invoke("review", named, "--confirm", "--cluster")
    assert code == 0, err
    assert "already confirmed" in out and "kept as rejected" in out and dropped_sha in out


def test_a_review_is_all_or_nothing(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    _, face_ids = repost_cluster(ws)
    real = reclaim.events.log_event
    calls: list[str] = []

    def failing(*args: Any, **kwargs: Any) -> Event:
        calls.append(kwargs["subject"])
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(review_service, "log_event", failing)
    before = statuses(ws)
    with ws.session() as s, pytest.raises(RuntimeError):
        review_match(s, match_id=face_ids[0], decision="confirmed", cluster=True)
    assert len(calls) == 2
    assert statuses(ws) == before and review_events(ws) == []


def test_user_errors_exit_2_with_one_line(ws: Workspace) -> None:
    match_id = a_face_match_outside_clusters(ws)
    cases = [
        (["review", "doesnotexist", "--confirm"], "no match with id 'doesnotexist'"),
        (["review", match_id], "exactly one of --confirm or --reject"),
        (["review", match_id, "--confirm", "--reject"], "exactly one of --confirm or --reject"),
        (["review", match_id, "--confirm", "--note", "x" * 5000], "note"),
    ]
    for args, needle in cases:
        code, out, err = invoke(*args)
        assert code == 2, (args, code, out, err)
        assert needle in err, (args, err)
        assert err.strip().count("\n") == 0, f"one line expected: {err!r}"
        assert "Traceback" not in err
    with ws.session() as s, pytest.raises(NotFound, match="nope"):
        review_match(s, match_id="nope", decision="rejected")
    assert all(v == "candidate" for v in statuses(ws).values())
    assert review_events(ws) == []


def test_events_carry_no_image_bytes(ws: Workspace) -> None:
    _, face_ids = repost_cluster(ws)
    assert invoke("review", face_ids[0], "--confirm", "--cluster", "--note", "seen")[0] == 0
    assert invoke("review", face_ids[1], "--reject")[0] == 0
    events = review_events(ws)
    assert len(events) >= 4
    for e in events:
        assert e.detail is not None and EVENT_KEYS <= set(e.detail) <= EVENT_KEYS | {"via_match"}
        for value in e.detail.values():
            assert value is None or (isinstance(value, str) and len(value) <= 64), value
        json.dumps(e.detail)  # plain JSON: no bytes, no vectors


def test_review_help_has_example() -> None:
    code, out, _ = invoke("review", "--help")
    assert code == 0 and "Example" in out and "--cluster" in out
