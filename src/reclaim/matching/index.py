"""One index over several signal types: known images, imported banks and a scan's items by their hashes.

Each owner (a known image, an imported bank, an item) adds any number of hashes; each signal type's
values go into that type's own :class:`~reclaim.signals.index.HashIndex`. A query with an item's hashes
returns, per owner, the smallest distance and the signal type that found it: exact hashes at 0, the
perceptual ones (only :meth:`~reclaim.signals.base.SignalType.matchable` values: quality ≥ 50) within
``MATCH_THRESHOLD`` bits. Hashes of types the index does not hold are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reclaim.signals import HashIndex, SignalType, SignalValue


class MatchIndex:
    def __init__(self, signal_types: Sequence[type[SignalType]]) -> None:
        self._types = {s.name: s for s in signal_types}
        self._indexes: dict[str, HashIndex] = {s.name: s.index() for s in signal_types}

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
