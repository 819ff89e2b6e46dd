"""Matching: faces against enrolled persons, hashes against known images and imported banks, clusters.

The :class:`Matcher` holds in-memory indexes built once per scan (templates are decrypted into memory
only, never written out) and is fed one item at a time by the scan service.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reclaim.events import EventKind, log_event, subject
from reclaim.matching.banks import load_bank_index, record_bank_hits
from reclaim.matching.index import MatchIndex
from reclaim.matching.robust import first_frame, load_robust_index
from reclaim.signals import (
    PERCEPTUAL,
    PERCEPTUAL_SIGNALS,
    Md5Signal,
    Sha256Signal,
    SignalType,
    SignalValue,
)
from reclaim.signals.face import DEFAULT_FACE_MODEL, FACE_MODELS
from reclaim.signals.pdq import MIN_QUALITY
from reclaim.store.crypto import DataKey, decrypt_vector
from reclaim.store.models import Cluster, Face, Item, KnownImage, Match, Person, Signal


def face_threshold(model: str = DEFAULT_FACE_MODEL) -> float:
    """The face-match threshold: ``RECLAIM_FACE_THRESHOLD`` or the model's calibrated default."""
    env = os.environ.get("RECLAIM_FACE_THRESHOLD")
    return float(env) if env else FACE_MODELS[model].default_threshold


KNOWN_SIGNALS: tuple[type[SignalType], ...] = (Sha256Signal, Md5Signal, *PERCEPTUAL_SIGNALS)
"""What an item matches a known image by: SHA-256/MD5 equal, or any dihedral variant of any perceptual
type within MATCH_THRESHOLD bits of the known image's hash of that type."""


def _upsert_match(
    session: Session, *, person_id: str, item_id: int, kind: str, distance: float, detail: dict[str, object]
) -> Match | None:
    existing = session.scalar(
        select(Match).where(Match.person_id == person_id, Match.item_id == item_id, Match.kind == kind)
    )
    if existing is not None:
        if distance < existing.distance:
            existing.distance = distance
            existing.detail = detail
        return None
    match = Match(person_id=person_id, item_id=item_id, kind=kind, distance=distance, detail=detail)
    session.add(match)
    session.flush()
    log_event(
        session,
        EventKind.MATCH_CREATED,
        subject=subject("match", match.id),
        detail={"person_id": person_id, "item_id": item_id, "kind": kind, "distance": round(distance, 4)},
    )
    return match


class Matcher:
    def __init__(self, session: Session, key: DataKey, *, threshold: float | None = None) -> None:
        self.key = key
        self.threshold = threshold if threshold is not None else face_threshold()
        # Face templates of persons with a recorded consent only.
        persons = session.scalars(select(Person).where(Person.consents.any())).all()
        vectors: list[np.ndarray] = []
        self._template_owner: list[str] = []
        self.minor_ids = {p.id for p in persons if p.minor}
        for person in persons:
            for tpl in person.templates:
                vectors.append(decrypt_vector(key, tpl.vector_ct, kind="template", owner=str(tpl.id)))
                self._template_owner.append(person.id)
        self._templates = np.vstack(vectors) if vectors else np.zeros((0, 128), dtype=np.float32)
        # Known images: exact and perceptual hashes.
        self._known = MatchIndex(KNOWN_SIGNALS)
        self._known_owner: dict[int, str] = {}
        for known in session.scalars(select(KnownImage).join(Person).where(Person.consents.any())):
            self._known.add(known.id, Sha256Signal.name, known.sha256)
            self._known.add(known.id, Md5Signal.name, known.md5)
            for signal_type, (value, quality) in known.perceptual().items():
                if self._known.matchable(SignalValue(signal_type, value, quality=quality)):
                    self._known.add(known.id, signal_type, value)
            self._known_owner[known.id] = known.person_id
        # Known images' features for the robust repost engine (crops, borders, banners, screenshots).
        self.robust, self._robust_owner = load_robust_index(session, key)
        # Imported hash banks ('reclaim hashes import'): a hit is recorded per item (BankHit), not a match.
        self.banks = load_bank_index(session)
        # Items' perceptual hashes (variant 0 of every frame) for clustering.
        self._items = MatchIndex(PERCEPTUAL_SIGNALS)
        self._item_cluster: dict[int, int | None] = {}
        rows = session.execute(
            select(Signal.item_id, Signal.signal_type, Signal.value, Item.cluster_id)
            .join(Item, Item.id == Signal.item_id)
            .where(Signal.signal_type.in_(PERCEPTUAL), Signal.variant == 0, Signal.quality >= MIN_QUALITY)
        )
        for item_id, signal_type, value, cluster_id in rows:
            self._items.add(item_id, signal_type, value)
            self._item_cluster[item_id] = cluster_id

    # --- faces -------------------------------------------------------------------------------------
    def face_hits(self, vectors: Sequence[np.ndarray]) -> dict[str, tuple[float, int]]:
        """Per person: (smallest distance, index of the face) among ``vectors`` within the threshold."""
        if not len(self._templates) or not vectors:
            return {}
        dist = np.linalg.norm(np.stack(vectors)[:, None, :] - self._templates[None, :, :], axis=2)
        best: dict[str, tuple[float, int]] = {}
        for face_idx, tpl_idx in zip(*np.nonzero(dist <= self.threshold), strict=True):
            person = self._template_owner[int(tpl_idx)]
            d = float(dist[face_idx, tpl_idx])
            if person not in best or d < best[person][0]:
                best[person] = (d, int(face_idx))
        return best

    # --- the per-item step -------------------------------------------------------------------------
    def process_item(
        self,
        session: Session,
        item: Item,
        pdq: Sequence[SignalValue],
        faces: Sequence[tuple[Face, np.ndarray]],
        data: bytes | None = None,
    ) -> list[Match]:
        """Assign ``item`` to a cluster and create its matches. Call inside the item's transaction.
        With the item's bytes (``data``), known images its hashes did not find go to the robust engine."""
        self.assign_cluster(session, item, pdq)
        record_bank_hits(session, self.banks, item, pdq)
        created: list[Match] = []
        for person_id, (d, idx) in self.face_hits([v for _, v in faces]).items():
            face = faces[idx][0]
            m = _upsert_match(
                session,
                person_id=person_id,
                item_id=item.id,
                kind="face",
                distance=d,
                detail={"face_id": face.id, "frame_index": face.frame_index, "box": face.box},
            )
            if m:
                created.append(m)
        hash_hits = self.hash_hits(item.sha256, item.md5, pdq)
        for person_id, (dist, known_id, how) in hash_hits.items():
            m = _upsert_match(
                session,
                person_id=person_id,
                item_id=item.id,
                kind="hash",
                distance=float(dist),
                detail={"known_image_id": known_id, "by": how},
            )
            if m:
                created.append(m)
        created += self.robust_matches(session, item, data, skip=set(hash_hits))
        return created

    def robust_matches(
        self, session: Session, item: Item, data: bytes | None, *, skip: set[str]
    ) -> list[Match]:
        """Hash matches by the robust repost engine (``matching.robust``) for persons not in ``skip``."""
        if data is None or not len(self.robust) or (frame := first_frame(data)) is None:
            return []
        created: list[Match] = []
        for hit in self.robust.query(frame):
            person_id = self._robust_owner[hit.owner]
            if person_id in skip:
                continue
            skip.add(person_id)
            detail = {"known_image_id": hit.owner, "by": f"robust:{hit.by}", "inliers": hit.inliers}
            m = _upsert_match(
                session,
                person_id=person_id,
                item_id=item.id,
                kind="hash",
                distance=hit.distance,
                detail=detail,
            )
            if m:
                created.append(m)
        return created

    def hash_hits(self, sha256: str, md5: str, pdq: Iterable[SignalValue]) -> dict[str, tuple[int, int, str]]:
        """Per person: (distance in bits, known image id, how) for the closest known image."""
        best: dict[str, tuple[int, int, str]] = {}
        exact = [SignalValue(Sha256Signal.name, sha256), SignalValue(Md5Signal.name, md5)]
        for known_id, (dist, how) in self._known.query([*exact, *pdq]).items():
            person_id = self._known_owner[known_id]
            if person_id not in best or dist < best[person_id][0]:
                best[person_id] = (dist, known_id, how)
        return best

    def assign_cluster(self, session: Session, item: Item, pdq: Sequence[SignalValue]) -> None:
        near = set(self._items.query(pdq)) - {item.id}
        clusters = sorted({c for i in near if (c := self._item_cluster.get(i)) is not None})
        if clusters:
            target = clusters[0]
            for other in clusters[1:]:  # this item bridges clusters: merge them into the oldest
                session.execute(update(Item).where(Item.cluster_id == other).values(cluster_id=target))
                for i, c in self._item_cluster.items():
                    if c == other:
                        self._item_cluster[i] = target
                log_event(
                    session,
                    EventKind.CLUSTER_MERGED,
                    subject=subject("cluster", target),
                    detail={"merged": other},
                )
        else:
            cluster = Cluster()
            session.add(cluster)
            session.flush()
            target = cluster.id
        item.cluster_id = target
        for ref in pdq:
            if ref.variant == 0 and self._items.matchable(ref):
                self._items.add(item.id, ref.signal_type, ref.value)
        self._item_cluster[item.id] = target


def match_person_against_items(session: Session, key: DataKey, person: Person) -> int:
    """Run a newly enrolled person's templates and known images over every stored item. Returns the
    number of matches created."""
    matcher = Matcher(session, key)
    created = 0
    faces_by_item: dict[int, list[tuple[Face, np.ndarray]]] = defaultdict(list)
    for face in session.scalars(select(Face)):
        faces_by_item[face.item_id].append(
            (face, decrypt_vector(key, face.vector_ct, kind="face", owner=str(face.item_id)))
        )
    for item_id, faces in faces_by_item.items():
        hits = matcher.face_hits([v for _, v in faces])
        if person.id in hits:
            d, idx = hits[person.id]
            face = faces[idx][0]
            detail = {"face_id": face.id, "frame_index": face.frame_index, "box": face.box}
            if _upsert_match(
                session, person_id=person.id, item_id=item_id, kind="face", distance=d, detail=detail
            ):
                created += 1
    pdq_by_item: dict[int, list[SignalValue]] = defaultdict(list)
    for sig in session.scalars(select(Signal).where(Signal.signal_type.in_(PERCEPTUAL))):
        pdq_by_item[sig.item_id].append(
            SignalValue(sig.signal_type, sig.value, sig.frame_index, sig.variant, sig.quality)
        )
    for item in session.scalars(select(Item)):
        hash_hits = matcher.hash_hits(item.sha256, item.md5, pdq_by_item.get(item.id, []))
        if person.id in hash_hits:
            dist, known_id, how = hash_hits[person.id]
            if _upsert_match(
                session,
                person_id=person.id,
                item_id=item.id,
                kind="hash",
                distance=float(dist),
                detail={"known_image_id": known_id, "by": how},
            ):
                created += 1
    return created
