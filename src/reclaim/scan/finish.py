"""The thorough face search of items a quick scan deferred (:data:`reclaim.scan.analyze.FaceSearch`).

A quick scan runs the face model's plain pass only; a picture where it finds no face is marked
``faces_deferred``. Two things finish them:

- the scan itself, for the deferred items that matter: those with a match of any kind (a hash match, a
  repost carried over a near-duplicate cluster, the robust engine's), so a turned or small face on a
  picture already tied to a person is found in the same command;
- :func:`finish_faces` (``reclaim finish-faces``), for every deferred item whose media are stored.

The searches run on the scan's executor (local worker processes or a Dask cluster); the faces found are
stored and matched exactly as a scan stores and matches them, and the item is no longer deferred.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from reclaim.events import EventKind, log_event, subject
from reclaim.scan.analyze import Analysis, AnalyzeOptions, FaceResult
from reclaim.scan.executors import AnalysisExecutor, Ticket
from reclaim.store.crypto import encrypt_vector
from reclaim.store.models import Face, Item, Match
from reclaim.workspace import Workspace

IN_BATCH = 5_000


@dataclass
class FinishReport:
    searched: int = 0
    """Deferred items searched thoroughly (now no longer deferred)."""
    faces_found: int = 0
    new_matches: int = 0
    unavailable: int = 0
    """Deferred items whose media are not stored (a minor's, hash-only scans): they stay deferred."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(item sha256, message) of items whose search failed; they stay deferred."""


def store_faces(
    session: Session, ws: Workspace, item: Item, faces: Sequence[FaceResult], model: str
) -> list[tuple[Face, np.ndarray]]:
    """Store ``faces`` of ``item`` (vectors encrypted) and return them with their vectors, for matching."""
    out: list[tuple[Face, np.ndarray]] = []
    for fr in faces:
        face = Face(
            item_id=item.id,
            frame_index=fr.frame_index,
            model=model,
            box={
                "left": fr.box[0],
                "top": fr.box[1],
                "right": fr.box[2],
                "bottom": fr.box[3],
                "rotation": fr.rotation,
            },
            vector_ct=encrypt_vector(ws.key, fr.vector, kind="face", owner=str(item.id)),
        )
        session.add(face)
        out.append((face, np.frombuffer(fr.vector, dtype=np.float32)))
    if out:
        session.flush()
    return out


def deferred_items(
    session: Session, among: Collection[int] | None = None, *, matched_only: bool
) -> list[int]:
    """Ids of deferred items (of ``among``, when given; only those with a match, when ``matched_only``)."""
    base = select(Item.id).where(Item.faces_deferred.is_(True)).order_by(Item.id)
    if matched_only:
        base = base.where(Item.id.in_(select(Match.item_id)))
    if among is None:
        return list(session.scalars(base))
    ids = sorted(among)
    out: list[int] = []
    for start in range(0, len(ids), IN_BATCH):
        out += session.scalars(base.where(Item.id.in_(ids[start : start + IN_BATCH])))
    return sorted(out)


def _supersede_reposts(session: Session, item: Item, created: Sequence[Match]) -> None:
    """A repost match exists only on an item without a direct match of the same person (as a thorough
    scan leaves it): a deferred item that got its repost match before its face was found loses the
    repost match when it is still an unreviewed candidate (logged; a reviewed one is kept as decided)."""
    direct = {m.person_id: m for m in created if m.item_id == item.id and m.kind != "repost"}
    if not direct:
        return
    stale = session.scalars(
        select(Match).where(
            Match.item_id == item.id,
            Match.kind == "repost",
            Match.status == "candidate",
            Match.person_id.in_(sorted(direct)),
        )
    ).all()
    for m in stale:
        log_event(
            session,
            EventKind.MATCH_SUPERSEDED,
            subject=subject("match", m.id),
            detail={"item": item.sha256, "by": direct[m.person_id].id, "kind": m.kind},
        )
        session.delete(m)
    if stale:
        session.flush()


def search_deferred(
    session: Session,
    ws: Workspace,
    executor: AnalysisExecutor,
    options: AnalyzeOptions,
    item_ids: Sequence[int],
    match: Callable[[Item, list[tuple[Face, np.ndarray]]], list[Match]],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> FinishReport:
    """Search each of ``item_ids`` (deferred items) thoroughly on ``executor`` and store the new faces;
    ``match(item, new_faces)`` matches them (the caller's matcher: the scan's, or one for the whole
    workspace) and returns the matches it made. One transaction per item."""
    report = FinishReport()
    thorough = replace(options, face_search="thorough", forensics="none", robust=False)
    inflight: deque[tuple[int, Ticket]] = deque()
    total = len(item_ids)

    def write(item_id: int, result: Analysis | str) -> None:
        item = session.get(Item, item_id)
        if item is None:  # erased meanwhile
            return
        if isinstance(result, str):
            report.errors.append((item.sha256, result))
            return
        # A deferred item holds at most the quick search's weak boxes (score < 0); the thorough search
        # returns the faces its fallbacks found, or else those same weak boxes again: keep the found ones.
        new = [f for f in result.faces if f.score >= 0]
        stored = store_faces(session, ws, item, new, result.face_model)
        item.faces_deferred = False
        created = match(item, stored) if stored else []
        _supersede_reposts(session, item, created)
        log_event(
            session,
            EventKind.ITEM_FACES_SEARCHED,
            subject=subject("item", item.sha256),
            detail={"faces": len(stored), "matches": len(created)},
        )
        session.commit()
        report.searched += 1
        report.faces_found += len(stored)
        report.new_matches += len(created)

    def drain(limit: int) -> None:
        while len(inflight) > limit:
            item_id, ticket = inflight.popleft()
            write(item_id, ticket.result())
            if progress:
                progress(report.searched + len(report.errors) + report.unavailable, total)

    for item_id in item_ids:
        item = session.get(Item, item_id)
        if item is None:
            continue
        if not item.stored or not ws.vault.has(item.sha256):
            report.unavailable += 1
            continue
        try:
            data = ws.vault.get(item.sha256)
        except Exception as exc:  # a damaged vault file: reported, the others go on
            report.errors.append((item.sha256, f"could not read the stored media ({type(exc).__name__})"))
            continue
        inflight.append((item_id, executor.submit((data, thorough))))
        drain(executor.window)
    drain(0)
    return report
