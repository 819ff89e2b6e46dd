"""The spread network (issue 15): a generated whole-account export with known ground truth, scanned for real
(SQLite workspace, face matching), and the network built from it equals the truth exactly."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from sqlalchemy import select

from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.sources.base import Entry
from reclaim.sources.telegram import TelegramExportSource
from reclaim.spread import (
    Edge,
    Node,
    SightingRow,
    SpreadNetwork,
    edges_csv,
    graphml_bytes,
    message_link,
    network_of_rows,
    neutralise,
    nodes_csv,
    person_network,
    person_timeline,
    senders_csv,
    shared_actors,
    timeline_csv,
    timeline_of_rows,
    write_network,
)
from reclaim.store.models import Case, Cluster, Item, Match, Person, Sighting, new_id
from reclaim.workspace import Workspace

from . import spread_gen as gen
from .conftest import PASSPHRASE


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str, dict[str, str]]]:
    """One workspace: the person enrolled, the export scanned. Yields (workspace, person id, image name →
    cluster node id)."""
    tmp = tmp_path_factory.mktemp("spread")
    pictures = gen.write_export(tmp / "export")
    ws = Workspace.create(tmp / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            pid = add_person(
                s,
                ws.key,
                name="Person",
                photos=gen.enrol_photos(tmp / "own"),
                consent="test",
                recorded_by="t",
            ).person_id
            s.commit()
        scan_paths(ws, [tmp / "export"])
        with ws.session() as s:
            clusters = {}
            for name, data in pictures.items():
                item = s.scalars(select(Item).where(Item.sha256 == hashlib.sha256(data).hexdigest())).one()
                clusters[name] = f"cluster:{item.cluster_id}"
        yield ws, pid, clusters
    finally:
        ws.close()


def _truth(c: dict[str, str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The nodes (id, kind, label, aliases, first, last, count) and edges (kind, source, target, hours)."""
    a = gen.at
    nodes = [
        ("sender:user201", "sender", "blue_fox", ("blue_fox",), a(0), a(6), 2),
        ("sender:user202", "sender", "owl_2026", ("night owl", "owl_2026"), a(1), a(9), 4),
        ("sender:user203", "sender", "user203", (), a(4), a(7), 2),
        ("chat:1001", "chat", "Room One", ("Room One",), a(0), a(9), 3),
        ("chat:1002", "chat", "Room Two", ("Room Two",), a(2), a(6), 3),
        ("chat:1003", "chat", "Room Three", ("Room Three",), a(4), a(7), 2),
        ("chat:1004", "chat", "Leak Channel", ("Leak Channel",), a(3), a(3), 1),
        (c["P1"], "cluster", f"cluster {c['P1'][8:]}", (), a(0), a(7), 3),
        (c["P2"], "cluster", f"cluster {c['P2'][8:]}", (), a(1), a(5), 3),
        (c["P3"], "cluster", f"cluster {c['P3'][8:]}", (), a(4), a(9), 3),
    ]
    edges = [
        ("posted", "sender:user201", c["P1"], (0,)),
        ("posted", "sender:user201", c["P3"], (6,)),
        ("posted", "sender:user202", c["P2"], (1, 5)),
        ("posted", "sender:user202", c["P1"], (2,)),
        ("posted", "sender:user202", c["P3"], (9,)),
        ("posted", "sender:user203", c["P3"], (4,)),
        ("posted", "sender:user203", c["P1"], (7,)),
        ("in", c["P1"], "chat:1001", (0,)),
        ("in", c["P1"], "chat:1002", (2,)),
        ("in", c["P1"], "chat:1003", (7,)),
        ("in", c["P2"], "chat:1001", (1,)),
        ("in", c["P2"], "chat:1004", (3,)),
        ("in", c["P2"], "chat:1002", (5,)),
        ("in", c["P3"], "chat:1003", (4,)),
        ("in", c["P3"], "chat:1002", (6,)),
        ("in", c["P3"], "chat:1001", (9,)),
        ("forwarded_from", "sender:user201", "chat:1002", (2,)),
        ("forwarded_from", "chat:1004", "chat:1002", (5,)),
        ("forwarded_from", "sender:user202", "chat:1003", (7,)),
        ("reply_to", "sender:user201", "sender:user202", (6,)),
    ]
    return nodes, edges


def test_network_equals_the_ground_truth(scanned: tuple[Workspace, str, dict[str, str]]) -> None:
    ws, pid, clusters = scanned
    assert len(set(clusters.values())) == 4, "three pictures of the person and a faceless one: four clusters"
    with ws.session() as s:
        net = person_network(s, pid)
    want_nodes, want_edges = _truth(clusters)
    got_nodes = [(n.id, n.kind, n.label, n.aliases, n.first_seen, n.last_seen, n.count) for n in net.nodes]
    assert sorted(got_nodes, key=str) == sorted(want_nodes, key=str)
    got_edges = [(e.kind, e.source, e.target, e.times) for e in net.edges]
    want = [(k, src, dst, tuple(gen.at(h) for h in hours)) for k, src, dst, hours in want_edges]
    assert sorted(got_edges, key=str) == sorted(want, key=str)
    assert all(e.count == len(e.times) for e in net.edges)
    # the renamed sender is one node with two aliases; the deleted account is kept and flagged
    owl = net.node("sender:user202")
    assert owl.aliases == ("night owl", "owl_2026") and owl.label == "owl_2026"
    assert net.node("sender:user203").extra["deleted"] is True
    assert "deleted" not in net.node("sender:user201").extra
    assert net.node("chat:1004").extra["chat_type"] == "private_channel"
    assert net.node(clusters["P1"]).extra["items"] == 1
    assert {n.platforms for n in net.nodes} == {("telegram",)}
    assert clusters["N"] not in {n.id for n in net.nodes}, "the faceless picture is not the person's"
    # JSON shape of the contract
    doc = net.to_json()
    assert set(doc["nodes"][0]) == {
        "id",
        "kind",
        "label",
        "aliases",
        "first_seen",
        "last_seen",
        "count",
        "platforms",
        "extra",
    }
    assert set(doc["edges"][0]) == {
        "id",
        "source",
        "target",
        "kind",
        "count",
        "first_seen",
        "last_seen",
        "times",
    }
    assert doc["edges"][0]["first_seen"].endswith("+00:00")
    json.dumps(doc)
    graph = net.to_networkx()
    assert graph.number_of_nodes() == 10 and graph.number_of_edges() == 20
    with ws.session() as s:
        assert person_network(s, pid, confirmed_only=True).nodes == [], "nothing confirmed yet"


def test_timeline_first_sighting_links_and_series(scanned: tuple[Workspace, str, dict[str, str]]) -> None:
    ws, pid, c = scanned
    with ws.session() as s:
        doc = person_timeline(s, pid).to_json()
    by_cluster = {x["cluster"]: x for x in doc["clusters"]}
    assert [x["cluster"] for x in doc["clusters"]] == [c["P1"], c["P2"], c["P3"]]
    p1 = by_cluster[c["P1"]]
    assert p1["first"] == {
        "at": gen.at(0).isoformat(),
        "chat": "chat:1001",
        "sender": "sender:user201",
        "platform": "telegram",
        "link": "https://t.me/c/1001/10",
    }
    assert [(x["chat"], x["forwarded_from"], x["link"]) for x in p1["steps"]] == [
        ("chat:1001", None, "https://t.me/c/1001/10"),
        ("chat:1002", "sender:user201", "https://t.me/c/1002/20"),
        ("chat:1003", "sender:user202", None),  # a basic group has no message links
    ]
    assert by_cluster[c["P2"]]["steps"][1]["sender"] is None, "the channel's own post"
    assert doc["series"] == [
        {"date": "2026-01-10", "platform": "telegram", "chat": chat, "count": n}
        for chat, n in (("chat:1001", 3), ("chat:1002", 3), ("chat:1003", 2), ("chat:1004", 1))
    ]


def test_graphml_and_csv_round_trip(scanned: tuple[Workspace, str, dict[str, str]], tmp_path: Path) -> None:
    ws, pid, _ = scanned
    with ws.session() as s:
        net = person_network(s, pid)
        timeline = person_timeline(s, pid)
    written = write_network(net, "graphml", tmp_path / "net.graphml")
    assert list(written) == [str(tmp_path / "net.graphml")]
    graph = nx.read_graphml(tmp_path / "net.graphml", force_multigraph=True)
    assert set(graph.nodes) == {n.id for n in net.nodes}
    assert sorted((u, v, d["kind"]) for u, v, d in graph.edges(data=True)) == sorted(
        (e.source, e.target, e.kind) for e in net.edges
    )
    owl = graph.nodes["sender:user202"]
    assert owl["aliases"] == "night owl | owl_2026" and owl["count"] == 4 and owl["kind"] == "sender"
    assert graph.nodes["sender:user203"]["extra_deleted"] is True
    assert datetime.fromisoformat(owl["first_seen"]) == gen.at(1)

    write_network(net, "csv", tmp_path / "tables")
    nodes = list(csv.DictReader(io.StringIO((tmp_path / "tables" / "nodes.csv").read_text("utf-8"))))
    edges = list(csv.DictReader(io.StringIO((tmp_path / "tables" / "edges.csv").read_text("utf-8"))))
    assert [r["id"] for r in nodes] == [n.id for n in net.nodes]
    assert [(r["source"], r["target"], r["kind"], int(r["count"])) for r in edges] == [
        (e.source, e.target, e.kind, e.count) for e in net.edges
    ]
    assert json.loads(nodes[0]["extra"]) == net.nodes[0].extra
    senders = list(csv.DictReader(io.StringIO(senders_csv(net, timeline))))
    assert [r["sender_id"] for r in senders] == ["user201", "user202", "user203"]
    assert senders[0]["message_links"].split() == ["https://t.me/c/1001/10", "https://t.me/c/1002/22"]
    assert senders[2]["deleted"] == "yes"
    rows = list(csv.DictReader(io.StringIO(timeline_csv(net, timeline))))
    assert len(rows) == 9 and rows[0]["chat_name"] == "Room One"


def test_csv_neutralises_formulas_and_graphml_survives_control_characters(tmp_path: Path) -> None:
    hostile = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "bell\x07name"]
    nodes = [
        Node(f"sender:user{i}", "sender", name, (name,), None, None, 1, ("telegram",), {"chats": []})
        for i, name in enumerate(hostile)
    ]
    net = SpreadNetwork(
        nodes=nodes, edges=[Edge("sender:user0", "sender:user1", "reply_to", 1, None, None, ())]
    )
    table = list(csv.reader(io.StringIO(nodes_csv(net))))[1:]
    labels = [row[2] for row in table]
    assert labels[:5] == ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "'\tx"]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t")) for row in table for cell in row)
    assert neutralise("plain") == "plain" and neutralise(None) == ""
    assert "sender:user0" in edges_csv(net)
    graph = nx.read_graphml(io.BytesIO(graphml_bytes(net)))
    assert graph.nodes["sender:user5"]["label"] == "bell\ufffdname"


def _case(ws: Workspace, photos: list[Path]) -> tuple[str, str]:
    case_id = new_id()
    with ws.session() as s:
        pid = add_person(
            s, ws.key, name="P", photos=photos, consent="t", recorded_by="t", case_id=case_id
        ).person_id
        s.add(Case(id=case_id, title="T", person_id=pid, status="open"))
        s.commit()
    return case_id, pid


def test_scope_isolation_and_shared_actors(tmp_path: Path) -> None:
    """Case B's material (the same pictures, posted by a stranger and by blue_fox) never shows in case A's
    network; blue_fox, seen in both cases, is a shared actor (case ids and counts only)."""
    gen.write_export(tmp_path / "a")
    other = (
        gen.Post(20, 1001, 50, "P1", "stranger", "user999"),
        gen.Post(21, 1002, 60, "P2", "blue_fox", "user201"),
    )
    gen.write_export(tmp_path / "b", other)
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        photos = gen.enrol_photos(tmp_path / "own")
        case_a, person_a = _case(ws, photos)
        case_b, person_b = _case(ws, photos)
        scan_paths(ws, [tmp_path / "a"], case_id=case_a)
        scan_paths(ws, [tmp_path / "b"], case_id=case_b)
        with ws.session() as s:
            net_a = person_network(s, person_a)
            net_b = person_network(s, person_b)
            tl_a = person_timeline(s, person_a)
            actors = shared_actors(s)
    finally:
        ws.close()
    ids_a = {n.id for n in net_a.nodes}
    assert "sender:user999" not in ids_a and "sender:user999" in {n.id for n in net_b.nodes}
    assert net_a.node("sender:user201").count == 2, "case B's post by the same sender is not in A's count"
    assert net_a.node("chat:1001").last_seen == gen.at(9)
    assert all(step.at is None or step.at < gen.at(20) for c in tl_a.clusters for step in c.steps)
    assert {n.id for n in net_b.nodes if n.kind != "cluster"} == {
        "sender:user999",
        "sender:user201",
        "chat:1001",
        "chat:1002",
    }
    shared = {a.id: a for a in actors}
    assert set(shared) == {"sender:user201", "chat:1001", "chat:1002"}
    fox = shared["sender:user201"]
    assert fox.counts == {case_a: 2, case_b: 1} and set(fox.cases) == {case_a, case_b}
    text = json.dumps([a.to_json() for a in actors])
    assert "stranger" not in text and "Person" not in text


def _r(n: int, **kw: Any) -> SightingRow:
    base: dict[str, Any] = {
        "id": n,
        "item_id": 1,
        "cluster": "cluster:1",
        "item_sha256": "ab" * 32,
        "platform": "telegram",
        "chat": "chat:1",
        "chat_id": "1",
        "chat_name": "Room",
        "chat_type": "private_group",
        "message_id": n,
        "sender": "sender:user1",
        "sender_name": "one",
        "at": gen.at(n),
        "forwarded_from": None,
        "reply_to": None,
        "link": None,
        "case": None,
    }
    return SightingRow(**{**base, **kw})


def test_forward_names_that_match_nothing_or_two_ids_stay_unresolved() -> None:
    rows = [
        _r(0),
        _r(1, chat="chat:2", chat_id="2", chat_name="Twin", sender="sender:user2", sender_name="two"),
        _r(2, chat="chat:3", chat_id="3", chat_name="Twin", sender="sender:user3", sender_name="three"),
        _r(3, forwarded_from="Twin"),
        _r(4, forwarded_from="Somewhere else"),
        _r(5, forwarded_from="three", at=None),
    ]
    net = network_of_rows(None, rows, [None])  # type: ignore[arg-type]  # no reply: no query
    forwards = {(e.source, e.target): e for e in net.edges if e.kind == "forwarded_from"}
    assert set(forwards) == {
        ("chat:unresolved:Twin", "chat:1"),
        ("chat:unresolved:Somewhere else", "chat:1"),
        ("sender:user3", "chat:1"),
    }
    assert (
        forwards[("sender:user3", "chat:1")].times == () and forwards[("sender:user3", "chat:1")].count == 1
    )
    origin = net.node("chat:unresolved:Somewhere else")
    assert origin.extra["unresolved"] is True and origin.count == 0 and origin.aliases == ("Somewhere else",)
    timeline = timeline_of_rows(rows)
    assert [s.forwarded_from for s in timeline.clusters[0].steps][3:] == [
        "chat:unresolved:Twin",
        "chat:unresolved:Somewhere else",
        "sender:user3",
    ]
    assert timeline.clusters[0].steps[-1].at is None, "undated sightings come last"


def test_message_links() -> None:
    assert message_link("1001", "private_supergroup", 7) == "https://t.me/c/1001/7"
    assert message_link("-1001001", "private_channel", 7) == "https://t.me/c/1001/7"
    assert message_link("1001", "public_channel", 7, "@leaks") == "https://t.me/leaks/7"
    assert message_link("1001", "private_group", 7) is None
    assert message_link("1001", "personal_chat", 7) is None
    assert message_link("user5", "private_supergroup", 7) is None
    assert message_link("1001", "private_supergroup", None) is None


def test_telegram_source_keeps_saved_from_and_reply_peer(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(gen.images()["N"])
    msg = {
        "id": 5,
        "type": "message",
        "date_unixtime": "1767225600",
        "from": "x",
        "from_id": "user1",
        "saved_from": "Leak Channel",
        "reply_to_message_id": 3,
        "reply_to_peer_id": "channel77",
        "photo": "photos/a.jpg",
        "text": "",
    }
    doc = {"name": "Room", "type": "private_supergroup", "id": 1, "messages": [msg]}
    (tmp_path / "result.json").write_text(json.dumps(doc), encoding="utf-8")
    (entry,) = [e for e in TelegramExportSource().entries(tmp_path) if isinstance(e, Entry)]
    assert entry.sighting.extra == {"saved_from": "Leak Channel", "reply_to_peer_id": "channel77"}
    assert entry.sighting.reply_to == 3 and entry.sighting.forwarded_from is None


def test_web_sightings_are_in_a_site_chat(workspace: Workspace) -> None:
    """A captured web page's image: its chat is the site, its time the capture's, its link the page."""
    with workspace.session() as s:
        person = Person(name="P")
        cluster = Cluster()
        s.add_all([person, cluster])
        s.flush()
        item = Item(sha256="cd" * 32, md5="0" * 32, size=1, cluster_id=cluster.id)
        s.add(item)
        s.flush()
        s.add(Match(person_id=person.id, item_id=item.id, kind="face", distance=0.3))
        s.add(
            Sighting(
                dedupe_key="k" * 64,
                item_id=item.id,
                source="web",
                source_key="web|x",
                extra={
                    "url": "https://img.example.net/a.jpg",
                    "page_url": "https://forum.example.org/t/1",
                    "captured_at": "2026-01-10T05:00:00+00:00",
                },
            )
        )
        s.commit()
        net = person_network(s, person.id)
        timeline = person_timeline(s, person.id)
    site = net.node("chat:web:forum.example.org")
    assert (
        site.platforms == ("web",) and site.extra["chat_type"] == "website" and site.first_seen == gen.at(5)
    )
    assert [e.kind for e in net.edges] == ["in"]
    (step,) = timeline.clusters[0].steps
    assert step.link == "https://forum.example.org/t/1" and step.sender is None and step.platform == "web"


def test_senders_without_ids_are_nodes_by_name(workspace: Workspace) -> None:
    """Telegram's HTML export has no sender ids: a sender is a node by name; a channel's post (its own
    name as sender) has none."""
    with workspace.session() as s:
        person = Person(name="P")
        s.add(person)
        s.flush()
        item = Item(sha256="ef" * 32, md5="0" * 32, size=1)
        s.add(item)
        s.flush()
        s.add(Match(person_id=person.id, item_id=item.id, kind="face", distance=0.3))
        common = {"item_id": item.id, "source": "telegram", "chat_type": "private_channel"}
        for n, (chat, sender) in enumerate((("Room", "fox"), ("Leaks", "Leaks"))):
            s.add(
                Sighting(
                    dedupe_key=str(n) * 64,
                    source_key=f"k{n}",
                    chat_id=str(n),
                    chat_name=chat,
                    message_id=n + 1,
                    sender=sender,
                    posted_at=gen.at(n),
                    **common,
                )
            )
        s.commit()
        net = person_network(s, person.id)
    senders = [n for n in net.nodes if n.kind == "sender"]
    assert [(n.id, n.extra["by_name"], n.count) for n in senders] == [("sender:name:fox", True, 1)]
    assert net.node(f"cluster:item-{item.id}").count == 2, "an item without a cluster is its own"


def test_a_reply_to_material_of_someone_else_names_its_sender(workspace: Workspace) -> None:
    """The replied-to message is a sighting of another (unmatched) item in scope: its sender is a node with
    the name it had, no post counted."""
    with workspace.session() as s:
        person = Person(name="P")
        s.add(person)
        s.flush()
        mine, other = (
            Item(sha256="a1" * 32, md5="0" * 32, size=1),
            Item(sha256="b2" * 32, md5="0" * 32, size=1),
        )
        s.add_all([mine, other])
        s.flush()
        s.add(Match(person_id=person.id, item_id=mine.id, kind="face", distance=0.3))
        for n, (item, sender_id, name, reply) in enumerate(
            ((other, "user9", "asker", None), (mine, "user1", "fox", 1))
        ):
            s.add(
                Sighting(
                    dedupe_key=str(n) * 64,
                    source_key=f"k{n}",
                    item_id=item.id,
                    source="telegram",
                    chat_id="1",
                    chat_name="Room",
                    message_id=n + 1,
                    sender=name,
                    sender_id=sender_id,
                    reply_to=reply,
                    posted_at=gen.at(n),
                )
            )
        s.commit()
        net = person_network(s, person.id)
    asker = net.node("sender:user9")
    assert (asker.label, asker.aliases, asker.count, asker.first_seen) == ("asker", ("asker",), 0, None)
    assert [(e.kind, e.source, e.target) for e in net.edges if e.kind == "reply_to"] == [
        ("reply_to", "sender:user1", "sender:user9")
    ]


def test_html_export_network_by_names(tmp_path: Path) -> None:
    """The same story as an HTML export: senders are nodes by name (a rename is two nodes: HTML has no
    ids), chats by their html: ids; the edges are the JSON export's, mapped onto those nodes."""
    pictures = gen.write_html_export(tmp_path / "export")
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            pid = add_person(
                s, ws.key, name="P", photos=gen.enrol_photos(tmp_path / "own"), consent="t", recorded_by="t"
            ).person_id
            s.commit()
        scan_paths(ws, [tmp_path / "export"])
        with ws.session() as s:
            net = person_network(s, pid)
            c = {}
            for name, data in pictures.items():
                item = s.scalars(select(Item).where(Item.sha256 == hashlib.sha256(data).hexdigest())).one()
                c[name] = f"cluster:{item.cluster_id}"
    finally:
        ws.close()
    chat = {n.label: n.id for n in net.nodes if n.kind == "chat"}
    assert sorted(chat) == ["Leak Channel", "Room One", "Room Three", "Room Two"]
    assert all(i.startswith("chat:html:") for i in chat.values())
    senders = {n.id: (n.count, n.extra.get("by_name")) for n in net.nodes if n.kind == "sender"}
    assert senders == {
        "sender:name:blue_fox": (2, True),
        "sender:name:night owl": (2, True),
        "sender:name:owl_2026": (2, True),
        "sender:name:Deleted Account": (2, True),
    }
    fox, owl = "sender:name:blue_fox", "sender:name:owl_2026"
    one, two, three, leak = chat["Room One"], chat["Room Two"], chat["Room Three"], chat["Leak Channel"]
    got = {(e.kind, e.source, e.target): tuple(t.hour for t in e.times) for e in net.edges if e.kind != "in"}
    assert got == {
        ("posted", fox, c["P1"]): (0,),
        ("posted", fox, c["P3"]): (6,),
        ("posted", "sender:name:night owl", c["P2"]): (1,),
        ("posted", "sender:name:night owl", c["P1"]): (2,),
        ("posted", owl, c["P2"]): (5,),
        ("posted", owl, c["P3"]): (9,),
        ("posted", "sender:name:Deleted Account", c["P3"]): (4,),
        ("posted", "sender:name:Deleted Account", c["P1"]): (7,),
        ("forwarded_from", fox, two): (2,),
        ("forwarded_from", leak, two): (5,),
        ("forwarded_from", owl, three): (7,),
        ("reply_to", fox, owl): (6,),
    }
    assert sum(1 for e in net.edges if e.kind == "in") == 9 and one in {e.target for e in net.edges}
