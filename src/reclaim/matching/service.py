"""Matching: faces against enrolled persons, hashes against known images and imported banks, clusters.

The :class:`Matcher` holds in-memory indexes built once per scan (templates are decrypted into memory
only, never written out) and is fed one item at a time by the scan service.

Reposts carry the match: an item in the same near-duplicate cluster as an item with a face or hash match
of a person (a *direct* match) is itself a match for that person, ``kind="repost"``, unless it has a
direct match of its own for that person. Its ``detail["via"]`` names the linking pair, the strongest one:
the person's direct match on the cluster item nearest to it (``match_id``, ``item_sha256``) with the
perceptual signal and the Hamming distance between the two items (``signal``, ``distance``; the match's
own ``distance`` is the same number of bits). :func:`propagate_reposts` recomputes a whole cluster, so the
result is the same whichever item was scanned first, and after an enrolment that follows the scan.

Edited reposts of matched items (``matching.robust``): an item with a direct match (face or hash, not
rejected) is a *reference* for the robust engine through its stored features (``item_features``). An
item whose features the engine verifies against a reference's (a crop, a border, a banner, a
screenshot, a rotation: plain hashes and clusters miss them) is a ``repost`` match for the reference's
persons, ``detail["via"] = {"match_id", "item_sha256", "signal": "robust:region:…" or
"robust:keypoints", "distance", "inliers"}`` (``distance``: the closest region distance in bits, 256
when found by keypoints alone; the match's own distance is the same). Both orders give the same matches:
a scan queries the references it has (:meth:`Matcher.robust_reposts`), and every item that becomes a
reference is run over the stored items' features afterwards (:func:`carry_to_edited_reposts`).

Videos (vPDQ, ``signals.vpdq``): a video whose vPDQ matches a known video's is a ``hash`` match with
``detail["by"] == "vpdq"`` and both match percentages (its ``distance`` is 100 − the larger one); such a
match takes precedence over a first-frame PDQ hit on the same known video. A video whose vPDQ matches
another item's joins that item's cluster, so a copy (re-encoded, trimmed, resized) of a video already
matched for a person becomes a ``repost`` match; its ``via`` may name ``signal: "vpdq"`` with the bits
between the two videos' nearest frames and both percentages. Brute force: every feature of the video
against every stored feature (see ``signals.vpdq``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from reclaim.events import EventKind, log_event, subject
from reclaim.matching.banks import load_bank_index, record_bank_hits
from reclaim.matching.index import MatchIndex
from reclaim.matching.robust import (
    ItemFeatures,
    RobustHit,
    RobustIndex,
    backfill_item_features,
    load_item_features,
    load_robust_index,
)
from reclaim.matching.scope import Scope, filter_items, items_in, persons_in, scopes_of
from reclaim.signals import (
    PERCEPTUAL,
    PERCEPTUAL_SIGNALS,
    Md5Signal,
    Sha256Signal,
    SignalType,
    SignalValue,
)
from reclaim.signals.face import DEFAULT_FACE_MODEL, FACE_MODELS
from reclaim.signals.index import hex_rows
from reclaim.signals.pdq import MIN_QUALITY
from reclaim.signals.vpdq import VpdqFeature, VpdqIndex, VpdqMatch, VpdqSignal, from_te, from_values, prepared
from reclaim.store.crypto import DataKey, decrypt_vector
from reclaim.store.models import Cluster, Face, Item, ItemFeatureRow, KnownImage, Match, Person, Signal
from reclaim.store.vault import Vault


def face_threshold(model: str = DEFAULT_FACE_MODEL) -> float:
    """The face-match threshold: ``RECLAIM_FACE_THRESHOLD`` or the model's calibrated default."""
    env = os.environ.get("RECLAIM_FACE_THRESHOLD")
    return float(env) if env else FACE_MODELS[model].default_threshold


KNOWN_SIGNALS: tuple[type[SignalType], ...] = (Sha256Signal, Md5Signal, *PERCEPTUAL_SIGNALS)
"""What an item matches a known image by: SHA-256/MD5 equal, or any dihedral variant of any perceptual
type within MATCH_THRESHOLD bits of the known image's hash of that type."""


DIRECT_KINDS: tuple[str, ...] = ("face", "hash")
"""Match kinds found on the item itself; a ``repost`` match is carried from one of them over a cluster."""
REPOST = "repost"
NO_LINK_DISTANCE = 256.0
"""A repost match's distance when the two items share no perceptual signal type to measure (they are in
one cluster through other items): the largest possible PDQ distance, and ``via`` says ``"cluster"``."""


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
        detail={
            "person_id": person_id,
            "item_id": item_id,
            "kind": kind,
            "distance": round(distance, 4),
            **({"via": detail["via"]} if kind == REPOST else {}),
        },
    )
    return match


def _perceptual_of(
    session: Session, item_ids: Sequence[int]
) -> dict[int, dict[str, tuple[list[str], list[str]]]]:
    """Per item, per perceptual type: (every matchable hash: all frames and variants, the variant-0 ones)."""
    out: dict[int, dict[str, tuple[list[str], list[str]]]] = defaultdict(dict)
    rows = session.execute(
        select(Signal.item_id, Signal.signal_type, Signal.value, Signal.variant).where(
            Signal.item_id.in_(item_ids), Signal.signal_type.in_(PERCEPTUAL), Signal.quality >= MIN_QUALITY
        )
    )
    for item_id, signal_type, value, variant in rows:
        every, plain = out[item_id].setdefault(signal_type, ([], []))
        every.append(value)
        if variant == 0:
            plain.append(value)
    for item_id, features in _videos_of(session, item_ids).items():
        hexes = prepared(features)  # vPDQ has no variants: the same hashes both ways
        if hexes:
            out[item_id][VpdqSignal.name] = (hexes, hexes)
    return out


def _videos_of(session: Session, item_ids: Sequence[int] | None = None) -> dict[int, list[VpdqFeature]]:
    """Per item, its vPDQ features (items without a vPDQ are absent)."""
    stmt = select(Signal.item_id, Signal.signal_type, Signal.value, Signal.frame_index, Signal.quality).where(
        Signal.signal_type == VpdqSignal.name
    )
    if item_ids is not None:
        stmt = stmt.where(Signal.item_id.in_(item_ids))
    values: dict[int, list[SignalValue]] = defaultdict(list)
    for item_id, signal_type, value, frame_index, quality in session.execute(stmt):
        values[item_id].append(SignalValue(signal_type, value, frame_index, 0, quality))
    return {item_id: from_values(v) for item_id, v in values.items()}


LINK_SIGNALS: tuple[str, ...] = (*PERCEPTUAL, VpdqSignal.name)
"""The signal types a repost's ``via`` can name, in order of preference on a tie."""


def _link(
    a: dict[str, tuple[list[str], list[str]]], b: dict[str, tuple[list[str], list[str]]]
) -> tuple[int, str] | None:
    """(smallest Hamming distance, signal type) between two items, comparing every variant of one with the
    plain (variant 0) hashes of the other, both ways, as clustering does; None without a common type."""
    best: tuple[int, str] | None = None
    for signal_type in LINK_SIGNALS:  # in registry order: on a tie the first type names the link
        if signal_type not in a or signal_type not in b:
            continue
        for every, plain in ((a[signal_type][0], b[signal_type][1]), (b[signal_type][0], a[signal_type][1])):
            if not every or not plain:
                continue
            x, y = hex_rows(every), hex_rows(plain)
            d = int(np.bitwise_count(np.bitwise_xor(x[:, None, :], y[None, :, :])).sum(axis=2).min())
            if best is None or d < best[0]:
                best = (d, signal_type)
    return best


def _via_rank(via: Mapping[str, Any]) -> tuple[float, int, str, str]:
    """The order of links, strongest first: fewer bits, then the signal's registry order, then the matched
    item's SHA-256 and the match kind (so the choice never depends on which item was scanned first)."""
    dist, signal = via.get("distance"), via.get("signal")
    order = LINK_SIGNALS.index(signal) if signal in LINK_SIGNALS else len(LINK_SIGNALS)
    bits = float(dist) if isinstance(dist, int | float) else NO_LINK_DISTANCE
    return (bits, order, str(via.get("item_sha256")), str(via.get("kind")))


def propagate_reposts(
    session: Session,
    cluster_ids: Iterable[int],
    *,
    person_id: str | None = None,
    arriving: Mapping[int, Scope] | None = None,
    only: Collection[int] | None = None,
) -> list[Match]:
    """Create the repost matches the clusters call for (of ``person_id`` only, if given) and move the
    ``via`` of existing ones to a stronger link when one has joined. Returns the matches created.
    ``arriving``: items being written by a scan, whose sightings (which say their scope) come after
    them, with the scan's scope. ``only``: the members to (re)consider, when the others cannot have
    changed (an item that joined a cluster without a direct match of its own and without merging
    clusters changes no other member's links): the cost of a join then does not grow with the cluster."""
    created: list[Match] = []
    for cluster_id in sorted(set(cluster_ids)):
        stmt = (
            select(Match.id, Match.person_id, Match.item_id, Match.kind, Item.sha256)
            .join(Item, Item.id == Match.item_id)
            .where(Item.cluster_id == cluster_id, Match.kind.in_(DIRECT_KINDS))
        )
        if person_id is not None:
            stmt = stmt.where(Match.person_id == person_id)
        anchors: dict[str, list[tuple[str, int, str, str]]] = defaultdict(list)
        for match_id, owner, item_id, kind, sha256 in session.execute(stmt):
            anchors[owner].append((match_id, item_id, kind, sha256))
        if not anchors:
            continue
        in_cluster = select(Item.id, Item.sha256).where(Item.cluster_id == cluster_id).order_by(Item.id)
        if only is not None:
            in_cluster = in_cluster.where(Item.id.in_(only))
        members = session.execute(in_cluster).all()
        anchor_items = {item_id for refs in anchors.values() for _, item_id, _, _ in refs}
        hashes = _perceptual_of(session, sorted({i for i, _ in members} | anchor_items))
        reposts = (
            select(Match)
            .join(Item, Item.id == Match.item_id)
            .where(Item.cluster_id == cluster_id, Match.kind == REPOST)
        )
        if only is not None:
            reposts = reposts.where(Match.item_id.in_(only))
        existing = {(m.person_id, m.item_id): m for m in session.scalars(reposts)}
        for owner in sorted(anchors):
            direct = {item_id for _, item_id, _, _ in anchors[owner]}
            kind_of = {match_id: kind for match_id, _, kind, _ in anchors[owner]}
            # a cluster spans cases (items are content-addressed): carry the match only to its members
            # that the person may be matched against (matching.scope)
            scopes = scopes_of(session, owner)
            allowed = filter_items(session, [i for i, _ in members], scopes)
            allowed |= {i for i, sc in (arriving or {}).items() if sc in scopes}
            for item_id, _ in members:
                if item_id in direct or item_id not in allowed:
                    continue
                vias: list[dict[str, Any]] = []
                for match_id, anchor_item, kind, anchor_sha in anchors[owner]:
                    link = _link(hashes.get(item_id, {}), hashes.get(anchor_item, {}))
                    dist, signal = link if link is not None else (None, "cluster")
                    vias.append(
                        {
                            "match_id": match_id,
                            "item_sha256": anchor_sha,
                            "signal": signal,
                            "distance": dist,
                            "kind": kind,
                        }
                    )
                best = min(vias, key=_via_rank)
                rank = _via_rank(best)
                del best["kind"]  # only to break ties: the matched item's kind is its match's
                old = existing.get((owner, item_id))
                if old is None:
                    m = _upsert_match(
                        session,
                        person_id=owner,
                        item_id=item_id,
                        kind=REPOST,
                        distance=rank[0],
                        detail={"via": best},
                    )
                    if m:
                        created.append(m)
                    continue
                old_via = dict((old.detail or {}).get("via") or {})
                old_via["kind"] = kind_of.get(str(old_via.get("match_id")), "")
                if rank < _via_rank(old_via):
                    old.distance = rank[0]
                    old.detail = {**(old.detail or {}), "via": best}
    return created


ROBUST_PREFIX = "robust:"
"""How a match's ``by`` (hash) or ``via.signal`` (repost) says the robust engine found it."""


def _reference_anchors(
    session: Session,
    item_ids: Collection[int] | None = None,
    *,
    persons: ColumnElement[bool] | None = None,
) -> dict[int, list[tuple[str, str, str]]]:
    """Reference item id → [(person id, match id, item SHA-256)]: its direct matches (not rejected) of
    consenting persons (those ``persons`` chooses), in a stable order."""
    stmt = (
        select(Match.item_id, Match.person_id, Match.id, Item.sha256)
        .join(Item, Item.id == Match.item_id)
        .join(Person, Person.id == Match.person_id)
        .where(Match.kind.in_(DIRECT_KINDS), Match.status != "rejected", Person.consents.any())
        .order_by(Match.item_id, Match.person_id, Match.kind, Match.id)
    )
    if item_ids is not None:
        stmt = stmt.where(Match.item_id.in_(item_ids))
    if persons is not None:
        stmt = stmt.where(persons)
    out: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    seen: set[tuple[int, str]] = set()
    for item_id, person_id, match_id, sha256 in session.execute(stmt):
        if (item_id, person_id) not in seen:  # one anchor per person: its first direct match
            seen.add((item_id, person_id))
            out[item_id].append((person_id, match_id, sha256))
    return out


def _carry_robust(
    session: Session,
    item_id: int,
    hits: Sequence[RobustHit],
    anchors: Mapping[int, Sequence[tuple[str, str, str]]],
    allowed: Callable[[str], bool],
) -> list[Match]:
    """Repost matches on ``item_id`` from the engine's ``hits`` on reference items (best first), one per
    person without a direct match on it."""
    direct = set(
        session.scalars(select(Match.person_id).where(Match.item_id == item_id, Match.kind.in_(DIRECT_KINDS)))
    )
    created: list[Match] = []
    done: set[str] = set()
    for hit in hits:
        if hit.owner == item_id:
            continue
        for owner, match_id, sha256 in anchors.get(hit.owner, ()):
            if owner in direct or owner in done or not allowed(owner):
                continue
            done.add(owner)
            via = {
                "match_id": match_id,
                "item_sha256": sha256,
                "signal": f"{ROBUST_PREFIX}{hit.by}",
                "distance": hit.distance,
                "inliers": hit.inliers,
            }
            m = _upsert_match(
                session,
                person_id=owner,
                item_id=item_id,
                kind=REPOST,
                distance=float(hit.distance),
                detail={"via": via},
            )
            if m:
                created.append(m)
    return created


FEATURE_BATCH = 500


def carry_to_edited_reposts(
    session: Session,
    key: DataKey,
    reference_ids: Collection[int],
    *,
    persons: ColumnElement[bool] | None = None,
) -> list[Match]:
    """Run the robust engine with ``reference_ids`` (items with a direct match) as references over every
    stored item's features, and create the repost matches it verifies (for the persons ``persons``
    chooses, only on items in their scopes). Returns the matches created."""
    anchors = _reference_anchors(session, reference_ids, persons=persons)
    index = RobustIndex()
    for item_id, features in sorted(load_item_features(session, key, list(anchors)).items()):
        index.add(item_id, features)
    if not len(index):
        return []
    scopes = {owner: scopes_of(session, owner) for refs in anchors.values() for owner, _, _ in refs}
    created: list[Match] = []
    ids = session.scalars(select(ItemFeatureRow.item_id).order_by(ItemFeatureRow.item_id)).all()
    for start in range(0, len(ids), FEATURE_BATCH):
        batch = load_item_features(session, key, ids[start : start + FEATURE_BATCH])
        for item_id, features in sorted(batch.items()):
            hits = [h for h in index.query_features(features) if h.owner != item_id]
            if not hits:
                continue

            def allowed(owner: str, item_id: int = item_id) -> bool:
                return bool(filter_items(session, [item_id], scopes[owner]))

            created += _carry_robust(session, item_id, hits, anchors, allowed)
    if created:
        session.flush()
    return created


class Matcher:
    """Matches items scanned into ``scope`` (a case id, or None outside any case: see
    :mod:`reclaim.matching.scope`) against the persons matched in that scope."""

    def __init__(
        self,
        session: Session,
        key: DataKey,
        *,
        threshold: float | None = None,
        scope: Scope = None,
        persons: ColumnElement[bool] | None = None,
    ) -> None:
        """``persons``: a condition choosing the persons instead of ``scope``'s (one person's enrolment)."""
        self.key = key
        self.scope = scope
        self.threshold = threshold if threshold is not None else face_threshold()
        chosen = persons if persons is not None else persons_in(scope)
        # Face templates of persons with a recorded consent only, of this scope only.
        chosen_persons = session.scalars(select(Person).where(Person.consents.any(), chosen)).all()
        vectors: list[np.ndarray] = []
        self._template_owner: list[str] = []
        self.minor_ids = {p.id for p in chosen_persons if p.minor}
        for person in chosen_persons:
            for tpl in person.templates:
                vectors.append(decrypt_vector(key, tpl.vector_ct, kind="template", owner=str(tpl.id)))
                self._template_owner.append(person.id)
        self._templates = np.vstack(vectors) if vectors else np.zeros((0, 128), dtype=np.float32)
        # Known images: exact and perceptual hashes.
        self._known = MatchIndex(KNOWN_SIGNALS)
        self._known_owner: dict[int, str] = {}
        self._known_videos = VpdqIndex()  # known videos' vPDQ
        for known in session.scalars(select(KnownImage).join(Person).where(Person.consents.any(), chosen)):
            self._known.add(known.id, Sha256Signal.name, known.sha256)
            self._known.add(known.id, Md5Signal.name, known.md5)
            for signal_type, (value, quality) in known.perceptual().items():
                if self._known.matchable(SignalValue(signal_type, value, quality=quality)):
                    self._known.add(known.id, signal_type, value)
            self._known_owner[known.id] = known.person_id
            if known.vpdq:
                self._known_videos.add_features(known.id, from_te(known.vpdq))
        self._chosen = chosen
        self.has_persons = bool(chosen_persons)
        # Known images' features for the robust repost engine (crops, borders, banners, screenshots).
        self.robust, self._robust_owner = load_robust_index(session, key, persons=chosen)
        # Items with a direct match: references for the engine (their edited reposts become repost matches).
        self._ref_anchors = _reference_anchors(session, persons=chosen)
        self.references = RobustIndex()
        for item_id, feats in sorted(load_item_features(session, key, list(self._ref_anchors)).items()):
            self.references.add(item_id, feats)
        self.new_references: set[int] = set()
        """Items that became references during this matcher's life (see :meth:`finish`)."""
        # Imported hash banks ('reclaim hashes import'): a hit is recorded per item (BankHit), not a match.
        self.banks = load_bank_index(session)
        # Items' perceptual hashes (variant 0 of every frame) for clustering.
        self._items = MatchIndex(PERCEPTUAL_SIGNALS, growing=True)
        self._item_cluster: dict[int, int | None] = {}
        rows = session.execute(
            select(Signal.item_id, Signal.signal_type, Signal.value, Item.cluster_id)
            .join(Item, Item.id == Signal.item_id)
            .where(Signal.signal_type.in_(PERCEPTUAL), Signal.variant == 0, Signal.quality >= MIN_QUALITY)
        )
        for item_id, signal_type, value, cluster_id in rows:
            self._items.add(item_id, signal_type, value)
            self._item_cluster[item_id] = cluster_id
        # Items' vPDQ (videos), for clustering too.
        self._item_videos = VpdqIndex()
        video_clusters = dict(
            session.execute(
                select(Item.id, Item.cluster_id).where(
                    Item.id.in_(select(Signal.item_id).where(Signal.signal_type == VpdqSignal.name))
                )
            ).all()
        )
        for item_id, features in sorted(_videos_of(session).items()):
            self._item_videos.add_features(item_id, features)
            self._item_cluster[item_id] = video_clusters.get(item_id)
        # Clusters holding a face or hash match: an item joining one (or merging it) gets repost matches.
        self._matched_clusters: set[int] = {
            c
            for c in session.scalars(
                select(Item.cluster_id)
                .join(Match, Match.item_id == Item.id)
                .where(Match.kind.in_(DIRECT_KINDS), Item.cluster_id.is_not(None))
                .distinct()
            )
            if c is not None
        }

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
        features: ItemFeatures | None = None,
    ) -> list[Match]:
        """Assign ``item`` to a cluster and create its matches (with the item's robust-engine ``features``
        from the analysis worker: known images its hashes did not find, and edited reposts of matched
        items), then the repost matches its cluster calls for (on this item or, when it brings a face/hash
        match or merges clusters, on the cluster's other items: check ``item_id``). Call inside the item's
        transaction."""
        merged = self.assign_cluster(session, item, pdq)
        record_bank_hits(session, self.banks, item, pdq, features)
        return self.match_item(session, item, pdq, faces, features, joined=not merged)

    def match_item(
        self,
        session: Session,
        item: Item,
        pdq: Sequence[SignalValue],
        faces: Sequence[tuple[Face, np.ndarray]],
        features: ItemFeatures | None = None,
        *,
        joined: bool = False,
    ) -> list[Match]:
        """The matches of :meth:`process_item` for an item already clustered (a known item seen for the
        first time in this matcher's scope), and the repost matches they call for. ``joined``: the item
        has just joined its cluster without merging clusters (only its own repost matches can change
        unless it brings a direct match)."""
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
        video_hits = self.video_hits(from_values(pdq))
        for person_id, (vm, known_id) in video_hits.items():
            m = _upsert_match(
                session,
                person_id=person_id,
                item_id=item.id,
                kind="hash",
                distance=vm.distance,
                detail={"known_image_id": known_id, **vm.detail()},
            )
            if m:
                created.append(m)
        hash_hits = self.hash_hits(item.sha256, item.md5, pdq)
        for person_id, (dist, known_id, how) in hash_hits.items():
            if person_id in video_hits:
                continue  # the whole video matched: that is the evidence, not one frame
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
        created += self.robust_matches(session, item, features, skip=set(hash_hits) | set(video_hits))
        if created:
            session.flush()
            if features is not None:  # a direct match: the item is now a reference for its edited reposts
                self._ref_anchors = {**self._ref_anchors, **_reference_anchors(session, [item.id])}
                # Its regions serve the next items now; its keypoints (the pooled search, an LSH index
                # rebuilt at each such add: 26 % of a 10,000-image scan's writer) wait for finish(),
                # which runs every new reference, pooled search included, over every stored item.
                self.references.add(item.id, features, pooled=False)
                self.new_references.add(item.id)
        if item.cluster_id is not None:
            if created:
                self._matched_clusters.add(item.cluster_id)
            if item.cluster_id in self._matched_clusters:
                only = [item.id] if joined and not created else None
                created += propagate_reposts(
                    session, [item.cluster_id], arriving={item.id: self.scope}, only=only
                )
        if features is not None and len(self.references):
            created += self.robust_reposts(session, item, features)
        return created

    def robust_reposts(self, session: Session, item: Item, features: ItemFeatures) -> list[Match]:
        """Repost matches of ``item`` (arriving in this matcher's scope) as an edited copy of a reference
        (an item with a direct match), found by the robust engine."""
        hits = self.references.query_features(features)
        if not hits:
            return []
        return _carry_robust(session, item.id, hits, self._ref_anchors, lambda owner: True)

    def finish(self, session: Session) -> list[Match]:
        """After the items: run the items that became references over every stored item (those scanned
        before them included), so the result does not depend on the order of the items."""
        if not self.new_references:
            return []
        refs, self.new_references = self.new_references, set()
        return carry_to_edited_reposts(session, self.key, refs, persons=self._chosen)

    @property
    def wants_features(self) -> bool:
        """Whether items need the robust engine's features: there is a person to match (known images, or
        items that a match makes references) or an imported bank."""
        return self.has_persons or bool(len(self.banks))

    def robust_matches(
        self, session: Session, item: Item, features: ItemFeatures | None, *, skip: set[str]
    ) -> list[Match]:
        """Hash matches by the robust repost engine (``matching.robust``) for persons not in ``skip``."""
        if features is None or not len(self.robust):
            return []
        created: list[Match] = []
        for hit in self.robust.query_features(features):
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

    def video_hits(self, features: Sequence[VpdqFeature]) -> dict[str, tuple[VpdqMatch, int]]:
        """Per person: (the best vPDQ match, known video id) among the known videos ``features`` match."""
        best: dict[str, tuple[VpdqMatch, int]] = {}
        if not features or not len(self._known_videos):
            return best
        for m in self._known_videos.search(features):
            person_id = self._known_owner[m.ident]
            if person_id not in best or m.distance < best[person_id][0].distance:
                best[person_id] = (m, m.ident)
        return best

    def hash_hits(self, sha256: str, md5: str, pdq: Iterable[SignalValue]) -> dict[str, tuple[int, int, str]]:
        """Per person: (distance in bits, known image id, how) for the closest known image."""
        best: dict[str, tuple[int, int, str]] = {}
        exact = [SignalValue(Sha256Signal.name, sha256), SignalValue(Md5Signal.name, md5)]
        for known_id, (dist, how) in self._known.query([*exact, *pdq]).items():
            person_id = self._known_owner[known_id]
            if person_id not in best or dist < best[person_id][0]:
                best[person_id] = (dist, known_id, how)
        return best

    def assign_cluster(self, session: Session, item: Item, pdq: Sequence[SignalValue]) -> bool:
        """Put ``item`` in the cluster of its near-duplicates (merging theirs when it bridges several) or
        a new one; True when clusters were merged."""
        features = from_values(pdq)
        near = set(self._items.query(pdq)) | {m.ident for m in self._item_videos.search(features)}
        near -= {item.id}
        clusters = sorted({c for i in near if (c := self._item_cluster.get(i)) is not None})
        if clusters:
            target = clusters[0]
            for other in clusters[1:]:  # this item bridges clusters: merge them into the oldest
                session.execute(update(Item).where(Item.cluster_id == other).values(cluster_id=target))
                for i, c in self._item_cluster.items():
                    if c == other:
                        self._item_cluster[i] = target
                if other in self._matched_clusters:
                    self._matched_clusters.discard(other)
                    self._matched_clusters.add(target)
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
        if features:
            self._item_videos.add_features(item.id, features)
        self._item_cluster[item.id] = target
        return len(clusters) > 1


def match_person_against_items(
    session: Session,
    key: DataKey,
    person: Person,
    *,
    scopes: Collection[Scope] | None = None,
    vault: Vault | None = None,
) -> int:
    """Run a newly enrolled person's templates and known images over every stored item of their scopes
    (default: :func:`reclaim.matching.scope.scopes_of`; a case being opened with its person passes its
    own), the robust engine over the items' stored features (items whose media are in ``vault`` but have
    no features get them first), then carry the matches over their clusters and to edited reposts of
    the matched items (repost matches). Returns the number of matches created."""
    scopes = set(scopes) if scopes is not None else scopes_of(session, person.id)
    matcher = Matcher(session, key, persons=Person.id == person.id)
    in_scope = items_in(scopes)
    created = 0
    faces_by_item: dict[int, list[tuple[Face, np.ndarray]]] = defaultdict(list)
    for face in session.scalars(select(Face).where(Face.item_id.in_(in_scope))):
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
    for sig in session.scalars(
        select(Signal).where(Signal.signal_type.in_(PERCEPTUAL), Signal.item_id.in_(in_scope))
    ):
        pdq_by_item[sig.item_id].append(
            SignalValue(sig.signal_type, sig.value, sig.frame_index, sig.variant, sig.quality)
        )
    videos = _videos_of(session)
    item_ids = list(session.scalars(select(Item.id).where(Item.id.in_(in_scope))))
    if vault is not None and (len(matcher.robust) or matcher.has_persons):
        backfill_item_features(session, key, vault, item_ids)
    features = load_item_features(session, key, item_ids) if len(matcher.robust) else {}
    for item in session.scalars(select(Item).where(Item.id.in_(in_scope)).order_by(Item.id)):
        video_hits = matcher.video_hits(videos.get(item.id, []))
        if person.id in video_hits:
            vm, known_id = video_hits[person.id]
            detail = {"known_image_id": known_id, **vm.detail()}
            dist = vm.distance
            if _upsert_match(
                session, person_id=person.id, item_id=item.id, kind="hash", distance=dist, detail=detail
            ):
                created += 1
            continue
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
            continue
        if item.id in features:
            created += len(matcher.robust_matches(session, item, features[item.id], skip=set()))
    session.flush()
    clusters = session.scalars(
        select(Item.cluster_id)
        .join(Match, Match.item_id == Item.id)
        .where(Match.person_id == person.id, Match.kind.in_(DIRECT_KINDS), Item.cluster_id.is_not(None))
        .distinct()
    ).all()
    created += len(propagate_reposts(session, [c for c in clusters if c is not None], person_id=person.id))
    references = session.scalars(
        select(Match.item_id).where(Match.person_id == person.id, Match.kind.in_(DIRECT_KINDS)).distinct()
    ).all()
    created += len(carry_to_edited_reposts(session, key, references, persons=Person.id == person.id))
    return created
