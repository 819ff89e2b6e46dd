"""Matching items against imported hash banks ('reclaim hashes import').

The bank index (:func:`load_bank_index`) holds every imported hash: standard PDQ by Hamming radius, MD5
by equality, vPDQ by python-threatexchange's brute-force video matcher (a hit's ``distance`` is
100 − the larger match percentage, rounded up). The scan's :class:`~reclaim.matching.service.Matcher`
loads one per scan and calls :func:`record_bank_hits` for each new item; :func:`check_items` runs the
banks over items already in the workspace (after an import). A hit is a
:class:`~reclaim.store.models.BankHit` plus a ``bank.hit`` custody event, not a match to a person.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound
from reclaim.events import EventKind, log_event, subject
from reclaim.matching.index import MatchIndex
from reclaim.matching.robust import ItemFeatures, load_item_features
from reclaim.signals import Md5Signal, PdqSignal, SignalValue, VpdqIndex, VpdqSignal
from reclaim.signals.vpdq import from_te, from_values
from reclaim.store.crypto import DataKey
from reclaim.store.models import BankHit, ImportedBank, ImportedHash, Item, Signal

BANK_SIGNALS = (PdqSignal, Md5Signal)
"""What banks are matched by: standard PDQ (any frame, any dihedral variant of the item; reclaim's pdq64
is not comparable with others' lists) and MD5."""


def _bank_names(session: Session) -> dict[int, str]:
    return {bank_id: name for bank_id, name in session.execute(select(ImportedBank.id, ImportedBank.name))}


@dataclass
class BankIndex:
    """The imported banks' hashes: PDQ and MD5 in one :class:`MatchIndex`, vPDQ (one entry per imported
    video, owned by its bank) in a :class:`VpdqIndex`."""

    hashes: MatchIndex = field(default_factory=lambda: MatchIndex(BANK_SIGNALS))
    videos: VpdqIndex = field(default_factory=VpdqIndex)

    def __len__(self) -> int:
        return len(self.hashes) + len(self.videos)


def load_bank_index(session: Session) -> BankIndex:
    """Every imported hash, by bank id."""
    index = BankIndex()
    for bank_id, signal_type, value, vpdq in session.execute(
        select(ImportedHash.bank_id, ImportedHash.signal_type, ImportedHash.value, ImportedHash.vpdq)
    ):
        if signal_type == VpdqSignal.name:
            if vpdq:
                index.videos.add_features(bank_id, from_te(vpdq))
        else:
            index.hashes.add(bank_id, signal_type, value)
    return index


FEATURE_BATCH = 500
REGION_SIGNAL = "pdq-region"
"""A bank hit found by a region hash of the item (``BankHit.signal_type``), not by its standard PDQ."""


def _query(
    index: BankIndex, item: Item, refs: Sequence[SignalValue], features: ItemFeatures | None = None
) -> dict[int, tuple[int, str, str | None]]:
    return lookup(index, item.md5, refs, features)


def lookup(
    index: BankIndex, md5: str, refs: Sequence[SignalValue], features: ItemFeatures | None = None
) -> dict[int, tuple[int, str, str | None]]:
    """Bank id → (smallest distance, "pdq", "md5", "vpdq" or "pdq-region", the region when by one; a vPDQ
    distance is 100 − the percentage). Region hashes (the item's picture trimmed of borders, and without
    a top or bottom band: ``signals.regions.query_regions``) are looked up at standard PDQ's threshold
    for banks its standard hashes did not hit."""
    found: dict[int, tuple[int, str, str | None]] = {
        bank: (d, how, None)
        for bank, (d, how) in index.hashes.query([SignalValue(Md5Signal.name, md5), *refs]).items()
    }
    if len(index.videos):
        for m in index.videos.search(from_values(refs)):
            distance = math.ceil(m.distance)
            if m.ident not in found or distance < found[m.ident][0]:
                found[m.ident] = (distance, VpdqSignal.name, None)
    if features is not None and len(index.hashes):
        by_region: dict[int, tuple[int, str, str | None]] = {}
        for region, value, quality in features.region_hexes():
            for bank, (d, _) in index.hashes.query(
                [SignalValue(PdqSignal.name, value, quality=quality)]
            ).items():
                if bank not in found and (bank not in by_region or d < by_region[bank][0]):
                    by_region[bank] = (d, REGION_SIGNAL, region)
        found.update(by_region)
    return found


def record_bank_hits(
    session: Session,
    index: BankIndex,
    item: Item,
    refs: Sequence[SignalValue],
    features: ItemFeatures | None = None,
    *,
    actor: str | None = None,
) -> list[BankHit]:
    """Record (once per item and bank) that ``item`` is on an imported bank; one ``bank.hit`` event each
    (a hit by a region names the region). With the item's robust-engine ``features``, its region hashes
    are looked up too. Call in the item's transaction. Returns the hits created."""
    if not len(index):
        return []
    found = _query(index, item, refs, features)
    if not found:
        return []
    known = set(session.scalars(select(BankHit.bank_id).where(BankHit.item_id == item.id)))
    names = _bank_names(session)
    created: list[BankHit] = []
    for bank_id, (distance, how, region) in sorted(found.items()):
        if bank_id in known:
            continue
        hit = BankHit(item_id=item.id, bank_id=bank_id, signal_type=how, distance=distance)
        session.add(hit)
        created.append(hit)
        detail: dict[str, object] = {"bank": names.get(bank_id), "by": how, "distance": distance}
        if region is not None:
            detail["region"] = region
        log_event(
            session,
            EventKind.BANK_HIT,
            subject=subject("item", item.sha256),
            detail=detail,
            actor=actor,
        )
    if created:
        session.flush()
    return created


def _stored_refs(session: Session, item_ids: Sequence[int] | None = None) -> dict[int, list[SignalValue]]:
    query = select(
        Signal.item_id, Signal.signal_type, Signal.value, Signal.frame_index, Signal.variant, Signal.quality
    ).where(Signal.signal_type.in_((PdqSignal.name, VpdqSignal.name)))
    if item_ids is not None:
        query = query.where(Signal.item_id.in_(item_ids))
    refs: dict[int, list[SignalValue]] = defaultdict(list)
    for item_id, signal_type, value, frame_index, variant, quality in session.execute(query):
        refs[item_id].append(SignalValue(signal_type, value, frame_index, variant, quality))
    return refs


def bank_hits(session: Session, item: Item, index: BankIndex | None = None) -> dict[str, tuple[int, str]]:
    """Which imported banks ``item`` is on, from its stored hashes: bank name → (distance, how).
    Records nothing."""
    index = index if index is not None else load_bank_index(session)
    names = _bank_names(session)
    found = _query(index, item, _stored_refs(session, [item.id]).get(item.id, []))
    return {names[bank_id]: (d, how) for bank_id, (d, how, _) in found.items()}


def check_items(session: Session, *, actor: str | None = None, key: DataKey | None = None) -> list[BankHit]:
    """Run the imported banks over every item in the workspace and record new hits (no commit); with the
    data ``key``, the items' stored region hashes too."""
    index = load_bank_index(session)
    if not len(index):
        return []
    refs = _stored_refs(session)
    created: list[BankHit] = []
    items = session.scalars(select(Item).order_by(Item.id)).all()
    for start in range(0, len(items), FEATURE_BATCH):
        batch = items[start : start + FEATURE_BATCH]
        features = load_item_features(session, key, [i.id for i in batch]) if key is not None else {}
        for item in batch:
            found = record_bank_hits(
                session, index, item, refs.get(item.id, []), features.get(item.id), actor=actor
            )
            created += found
    return created


@dataclass(frozen=True)
class HitRow:
    item_sha256: str
    kind: str | None
    bank: str
    by: str
    distance: int

    def to_dict(self) -> dict[str, object]:
        return {
            "item_sha256": self.item_sha256,
            "kind": self.kind,
            "bank": self.bank,
            "by": self.by,
            "distance": self.distance,
        }


def list_hits(session: Session, *, bank: str | None = None) -> list[HitRow]:
    query = (
        select(Item.sha256, Item.kind, ImportedBank.name, BankHit.signal_type, BankHit.distance)
        .join(Item, Item.id == BankHit.item_id)
        .join(ImportedBank, ImportedBank.id == BankHit.bank_id)
        .order_by(ImportedBank.name, BankHit.distance, Item.sha256)
    )
    if bank is not None:
        if session.scalar(select(ImportedBank.id).where(ImportedBank.name == bank)) is None:
            raise NotFound(f"no imported bank named {bank!r} (see 'reclaim hashes banks')")
        query = query.where(ImportedBank.name == bank)
    return [HitRow(sha, kind, name, by, dist) for sha, kind, name, by, dist in session.execute(query)]
