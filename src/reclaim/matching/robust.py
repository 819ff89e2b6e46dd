"""The robust repost engine for known images: region-hash candidates, verified by local features.

Stage 1 (cheap, every item the plain PDQ path did not match): the item's :func:`query_regions`
(trimmed of borders, with and without a top/bottom band) against every known image's
:func:`reference_regions` (trimmed whole and crops of 70-90 %). A known image whose closest region is
within :data:`CANDIDATE_BITS` is a *candidate*: a loose threshold, since nothing is decided on it.

Stage 2 (only for candidates): ORB keypoints of the item against the known image's stored keypoints,
ratio-tested, then a similarity transform (rotation, scale, translation) fitted with RANSAC. The match
stands when at least :data:`MIN_INLIERS` keypoint pairs agree on one transform of plausible scale: a
crop, a border, a banner, a screenshot around the picture and a small rotation all keep that, an
unrelated picture does not.

Stage 1b: when no region is a candidate, the item's keypoints are matched against every known image's
keypoints at once (one pooled nearest-neighbour search, not one per pair), and the known images with
the most ratio-tested votes become the candidates for stage 2. This finds what no window covers (a
picture scaled into a phone screenshot, a rotation).

No model weights: ORB is a fixed algorithm (OpenCV). Known images' features are computed at enrolment
from the pixels the person gives and are kept with the hashes (they are no image: 32-byte binary
descriptors of corner patches and their positions).
"""

from __future__ import annotations

import io
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from reclaim.errors import MediaError
from reclaim.media import WORK_SIDE, MediaLimits, decode_media
from reclaim.signals.base import working_copy
from reclaim.signals.regions import packed, query_regions, reference_regions
from reclaim.store.crypto import DataKey
from reclaim.store.vault import Vault

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from reclaim.store.models import Item

# The functions that read and write the database import SQLAlchemy and the models when called: at the top
# they would cost a scan's fork server ≈ 0.2 CPU s of start-up and each worker ≈ 38 MB of memory, and the
# workers only compute item_features.

CANDIDATE_BITS = 80
"""A region within this many bits (of 256) of a known image's region makes it a candidate."""
ORB_FEATURES = 1000
FAST_THRESHOLD = 10
"""ORB's corner threshold (OpenCV's default 20 finds too few corners on smooth pictures)."""
MIN_SIDE = 64
"""Frames narrower than this get no keypoints (ORB's 31 px patches need room; nothing to verify)."""
RATIO = 0.8
"""Lowe's ratio test on the two nearest descriptors."""
RANSAC_PX = 5.0
MIN_INLIERS = 20
"""A verified match: at least this many keypoint pairs agree on one similarity transform."""
SCALE_RANGE = (0.2, 5.0)
MIN_COVERAGE = 0.2
"""…spread over at least this share of the area the two pictures share. Keypoints of one shared part
alone (a studio background in two photos taken there, the same face pasted into two scenes) cluster
in a corner of it (measured in bench/robust_reposts.py: at most 0.188 over 11,988 unrelated pairs, all
Yale photos taken against one studio wall; 0.07 for the demo's composites sharing a pasted face; the
copies found: 0.20-1.0). The margin is thin: see docs/robust-reposts.md."""
MAX_POOLED_CANDIDATES = 3
MIN_VOTES = 8
FLANN_INDEX_LSH = 6


@dataclass
class KnownFeatures:
    """What the engine keeps of one picture: region hashes and ORB keypoints. A known image's regions
    are its :func:`reference_regions` (:func:`known_features`); an item's are its :func:`query_regions`
    (:func:`item_features`, computed in the scan's analysis worker)."""

    regions: np.ndarray
    """(n, 32) packed PDQ bits of the regions."""
    region_names: list[str]
    points: np.ndarray
    """(k, 2) float32 keypoint positions in the working copy."""
    descriptors: np.ndarray
    """(k, 32) uint8 ORB descriptors."""
    size: tuple[int, int]
    """(width, height) of the working copy the keypoints are in."""
    qualities: np.ndarray | None = None
    """(n,) PDQ quality of each region (None in features stored before it was kept)."""

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        arrays = {
            "regions": self.regions,
            "region_names": np.array(self.region_names),
            "points": self.points,
            "descriptors": self.descriptors,
            "size": np.array(self.size, np.int64),
        }
        if self.qualities is not None:
            arrays["qualities"] = self.qualities
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> KnownFeatures:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        w, h = (int(v) for v in z["size"])
        names = [str(n) for n in z["region_names"]]
        qualities = z["qualities"] if "qualities" in z.files else None
        return cls(z["regions"], names, z["points"], z["descriptors"], (w, h), qualities)

    def region_hexes(self) -> list[tuple[str, str, int]]:
        """(region name, PDQ hex, quality) of each region (quality 0 when it was not kept)."""
        q = self.qualities if self.qualities is not None else np.zeros(len(self.regions), np.int64)
        return [
            (name, bytes(row).hex(), int(qual))
            for name, row, qual in zip(self.region_names, self.regions, q, strict=True)
        ]


@dataclass(frozen=True)
class RobustHit:
    owner: int
    by: str
    """'region:<query region>~<known region>' or 'keypoints' (found by the pooled search)."""
    distance: int
    """The closest region distance in bits (256 when found by keypoints alone)."""
    inliers: int


def _gray8(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        return np.ascontiguousarray(cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY))
    return np.ascontiguousarray(image.astype(np.uint8))


def one_thread() -> None:
    """Run OpenCV single-threaded in this process: a scan's analysis workers are one process per core,
    and OpenCV's own thread pool on top of them only adds CPU time (ORB of a 512 px copy: measured
    4.9-5.8 ms single-threaded against 5.5-7.0 ms with two threads, the same keypoints)."""
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)


def orb_features(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(points (k, 2) float32, descriptors (k, 32) uint8)`` of ``image`` (≤ 512 px working copy)."""
    if min(image.shape[:2]) < MIN_SIDE:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    orb = cv2.ORB.create(nfeatures=ORB_FEATURES, fastThreshold=FAST_THRESHOLD)
    kps, desc = orb.detectAndCompute(_gray8(image), None)
    if desc is None or not kps:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    return np.array([k.pt for k in kps], dtype=np.float32), np.asarray(desc, dtype=np.uint8)


def known_features(image: np.ndarray) -> KnownFeatures:
    """The engine's data for a known image (an RGB or grey frame)."""
    small = working_copy(image)
    regions = reference_regions(small)
    points, desc = orb_features(small)
    h, w = small.shape[:2]
    qualities = np.array([r.quality for r in regions], np.int64)
    return KnownFeatures(packed(regions), [r.region for r in regions], points, desc, (w, h), qualities)


ItemFeatures = KnownFeatures
"""An item's features: its query regions (trimmed, and without a top/bottom band) and keypoints."""


def item_features(image: np.ndarray, *, pdq: tuple[np.ndarray, int] | None = None) -> ItemFeatures:
    """The engine's data for an item's frame (an RGB or grey array): what the scan's worker computes.
    ``pdq``: the frame's standard PDQ (bits, quality) when already computed on its working copy."""
    small = working_copy(image)
    regions = query_regions(small, whole=pdq)
    points, desc = orb_features(small)
    h, w = small.shape[:2]
    qualities = np.array([r.quality for r in regions], np.int64)
    return KnownFeatures(packed(regions), [r.region for r in regions], points, desc, (w, h), qualities)


def _good_pairs(query_desc: np.ndarray, train_desc: np.ndarray) -> list[tuple[int, int]]:
    if len(query_desc) < 2 or len(train_desc) < 2:
        return []
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    out = []
    for pair in matcher.knnMatch(query_desc, train_desc, k=2):
        if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance:
            out.append((pair[0].queryIdx, pair[0].trainIdx))
    return out


@dataclass(frozen=True)
class Verification:
    inliers: int
    """Keypoint pairs agreeing on one similarity transform."""
    coverage: float
    """Area of the inliers' bounding box in the known image / area of the item's footprint there."""
    density: float
    """Inliers / the known image's keypoints inside the item's footprint (reported, not decisive: a
    shared pasted object can have a high density)."""

    @property
    def verified(self) -> bool:
        return self.inliers >= MIN_INLIERS and self.coverage >= MIN_COVERAGE


NOT_VERIFIED = Verification(0, 0.0, 0.0)


def verify(item: ItemFeatures, known: KnownFeatures) -> Verification:
    """Fit a similarity transform from the item's keypoints to the known image's and measure it."""
    points, desc = item.points, item.descriptors
    pairs = _good_pairs(desc, known.descriptors)
    if len(pairs) < MIN_INLIERS:
        return NOT_VERIFIED
    src = points[[q for q, _ in pairs]]
    dst = known.points[[t for _, t in pairs]]
    model, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX, maxIters=2000, confidence=0.99
    )
    if model is None or mask is None:
        return NOT_VERIFIED
    scale = float(np.hypot(model[0, 0], model[1, 0]))
    inliers = int(mask.sum())
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1] or inliers < 3:
        return NOT_VERIFIED
    # the item's frame mapped into the known image, clipped to it: the area the two pictures share
    w, h = item.size
    kw, kh = known.size
    corners = cv2.transform(np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float32), model)[0]
    x0, y0 = np.clip(corners.min(axis=0), 0, [kw, kh])
    x1, y1 = np.clip(corners.max(axis=0), 0, [kw, kh])
    footprint = max(1.0, float((x1 - x0) * (y1 - y0)))
    inl = dst[mask.ravel() == 1]
    box = float(np.ptp(inl[:, 0]) * np.ptp(inl[:, 1]))
    kp = known.points
    inside = int(((kp[:, 0] >= x0) & (kp[:, 0] <= x1) & (kp[:, 1] >= y0) & (kp[:, 1] <= y1)).sum())
    return Verification(inliers, min(1.0, box / footprint), inliers / max(1, inside))


class RobustIndex:
    """Known images' region hashes and keypoints; :meth:`query` finds verified reposts of them.

    The region hashes of every known image sit in one stacked array, so :meth:`candidates` is one
    vectorised Hamming computation however many known images there are (a scan's references grow to
    hundreds); it is rebuilt, lazily, after :meth:`add`. The keypoint pool behind :meth:`pooled_candidates`
    holds the descriptors of the images added with ``pooled=True`` (an LSH index, rebuilt on the first
    query after such an add)."""

    def __init__(self) -> None:
        self._known: dict[int, KnownFeatures] = {}
        self._pool_parts: list[np.ndarray] = []
        self._owner_parts: list[np.ndarray] = []
        self._pool: np.ndarray = np.zeros((0, 32), np.uint8)
        self._pool_owner: np.ndarray = np.zeros(0, np.int64)
        self._pool_stale = False
        self._flann: cv2.FlannBasedMatcher | None = None
        self._stacked: tuple[np.ndarray, np.ndarray, list[int]] | None = None

    def __len__(self) -> int:
        return len(self._known)

    def add(self, owner: int, features: KnownFeatures, *, pooled: bool = True) -> None:
        """Index ``features`` under ``owner``: its regions always; its keypoints in the pooled search
        when ``pooled`` (a pooled add makes the next pooled query rebuild the LSH index)."""
        self._known[owner] = features
        self._stacked = None
        if pooled:
            self._pool_parts.append(features.descriptors)
            self._owner_parts.append(np.full(len(features.descriptors), owner, np.int64))
            self._pool_stale = True
            self._flann = None

    def _regions(self) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(every known region as (n, 4) uint64 words, the first row of each owner's regions, the owners
        in the order they were added), for owners with at least one region."""
        if self._stacked is None:
            owners = [o for o, k in self._known.items() if len(k.regions)]
            parts = [self._known[o].regions for o in owners]
            words = (
                np.ascontiguousarray(np.concatenate(parts)).view(np.uint64)
                if parts
                else np.zeros((0, 4), np.uint64)
            )
            starts = np.cumsum([0] + [len(p) for p in parts[:-1]]).astype(np.intp)
            self._stacked = (words, starts, owners)
        return self._stacked

    def candidates(self, item: ItemFeatures) -> dict[int, tuple[int, str]]:
        """Known image → (closest region distance, 'query~known' regions) within CANDIDATE_BITS, in the
        order the known images were added. The closest pair is the first in (query, known) region order
        among equals."""
        words, starts, owners = self._regions()
        if not owners or not len(item.regions):
            return {}
        query = np.ascontiguousarray(item.regions).view(np.uint64)
        dist = np.bitwise_count(query[:, None, :] ^ words[None, :, :]).sum(axis=2, dtype=np.int32)
        closest = np.minimum.reduceat(dist.min(axis=0), starts)
        out: dict[int, tuple[int, str]] = {}
        bounds = [*starts.tolist(), len(words)]
        for i in np.flatnonzero(closest <= CANDIDATE_BITS).tolist():
            block = dist[:, bounds[i] : bounds[i + 1]]
            qi, ki = np.unravel_index(int(block.argmin()), block.shape)
            owner = owners[i]
            name = f"{item.region_names[qi]}~{self._known[owner].region_names[ki]}"
            out[owner] = (int(block[qi, ki]), name)
        return out

    def _descriptor_pool(self) -> np.ndarray:
        """The pooled images' descriptors, stacked (with each row's owner in ``_pool_owner``)."""
        if self._pool_stale:
            self._pool = np.concatenate(self._pool_parts) if self._pool_parts else self._pool
            self._pool_owner = np.concatenate(self._owner_parts) if self._owner_parts else self._pool_owner
            self._pool_parts, self._owner_parts = [self._pool], [self._pool_owner]
            self._pool_stale = False
        return self._pool

    def _lsh(self) -> cv2.FlannBasedMatcher:
        """A FLANN LSH index over every known image's descriptors (built once, on first use)."""
        if self._flann is None:
            params: dict[str, bool | int | float | str] = {
                "algorithm": FLANN_INDEX_LSH,
                "table_number": 6,
                "key_size": 20,
                "multi_probe_level": 0,
            }
            self._flann = cv2.FlannBasedMatcher(params, {"checks": 32})
            self._flann.add([self._descriptor_pool()])
            self._flann.train()
        return self._flann

    def pooled_candidates(self, item: ItemFeatures) -> list[int]:
        """Known images with the most ratio-tested keypoint votes (at least MIN_VOTES), by one
        approximate nearest-neighbour search over all known images' keypoints at once."""
        desc = item.descriptors
        if len(desc) < 2 or len(self._descriptor_pool()) < 2:
            return []
        votes: dict[int, int] = {}
        for pair in self._lsh().knnMatch(desc, k=2):
            if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance:
                owner = int(self._pool_owner[pair[0].trainIdx])
                votes[owner] = votes.get(owner, 0) + 1
        ranked = sorted((v, o) for o, v in votes.items() if v >= MIN_VOTES)[::-1]
        return [o for _, o in ranked[:MAX_POOLED_CANDIDATES]]

    def query(self, image: np.ndarray, *, pooled: bool = True) -> list[RobustHit]:
        """Verified hits of a frame (an RGB or grey array), best first."""
        if not self._known:
            return []
        return self.query_features(item_features(image), pooled=pooled)

    def query_features(self, item: ItemFeatures, *, pooled: bool = True) -> list[RobustHit]:
        """Verified hits of an item's :func:`item_features`, best first."""
        if not self._known:
            return []
        hits: list[RobustHit] = []
        cands = self.candidates(item)
        for owner, (d, regions) in cands.items():
            v = verify(item, self._known[owner])
            if v.verified:
                hits.append(RobustHit(owner, f"region:{regions}", d, v.inliers))
        if not hits and pooled:
            for owner in self.pooled_candidates(item):
                if owner in cands:
                    continue
                v = verify(item, self._known[owner])
                if v.verified:
                    hits.append(RobustHit(owner, "keypoints", 256, v.inliers))
        return sorted(hits, key=lambda h: -h.inliers)


def _aad(known_id: int) -> bytes:
    return f"reclaim-known-features:{known_id}".encode()


def encrypt_features(key: DataKey, features: KnownFeatures, known_id: int) -> bytes:
    """``features`` encrypted for ``KnownImage.features_ct`` (bound to the known image's id)."""
    return key.encrypt(features.to_bytes(), aad=_aad(known_id))


def load_robust_index(
    session: Session, key: DataKey, *, persons: ColumnElement[bool] | None = None
) -> tuple[RobustIndex, dict[int, str]]:
    """The engine's index over the known images (with features) of consenting persons (those that
    ``persons``, a condition on Person, chooses), and each known image's person id."""
    from sqlalchemy import select, true

    from reclaim.store.models import KnownImage, Person  # here: ≈ 0.2 s of start-up (note above)

    index = RobustIndex()
    owners: dict[int, str] = {}
    rows = session.scalars(
        select(KnownImage)
        .join(Person)
        .where(
            Person.consents.any(),
            KnownImage.features_ct.is_not(None),
            persons if persons is not None else true(),
        )
    )
    for known in rows:
        assert known.features_ct is not None
        index.add(known.id, KnownFeatures.from_bytes(key.decrypt(known.features_ct, aad=_aad(known.id))))
        owners[known.id] = known.person_id
    return index, owners


def _item_aad(item_id: int) -> bytes:
    return f"reclaim-item-features:{item_id}".encode()


def store_item_features(session: Session, key: DataKey, item: Item, features: ItemFeatures) -> None:
    """Keep ``features`` of ``item`` encrypted (``item_features``; bound to the item's id)."""
    from reclaim.store.models import ItemFeatureRow  # here: ≈ 0.2 s of start-up (note above)

    ct = key.encrypt(features.to_bytes(), aad=_item_aad(item.id))
    row = session.get(ItemFeatureRow, item.id)
    if row is None:
        session.add(ItemFeatureRow(item_id=item.id, features_ct=ct))
    else:
        row.features_ct = ct


def load_item_features(
    session: Session, key: DataKey, item_ids: Collection[int] | None = None
) -> dict[int, ItemFeatures]:
    """Stored item features (of ``item_ids``, or of every item that has them)."""
    from sqlalchemy import select

    from reclaim.store.models import ItemFeatureRow  # here: ≈ 0.2 s of start-up (note above)

    stmt = select(ItemFeatureRow)
    if item_ids is not None:
        stmt = stmt.where(ItemFeatureRow.item_id.in_(item_ids))
    return {
        row.item_id: KnownFeatures.from_bytes(key.decrypt(row.features_ct, aad=_item_aad(row.item_id)))
        for row in session.scalars(stmt)
    }


def features_of_bytes(data: bytes) -> ItemFeatures | None:
    """An item's features from its bytes (decoding its first frame), or None when it has no frame."""
    frame = first_frame(data)
    return item_features(frame) if frame is not None else None


def backfill_item_features(session: Session, key: DataKey, vault: Vault, item_ids: Collection[int]) -> int:
    """Compute and store the features of those of ``item_ids`` that have none and whose media are in
    ``vault`` (items scanned while the engine had nothing to match against). Returns how many."""
    from sqlalchemy import select

    from reclaim.store.models import Item, ItemFeatureRow  # here: ≈ 0.2 s of start-up (note above)

    have = set(session.scalars(select(ItemFeatureRow.item_id).where(ItemFeatureRow.item_id.in_(item_ids))))
    n = 0
    for item in session.scalars(
        select(Item).where(Item.id.in_(item_ids), Item.stored.is_(True)).order_by(Item.id)
    ):
        if item.id in have or not vault.has(item.sha256):
            continue
        features = features_of_bytes(vault.get(item.sha256))
        if features is not None:
            store_item_features(session, key, item, features)
            n += 1
    if n:
        session.flush()
    return n


def first_frame(data: bytes) -> np.ndarray | None:
    """The first frame of a media file at the scan's working size, or None when it has none."""
    try:
        media = decode_media(data, limits=MediaLimits(max_side=WORK_SIDE, max_frames=1))
    except MediaError:
        return None
    return media.frames[0].image if media.frames else None
