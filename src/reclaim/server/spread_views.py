"""The spread of a case's material on the team server (issue 15): who posted it, where, when.

API: ``GET /api/cases/{id}/network`` (JSON; ``?format=graphml`` or ``?format=csv&table=nodes|edges``),
``GET /api/cases/{id}/timeline`` and, for admins, ``GET /api/admin/shared-actors`` (senders and chats seen
in more than one case: ids, aliases, case ids, counts and times, never media, person names or case
titles). Pages: ``/cases/{id}/network`` (the graph drawn by the vendored cytoscape.js and a timeline
chart, both by ``static/network.js`` from the API's JSON: no inline script or style, the CSP unchanged)
and ``/admin/shared-actors``.

Access is the case routes': a user sees the cases assigned to them (another case is 404 "no such case"),
an admin every case; the network of a case covers only that case's sightings (:mod:`reclaim.spread`).
Every view of the cross-case list is a custody event (``network.shared_actors_viewed``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from reclaim.events import EventKind, log_event
from reclaim.server import cases as case_service
from reclaim.server.api import Admin, CaseId, CaseReader
from reclaim.server.auth import Forbidden, Principal, case_for
from reclaim.server.deps import DB
from reclaim.server.web import WebRoute, WebUser, render
from reclaim.spread import (
    SpreadNetwork,
    case_network,
    case_timeline,
    edges_csv,
    graphml_bytes,
    nodes_csv,
    shared_actors,
)

api_router = APIRouter(prefix="/api", tags=["network"])
web_router = APIRouter(route_class=WebRoute, include_in_schema=False)

Confirmed = Annotated[bool, Query(description="Only confirmed matches (default: every non-rejected one).")]


# --- the JSON shapes (those of reclaim.spread's to_json) -------------------------------------------------


class NodeOut(BaseModel):
    id: str
    kind: Literal["sender", "chat", "cluster"]
    label: str
    aliases: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    count: int
    platforms: list[str]
    extra: dict[str, Any]


class EdgeOut(BaseModel):
    id: str
    source: str
    target: str
    kind: Literal["posted", "in", "forwarded_from", "reply_to"]
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    times: list[datetime]


class NetworkOut(BaseModel):
    nodes: list[NodeOut]
    edges: list[EdgeOut]


class FirstOut(BaseModel):
    at: datetime | None
    chat: str | None
    sender: str | None
    platform: str
    link: str | None


class StepOut(FirstOut):
    forwarded_from: str | None


class ClusterSpreadOut(BaseModel):
    cluster: str
    first: FirstOut | None
    steps: list[StepOut]


class SeriesOut(BaseModel):
    date: str
    platform: str
    chat: str | None
    count: int


class TimelineOut(BaseModel):
    clusters: list[ClusterSpreadOut]
    series: list[SeriesOut]


class SharedActorOut(BaseModel):
    id: str
    kind: Literal["sender", "chat", "cluster"]
    aliases: list[str]
    cases: list[str]
    counts: dict[str, int]
    first_seen: datetime | None
    last_seen: datetime | None


# --- services (access checks and the audit event) --------------------------------------------------------


def network_of_case(
    session: Session, principal: Principal, case_id: str, *, confirmed: bool
) -> SpreadNetwork:
    case_for(session, principal, case_id)
    return case_network(session, case_id, confirmed_only=confirmed)


def timeline_of_case(session: Session, principal: Principal, case_id: str, *, confirmed: bool) -> TimelineOut:
    case_for(session, principal, case_id)
    return TimelineOut.model_validate(case_timeline(session, case_id, confirmed_only=confirmed).to_json())


def audited_shared_actors(session: Session, principal: Principal) -> list[SharedActorOut]:
    """The senders and chats seen in more than one case, for admins; the view is a custody event."""
    if principal.role != "admin":
        raise Forbidden("the cross-case view is for admins")
    actors = [SharedActorOut.model_validate(a.to_json()) for a in shared_actors(session)]
    log_event(
        session,
        EventKind.SHARED_ACTORS_VIEWED,
        detail={"actors": len(actors), "cases": len({c for a in actors for c in a.cases})},
    )
    session.commit()
    return actors


# --- API -------------------------------------------------------------------------------------------------

_NETWORK_FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/graphml+xml": {}, "text/csv": {}},
        "description": "The network as JSON, GraphML or CSV (nodes or edges).",
    }
}


def _download(case_id: str, suffix: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="network-{case_id}.{suffix}"'}


@api_router.get("/cases/{case_id}/network", response_model=NetworkOut, responses=_NETWORK_FILES)
def network_api(
    case_id: CaseId,
    session: DB,
    principal: CaseReader,
    fmt: Annotated[Literal["json", "graphml", "csv"], Query(alias="format")] = "json",
    table: Annotated[Literal["nodes", "edges"], Query(description="With format=csv: which table.")] = "nodes",
    confirmed: Confirmed = False,
) -> Any:
    """The case's spread network: senders, chats and clusters; posted, in, forwarded_from, reply_to edges."""
    network = network_of_case(session, principal, case_id, confirmed=confirmed)
    if fmt == "graphml":
        data = graphml_bytes(network)
        return Response(data, media_type="application/graphml+xml", headers=_download(case_id, "graphml"))
    if fmt == "csv":
        text = nodes_csv(network) if table == "nodes" else edges_csv(network)
        headers = _download(case_id, f"{table}.csv")
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
    return NetworkOut.model_validate(network.to_json())


@api_router.get("/cases/{case_id}/timeline")
def timeline_api(
    case_id: CaseId, session: DB, principal: CaseReader, confirmed: Confirmed = False
) -> TimelineOut:
    """Each cluster's spread, oldest first, and the sightings per day, platform and chat."""
    return timeline_of_case(session, principal, case_id, confirmed=confirmed)


@api_router.get("/admin/shared-actors")
def shared_actors_api(session: DB, principal: Admin) -> list[SharedActorOut]:
    """Senders and chats seen in more than one case (admins; audited)."""
    return audited_shared_actors(session, principal)


# --- pages -----------------------------------------------------------------------------------------------


@web_router.get("/cases/{case_id}/network")
def network_page(
    request: Request, session: DB, principal: WebUser, case_id: str, confirmed: bool = False
) -> Response:
    """The graph and the timeline (drawn by static/network.js from the API); ``?confirmed=true``: only
    confirmed matches."""
    case = case_service.get_case(session, principal, case_id)
    query = "?confirmed=true" if confirmed else ""
    return render(request, "network.html", principal, case=case, confirmed=confirmed, query=query)


@web_router.get("/admin/shared-actors")
def shared_actors_page(request: Request, session: DB, principal: WebUser) -> Response:
    return render(request, "shared_actors.html", principal, actors=audited_shared_actors(session, principal))


def include(app: FastAPI) -> None:
    app.include_router(api_router)
    app.include_router(web_router)
