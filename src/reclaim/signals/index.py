"""Signal type indexes (python-threatexchange's ``SignalTypeIndex``): ``add(value, ident)``,
``query(value, radius) -> [(ident, distance)]`` nearest first, ``len``.

- :class:`ExactIndex`: equality (SHA-256, MD5); the distance is always 0.
- :class:`LinearIndex`: 256-bit hashes (PDQ, pdq64) by a numpy popcount over every row. Exact at any
  radius; fine up to a few hundred thousand hashes and cheap to grow one hash at a time (known images,
  the in-scan clusters, imported banks).
- :class:`MultiIndexHash`: 256-bit hashes by multi-index hashing, exact at radius ≤ 31: the 1M-hash bank
  of the hash API. Built in one go; an ``add`` rebuilds it at the next query (≈ 2 s per million).

Multi-index hashing: the 256 bits are cut into 16 words of 16 bits; two hashes within 31 bits differ in
at most 1 bit in at least one word (pigeonhole: 16 words with ≥ 2 differing bits each are ≥ 32 bits
apart), so probing each word's bucket and its 16 one-bit neighbours and checking the candidates' full
distances is *exact* at radius ≤ 31. It is the scheme of faiss's ``IndexBinaryMultiHash(256, 16, 16)``
with ``nflip=1``, in numpy over sorted arrays: measured at 1M hashes ≈ 0.15 ms per query against faiss's
1.7 ms, and 100 MB against ≈ 300 MB (``bench/lookup_load.py --compare-faiss`` measures both). From
:data:`WIDE_FROM` (4M) hashes on it cuts 12 words of 21-22 bits and probes within 2 bits of each (exact
at ≤ 31 too: 12 words with ≥ 3 differing bits each are ≥ 36 bits apart): at 10M ≈ 0.56 ms of CPU per
query against 1.28 ms for 16 words; from :data:`WIDER_FROM` (8M) on, 11 words of 23-24 bits (≈ 0.29 ms
at 10M, 2.8k candidates instead of 11k, for 320 MB more of bucket offsets). The arrays
(:attr:`~MultiIndexHash.order`, :attr:`~MultiIndexHash.starts`) can be written to a file and mapped back
(:meth:`MultiIndexHash.from_arrays`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

MATCH_THRESHOLD = 31
"""Hamming distance (of 256 bits) at or below which two PDQ hashes are the same image (ThreatExchange);
the default radius of the 256-bit indexes and the largest :class:`MultiIndexHash` answers exactly."""


_NARROW = (16,) * 16
_WIDE = (22,) * 4 + (21,) * 8
WIDE_FROM = 4_000_000
"""From this many hashes on, the index cuts the 256 bits into 12 words of 21-22 bits and probes every
bucket within 2 bits of the query's word (any two hashes within 31 bits agree up to 2 bits on at least
one of 12 words: 12 words with ≥ 3 differing bits each are ≥ 36 bits apart). At 10M hashes that checks
≈ 12k candidates a query instead of the 16-word layout's ≈ 41k."""


_WIDER = (24,) * 3 + (23,) * 8
WIDER_FROM = 8_000_000
"""From this many hashes on: 11 words of 23-24 bits, probed within 2 bits each (exact: 11 words with ≥ 3
differing bits each are ≥ 33 bits apart). At 10M hashes ≈ 2.8k candidates a query instead of the
12-word layout's ≈ 11k: 0.29 ms of CPU a query against 0.57 (1,000 random queries, one thread), for
448 MB of bucket offsets instead of 128 (fixed, whatever the count: hence only from 8M on)."""


def _layout(n: int) -> tuple[int, ...]:
    if n >= WIDER_FROM:
        return _WIDER
    return _WIDE if n >= WIDE_FROM else _NARROW


def _flips(widths: tuple[int, ...]) -> int:
    return 2 if widths in (_WIDE, _WIDER) else 1


def _masks(width: int, flips: int) -> np.ndarray:
    """Every ``width``-bit value with at most ``flips`` bits set (0 first)."""
    ones = [1 << i for i in range(width)]
    out = [0, *ones]
    if flips >= 2:
        out += [a | b for i, a in enumerate(ones) for b in ones[i + 1 :]]
    return np.asarray(out, dtype=np.intp)


def _words(hashes: np.ndarray, widths: tuple[int, ...]) -> list[np.ndarray]:
    """The words of ``(n, 32)`` uint8 hashes cut at ``widths`` bits, most significant bit first."""
    big = hashes.view(">u8").astype(np.uint64)  # (n, 4)
    out = []
    at = 0
    for w in widths:
        chunk, r = divmod(at, 64)
        if r + w <= 64:
            v = (big[:, chunk] >> np.uint64(64 - r - w)) & np.uint64((1 << w) - 1)
        else:
            high, low = 64 - r, w - (64 - r)
            v = ((big[:, chunk] & np.uint64((1 << high) - 1)) << np.uint64(low)) | (
                big[:, chunk + 1] >> np.uint64(64 - low)
            )
        out.append(v.astype(np.intp))
        at += w
    return out


def bits_to_hex(bits: np.ndarray) -> str:
    return bytes(np.packbits(bits.astype(np.uint8))).hex()


def hex_to_bytes(value: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(value), dtype=np.uint8)


def hex_rows(values: Sequence[str]) -> np.ndarray:
    """``(n, 32)`` uint8 rows of 256-bit hashes given as (already validated) hex strings."""
    if not values:
        return np.zeros((0, 32), dtype=np.uint8)
    raw = b"".join(bytes.fromhex(v) for v in values)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), 32).copy()


def hamming(a: str, b: str) -> int:
    return int(np.bitwise_count(np.bitwise_xor(hex_to_bytes(a), hex_to_bytes(b))).sum())


class HashIndex(ABC):
    """Radius search over the hashes of one signal type, each stored with an integer ident (several
    hashes may share one)."""

    @abstractmethod
    def add(self, value: str, ident: int) -> None: ...

    @abstractmethod
    def query(self, value: str, radius: int = MATCH_THRESHOLD) -> list[tuple[int, int]]:
        """Every ``(ident, distance)`` within ``radius`` (inclusive), nearest first, then by ident."""

    @abstractmethod
    def __len__(self) -> int: ...


class ExactIndex(HashIndex):
    """Equality only (cryptographic hashes): any radius finds the equal values, at distance 0, in the
    order they were added."""

    def __init__(self) -> None:
        self._ids: dict[str, list[int]] = defaultdict(list)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, value: str, ident: int) -> None:
        self._ids[value].append(ident)
        self._count += 1

    def query(self, value: str, radius: int = MATCH_THRESHOLD) -> list[tuple[int, int]]:
        return [(ident, 0) for ident in self._ids.get(value, ())]


class LinearIndex(HashIndex):
    """Exact radius search over 256-bit hashes by numpy popcount over all of them."""

    def __init__(self) -> None:
        self._hashes = np.zeros((0, 32), dtype=np.uint8)
        self._ids: list[int] = []
        self._pending: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, value: str, ident: int) -> None:
        self._pending.append(hex_to_bytes(value))
        self._ids.append(ident)

    def _compact(self) -> None:
        if self._pending:
            self._hashes = np.vstack([self._hashes, *self._pending])
            self._pending = []

    def query(self, value: str, radius: int = MATCH_THRESHOLD) -> list[tuple[int, int]]:
        self._compact()
        if not self._ids:
            return []
        dist = np.bitwise_count(np.bitwise_xor(self._hashes, hex_to_bytes(value))).sum(axis=1)
        hits = np.nonzero(dist <= radius)[0]
        return sorted(((self._ids[i], int(dist[i])) for i in hits), key=lambda t: (t[1], t[0]))


class MultiIndexHash(HashIndex):
    """Exact Hamming radius search (radius ≤ 31) over 256-bit hashes, built from ``(n, 32)`` uint8 rows
    (row ``i`` has ident ``i`` unless ``idents`` are given). :meth:`search` is the array-level query the
    hash bank uses."""

    MAX_RADIUS = MATCH_THRESHOLD

    def __init__(self, hashes: np.ndarray | None = None, idents: Sequence[int] | None = None) -> None:
        rows = np.zeros((0, 32), dtype=np.uint8) if hashes is None else hashes
        if rows.ndim != 2 or rows.shape[1] != 32:
            raise ValueError("hashes must be an (n, 32) uint8 array")
        if idents is not None and len(idents) != len(rows):
            raise ValueError("need one ident per hash")
        self._idents = np.arange(len(rows)) if idents is None else np.asarray(idents, dtype=np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_ids: list[int] = []
        self._build(rows)

    def _build(self, hashes: np.ndarray) -> None:
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
        n = len(self.hashes)
        self.widths = _layout(n)
        self._words64 = self.hashes.view(np.uint64)  # (n, 4)
        m = len(self.widths)
        sizes = [(1 << w) + 1 for w in self.widths]
        self._order = np.empty(m * n, dtype=np.int32)  # per word: the rows sorted by that word
        # per word: bucket start offsets in _order
        self._starts: np.ndarray = np.empty(sum(sizes), dtype=np.int32 if m * n < 2**31 - 1 else np.int64)
        at = 0
        for j, col in enumerate(_words(self.hashes, self.widths)):
            self._order[j * n : (j + 1) * n] = np.argsort(col, kind="stable")
            counts = np.bincount(col, minlength=1 << self.widths[j])
            seg = self._starts[at : at + sizes[j]]
            seg[0] = 0
            np.cumsum(counts, out=seg[1:])
            np.add(seg, j * n, out=seg)
            at += sizes[j]
        self._probes()

    def _probes(self) -> None:
        """Per word, its first slot in ``_starts`` and the XOR masks of the buckets to probe."""
        self._bases: list[int] = []
        self._masks: list[np.ndarray] = []
        self._shifts: list[int] = []  # a query's words from its 256-bit integer: (x >> shift) & (2**w - 1)
        at = slot = 0
        flips = _flips(self.widths)
        for w in self.widths:
            self._bases.append(slot)
            self._masks.append(_masks(w, flips))
            self._shifts.append(256 - at - w)
            slot += (1 << w) + 1
            at += w
        # every probe at once: slot = (its word's value ^ its mask) + its word's base
        counts = [len(m) for m in self._masks]
        self._probe_word = np.repeat(np.arange(len(self.widths)), counts)
        self._probe_mask = np.concatenate(self._masks)
        self._probe_base = np.repeat(np.asarray(self._bases, dtype=np.intp), counts)

    @classmethod
    def from_arrays(cls, hashes: np.ndarray, order: np.ndarray, starts: np.ndarray) -> MultiIndexHash:
        """An index over arrays :attr:`hashes`, :attr:`order` and :attr:`starts` of an index built before
        (e.g. memory-mapped from a file): nothing is copied or sorted."""
        n = len(hashes)
        widths = _layout(n)
        shapes = (hashes.shape, order.shape, starts.shape)
        if shapes != ((n, 32), (len(widths) * n,), (sum((1 << w) + 1 for w in widths),)):
            raise ValueError("arrays of the wrong shape for a 256-bit multi-index")
        self = cls.__new__(cls)
        self._idents = np.arange(n)
        self._pending, self._pending_ids = [], []
        self.hashes = hashes
        self.widths = widths
        self._words64 = hashes.view(np.uint64)
        self._order = order
        self._starts = starts
        self._probes()
        return self

    @property
    def order(self) -> np.ndarray:
        """Per word, the rows sorted by that word (int32)."""
        self._compact()
        return self._order

    @property
    def starts(self) -> np.ndarray:
        """Per word, the offsets in :attr:`order` where each of its buckets starts (and one past the last)."""
        self._compact()
        return self._starts

    def _compact(self) -> None:
        if self._pending:
            self._idents = np.concatenate([self._idents, np.asarray(self._pending_ids, dtype=np.int64)])
            self._build(np.vstack([self.hashes, *self._pending]))
            self._pending, self._pending_ids = [], []

    def __len__(self) -> int:
        return len(self.hashes) + len(self._pending)

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self._order.nbytes + self._starts.nbytes)

    def add(self, value: str, ident: int) -> None:
        self._pending.append(hex_to_bytes(value)[None, :])
        self._pending_ids.append(ident)

    def query(self, value: str, radius: int = MATCH_THRESHOLD) -> list[tuple[int, int]]:
        rows, distances = self.search(hex_to_bytes(value), radius)
        found = zip(self._idents[rows].tolist(), distances.tolist(), strict=True)
        return sorted(found, key=lambda t: (t[1], t[0]))

    def search(self, query: np.ndarray, radius: int = MATCH_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, distances)`` of every hash within ``radius`` bits of ``query`` ((32,) uint8)."""
        if not 0 <= radius <= self.MAX_RADIUS:
            raise ValueError(f"radius must be 0 to {self.MAX_RADIUS}")
        self._compact()
        empty = np.zeros(0, dtype=np.intp)
        if not len(self.hashes):
            return empty, empty
        q = np.ascontiguousarray(query, dtype=np.uint8)
        x = int.from_bytes(q.tobytes(), "big")  # one query: Python integers beat numpy's per-call overhead
        words = np.array([(x >> s) & ((1 << w) - 1) for s, w in zip(self._shifts, self.widths, strict=True)])
        slots = (words[self._probe_word] ^ self._probe_mask) + self._probe_base
        starts = self._starts[slots].astype(np.intp)
        lengths = self._starts[slots + 1].astype(np.intp) - starts
        total = int(lengths.sum())
        if not total:
            return empty, empty
        ends = np.cumsum(lengths)
        positions = np.arange(total) + np.repeat(starts - (ends - lengths), lengths)
        candidates = np.take(self._order, positions)
        # np.take and four 64-bit popcounts added up: ≈ 3x faster than fancy indexing and a byte-wise sum
        counts = np.bitwise_count(np.take(self._words64, candidates, axis=0) ^ q.view(np.uint64))
        distances = counts[:, 0].astype(np.intp) + counts[:, 1] + counts[:, 2] + counts[:, 3]
        near = distances <= radius
        rows, first = np.unique(candidates[near], return_index=True)
        return rows.astype(np.intp), distances[near][first]
