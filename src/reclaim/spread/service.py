"""Exporting a person's spread network to files, with its custody event (counts, never names)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from reclaim.errors import UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.spread.build import person_network
from reclaim.spread.export import FORMATS, write_network
from reclaim.spread.model import EDGE_KINDS, NODE_KINDS, SpreadNetwork


def network_counts(network: SpreadNetwork) -> dict[str, dict[str, int]]:
    """Nodes and edges by kind: what a custody event or a summary may say about a network."""
    nodes = Counter(n.kind for n in network.nodes)
    edges = Counter(e.kind for e in network.edges)
    return {
        "nodes": {kind: nodes.get(kind, 0) for kind in NODE_KINDS},
        "edges": {kind: edges.get(kind, 0) for kind in EDGE_KINDS},
    }


@dataclass
class NetworkExport:
    person_id: str
    case_id: str | None
    format: str
    confirmed_only: bool
    files: list[str]
    counts: dict[str, dict[str, int]]
    network: dict[str, Any] | None = field(default=None)
    """The network's JSON when it was asked for as JSON without a file (printed instead)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "person_id": self.person_id,
            "case_id": self.case_id,
            "format": self.format,
            "confirmed_only": self.confirmed_only,
            "files": self.files,
            **self.counts,
        }
        if self.network is not None:
            out["network"] = self.network
        return out


def export_network(
    session: Session,
    person_id: str,
    *,
    fmt: str = "json",
    out: Path | None = None,
    case_id: str | None = None,
    confirmed_only: bool = False,
    actor: str | None = None,
) -> NetworkExport:
    """Build the person's network and write it as ``fmt`` under ``out`` (JSON may go without a file: the
    result carries it). Records a ``network.exported`` event with the counts and file names."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if out is None and fmt != "json":
        raise UserError(f"--format {fmt} writes files: give --out")
    network = person_network(session, person_id, confirmed_only=confirmed_only, case_id=case_id)
    files = list(write_network(network, fmt, out)) if out is not None else []
    result = NetworkExport(
        person_id=person_id,
        case_id=case_id,
        format=fmt,
        confirmed_only=confirmed_only,
        files=files,
        counts=network_counts(network),
        network=network.to_json() if out is None else None,
    )
    detail: dict[str, Any] = {
        "format": fmt,
        "case_id": case_id,
        "confirmed_only": confirmed_only,
        "files": [Path(f).name for f in files],
        **result.counts,
    }
    log_event(
        session, EventKind.NETWORK_EXPORTED, subject=subject("person", person_id), detail=detail, actor=actor
    )
    session.commit()
    return result
