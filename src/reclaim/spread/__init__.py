"""The spread of a person's material: who posted it, where, when, and how it travelled (issue 15).

"spread", not "network": reclaim's network module audits network calls. See docs/network.md.
"""

from reclaim.spread.build import (
    SightingRow,
    case_network,
    case_timeline,
    message_link,
    network_of_rows,
    person_network,
    person_timeline,
    shared_actors,
    sighting_rows,
    timeline_of_rows,
)
from reclaim.spread.export import (
    edges_csv,
    graphml_bytes,
    neutralise,
    nodes_csv,
    senders_csv,
    timeline_csv,
    write_network,
)
from reclaim.spread.model import (
    ClusterSpread,
    Edge,
    EdgeKind,
    Node,
    NodeKind,
    SeriesPoint,
    SharedActor,
    SpreadNetwork,
    SpreadTimeline,
    Step,
)
from reclaim.spread.service import NetworkExport, export_network, network_counts

__all__ = [
    "ClusterSpread",
    "Edge",
    "EdgeKind",
    "NetworkExport",
    "Node",
    "NodeKind",
    "SeriesPoint",
    "SharedActor",
    "SightingRow",
    "SpreadNetwork",
    "SpreadTimeline",
    "Step",
    "case_network",
    "case_timeline",
    "edges_csv",
    "export_network",
    "graphml_bytes",
    "message_link",
    "network_counts",
    "network_of_rows",
    "neutralise",
    "nodes_csv",
    "person_network",
    "person_timeline",
    "senders_csv",
    "shared_actors",
    "sighting_rows",
    "timeline_csv",
    "timeline_of_rows",
    "write_network",
]
