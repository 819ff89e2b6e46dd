"""The shapes of a spread network, its timeline and the actors shared across cases (no database here).

Names in these objects (sender and chat names, aliases) are what the material's posters wrote: they are
attacker-controlled data, carried as data and escaped by whoever renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import networkx as nx

NodeKind = Literal["sender", "chat", "cluster"]
EdgeKind = Literal["posted", "in", "forwarded_from", "reply_to"]

NODE_KINDS: tuple[NodeKind, ...] = ("sender", "chat", "cluster")
EDGE_KINDS: tuple[EdgeKind, ...] = ("posted", "in", "forwarded_from", "reply_to")


def iso(at: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z``-free ``+00:00`` offset, or None."""
    return None if at is None else at.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class Node:
    id: str
    """``sender:<from_id>``, ``chat:<chat id>`` or ``cluster:<cluster id>``."""
    kind: NodeKind
    label: str
    """The latest name seen (senders, chats); ``cluster <id>`` for clusters."""
    aliases: tuple[str, ...]
    """Every name seen, oldest first."""
    first_seen: datetime | None
    last_seen: datetime | None
    count: int
    """Sightings behind the node."""
    platforms: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "aliases": list(self.aliases),
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "count": self.count,
            "platforms": list(self.platforms),
            "extra": dict(self.extra),
        }


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    times: tuple[datetime, ...]

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.source}->{self.target}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "target": self.target,
            "kind": self.kind,
            "count": self.count,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "times": [iso(t) for t in self.times],
        }


@dataclass
class SpreadNetwork:
    nodes: list[Node]
    edges: list[Edge]

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def to_json(self) -> dict[str, Any]:
        return {"nodes": [n.to_json() for n in self.nodes], "edges": [e.to_json() for e in self.edges]}

    def to_networkx(self) -> nx.MultiDiGraph:
        """A MultiDiGraph keyed by edge kind; attributes as in :meth:`to_json` (times as ISO strings)."""
        import networkx  # here, not at the top: ≈ 80 ms of start-up that every scan would pay

        graph = networkx.MultiDiGraph()
        for n in self.nodes:
            data = n.to_json()
            del data["id"]
            graph.add_node(n.id, **data)
        for e in self.edges:
            data = e.to_json()
            graph.add_edge(e.source, e.target, key=e.kind, **data)
        return graph


@dataclass(frozen=True)
class Step:
    """One sighting in a cluster's spread."""

    at: datetime | None
    chat: str | None
    """The chat node id, or None (a folder file)."""
    sender: str | None
    """The sender node id, or None."""
    platform: str
    forwarded_from: str | None
    """The node id the forward came from (or ``chat:unresolved:<name>``), or None."""
    link: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "chat": self.chat,
            "sender": self.sender,
            "platform": self.platform,
            "forwarded_from": self.forwarded_from,
            "link": self.link,
        }


@dataclass(frozen=True)
class ClusterSpread:
    cluster: str
    steps: tuple[Step, ...]
    """Oldest first (sightings without a time last)."""

    def to_json(self) -> dict[str, Any]:
        first = self.steps[0].to_json() if self.steps else None
        if first is not None:
            del first["forwarded_from"]
        return {"cluster": self.cluster, "first": first, "steps": [s.to_json() for s in self.steps]}


@dataclass(frozen=True)
class SeriesPoint:
    date: str
    platform: str
    chat: str | None
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"date": self.date, "platform": self.platform, "chat": self.chat, "count": self.count}


@dataclass
class SpreadTimeline:
    clusters: list[ClusterSpread]
    series: list[SeriesPoint]

    def to_json(self) -> dict[str, Any]:
        return {
            "clusters": [c.to_json() for c in self.clusters],
            "series": [p.to_json() for p in self.series],
        }


@dataclass(frozen=True)
class SharedActor:
    """A sender or chat seen in more than one case. Case ids only: never media, names of the persons
    or case titles (the aliases are the actor's own names)."""

    id: str
    kind: NodeKind
    aliases: tuple[str, ...]
    cases: tuple[str, ...]
    counts: dict[str, int]
    first_seen: datetime | None
    last_seen: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "aliases": list(self.aliases),
            "cases": list(self.cases),
            "counts": dict(self.counts),
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
        }
