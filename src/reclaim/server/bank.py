"""The confirmed hash bank the platforms' hash API (``/m``) matches against: segments and their refresh.

What is in the bank: the hashes of every item with at least one *confirmed* match (a reviewer said "this
is the person"): per item its SHA-256 (also its ``bank_id``: it names content, not a person), MD5 and
PDQ (frame 0; the 8 dihedral variants are indexed, so a platform's hash of a flipped or rotated repost
matches too, and the export lists variant 0, the standard PDQ). Never person ids, names, cases, chats or
media. A PDQ below :data:`~reclaim.signals.pdq.MIN_QUALITY` is left out (flat frames match unrelated
flat frames); the item's MD5 and SHA-256 stay in. Hashes from elsewhere can be added with
:meth:`HashBank.add_many` (the load benchmark fills a million this way); they live in their own segment
that database refreshes leave alone.

Freshness: the bank is built lazily on the first lookup and then re-checked at most every
``refresh_s`` seconds (default 5): the check reads the ids of the items with a confirmed match (one
indexed query) and rebuilds only when that set changed. :meth:`HashBank.invalidate` forces the next
lookup to check. Lookups never wait for a rebuild once a bank exists: they use the previous snapshot.

The PDQ index of each segment is a :class:`~reclaim.signals.index.MultiIndexHash` (exact within 31 bits,
≈ 0.15 ms per query at 1M hashes).

Videos: a confirmed video's vPDQ (as the scan stored it, python-threatexchange's serialisation) is in
the bank too, in a :class:`~reclaim.signals.vpdq.VpdqIndex` (brute force: every feature of the query
against every banked feature). A vPDQ lookup answers the videos matching it by python-threatexchange's
rule (see ``signals.vpdq``) with both percentages; its ``distance`` is 100 − the larger, rounded up.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from reclaim.signals.base import SignalValue
from reclaim.signals.hashes import Md5Signal
from reclaim.signals.index import MATCH_THRESHOLD, MultiIndexHash, hex_rows
from reclaim.signals.pdq import MIN_QUALITY, PdqSignal
from reclaim.signals.vpdq import VpdqIndex, VpdqSignal, from_te, from_values, to_te
from reclaim.store.models import Item, Match, Signal

BankSignalType = Literal["pdq", "md5", "vpdq"]
REFRESH_S = 5.0


@dataclass(frozen=True)
class BankMatch:
    bank_id: str
    signal_type: BankSignalType
    distance: int
    query_match_percent: float | None = None
    """vPDQ only: the share of the query's frames found in the banked video (and the converse below)."""
    compared_match_percent: float | None = None


@dataclass(frozen=True)
class BankRow:
    """One exported hash."""

    bank_id: str
    signal_type: BankSignalType
    signal: str
    quality: int | None = None


class _Segment:
    """An immutable part of the bank: entries (columnar, so a million cost little) and their indexes."""

    def __init__(
        self,
        bank_ids: list[str],
        md5s: list[str | None],
        pdq: np.ndarray,
        pdq_entry: np.ndarray,
        pdq_quality: np.ndarray,
        pdq_primary: np.ndarray,
        fingerprint: str = "",
        vpdq: dict[int, str] | None = None,
    ) -> None:
        self.bank_ids = bank_ids
        self.vpdq = vpdq or {}  # entry -> its vPDQ (python-threatexchange's serialisation)
        self.videos = VpdqIndex()
        for entry, value in self.vpdq.items():
            self.videos.add_features(entry, from_te(value))
        self.md5s = md5s
        self.index = MultiIndexHash(pdq)
        self.pdq_entry = pdq_entry  # row -> entry
        self.pdq_quality = pdq_quality  # row -> quality (-1: unknown)
        self.pdq_primary = pdq_primary  # entry -> row of its exported PDQ (-1: none)
        self.fingerprint = fingerprint
        self.by_md5: dict[str, list[int]] = {}
        for i, md5 in enumerate(md5s):
            if md5:
                self.by_md5.setdefault(md5, []).append(i)

    @classmethod
    def empty(cls, fingerprint: str = "") -> _Segment:
        none = np.zeros(0, dtype=np.int32)
        return cls([], [], np.zeros((0, 32), dtype=np.uint8), none, none.astype(np.int16), none, fingerprint)

    def __len__(self) -> int:
        return len(self.bank_ids)

    def lookup_pdq(self, query: np.ndarray, radius: int) -> dict[int, int]:
        rows, distances = self.index.search(query, radius)
        best: dict[int, int] = {}
        for entry, distance in zip(self.pdq_entry[rows].tolist(), distances.tolist(), strict=True):
            if distance < best.get(entry, 257):
                best[entry] = distance
        return best

    def rows(self) -> Iterator[BankRow]:
        for i, bank_id in enumerate(self.bank_ids):
            row = int(self.pdq_primary[i])
            if row >= 0:
                quality = int(self.pdq_quality[row])
                signal = bytes(self.index.hashes[row]).hex()
                yield BankRow(bank_id, "pdq", signal, None if quality < 0 else quality)
            md5 = self.md5s[i]
            if md5:
                yield BankRow(bank_id, "md5", md5)
            if i in self.vpdq:
                yield BankRow(bank_id, "vpdq", self.vpdq[i])


class _Builder:
    def __init__(self) -> None:
        self.bank_ids: list[str] = []
        self.md5s: list[str | None] = []
        self.pdq: list[bytes] = []
        self.pdq_entry: list[int] = []
        self.pdq_quality: list[int] = []
        self.pdq_primary: list[int] = []
        self.vpdq: dict[int, str] = {}

    def add(
        self,
        bank_id: str,
        md5: str | None,
        pdqs: Sequence[tuple[int, str, int | None]],
        vpdq: str | None = None,
    ) -> None:
        """``pdqs``: ``(variant, hex, quality)``; variant 0 is the one exported. ``vpdq``: a video's."""
        entry = len(self.bank_ids)
        if vpdq:
            self.vpdq[entry] = vpdq
        self.bank_ids.append(bank_id)
        self.md5s.append(md5)
        primary = -1
        for variant, value, quality in sorted(pdqs):
            if quality is not None and quality < MIN_QUALITY:
                continue
            if variant == 0:
                primary = len(self.pdq)
            self.pdq.append(bytes.fromhex(value))
            self.pdq_entry.append(entry)
            self.pdq_quality.append(-1 if quality is None else quality)
        self.pdq_primary.append(primary)

    def build(self, fingerprint: str) -> _Segment:
        raw = np.frombuffer(b"".join(self.pdq), dtype=np.uint8).reshape(len(self.pdq), 32)
        return _Segment(
            self.bank_ids,
            self.md5s,
            raw.copy(),
            np.asarray(self.pdq_entry, dtype=np.int32),
            np.asarray(self.pdq_quality, dtype=np.int16),
            np.asarray(self.pdq_primary, dtype=np.int32),
            fingerprint,
            self.vpdq,
        )


def _confirmed_items() -> Select[int]:
    return select(Match.item_id).where(Match.status == "confirmed").distinct()


def confirmed_fingerprint(session: Session) -> str:
    """Changes whenever the set of items with a confirmed match changes."""
    ids = session.scalars(_confirmed_items().order_by(Match.item_id)).all()
    return _fingerprint(ids)


def _fingerprint(ids: Sequence[int]) -> str:
    return f"{len(ids)}:" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


def load_confirmed(session: Session) -> _Segment:
    """The database part of the bank: hashes of every item with a confirmed match, nothing else."""
    subquery = _confirmed_items().scalar_subquery()
    items = session.execute(
        select(Item.id, Item.sha256, Item.md5).where(Item.id.in_(subquery)).order_by(Item.id)
    ).all()
    pdqs: dict[int, list[tuple[int, str, int | None]]] = {}
    for item_id, variant, value, quality in session.execute(
        select(Signal.item_id, Signal.variant, Signal.value, Signal.quality).where(
            Signal.signal_type == "pdq", Signal.frame_index == 0, Signal.item_id.in_(subquery)
        )
    ):
        pdqs.setdefault(item_id, []).append((variant, value, quality))
    videos: dict[int, list[SignalValue]] = {}
    for item_id, value, frame_index, quality in session.execute(
        select(Signal.item_id, Signal.value, Signal.frame_index, Signal.quality).where(
            Signal.signal_type == VpdqSignal.name, Signal.item_id.in_(subquery)
        )
    ):
        videos.setdefault(item_id, []).append(SignalValue(VpdqSignal.name, value, frame_index, 0, quality))
    builder = _Builder()
    for item_id, sha256, md5 in items:
        features = from_values(videos.get(item_id, []))
        builder.add(sha256, md5, pdqs.get(item_id, []), to_te(features) if features else None)
    return builder.build(_fingerprint([row[0] for row in items]))


SessionFactory = Callable[[], AbstractContextManager[Session]]


class HashBank:
    """The bank: a segment loaded from the database (confirmed items) plus one of added hashes.

    Thread-safe: lookups read an immutable snapshot; refreshes and additions build a new one under a
    lock and swap it in."""

    def __init__(self, *, refresh_s: float = REFRESH_S) -> None:
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._confirmed: _Segment | None = None
        self._added = _Segment.empty()
        self._checked_at = -float("inf")

    # --- filling ------------------------------------------------------------------------------------

    def add_many(
        self,
        bank_ids: Sequence[str],
        pdq: np.ndarray | Sequence[str],
        *,
        md5: Sequence[str | None] | None = None,
        quality: Sequence[int] | None = None,
    ) -> None:
        """Add hashes from another source (not from this workspace's cases): ``pdq`` is ``(n, 32)``
        uint8 or n hex strings. Rebuilds the added segment (≈ 2 s per million)."""
        rows = pdq if isinstance(pdq, np.ndarray) else hex_rows([PdqSignal.validate(v) for v in pdq])
        if rows.shape != (len(bank_ids), 32) or rows.dtype != np.uint8:
            raise ValueError("need one (32,) uint8 PDQ row per bank id")
        if md5 is not None and len(md5) != len(bank_ids):
            raise ValueError("need one MD5 (or None) per bank id")
        md5s: list[str | None] = [None] * len(rows)
        if md5 is not None:
            md5s = [None if m is None else Md5Signal.validate(m) for m in md5]
        qualities = (
            np.full(len(rows), -1, dtype=np.int16) if quality is None else np.asarray(quality, np.int16)
        )
        with self._lock:
            old = self._added
            keep = qualities < 0
            keep |= qualities >= MIN_QUALITY
            n_old = len(old)
            new_rows = np.flatnonzero(keep)
            primary_new = np.full(len(rows), -1, dtype=np.int32)
            primary_new[new_rows] = len(old.index) + np.arange(len(new_rows), dtype=np.int32)
            self._added = _Segment(
                old.bank_ids + list(bank_ids),
                old.md5s + md5s,
                np.vstack([old.index.hashes, rows[new_rows]]),
                np.concatenate([old.pdq_entry, (n_old + new_rows).astype(np.int32)]),
                np.concatenate([old.pdq_quality, qualities[new_rows]]),
                np.concatenate([old.pdq_primary, primary_new]),
                vpdq=old.vpdq,
            )

    def invalidate(self) -> None:
        """Check the database on the next lookup (e.g. right after a review)."""
        self._checked_at = -float("inf")

    def due(self) -> bool:
        return self._confirmed is None or time.monotonic() - self._checked_at >= self.refresh_s

    def refresh(self, sessions: SessionFactory, *, force: bool = False) -> bool:
        """Reload the confirmed segment if the database changed (checked at most every ``refresh_s``).
        Returns whether it was rebuilt. While another thread refreshes, returns at once (the old
        snapshot serves) unless there is none yet."""
        if not force and not self.due():
            return False
        if not self._lock.acquire(blocking=self._confirmed is None or force):
            return False
        try:
            if not force and not self.due():
                return False
            with sessions() as session:
                current = self._confirmed
                if current is not None and confirmed_fingerprint(session) == current.fingerprint:
                    self._checked_at = time.monotonic()
                    return False
                self._confirmed = load_confirmed(session)
            self._checked_at = time.monotonic()
            return True
        finally:
            self._lock.release()

    # --- reading ------------------------------------------------------------------------------------

    def _segments(self) -> tuple[_Segment, ...]:
        confirmed = self._confirmed
        return (self._added,) if confirmed is None else (confirmed, self._added)

    def __len__(self) -> int:
        return sum(len(s) for s in self._segments())

    @property
    def pdq_count(self) -> int:
        return sum(len(s.index) for s in self._segments())

    def lookup(self, signal_type: BankSignalType, value: str) -> list[BankMatch]:
        """Matches for one validated signal, nearest first (PDQ: within 31 bits; MD5: equal; vPDQ: by
        python-threatexchange's video rule)."""
        out: list[BankMatch] = []
        if signal_type == VpdqSignal.name:
            features = from_te(value)
            for segment in self._segments():
                for m in segment.videos.search(features):
                    out.append(
                        BankMatch(
                            segment.bank_ids[m.ident],
                            "vpdq",
                            math.ceil(m.distance),
                            round(m.query_match_percent, 2),
                            round(m.compared_match_percent, 2),
                        )
                    )
        elif signal_type == "pdq":
            query = np.frombuffer(bytes.fromhex(value), dtype=np.uint8)
            for segment in self._segments():
                for entry, distance in segment.lookup_pdq(query, MATCH_THRESHOLD).items():
                    out.append(BankMatch(segment.bank_ids[entry], "pdq", distance))
        else:
            for segment in self._segments():
                for entry in segment.by_md5.get(value, []):
                    out.append(BankMatch(segment.bank_ids[entry], "md5", 0))
        out.sort(key=lambda m: (m.distance, m.bank_id))
        return out

    def rows(self) -> Iterator[BankRow]:
        """Every exported hash (PDQ variant 0, MD5 and a video's vPDQ per entry)."""
        for segment in self._segments():
            yield from segment.rows()


__all__ = [
    "BankMatch",
    "BankRow",
    "BankSignalType",
    "HashBank",
    "load_confirmed",
]
