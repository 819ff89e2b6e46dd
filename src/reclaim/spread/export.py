"""A spread network as files: GraphML (Gephi, networkx), CSV tables a spreadsheet opens.

GraphML attributes are flat and typed for Gephi: lists are joined into one string (aliases with `` | ``,
platforms and chats with ``,``, times with spaces), times are ISO-8601 strings, the node's ``extra`` keys
become ``extra_<key>`` attributes. Characters XML 1.0 cannot hold (controls in a name) become U+FFFD.

CSV cells are data, never formulas: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading apostrophe (names are chosen by the people who posted the material).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from reclaim.errors import UserError
from reclaim.spread.model import SpreadNetwork, SpreadTimeline, iso

Format = Literal["json", "graphml", "csv"]
FORMATS: tuple[Format, ...] = ("json", "graphml", "csv")
ALIAS_SEPARATOR = " | "
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

NODE_COLUMNS = ("id", "kind", "label", "aliases", "first_seen", "last_seen", "count", "platforms", "extra")
EDGE_COLUMNS = ("id", "source", "target", "kind", "count", "first_seen", "last_seen", "times")
SENDER_COLUMNS = (
    "sender_id",
    "name",
    "aliases",
    "deleted",
    "first_post",
    "last_post",
    "posts",
    "chats",
    "message_links",
)
TIMELINE_COLUMNS = (
    "at",
    "cluster",
    "platform",
    "chat",
    "chat_name",
    "sender",
    "sender_name",
    "forwarded_from",
    "link",
)


def neutralise(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _xml(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _flat(value: Any) -> str | int | float | bool:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return _xml(",".join(str(v) for v in value))
    if isinstance(value, dict):
        return _xml(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return _xml(str(value))


def graphml_bytes(network: SpreadNetwork) -> bytes:
    """The network as GraphML (UTF-8), read back by ``networkx.read_graphml`` and Gephi."""
    import networkx as nx  # here, not at the top: ≈ 80 ms of start-up that every scan would pay

    graph = nx.MultiDiGraph()
    for n in network.nodes:
        attrs: dict[str, Any] = {
            "kind": n.kind,
            "label": _xml(n.label),
            "aliases": _xml(ALIAS_SEPARATOR.join(n.aliases)),
            "count": n.count,
            "platforms": ",".join(n.platforms),
        }
        for key, at in (("first_seen", n.first_seen), ("last_seen", n.last_seen)):
            if at is not None:
                attrs[key] = iso(at)
        for key, value in sorted(n.extra.items()):
            if value is not None:
                attrs[f"extra_{key}"] = _flat(value)
        graph.add_node(_xml(n.id), **attrs)
    for e in network.edges:
        attrs = {"kind": e.kind, "count": e.count, "times": " ".join(iso(t) or "" for t in e.times)}
        for key, at in (("first_seen", e.first_seen), ("last_seen", e.last_seen)):
            if at is not None:
                attrs[key] = iso(at)
        graph.add_edge(_xml(e.source), _xml(e.target), key=e.id, **attrs)
    buf = io.BytesIO()
    nx.write_graphml(graph, buf, encoding="utf-8")
    return buf.getvalue()


def _csv(columns: tuple[str, ...], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
    return buf.getvalue()


def nodes_csv(network: SpreadNetwork) -> str:
    rows: list[list[object]] = [
        [
            n.id,
            n.kind,
            n.label,
            ALIAS_SEPARATOR.join(n.aliases),
            iso(n.first_seen),
            iso(n.last_seen),
            n.count,
            ",".join(n.platforms),
            json.dumps(n.extra, ensure_ascii=False, sort_keys=True) if n.extra else "",
        ]
        for n in network.nodes
    ]
    return _csv(NODE_COLUMNS, rows)


def edges_csv(network: SpreadNetwork) -> str:
    rows: list[list[object]] = [
        [
            e.id,
            e.source,
            e.target,
            e.kind,
            e.count,
            iso(e.first_seen),
            iso(e.last_seen),
            " ".join(iso(t) or "" for t in e.times),
        ]
        for e in network.edges
    ]
    return _csv(EDGE_COLUMNS, rows)


def _labels(network: SpreadNetwork) -> dict[str, str]:
    return {n.id: n.label for n in network.nodes}


def senders_csv(network: SpreadNetwork, timeline: SpreadTimeline) -> str:
    """Who posted, where, when: one row per sender, with the message links of their posts."""
    links: dict[str, list[str]] = defaultdict(list)
    for cluster in timeline.clusters:
        for step in cluster.steps:
            if step.sender and step.link and step.link not in links[step.sender]:
                links[step.sender].append(step.link)
    labels = _labels(network)
    rows: list[list[object]] = []
    for n in network.nodes:
        if n.kind != "sender":
            continue
        chats = [f"{labels.get(c, c)} ({c})" for c in n.extra.get("chats", [])]
        rows.append(
            [
                n.id.removeprefix("sender:"),
                n.label,
                ALIAS_SEPARATOR.join(n.aliases),
                "yes" if n.extra.get("deleted") else "",
                iso(n.first_seen),
                iso(n.last_seen),
                n.count,
                "; ".join(chats),
                " ".join(links.get(n.id, [])),
            ]
        )
    return _csv(SENDER_COLUMNS, rows)


def timeline_csv(network: SpreadNetwork, timeline: SpreadTimeline) -> str:
    """Every sighting of the network, cluster by cluster, oldest first."""
    labels = _labels(network)
    rows: list[list[object]] = []
    for cluster in timeline.clusters:
        for s in cluster.steps:
            rows.append(
                [
                    iso(s.at),
                    cluster.cluster,
                    s.platform,
                    s.chat,
                    labels.get(s.chat, "") if s.chat else "",
                    s.sender,
                    labels.get(s.sender, "") if s.sender else "",
                    s.forwarded_from,
                    s.link,
                ]
            )
    return _csv(TIMELINE_COLUMNS, rows)


def write_network(network: SpreadNetwork, fmt: str, out: Path | None) -> dict[str, bytes | str]:
    """The files of ``network`` in ``fmt``, by name; written under ``out`` when given.

    ``json`` and ``graphml`` are one file (``out`` is that file; a folder gets ``network.json`` /
    ``network.graphml`` inside); ``csv`` is ``nodes.csv`` and ``edges.csv`` (``out`` is a folder, created if
    needed; a path ending in ``.csv`` names the nodes file, the edges file beside it)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    files: dict[str, bytes | str]
    if fmt == "json":
        files = {"network.json": json.dumps(network.to_json(), ensure_ascii=False, indent=2) + "\n"}
    elif fmt == "graphml":
        files = {"network.graphml": graphml_bytes(network)}
    else:
        files = {"nodes.csv": nodes_csv(network), "edges.csv": edges_csv(network)}
    if out is None:
        return files
    targets = _targets(out, list(files))
    for name, data in files.items():
        path = targets[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8", newline="")
    return {str(targets[name]): data for name, data in files.items()}


def _targets(out: Path, names: list[str]) -> dict[str, Path]:
    if len(names) == 1:
        return {names[0]: out / names[0] if out.is_dir() else out}
    if out.suffix.lower() == ".csv":
        return {"nodes.csv": out, "edges.csv": out.with_name(out.stem.removesuffix("nodes") + "edges.csv")}
    return {name: out / name for name in names}
