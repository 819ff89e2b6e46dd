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
``refresh_s`` seconds (default 2): the check reads the ids of the items with a confirmed match (one
indexed query) and rebuilds only when that set changed. :meth:`HashBank.invalidate` forces the next
lookup to check. Lookups never wait for a rebuild once a bank exists: they use the previous snapshot.

Shared bank files: a large set of hashes (millions, e.g. imported) goes into a bank file with
:meth:`HashBank.attach`: built once (:func:`write_bank_file`: a temporary file beside it, fsynced, then
renamed into place, so no process ever reads half a file), then memory-mapped read-only by every server
process (:func:`read_bank_file`), so ``uvicorn --workers N`` hold one copy in the OS page cache instead
of N. The header names the version, the counts, the source (the caller's checksum of the rows) and the
CRC-32 of the arrays; a file that is truncated, damaged, of another version or built from other rows is
rebuilt, never trusted.

The workspace's bank file: the served app keeps the confirmed items' hashes in ``<workspace>/bank/
confirmed.bank`` (:func:`workspace_bank_file`; ``HashBank(file=...)``), which every worker maps. It holds
hashes, SHA-256 bank ids and the items' integer ids (to know what it holds), never names or person ids.
Each refresh compares the confirmed set with the file's items: the items confirmed since it was built
are a small in-memory segment per process (a confirmation never rewrites the file); the file is rebuilt
(under the lock, by one process; the others map the result) when it is missing or damaged, when it holds
an item no longer confirmed (a rejection or an erasure: the hashes must leave the disk, not just the
answers), or when more than :data:`COMPACT_AT` confirmed items are outside it. ``reclaim person forget``
also deletes it (:func:`remove_workspace_bank_file`). A workspace where the file cannot be written serves
from memory instead (a warning says so).

The PDQ index of each segment is a :class:`~reclaim.signals.index.MultiIndexHash` (exact within 31 bits,
≈ 0.15 ms per query at 1M hashes).

Videos: a confirmed video's vPDQ (as the scan stored it, python-threatexchange's serialisation) is in
the bank too, in a :class:`~reclaim.signals.vpdq.VpdqIndex` (brute force: every feature of the query
against every banked feature). A vPDQ lookup answers the videos matching it by python-threatexchange's
rule (see ``signals.vpdq``) with both percentages; its ``distance`` is 100 − the larger, rounded up.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import mmap
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from reclaim.signals.base import SignalValue
from reclaim.signals.hashes import Md5Signal
from reclaim.signals.index import MATCH_THRESHOLD, MultiIndexHash, hex_rows
from reclaim.signals.pdq import MIN_QUALITY, PdqSignal
from reclaim.signals.vpdq import VpdqIndex, VpdqSignal, from_te, from_values, to_te
from reclaim.store.models import Item, Match, Signal

log = logging.getLogger(__name__)

BankSignalType = Literal["pdq", "md5", "vpdq"]
REFRESH_S = 2.0


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


class BankIds:
    """The bank ids of a segment, packed: one blob of UTF-8 and ``n + 1`` offsets (a Python list of ten
    million strings would cost ≈ 700 MB a process; these arrays can be memory-mapped and shared)."""

    def __init__(self, offsets: np.ndarray, blob: np.ndarray) -> None:
        self.offsets = offsets
        self.blob = blob

    @classmethod
    def of(cls, ids: Sequence[str]) -> BankIds:
        encoded = [i.encode() for i in ids]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(offsets, np.frombuffer(b"".join(encoded), dtype=np.uint8))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return bytes(self.blob[int(self.offsets[i]) : int(self.offsets[i + 1])]).decode()

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def concat(self, other: BankIds) -> BankIds:
        offsets = np.concatenate([self.offsets, other.offsets[1:] + self.offsets[-1]])
        return BankIds(offsets, np.concatenate([self.blob, other.blob]))


def _md5_arrays(md5s: Sequence[str | None], first_entry: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The MD5s of entries as a sorted ``S32`` array (hex) and the entry of each."""
    pairs = [(m.encode(), first_entry + i) for i, m in enumerate(md5s) if m]
    keys = np.array([k for k, _ in pairs], dtype="S32")
    entries = np.array([e for _, e in pairs], dtype=np.int32)
    order = np.argsort(keys, kind="stable")
    return keys[order], entries[order]


BRUTE_FORCE_MAX = 2048
"""Segments with at most this many PDQ hashes (a workspace's confirmed items, a delta) are searched by a
popcount over every row: the multi-index costs ≈ 0.12 ms a query however few hashes it holds (a
popcount: 11 µs for 8 rows, 108 µs for 2,048)."""


class _Segment:
    """An immutable part of the bank: entries (columnar, so millions cost little, and every array can be
    a view of a memory-mapped bank file) and their indexes."""

    def __init__(
        self,
        ids: BankIds,
        md5_keys: np.ndarray,
        md5_entry: np.ndarray,
        index: MultiIndexHash,
        pdq_entry: np.ndarray,
        pdq_quality: np.ndarray,
        pdq_primary: np.ndarray,
        fingerprint: str = "",
        vpdq: dict[int, str] | None = None,
        item_ids: np.ndarray | None = None,
    ) -> None:
        self.bank_ids = ids
        # entry -> the workspace item it came from (an opaque integer; sorted), for the workspace's bank file
        self.item_ids = np.zeros(0, dtype=np.int64) if item_ids is None else item_ids
        self.file_stat: tuple[int, int, int] | None = None  # (inode, mtime, size) of the file it maps
        self.vpdq = vpdq or {}  # entry -> its vPDQ (python-threatexchange's serialisation)
        self.videos = VpdqIndex()
        for entry, value in self.vpdq.items():
            self.videos.add_features(entry, from_te(value))
        self.md5_keys = md5_keys  # sorted MD5 hex ("S32")
        self.md5_entry = md5_entry  # the entry of each
        self.index = index
        self.pdq_entry = pdq_entry  # row -> entry
        self.pdq_quality = pdq_quality  # row -> quality (-1: unknown)
        self.pdq_primary = pdq_primary  # entry -> row of its exported PDQ (-1: none)
        self.fingerprint = fingerprint

    @classmethod
    def of(
        cls,
        bank_ids: Sequence[str],
        md5s: Sequence[str | None],
        pdq: np.ndarray,
        pdq_entry: np.ndarray,
        pdq_quality: np.ndarray,
        pdq_primary: np.ndarray,
        fingerprint: str = "",
        vpdq: dict[int, str] | None = None,
        item_ids: np.ndarray | None = None,
    ) -> _Segment:
        keys, entries = _md5_arrays(md5s)
        return cls(
            BankIds.of(bank_ids),
            keys,
            entries,
            MultiIndexHash(pdq),
            pdq_entry,
            pdq_quality,
            pdq_primary,
            fingerprint,
            vpdq,
            item_ids,
        )

    @classmethod
    def empty(cls, fingerprint: str = "") -> _Segment:
        none = np.zeros(0, dtype=np.int32)
        return cls.of(
            [], [], np.zeros((0, 32), dtype=np.uint8), none, none.astype(np.int16), none, fingerprint
        )

    def __len__(self) -> int:
        return len(self.bank_ids)

    def md5_entries(self, value: str) -> list[int]:
        key = value.encode()
        lo = int(np.searchsorted(self.md5_keys, key, "left"))
        hi = int(np.searchsorted(self.md5_keys, key, "right"))
        return [int(e) for e in self.md5_entry[lo:hi]]

    def lookup_pdq(self, query: np.ndarray, radius: int) -> dict[int, int]:
        hashes = self.index.hashes
        if len(hashes) > BRUTE_FORCE_MAX:
            rows, distances = self.index.search(query, radius)
        elif len(hashes):  # a popcount over every row: ≈ 7 µs for 8 rows against the index's ≈ 140
            all_distances = np.bitwise_count(hashes.view(np.uint64) ^ query.view(np.uint64)).sum(axis=1)
            rows = np.flatnonzero(all_distances <= radius)
            distances = all_distances[rows]
        else:
            return {}
        best: dict[int, int] = {}
        for entry, distance in zip(self.pdq_entry[rows].tolist(), distances.tolist(), strict=True):
            if distance < best.get(entry, 257):
                best[entry] = distance
        return best

    def rows(self) -> Iterator[BankRow]:
        md5_of = {int(e): k.decode() for k, e in zip(self.md5_keys, self.md5_entry, strict=True)}
        for i, bank_id in enumerate(self.bank_ids):
            row = int(self.pdq_primary[i])
            if row >= 0:
                quality = int(self.pdq_quality[row])
                signal = bytes(self.index.hashes[row]).hex()
                yield BankRow(bank_id, "pdq", signal, None if quality < 0 else quality)
            md5 = md5_of.get(i)
            if md5:
                yield BankRow(bank_id, "md5", md5)
            if i in self.vpdq:
                yield BankRow(bank_id, "vpdq", self.vpdq[i])

    # --- the bank file ------------------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        vpdq = json.dumps({str(k): v for k, v in sorted(self.vpdq.items())}).encode()
        return {
            "hashes": self.index.hashes,
            "order": self.index.order,
            "starts": self.index.starts,
            "pdq_entry": self.pdq_entry,
            "pdq_quality": self.pdq_quality,
            "pdq_primary": self.pdq_primary,
            "id_offsets": self.bank_ids.offsets,
            "id_blob": self.bank_ids.blob,
            "md5_keys": self.md5_keys,
            "md5_entry": self.md5_entry,
            "vpdq": np.frombuffer(vpdq, dtype=np.uint8),
            "item_ids": self.item_ids,
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray], fingerprint: str) -> _Segment:
        vpdq = {int(k): str(v) for k, v in json.loads(bytes(a["vpdq"]).decode()).items()}
        index = MultiIndexHash.from_arrays(a["hashes"], a["order"], a["starts"])
        n = len(a["pdq_primary"])
        if not (
            len(a["pdq_entry"]) == len(a["pdq_quality"]) == len(a["hashes"])
            and len(a["id_offsets"]) == n + 1
            and len(a["md5_keys"]) == len(a["md5_entry"])
            and len(a.get("item_ids", ())) in (0, n)
        ):
            raise ValueError("bank file arrays of inconsistent lengths")
        ids = BankIds(a["id_offsets"], a["id_blob"])
        return cls(
            ids,
            a["md5_keys"],
            a["md5_entry"],
            index,
            a["pdq_entry"],
            a["pdq_quality"],
            a["pdq_primary"],
            fingerprint,
            vpdq,
            a.get("item_ids"),
        )


class _Builder:
    def __init__(self) -> None:
        self.bank_ids: list[str] = []
        self.md5s: list[str | None] = []
        self.pdq: list[bytes] = []
        self.pdq_entry: list[int] = []
        self.pdq_quality: list[int] = []
        self.pdq_primary: list[int] = []
        self.vpdq: dict[int, str] = {}
        self.item_ids: list[int] = []

    def add(
        self,
        bank_id: str,
        md5: str | None,
        pdqs: Sequence[tuple[int, str, int | None]],
        vpdq: str | None = None,
        item_id: int = -1,
    ) -> None:
        """``pdqs``: ``(variant, hex, quality)``; variant 0 is the one exported. ``vpdq``: a video's."""
        entry = len(self.bank_ids)
        self.item_ids.append(item_id)
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
        return _Segment.of(
            self.bank_ids,
            self.md5s,
            raw.copy(),
            np.asarray(self.pdq_entry, dtype=np.int32),
            np.asarray(self.pdq_quality, dtype=np.int16),
            np.asarray(self.pdq_primary, dtype=np.int32),
            fingerprint,
            self.vpdq,
            np.asarray(self.item_ids, dtype=np.int64),
        )


# --- the bank file: one segment, built once, memory-mapped by every server process ----------------------

FILE_MAGIC = b"RCLMBANK"
FILE_VERSION = 2  # 2: the items' ids; the 11-word index from 8M hashes on
_HEADER_BYTES = 4096
_ALIGN = 64


class BankFileError(ValueError):
    """A bank file that is missing, damaged, of another version or built from other rows."""


def write_bank_file(path: Path, segment: _Segment, source: str) -> None:
    """Write ``segment`` to ``path``: into a temporary file beside it, flushed to disk, then renamed into
    place (atomic on POSIX), so a reader sees the old file or the whole new one, never half of one.

    Layout: 8 magic bytes, a 4-byte length and a JSON header (version, counts, ``source``: the caller's
    checksum of the rows it was built from, each array's offset, dtype and shape, and the CRC-32 of
    everything after the header), padded to 4096 bytes; then the arrays, each 64-byte aligned."""
    arrays = {name: np.ascontiguousarray(a) for name, a in segment.arrays().items()}
    table: dict[str, list[object]] = {}
    offset = 0
    for name, a in arrays.items():
        table[name] = [offset, a.dtype.str, list(a.shape)]
        offset += -(-a.nbytes // _ALIGN) * _ALIGN
    crc = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"\0" * _HEADER_BYTES)
            for a in arrays.values():
                data = a.reshape(-1).view(np.uint8).data
                pad = b"\0" * (-(-a.nbytes // _ALIGN) * _ALIGN - a.nbytes)
                crc = zlib.crc32(pad, zlib.crc32(data, crc))
                f.write(data)
                f.write(pad)
            header = {
                "version": FILE_VERSION,
                "source": source,
                "entries": len(segment),
                "pdq": len(segment.index),
                "md5": len(segment.md5_keys),
                "arrays": table,
                "payload_bytes": offset,
                "payload_crc32": crc,
            }
            raw = json.dumps(header, sort_keys=True).encode()
            if len(raw) + 12 > _HEADER_BYTES:
                raise ValueError("bank file header too long")
            f.seek(0)
            f.write(FILE_MAGIC + len(raw).to_bytes(4, "little") + raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_bank_file(path: Path, source: str | None) -> _Segment:
    """The segment in ``path``, its arrays read-only views of a shared memory map (pages come from the
    OS page cache, counted once however many processes map them). Raises :class:`BankFileError` unless
    the magic, version, ``source`` (any with ``None``; the segment's ``fingerprint`` is the file's),
    counts, size and the CRC-32 of the payload all check out."""
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            size = st.st_size
            if size < _HEADER_BYTES:
                raise BankFileError(f"{path.name}: truncated ({size} bytes)")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise BankFileError(f"{path.name}: {exc.strerror or exc}") from exc
    try:
        if mm[:8] != FILE_MAGIC:
            raise BankFileError(f"{path.name}: not a bank file")
        length = int.from_bytes(mm[8:12], "little")
        header = json.loads(bytes(mm[12 : 12 + min(length, _HEADER_BYTES - 12)]))
        if header.get("version") != FILE_VERSION:
            raise BankFileError(f"{path.name}: version {header.get('version')}, expected {FILE_VERSION}")
        if source is not None and header.get("source") != source:
            raise BankFileError(f"{path.name}: built from other rows (stale)")
        payload = int(header["payload_bytes"])
        if size != _HEADER_BYTES + payload:
            raise BankFileError(f"{path.name}: {size} bytes, expected {_HEADER_BYTES + payload}")
        if zlib.crc32(memoryview(mm)[_HEADER_BYTES:]) != header["payload_crc32"]:
            raise BankFileError(f"{path.name}: checksum mismatch (damaged)")
        arrays: dict[str, np.ndarray] = {}
        for name, (offset, dtype, shape) in header["arrays"].items():
            dt = np.dtype(dtype)
            count = math.prod(shape)
            if offset < 0 or offset + count * dt.itemsize > payload:
                raise BankFileError(f"{path.name}: array {name} out of bounds")
            arrays[name] = np.frombuffer(mm, dt, count, _HEADER_BYTES + offset).reshape(shape)
        segment = _Segment.from_arrays(arrays, str(header.get("source")))
        segment.file_stat = (st.st_ino, st.st_mtime_ns, size)
        if len(segment) != header["entries"] or len(segment.index) != header["pdq"]:
            raise BankFileError(f"{path.name}: counts differ from the header")
        return segment
    except BankFileError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise BankFileError(f"{path.name}: damaged header or arrays ({type(exc).__name__})") from exc


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _stale(stored: _Segment | None, ids: Sequence[int]) -> bool:
    """Whether the workspace's bank file must be rebuilt for the confirmed set ``ids``."""
    if stored is None:
        return True
    current = np.asarray(ids, dtype=np.int64)
    if len(np.setdiff1d(stored.item_ids, current)):
        return True  # holds an item no longer confirmed
    return len(current) - len(stored.item_ids) > COMPACT_AT


HashSource = Callable[[], tuple[Sequence[str], np.ndarray]]
"""Builds the rows of a bank file: bank ids and their ``(n, 32)`` uint8 PDQ hashes."""


def _confirmed_items() -> Select[int]:
    return select(Match.item_id).where(Match.status == "confirmed").distinct()


def confirmed_ids(session: Session) -> list[int]:
    """The ids of the items with a confirmed match, ascending."""
    return list(session.scalars(_confirmed_items().order_by(Match.item_id)).all())


def confirmed_fingerprint(session: Session) -> str:
    """Changes whenever the set of items with a confirmed match changes."""
    return _fingerprint(confirmed_ids(session))


def _fingerprint(ids: Sequence[int]) -> str:
    return f"{len(ids)}:" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


def load_confirmed(session: Session, only: Sequence[int] | None = None) -> _Segment:
    """The database part of the bank: hashes of every item with a confirmed match, nothing else (with
    ``only``: of those items only, ids the caller read from the confirmed set)."""
    subquery: Any = _confirmed_items().scalar_subquery() if only is None else list(only)
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
        builder.add(sha256, md5, pdqs.get(item_id, []), to_te(features) if features else None, item_id)
    return builder.build(_fingerprint([row[0] for row in items]))


SessionFactory = Callable[[], AbstractContextManager[Session]]

BANK_DIR = "bank"
WORKSPACE_BANK_FILE = "confirmed.bank"
COMPACT_AT = 512
"""Items confirmed since the workspace's bank file was built that each process keeps in memory (its
delta) before the file is rebuilt with them."""


def workspace_bank_file(root: Path) -> Path:
    """Where a workspace keeps its bank file (the confirmed items' hashes, shared by server workers)."""
    return root / BANK_DIR / WORKSPACE_BANK_FILE


def remove_workspace_bank_file(root: Path) -> bool:
    """Delete the workspace's bank file (the erase paths call it: an erased person's hashes leave the
    disk; a running server rebuilds the file from what stays within ``refresh_s``). Returns whether
    there was one."""
    path = workspace_bank_file(root)
    existed = path.exists()
    path.unlink(missing_ok=True)
    for tmp in path.parent.glob(path.name + ".*.tmp"):
        tmp.unlink(missing_ok=True)
    return existed


def _file_stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class HashBank:
    """The bank: a segment loaded from the database (confirmed items) plus one of added hashes.

    Thread-safe: lookups read an immutable snapshot; refreshes and additions build a new one under a
    lock and swap it in."""

    def __init__(self, *, refresh_s: float = REFRESH_S, file: Path | None = None) -> None:
        self.refresh_s = refresh_s
        self.file = file
        """The workspace's bank file (:func:`workspace_bank_file`): the confirmed items' hashes, mapped
        and shared by every process; ``None``: each process holds them in memory."""
        self.file_builds = 0  # how often this process (re)built the file
        self._stored: _Segment | None = None  # the mapped file
        self._lock = threading.Lock()
        self._confirmed: _Segment | None = None  # with a file: the items confirmed since it was built
        self._view: tuple[_Segment | None, _Segment | None] = (None, None)  # both, swapped in at once
        self._added = _Segment.empty()
        self._base: _Segment | None = None
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
            keys, entries = _md5_arrays(md5s, n_old)
            keys = np.concatenate([old.md5_keys, keys])
            entries = np.concatenate([old.md5_entry, entries])
            order = np.argsort(keys, kind="stable")
            self._added = _Segment(
                old.bank_ids.concat(BankIds.of(bank_ids)),
                keys[order],
                entries[order],
                MultiIndexHash(np.vstack([old.index.hashes, rows[new_rows]])),
                np.concatenate([old.pdq_entry, (n_old + new_rows).astype(np.int32)]),
                np.concatenate([old.pdq_quality, qualities[new_rows]]),
                np.concatenate([old.pdq_primary, primary_new]),
                vpdq=old.vpdq,
            )

    def attach(self, path: Path, source: str, build: HashSource) -> bool:
        """Serve the hashes of a bank file (memory-mapped, shared with every process that attaches the
        same file) beside the database part. ``source`` is the caller's checksum of the rows ``build``
        returns: a file whose header names another source, another version, or that is truncated or
        damaged is never trusted but rebuilt (under an exclusive lock on ``path.lock``, so of several
        processes starting together one builds and the others wait and map its file). Returns whether
        this call built the file."""
        built = False
        try:
            segment = read_bank_file(path, source)
        except BankFileError:
            with _file_lock(path):
                try:
                    segment = read_bank_file(path, source)  # another process built it while we waited
                except BankFileError as exc:
                    log.log(
                        logging.WARNING if path.exists() else logging.INFO, "building the bank file: %s", exc
                    )
                    bank_ids, rows = build()
                    n = len(bank_ids)
                    if rows.shape != (n, 32) or rows.dtype != np.uint8:
                        raise ValueError("need one (32,) uint8 PDQ row per bank id") from None
                    entries = np.arange(n, dtype=np.int32)
                    fresh = _Segment.of(
                        bank_ids, [], rows, entries, np.full(n, -1, dtype=np.int16), entries, source
                    )
                    write_bank_file(path, fresh, source)
                    del fresh
                    segment = read_bank_file(path, source)
                    built = True
        with self._lock:
            self._base = segment
        return built

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
                ids = confirmed_ids(session)
                if self.file is not None:
                    try:
                        return self._refresh_file(session, ids)
                    except (OSError, BankFileError) as exc:  # e.g. a read-only workspace: from memory
                        log.warning("bank file unusable (%s); each process keeps the bank in memory", exc)
                        self.file, self._stored, self._confirmed = None, None, None
                current = self._confirmed
                if current is not None and _fingerprint(ids) == current.fingerprint:
                    self._checked_at = time.monotonic()
                    return False
                self._confirmed = load_confirmed(session)
                self._view = (None, self._confirmed)
            self._checked_at = time.monotonic()
            return True
        finally:
            self._lock.release()

    def _refresh_file(self, session: Session, ids: list[int]) -> bool:
        """Keep the workspace's bank file and this process's delta in step with the confirmed set: map
        the file (again, when another process replaced it), rebuild it when it is missing or damaged,
        holds an item no longer confirmed (a rejection, an erasure: its hashes must leave the disk) or
        lacks more than :data:`COMPACT_AT` confirmed items; the items it lacks are this process's delta."""
        assert self.file is not None
        fingerprint = _fingerprint(ids)
        stored = self._stored
        if stored is None or stored.file_stat != _file_stat(self.file):
            stored = self._map()
        elif self._confirmed is not None and self._confirmed.fingerprint == fingerprint:
            self._checked_at = time.monotonic()
            return False
        if _stale(stored, ids):
            with _file_lock(self.file):
                stored = self._map()  # another process may have rebuilt it while we waited
                session.rollback()  # and the confirmed set may have moved on meanwhile
                ids = confirmed_ids(session)
                fingerprint = _fingerprint(ids)
                if _stale(stored, ids):
                    segment = load_confirmed(session)
                    write_bank_file(self.file, segment, segment.fingerprint)
                    del segment
                    self.file_builds += 1
                    stored = read_bank_file(self.file, None)
                    log.info("built the bank file: %d items, %d PDQ hashes", len(stored), len(stored.index))
        assert stored is not None
        added = np.setdiff1d(np.asarray(ids, dtype=np.int64), stored.item_ids)
        delta = load_confirmed(session, added.tolist()) if len(added) else _Segment.empty()
        delta.fingerprint = fingerprint
        self._stored, self._confirmed = stored, delta
        self._view = (stored, delta)  # one assignment: a lookup never sees the new file with the old delta
        self._checked_at = time.monotonic()
        return True

    def _map(self) -> _Segment | None:
        assert self.file is not None
        try:
            return read_bank_file(self.file, None)
        except BankFileError as exc:
            if self.file.exists():
                log.warning("rebuilding the bank file: %s", exc)
            return None

    # --- reading ------------------------------------------------------------------------------------

    def _segments(self) -> tuple[_Segment, ...]:
        (stored, confirmed), base = self._view, self._base
        out = (self._added,) if confirmed is None else (confirmed, self._added)
        out = out if stored is None else (stored, *out)
        return out if base is None else (*out, base)

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
                for entry in segment.md5_entries(value):
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
