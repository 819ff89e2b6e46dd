"""The spread network in an evidence package (``evidence export --network``) and its figure in the report.

Three members under ``network/`` (listed in the manifest's ``files``, so covered by its signature and by
``evidence verify``): ``network.graphml`` (Gephi, networkx), ``senders.csv`` (who posted, where, when,
with message links) and ``timeline.csv`` (every sighting, cluster by cluster). The manifest's ``network``
section holds the same graph and timeline as JSON (what the report draws from) and the counts.

The figure shows no image and no face: senders, image clusters and chats are shapes in three columns
(who → what → where) with short labels; the labels are drawn as plain text (no mathtext: a name with
``$`` in it stays as written).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from reclaim.evidence.verify import NETWORK_GRAPHML, NETWORK_SENDERS, NETWORK_TIMELINE
from reclaim.matching.scope import scopes_of
from reclaim.spread import (
    graphml_bytes,
    network_counts,
    network_of_rows,
    senders_csv,
    sighting_rows,
    timeline_csv,
    timeline_of_rows,
)
from reclaim.text import shown

MAX_LABELS = 60
"""Nodes labelled in the figure at most (the busiest); the others are drawn unlabelled."""
LABEL_CHARS = 18
_COLUMNS = {"sender": 0.0, "cluster": 1.0, "chat": 2.0}
_STYLE = {  # marker, colour
    "sender": ("o", "#c0392b"),
    "cluster": ("s", "#2c3e50"),
    "chat": ("D", "#2471a3"),
}
_EDGE_COLOUR = {"posted": "#c0392b", "in": "#2471a3", "forwarded_from": "#d68910", "reply_to": "#7d3c98"}


def network_members(
    session: Session, person_id: str, *, confirmed_only: bool
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The three member files and the manifest's ``network`` section for ``person_id`` (their scope)."""
    scopes = scopes_of(session, person_id)
    rows = sighting_rows(session, person_id, scopes, confirmed_only=confirmed_only)
    network = network_of_rows(session, rows, scopes)
    timeline = timeline_of_rows(rows)
    files = {
        NETWORK_GRAPHML: graphml_bytes(network),
        NETWORK_SENDERS: senders_csv(network, timeline).encode("utf-8"),
        NETWORK_TIMELINE: timeline_csv(network, timeline).encode("utf-8"),
    }
    section = {
        "members": sorted(files),
        **network_counts(network),
        "graph": network.to_json(),
        "timeline": timeline.to_json(),
    }
    return files, section


def short_label(node: Mapping[str, Any]) -> str:
    if node.get("kind") == "cluster":
        return "#" + str(node.get("id", "")).removeprefix("cluster:")
    text = shown(str(node.get("label") or node.get("id") or ""))
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _positions(nodes: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    columns: dict[str, list[str]] = {kind: [] for kind in _COLUMNS}
    for n in nodes:
        columns.setdefault(str(n["kind"]), []).append(str(n["id"]))
    pos: dict[str, tuple[float, float]] = {}
    for kind, ids in columns.items():
        for row, node_id in enumerate(ids):
            pos[node_id] = (_COLUMNS.get(kind, 1.0), -(row + 0.5) / max(1, len(ids)))
    return pos


def network_png(section: Mapping[str, Any], fonts: Sequence[Path]) -> bytes | None:
    """The network as a PNG (matplotlib Agg, in memory), or None when it has no node."""
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    graph = section.get("graph") or {}
    nodes: list[Mapping[str, Any]] = list(graph.get("nodes") or [])
    edges: list[Mapping[str, Any]] = list(graph.get("edges") or [])
    if not nodes:
        return None
    pos = _positions(nodes)
    families = []
    for path in fonts:
        if str(path) not in {f.fname for f in font_manager.fontManager.ttflist}:
            font_manager.fontManager.addfont(str(path))
        families.append(font_manager.FontProperties(fname=str(path)).get_name())
    prop = font_manager.FontProperties(family=[*families, "DejaVu Sans"], size=6.5)
    tallest = max(sum(1 for n in nodes if n["kind"] == kind) for kind in _COLUMNS)
    fig = Figure(figsize=(7.0, min(9.5, 1.6 + 0.28 * tallest)), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for e in edges:
        src, dst = pos.get(str(e["source"])), pos.get(str(e["target"]))
        if src is None or dst is None:
            continue
        same_column = src[0] == dst[0]
        ax.annotate(
            "",
            xy=dst,
            xytext=src,
            arrowprops={
                "arrowstyle": "-|>",
                "color": _EDGE_COLOUR.get(str(e["kind"]), "#555555"),
                "lw": 0.6 + 0.3 * min(4, int(e.get("count") or 1) - 1),
                "alpha": 0.7,
                "shrinkA": 5,
                "shrinkB": 5,
                "connectionstyle": "arc3,rad=0.45" if same_column else "arc3,rad=0.05",
            },
            annotation_clip=False,
        )
    for kind, (marker, colour) in _STYLE.items():
        points = [pos[str(n["id"])] for n in nodes if n["kind"] == kind]
        if points:
            ax.scatter(
                [p[0] for p in points], [p[1] for p in points], s=55, marker=marker, c=colour, zorder=3
            )
    busiest = sorted(nodes, key=lambda n: -int(n.get("count") or 0))[:MAX_LABELS]
    for n in busiest:
        x, y = pos[str(n["id"])]
        left = n["kind"] == "sender"
        ax.text(
            x + (-0.06 if left else 0.06),
            y,
            short_label(n),
            ha="right" if left else "left",
            va="center",
            fontproperties=prop,
            parse_math=False,
            zorder=4,
        )
    ax.set_xlim(-0.75, 2.75)
    ax.set_ylim(-1.05, 0.08)
    ax.set_xticks([0.0, 1.0, 2.0])
    ax.set_xticklabels(["senders", "image clusters", "chats"], fontproperties=prop)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from font", category=UserWarning)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def sender_rows(section: Mapping[str, Any]) -> list[list[str]]:
    """Who posted, where, when: per sender, its id, names, first and last post, chats and message links."""
    graph = section.get("graph") or {}
    nodes = list(graph.get("nodes") or [])
    labels = {str(n["id"]): str(n.get("label") or "") for n in nodes}
    links: dict[str, list[str]] = {}
    for cluster in (section.get("timeline") or {}).get("clusters") or []:
        for step in cluster.get("steps") or []:
            sender, link = step.get("sender"), step.get("link")
            if sender and link and link not in links.setdefault(str(sender), []):
                links[str(sender)].append(str(link))
    rows = []
    for n in nodes:
        if n.get("kind") != "sender":
            continue
        extra = n.get("extra") or {}
        names = " | ".join(str(a) for a in n.get("aliases") or []) or "—"
        if extra.get("deleted"):
            names += " (deleted account)"
        chats = ", ".join(labels.get(str(c), str(c)) for c in extra.get("chats") or [])
        rows.append(
            [
                str(n["id"]).removeprefix("sender:"),
                names,
                f"{str(n.get('first_seen') or '?')[:19]}\n{str(n.get('last_seen') or '?')[:19]}",
                str(n.get("count") or 0),
                chats or "—",
                "\n".join(links.get(str(n["id"]), [])) or "—",
            ]
        )
    return rows
