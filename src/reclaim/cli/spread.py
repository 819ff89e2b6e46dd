"""``reclaim network``: the spread network of a person's material (who posted it, where, when, forwarded
from where) as JSON, GraphML (Gephi) or CSV tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from reclaim.cli.common import JsonOption, emit, open_workspace, say


def network(
    person: Annotated[str, typer.Option("--person", help="The person's id (reclaim person list).")],
    case: Annotated[str | None, typer.Option("--case", help="Only this case of the person.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json, graphml (Gephi, networkx) or csv.")] = "json",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write: a file (json, graphml) or a folder (csv: nodes.csv and edges.csv). "
            "Without it, JSON is printed.",
        ),
    ] = None,
    confirmed_only: Annotated[
        bool, typer.Option("--confirmed-only", help="Only items whose match you confirmed.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The spread network of a person's material: senders (by sender id, every name they used), chats and
    image clusters, linked by posted, in, forwarded-from and reply-to, with first and last times.

    Names in the output are what the posters chose; CSV cells that could run as spreadsheet formulas are
    neutralised. Writing the network records a custody event (counts only).

    Example:
        reclaim network --person 3f2a... --format graphml --out spread.graphml
    """
    from reclaim.spread import export_network

    with open_workspace() as ws, ws.session() as session:
        result = export_network(
            session, person, fmt=fmt, out=out, case_id=case, confirmed_only=confirmed_only
        ).to_dict()
    emit(result, as_json or result.get("network") is not None, _render)


def _render(r: dict[str, Any]) -> None:
    nodes, edges = r["nodes"], r["edges"]
    say(
        f"Network: {nodes['sender']} sender(s), {nodes['chat']} chat(s), {nodes['cluster']} cluster(s); "
        f"{sum(edges.values())} link(s) ({', '.join(f'{k} {v}' for k, v in edges.items())})."
    )
    for path in r["files"]:
        say(f"  wrote {path}")
