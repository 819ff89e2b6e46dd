"""One index over several signal types: known images, imported banks and a scan's items by their hashes.

Each owner (a known image, an imported bank, an item) adds any number of hashes; each signal type's
values go into that type's own :class:`~reclaim.signals.index.HashIndex`. A query with an item's hashes
returns, per owner, the smallest distance and the signal type that found it: exact hashes at 0, the
perceptual ones (only :meth:`~reclaim.signals.base.SignalType.matchable` values: quality ≥ 50) within
``MATCH_THRESHOLD`` bits. Hashes of types the index does not hold are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from reclaim.signals import HashIndex, LinearIndex, MultiIndexHash, SignalType, SignalValue
from reclaim.signals.index import MATCH_THRESHOLD, hex_to_bytes


class GrowingIndex(HashIndex):
    """256-bit hashes added one at a time while being queried (a scan's items, for clustering), with
    the answers of :class:`~reclaim.signals.index.LinearIndex` (every hash within ``radius`` bits, sorted
    by distance then ident) at a cost that does not grow with the number of hashes as a linear scan's
    does: most hashes sit in a :class:`~reclaim.signals.index.MultiIndexHash`, the newest in a small
    array scanned in full; the array is merged into the multi-index when it reaches an eighth of it (at
    least ``TAIL``), so every hash is re-indexed O(log n) times in all."""

    TAIL = 4096

    def __init__(self) -> None:
        self._base: MultiIndexHash | None = None
        self._base_ids: list[int] = []
        self._tail = np.zeros((0, 32), dtype=np.uint8)
        self._tail_ids: list[int] = []
        self._pending: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._base_ids) + len(self._tail_ids)

    def add(self, value: str, ident: int) -> None:
        self._pending.append(hex_to_bytes(value))
        self._tail_ids.append(ident)
        if len(self._tail_ids) >= max(self.TAIL, len(self._base_ids) // 8):
            self._merge()

    def _merge(self) -> None:
        self._flush()
        rows = self._tail if self._base is None else np.vstack([self._base.hashes, self._tail])
        self._base_ids += self._tail_ids
        self._base = MultiIndexHash(rows, idents=self._base_ids)
        self._tail = np.zeros((0, 32), dtype=np.uint8)
        self._tail_ids = []

    def _flush(self) -> None:
        if self._pending:
            self._tail = np.vstack([self._tail, *self._pending])
            self._pending = []

    def query(self, value: str, radius: int = MATCH_THRESHOLD) -> list[tuple[int, int]]:
        found = self._base.query(value, radius) if self._base is not None else []
        self._flush()
        if self._tail_ids:
            dist = np.bitwise_count(np.bitwise_xor(self._tail, hex_to_bytes(value))).sum(axis=1)
            found += [(self._tail_ids[i], int(dist[i])) for i in np.nonzero(dist <= radius)[0]]
        return sorted(found, key=lambda t: (t[1], t[0]))


class MatchIndex:
    def __init__(self, signal_types: Sequence[type[SignalType]], *, growing: bool = False) -> None:
        """``growing``: the index is queried while it grows (a scan's items): 256-bit types get a
        :class:`GrowingIndex` instead of their linear one."""
        self._types = {s.name: s for s in signal_types}
        self._indexes: dict[str, HashIndex] = {
            s.name: GrowingIndex() if growing and s.index is LinearIndex else s.index() for s in signal_types
        }

    def __len__(self) -> int:
        return sum(len(index) for index in self._indexes.values())

    def add(self, owner: int, signal_type: str, value: str) -> None:
        """Add one hash of ``owner`` (the caller decides which hashes are worth adding)."""
        self._indexes[signal_type].add(value, owner)

    def matchable(self, value: SignalValue) -> bool:
        """Whether ``value`` is of a type this index holds and good enough to match."""
        signal = self._types.get(value.signal_type)
        return signal is not None and signal.matchable(value)

    def query(self, values: Iterable[SignalValue]) -> dict[int, tuple[int, str]]:
        """Owner → (smallest distance, the signal type of the first of ``values`` that found it)."""
        best: dict[int, tuple[int, str]] = {}
        for value in values:
            if not self.matchable(value):
                continue
            for owner, dist in self._indexes[value.signal_type].query(value.value):
                if owner not in best or dist < best[owner][0]:
                    best[owner] = (dist, value.signal_type)
        return best
