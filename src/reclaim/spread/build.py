"""Build a person's (or a case's) spread network and timeline from the sightings of their material.

Which sightings: those of items with a non-rejected match to the person (``confirmed_only``: confirmed
matches only), and only sightings made in the person's scope (:mod:`reclaim.matching.scope`): a person never
sees another case's sightings, even of the same bytes.

How the graph is made, sighting by sighting (oldest first):

* ``sender:<from_id>`` *posted* ``cluster:<id>`` (the item's near-duplicate cluster), which is *in*
  ``chat:<chat id>``; web sightings are in ``chat:web:<host>``, folder files have no chat; a channel's own
  posts (``from_id`` "channel<its id>") have no sender node: the chat is their author; a sender without
  an id (Telegram's HTML export has none) is ``sender:name:<name>`` (``extra["by_name"]``);
* a forward (Telegram's ``forwarded_from``, or ``saved_from``) names its source by *name only* (tdesktop's
  JSON export has no id for it): the name is looked up among the chats', then the senders', names seen in
  the same network (every alias), giving ``chat → chat`` or ``sender → chat``; a name that matches nothing,
  or more than one id, becomes ``chat:unresolved:<name>`` (``extra["unresolved"]``);
* a reply (``reply_to_message_id`` in the same chat) links the replying sender to the sender of the
  replied-to message when that message is a sighting in the person's scope (only media messages are).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound, UserError
from reclaim.matching.scope import Scope, scopes_of, sightings_in
from reclaim.spread.model import (
    EDGE_KINDS,
    NODE_KINDS,
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
from reclaim.store.models import Case, Item, Match, Person, Scan, Sighting

TELEGRAM = "telegram"
WEB = "web"
LINKED_CHAT_TYPES = frozenset(
    {"private_supergroup", "public_supergroup", "private_channel", "public_channel"}
)
"""Chat types whose messages have a ``t.me`` link (supergroups and channels)."""
SAVED_FROM = "saved_from"
REPLY_TO_PEER = "reply_to_peer_id"
CHAT_USERNAME = "chat_username"
_CHUNK = 500
BY_NAME = "sender:name:"
"""Senders known only by name (Telegram's HTML export has no sender ids): ``sender:name:<name>``."""


@dataclass(frozen=True)
class SightingRow:
    """The facts of one sighting the network needs (decrypted, detached from the session)."""

    id: int
    item_id: int
    cluster: str
    item_sha256: str
    platform: str
    chat: str | None
    chat_id: str | None
    chat_name: str | None
    chat_type: str | None
    message_id: int | None
    sender: str | None
    """The sender node id."""
    sender_name: str | None
    at: datetime | None
    forwarded_from: str | None
    reply_to: int | None
    link: str | None
    case: str | None
    username: str | None = None


def message_link(
    chat_id: str | None, chat_type: str | None, message_id: int | None, username: str | None = None
) -> str | None:
    """``https://t.me/<username>/<msg>`` for a public chat whose username is known, ``https://t.me/c/<id>/<msg>``
    for other supergroups and channels, None where Telegram has no message link (private chats, basic
    groups)."""
    if chat_id is None or message_id is None or chat_type not in LINKED_CHAT_TYPES:
        return None
    if username:
        return f"https://t.me/{username.lstrip('@')}/{message_id}"
    bare = chat_id.removeprefix("channel")
    if bare.startswith("-100"):
        bare = bare[4:]
    if not bare.isdigit():
        return None
    return f"https://t.me/c/{bare}/{message_id}"


def _cluster_key(cluster_id: int | None, item_id: int) -> str:
    # Every scanned item joins a cluster; an item added without one (tests) is its own.
    return f"cluster:{cluster_id}" if cluster_id is not None else f"cluster:item-{item_id}"


def _row(s: Sighting, cluster_id: int | None, sha256: str, case: str | None) -> SightingRow:
    extra: dict[str, Any] = s.extra or {}
    at = s.posted_at
    chat: str | None = f"chat:{s.chat_id}" if s.chat_id is not None else None
    chat_name = s.chat_name
    link: str | None = None
    username = extra.get(CHAT_USERNAME) if isinstance(extra.get(CHAT_USERNAME), str) else None
    if s.source == WEB:
        url = extra.get("url") if isinstance(extra.get("url"), str) else None
        page = extra.get("page_url") if isinstance(extra.get("page_url"), str) else None
        link = page or url
        host = urlsplit(link).hostname if link else None
        if host:
            chat, chat_name = f"chat:web:{host}", host
        captured = extra.get("captured_at")
        if at is None and isinstance(captured, str):
            try:
                at = datetime.fromisoformat(captured)
            except ValueError:
                at = None
    else:
        link = message_link(s.chat_id, s.chat_type, s.message_id, username)
    # A channel's own post names the channel as its author (from_id "channel<chat id>"; in an HTML export,
    # which has no sender ids, the chat's own name): the chat node stands for it, no sender node.
    sender: str | None = None
    if s.sender_id is not None:
        if not (s.chat_id is not None and s.sender_id == f"channel{s.chat_id}"):
            sender = f"sender:{s.sender_id}"
    elif s.sender and s.sender != s.chat_name:
        sender = f"{BY_NAME}{s.sender}"
    forwarded = s.forwarded_from
    if forwarded is None and isinstance(extra.get(SAVED_FROM), str):
        forwarded = extra[SAVED_FROM]
    return SightingRow(
        id=s.id,
        item_id=int(s.item_id or 0),
        cluster=_cluster_key(cluster_id, int(s.item_id or 0)),
        item_sha256=sha256,
        platform=s.source,
        chat=chat,
        chat_id=s.chat_id,
        chat_name=chat_name,
        chat_type="website" if s.source == WEB and chat else s.chat_type,
        message_id=s.message_id,
        sender=sender,
        sender_name=s.sender,
        at=at,
        forwarded_from=forwarded,
        reply_to=s.reply_to if extra.get(REPLY_TO_PEER) is None else None,
        link=link,
        case=case,
        username=username,
    )


def _sort_rows(rows: Iterable[SightingRow]) -> list[SightingRow]:
    timed = sorted((r for r in rows if r.at is not None), key=lambda r: (r.at, r.id))
    untimed = sorted((r for r in rows if r.at is None), key=lambda r: r.id)
    return timed + untimed


# --- which sightings --------------------------------------------------------------------------------------


def _matched_items(person_id: str, *, confirmed_only: bool) -> Select[Any]:
    """The ids of the items matched to the person (a subquery: no list of ids in the statement)."""
    stmt = select(Match.item_id).where(Match.person_id == person_id)
    return (
        stmt.where(Match.status == "confirmed") if confirmed_only else stmt.where(Match.status != "rejected")
    )


def sighting_rows(
    session: Session, person_id: str, scopes: Collection[Scope], *, confirmed_only: bool = False
) -> list[SightingRow]:
    """The sightings in ``scopes`` of the items matched to ``person_id``, oldest first. (A sighting in
    scope makes its item in scope: no separate item filter.)"""
    stmt = (
        select(Sighting, Item.cluster_id, Item.sha256, Scan.case_id)
        .join(Item, Item.id == Sighting.item_id)
        .outerjoin(Scan, Scan.id == Sighting.scan_id)
        .where(
            Sighting.item_id.in_(_matched_items(person_id, confirmed_only=confirmed_only)),
            Sighting.id.in_(sightings_in(scopes)),
        )
    )
    rows = [_row(s, cluster_id, sha, case) for s, cluster_id, sha, case in session.execute(stmt)]
    return _sort_rows(rows)


def _person_scopes(session: Session, person_id: str, case_id: str | None) -> set[Scope]:
    if session.get(Person, person_id) is None:
        raise NotFound(f"no person with id {person_id!r}")
    scopes = scopes_of(session, person_id)
    if case_id is None:
        return scopes
    if case_id not in scopes:
        raise UserError(f"case {case_id!r} is not a case of person {person_id!r}")
    return {case_id}


def _reply_targets(
    session: Session, rows: list[SightingRow], scopes: Collection[Scope]
) -> dict[tuple[str, int], tuple[str, str | None]]:
    """(chat id, message id) → (sender node id, the name it had), for the messages the rows reply to (in
    scope)."""
    wanted: set[tuple[str, int]] = set()
    found: dict[tuple[str, int], tuple[str, str | None]] = {}
    for r in rows:
        if r.reply_to is not None and r.chat_id is not None:
            wanted.add((r.chat_id, r.reply_to))
        if r.chat_id is not None and r.message_id is not None and r.sender is not None:
            found.setdefault((r.chat_id, r.message_id), (r.sender, r.sender_name))
    if not wanted:
        return {}
    missing = sorted(w for w in wanted if w not in found)
    for start in range(0, len(missing), _CHUNK):  # bounded statements, whatever the number of replies
        part = missing[start : start + _CHUNK]
        stmt = select(Sighting.chat_id, Sighting.message_id, Sighting.sender_id, Sighting.sender).where(
            Sighting.chat_id.in_({c for c, _ in part}),
            Sighting.message_id.in_({m for _, m in part}),
            Sighting.sender_id.is_not(None),
            Sighting.id.in_(sightings_in(scopes)),
        )
        for chat_id, message_id, sender_id, name in session.execute(stmt):
            if chat_id is not None and message_id is not None:
                found.setdefault((str(chat_id), int(message_id)), (f"sender:{sender_id}", name))
    return {w: found[w] for w in wanted if w in found}


# --- the graph --------------------------------------------------------------------------------------------


@dataclass
class _Acc:
    kind: NodeKind
    names: list[str] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    count: int = 0
    platforms: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)
    items: set[int] = field(default_factory=set)
    chats: set[str] = field(default_factory=set)
    latest: str | None = None

    def see(self, row: SightingRow, name: str | None) -> None:
        """Rows come oldest first: ``names`` keeps first-seen order, ``latest`` the newest name."""
        self.count += 1
        self.platforms.add(row.platform)
        if row.at is not None:
            self.times.append(row.at)
        if name:
            self.latest = name
            if name not in self.names:
                self.names.append(name)


class _Resolver:
    """Forward sources by name: chats' names first, then senders'; ambiguous or unknown names unresolved."""

    def __init__(self, rows: list[SightingRow]) -> None:
        self.chats: dict[str, set[str]] = defaultdict(set)
        self.senders: dict[str, set[str]] = defaultdict(set)
        for r in rows:
            if r.chat and r.chat_name:
                self.chats[r.chat_name].add(r.chat)
            if r.sender and r.sender_name:
                self.senders[r.sender_name].add(r.sender)

    def resolve(self, name: str) -> tuple[str, bool]:
        for table in (self.chats, self.senders):
            ids = table.get(name)
            if ids and len(ids) == 1:
                return next(iter(ids)), True
            if ids:
                return f"chat:unresolved:{name}", False
        return f"chat:unresolved:{name}", False


def _network(
    rows: list[SightingRow], replies: dict[tuple[str, int], tuple[str, str | None]]
) -> SpreadNetwork:
    nodes: dict[str, _Acc] = {}
    edges: dict[tuple[EdgeKind, str, str], list[datetime | None]] = defaultdict(list)
    resolver = _Resolver(rows)
    first_name: dict[str, str] = {}

    def acc(node_id: str, kind: NodeKind) -> _Acc:
        if node_id not in nodes:
            nodes[node_id] = _Acc(kind)
        return nodes[node_id]

    for r in rows:
        cluster = acc(r.cluster, "cluster")
        cluster.see(r, None)
        cluster.items.add(r.item_id)
        first_name.setdefault(r.cluster, r.item_sha256)
        if r.chat:
            chat = acc(r.chat, "chat")
            chat.see(r, r.chat_name)
            if r.chat_type:
                chat.extra["chat_type"] = r.chat_type
            if r.username:
                chat.extra["username"] = r.username
            edges[("in", r.cluster, r.chat)].append(r.at)
        if r.sender:
            sender = acc(r.sender, "sender")
            sender.see(r, r.sender_name)
            if r.sender_name is None:
                sender.extra["deleted"] = True
            if r.sender.startswith(BY_NAME):
                sender.extra["by_name"] = True
            if r.chat:
                sender.chats.add(r.chat)
            edges[("posted", r.sender, r.cluster)].append(r.at)
        if r.forwarded_from and r.chat:
            source, resolved = resolver.resolve(r.forwarded_from)
            if not resolved:
                origin = acc(source, "chat")
                origin.see(r, r.forwarded_from)
                origin.count -= 1  # an origin named by a forward: no sighting of its own
                origin.extra["unresolved"] = True
            if source != r.chat:
                edges[("forwarded_from", source, r.chat)].append(r.at)
        if r.reply_to is not None and r.chat_id is not None and r.sender:
            replied = replies.get((r.chat_id, r.reply_to))
            if replied is not None:
                target, name = replied
                if target not in nodes:  # a sender seen only as the one replied to: no post of theirs
                    acc(target, "sender").latest = name
                    nodes[target].names.extend([name] if name else [])
                edges[("reply_to", r.sender, target)].append(r.at)

    out_nodes: list[Node] = []
    for node_id, a in nodes.items():
        extra = dict(a.extra)
        if a.kind == "cluster":
            extra["items"] = len(a.items)
            extra["item_sha256"] = first_name[node_id]
            label = f"cluster {node_id.removeprefix('cluster:')}"
        else:
            label = a.latest or node_id.split(":", 1)[1]
        if a.kind == "sender":
            extra["chats"] = sorted(a.chats)
        out_nodes.append(
            Node(
                id=node_id,
                kind=a.kind,
                label=label,
                aliases=tuple(a.names) if a.kind != "cluster" else (),
                first_seen=min(a.times) if a.times else None,
                last_seen=max(a.times) if a.times else None,
                count=a.count,
                platforms=tuple(sorted(a.platforms)),
                extra=extra,
            )
        )
    out_nodes.sort(key=lambda n: (NODE_KINDS.index(n.kind), n.id))
    out_edges = []
    for (kind, source, target), raw in edges.items():
        times = tuple(sorted(t for t in raw if t is not None))
        out_edges.append(
            Edge(
                source=source,
                target=target,
                kind=kind,
                count=len(raw),
                first_seen=times[0] if times else None,
                last_seen=times[-1] if times else None,
                times=times,
            )
        )
    out_edges.sort(key=lambda e: (EDGE_KINDS.index(e.kind), e.source, e.target))
    return SpreadNetwork(nodes=out_nodes, edges=out_edges)


def network_of_rows(session: Session, rows: list[SightingRow], scopes: Collection[Scope]) -> SpreadNetwork:
    return _network(rows, _reply_targets(session, rows, scopes))


def person_network(
    session: Session, person_id: str, *, confirmed_only: bool = False, case_id: str | None = None
) -> SpreadNetwork:
    """The network of a person's material, in their scope (or one of their cases: ``case_id``)."""
    scopes = _person_scopes(session, person_id, case_id)
    rows = sighting_rows(session, person_id, scopes, confirmed_only=confirmed_only)
    return network_of_rows(session, rows, scopes)


def _case_person(session: Session, case_id: str) -> str | None:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case with id {case_id!r}")
    return case.person_id


def case_network(session: Session, case_id: str, *, confirmed_only: bool = False) -> SpreadNetwork:
    """The network of one case: its person's material, that case's sightings only (empty without a person)."""
    person_id = _case_person(session, case_id)
    if person_id is None:
        return SpreadNetwork(nodes=[], edges=[])
    rows = sighting_rows(session, person_id, {case_id}, confirmed_only=confirmed_only)
    return network_of_rows(session, rows, {case_id})


# --- the timeline -----------------------------------------------------------------------------------------


def timeline_of_rows(rows: list[SightingRow]) -> SpreadTimeline:
    resolver = _Resolver(rows)
    steps: dict[str, list[Step]] = defaultdict(list)
    series: dict[tuple[str, str, str | None], int] = defaultdict(int)
    for r in rows:  # already oldest first
        forwarded = resolver.resolve(r.forwarded_from)[0] if r.forwarded_from else None
        steps[r.cluster].append(Step(r.at, r.chat, r.sender, r.platform, forwarded, r.link))
        if r.at is not None:
            series[(r.at.date().isoformat(), r.platform, r.chat)] += 1

    def first_time(key: str) -> tuple[bool, str, str]:
        at = steps[key][0].at
        return (at is None, at.isoformat() if at else "", key)

    clusters = [ClusterSpread(key, tuple(steps[key])) for key in sorted(steps, key=first_time)]
    points = [
        SeriesPoint(date, platform, chat, n)
        for (date, platform, chat), n in sorted(
            series.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
        )
    ]
    return SpreadTimeline(clusters=clusters, series=points)


def person_timeline(
    session: Session, person_id: str, *, confirmed_only: bool = False, case_id: str | None = None
) -> SpreadTimeline:
    """Per cluster, where and when it appeared first and each later sighting; per day, counts by platform
    and chat."""
    scopes = _person_scopes(session, person_id, case_id)
    return timeline_of_rows(sighting_rows(session, person_id, scopes, confirmed_only=confirmed_only))


def case_timeline(session: Session, case_id: str, *, confirmed_only: bool = False) -> SpreadTimeline:
    person_id = _case_person(session, case_id)
    if person_id is None:
        return SpreadTimeline(clusters=[], series=[])
    return timeline_of_rows(sighting_rows(session, person_id, {case_id}, confirmed_only=confirmed_only))


# --- across cases -----------------------------------------------------------------------------------------


def shared_actors(session: Session, *, confirmed_only: bool = False) -> list[SharedActor]:
    """Senders and chats seen in more than one case's material (each case: the sightings made in that case
    of items matched to its person). Case ids, counts and times only, and the actors' own names."""
    seen: dict[str, dict[str, Any]] = {}
    for case_id, person_id in session.execute(
        select(Case.id, Case.person_id).where(Case.person_id.is_not(None))
    ):
        for r in sighting_rows(session, str(person_id), {case_id}, confirmed_only=confirmed_only):
            for node_id, kind, name in ((r.sender, "sender", r.sender_name), (r.chat, "chat", r.chat_name)):
                if node_id is None:
                    continue
                a = seen.setdefault(
                    node_id, {"kind": kind, "names": [], "counts": defaultdict(int), "times": []}
                )
                a["counts"][case_id] += 1
                if name and name not in a["names"]:
                    a["names"].append(name)
                if r.at is not None:
                    a["times"].append(r.at)
    out = []
    for node_id, a in sorted(seen.items()):
        counts: dict[str, int] = dict(sorted(a["counts"].items()))
        if len(counts) < 2:
            continue
        times: list[datetime] = a["times"]
        out.append(
            SharedActor(
                id=node_id,
                kind=a["kind"],
                aliases=tuple(a["names"]),
                cases=tuple(counts),
                counts=counts,
                first_seen=min(times) if times else None,
                last_seen=max(times) if times else None,
            )
        )
    return out
