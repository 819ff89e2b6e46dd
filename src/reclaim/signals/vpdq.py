"""vPDQ video hashes: ThreatExchange's vPDQ signal, computed by Meta's ``vpdq`` package.

A vPDQ hash is a list of *features*, one PDQ hash of a frame per second of video (``seconds_per_hash``
1, the package's and python-threatexchange's default), each with the frame's PDQ quality, frame number
and timestamp. Two videos match when enough of their features have a partner within 31 bits.

Compatibility (python-threatexchange's ``threatexchange.extensions.vpdq``, signal type ``"vpdq"``):

- Hashing is the ``vpdq`` package's own ``computeHash`` (C++ on FFmpeg), the function
  ``VPDQSignal.hash_from_file`` calls; reclaim feeds it the bytes through an anonymous in-memory file
  (``memfd``), so no plaintext copy of a victim's video touches the disk.
- The serialisation is ``VPDQSignal``'s: a JSON list of ``"<pdq hex>,<quality>,<timestamp>"`` strings,
  the timestamp formatted as ``VpdqCompactFeature.__str__`` does (``f"{t:.3}"``: three *significant*
  digits, so 123.0 s is written ``1.23e+02``; reclaim writes the same bytes). Frame numbers are not in
  that format; reclaim stores them beside it (``Signal.frame_index``).
- Matching is ``match_VPDQ_hash_brute``'s: drop repeated hashes, then features of quality < 50, then
  count the query's features with a partner within 31 bits in the other video (query-match %) and the
  other video's with a partner in the query (compared-match %). python-threatexchange's
  ``VPDQSignal.compare_hash`` calls it a match at query-match ≥ 80 % (and compared-match ≥ 0 %).
  reclaim also accepts compared-match ≥ 80 %: the other video is contained in the query (a known clip
  inside a longer repost). Both percentages are always reported.

Cost: brute force, every query feature against every stored feature (one numpy popcount over a
(query × stored) matrix): a 60 s video against 10,000 stored videos of 60 s is 36 M comparisons.

Without the package (it builds from source against FFmpeg's development libraries), videos get no
vPDQ: :func:`unavailable_reason` says why, and scans report it instead of claiming a hash.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from typing import Any, ClassVar

import numpy as np

from reclaim.signals.base import SignalValue, VideoHasher
from reclaim.signals.index import MATCH_THRESHOLD, HashIndex, hex_rows

SECONDS_PER_HASH = 1.0
"""One feature per second of video (python-threatexchange's ``hash_file_compact`` default)."""
QUALITY_THRESHOLD = 50
"""``VPDQ_QUALITY_THRESHOLD``: features of lower quality are kept but never compared."""
DISTANCE_THRESHOLD = MATCH_THRESHOLD
"""``VPDQ_DISTANCE_THRESHOLD``: two features within 31 bits are the same frame."""
MATCH_PERCENT = 80.0
"""``VPDQ_QUERY_MATCH_THRESHOLD_PERCENT``: the share of features that must find a partner."""
MAX_FEATURES = 6 * 3600 + 1
"""A serialised vPDQ with more features than a 6-hour video at one per second is refused."""

_FEATURE = re.compile(r"^([0-9a-f]{64}),(\d{1,3}),([0-9.eE+-]{1,32})$")


@dataclass(frozen=True)
class VpdqFeature:
    """One frame's PDQ within a video."""

    pdq_hex: str
    quality: int
    frame_number: int
    timestamp: float

    def te_str(self) -> str:
        """python-threatexchange's ``VpdqCompactFeature.__str__`` (no frame number)."""
        return f"{self.pdq_hex},{self.quality},{self.timestamp:.3}"


@cache
def unavailable_reason() -> str | None:
    """None when vPDQ can be computed here, otherwise why not (for scan reports and doctor output)."""
    if find_spec("vpdq") is None:
        return (
            "the optional 'vpdq' package is not installed (pip install 'reclaim[video]'; it builds "
            "against FFmpeg's development packages): videos get no vPDQ hash"
        )
    if not callable(getattr(_vpdq_module(), "computeHash", None)):
        return "the 'vpdq' module found is not Meta's vpdq package (no computeHash): videos get no vPDQ hash"
    return None


def parse_feature(text: str, frame_number: int) -> VpdqFeature:
    """One ``"hex,quality,timestamp"`` feature, or ValueError."""
    m = _FEATURE.match(text.strip().lower())
    if m is None:
        raise ValueError(f"a vPDQ feature is 'pdq hex,quality,timestamp' (got {text[:90]!r})")
    quality, timestamp = int(m.group(2)), float(m.group(3))
    if not 0 <= quality <= 100:
        raise ValueError("a vPDQ feature's quality is 0-100")
    if not timestamp >= 0 or timestamp == float("inf"):
        raise ValueError("a vPDQ feature's timestamp is a non-negative number of seconds")
    return VpdqFeature(m.group(1), quality, frame_number, timestamp)


def from_te(text: str) -> list[VpdqFeature]:
    """Parse python-threatexchange's vPDQ serialisation (frame numbers are the features' positions,
    since the format has none). Raises ValueError."""
    try:
        raw: Any = json.loads(text or "[]")
    except ValueError:
        raise ValueError("a vPDQ hash is a JSON list of 'pdq hex,quality,timestamp' strings") from None
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise ValueError("a vPDQ hash is a JSON list of 'pdq hex,quality,timestamp' strings")
    if len(raw) > MAX_FEATURES:
        raise ValueError(f"a vPDQ hash of more than {MAX_FEATURES} features is refused")
    return [parse_feature(s, i) for i, s in enumerate(raw)]


def to_te(features: Sequence[VpdqFeature]) -> str:
    """python-threatexchange's serialisation (``vpdq_to_json``): byte for byte what
    ``VPDQSignal.hash_from_file`` returns for the same features."""
    return json.dumps([f.te_str() for f in features])


def to_values(features: Sequence[VpdqFeature]) -> list[SignalValue]:
    """The features as stored: one value per feature (its serialised string), ``frame_index`` the frame
    number, in order (so ``to_te`` of the stored rows gives the hash back)."""
    return [SignalValue(VpdqSignal.name, f.te_str(), f.frame_number, 0, f.quality) for f in features]


def from_values(values: Iterable[SignalValue]) -> list[VpdqFeature]:
    """The features back from stored values (only those of the vpdq type), in frame order."""
    out = [parse_feature(v.value, v.frame_index) for v in values if v.signal_type == VpdqSignal.name]
    return sorted(out, key=lambda f: f.frame_number)


@cache
def _vpdq_module() -> Any:
    import vpdq  # optional extra, built from source: imported on first use

    return vpdq


def hash_video(data: bytes, *, threads: int = 1) -> list[VpdqFeature]:
    """The vPDQ features of a video's bytes (``vpdq.computeHash`` at one hash per second). Raises
    RuntimeError when the package is missing or cannot read the video. ``threads`` 1: a scan already
    runs one worker per core."""
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)
    vpdq = _vpdq_module()
    # An anonymous in-memory file: FFmpeg opens it by path, and nothing is written to disk.
    fd = os.memfd_create("reclaim-vpdq", 0)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        try:
            raw = vpdq.computeHash(
                f"/proc/self/fd/{fd}", seconds_per_hash=SECONDS_PER_HASH, thread_count=threads
            )
        except Exception as exc:  # the package raises a bare Exception when FFmpeg fails
            raise RuntimeError(f"vpdq could not hash this video ({exc})") from None
    finally:
        os.close(fd)
    return [VpdqFeature(f.hex, int(f.quality), int(f.frame_number), float(f.timestamp)) for f in raw]


def prepared(features: Iterable[VpdqFeature]) -> list[str]:
    """``prepare_vpdq_feature``: hashes de-duplicated (first kept), then quality < 50 dropped."""
    seen: set[str] = set()
    out: list[tuple[str, int]] = []
    for f in features:
        if f.pdq_hex not in seen:
            seen.add(f.pdq_hex)
            out.append((f.pdq_hex, f.quality))
    return [h for h, q in out if q >= QUALITY_THRESHOLD]


@dataclass(frozen=True)
class VpdqMatch:
    ident: int
    query_match_percent: float
    compared_match_percent: float

    @property
    def is_match(self) -> bool:
        return max(self.query_match_percent, self.compared_match_percent) >= MATCH_PERCENT

    def detail(self) -> dict[str, object]:
        return {
            "by": VpdqSignal.name,
            "query_match_percent": round(self.query_match_percent, 2),
            "compared_match_percent": round(self.compared_match_percent, 2),
        }

    @property
    def distance(self) -> float:
        """100 − the larger percentage: 0 when every feature of one video is in the other."""
        return 100.0 - max(self.query_match_percent, self.compared_match_percent)


def match_percentages(query: Sequence[VpdqFeature], other: Sequence[VpdqFeature]) -> VpdqMatch | None:
    """python-threatexchange's ``match_VPDQ_hash_brute`` of two videos; None when either has no feature
    of quality ≥ 50 (python-threatexchange divides by zero there)."""
    index = VpdqIndex()
    index.add_features(0, other)
    found = index.search(query, only_matches=False)
    return found[0] if found else None


class VpdqIndex(HashIndex):
    """Brute-force vPDQ index: every video's prepared features in one array, owners in runs.

    :meth:`search` gives both percentages per stored video; the :class:`HashIndex` face (``add`` and
    ``query`` of serialised hashes) answers ``(ident, distance)`` with the distance of
    :attr:`VpdqMatch.distance` rounded up, for matches only."""

    def __init__(self) -> None:
        self._rows = np.zeros((0, 32), dtype=np.uint8)  # grown by doubling: adding one video is O(its size)
        self._used = 0
        self._owners: list[int] = []
        self._counts: list[int] = []

    def __len__(self) -> int:
        return len(self._owners)

    def add_features(self, ident: int, features: Iterable[VpdqFeature]) -> None:
        hexes = prepared(features)
        if not hexes:
            return  # nothing matchable (flat or empty video)
        rows = hex_rows(hexes)
        end = self._used + len(rows)
        if end > len(self._rows):
            grown = np.zeros((max(end, 2 * len(self._rows), 64), 32), dtype=np.uint8)
            grown[: self._used] = self._rows[: self._used]
            self._rows = grown
        self._rows[self._used : end] = rows
        self._used = end
        self._owners.append(ident)
        self._counts.append(len(hexes))

    def add(self, value: str, ident: int) -> None:
        self.add_features(ident, from_te(value))

    def query(self, value: str, radius: int = MATCH_THRESHOLD) -> list[tuple[int, int]]:
        found = self.search(from_te(value), radius=radius)
        hits = [(m.ident, int(np.ceil(m.distance))) for m in found]
        return sorted(hits, key=lambda h: (h[1], h[0]))

    def search(
        self, features: Sequence[VpdqFeature], *, radius: int = DISTANCE_THRESHOLD, only_matches: bool = True
    ) -> list[VpdqMatch]:
        """Per stored video sharing at least one frame with ``features``: both percentages (only those
        that match, unless ``only_matches`` is False), in the order the videos were added."""
        query = prepared(features)
        if not query or not self._owners:
            return []
        # 4 words of 64 bits a hash, one query feature at a time: no (query x stored x 32) temporary,
        # and ≈ 6x faster than popcounts of bytes summed over an axis (measured)
        q = hex_rows(query).view(np.uint64)
        stored = self._rows[: self._used].view(np.uint64)
        near = np.empty((len(q), self._used), dtype=bool)
        for i, words in enumerate(q):
            distance = np.bitwise_count(stored[:, 0] ^ words[0])
            for w in range(1, 4):
                distance += np.bitwise_count(stored[:, w] ^ words[w])
            near[i] = distance <= radius
        starts = np.concatenate(([0], np.cumsum(self._counts)[:-1]))
        # per (query feature, stored video): any partner; per stored feature: any partner in the query
        query_hits = np.logical_or.reduceat(near, starts, axis=1).sum(axis=0)
        compared_hits = np.add.reduceat(near.any(axis=0).astype(np.int64), starts)
        out: list[VpdqMatch] = []
        for owner, count, qh, ch in zip(self._owners, self._counts, query_hits, compared_hits, strict=True):
            if not qh and only_matches:
                continue
            m = VpdqMatch(owner, 100.0 * int(qh) / len(query), 100.0 * int(ch) / count)
            if m.is_match or not only_matches:
                out.append(m)
        return out


class VpdqSignal(VideoHasher):
    """ThreatExchange's vPDQ (``"vpdq"``) of a video; its value is python-threatexchange's
    serialisation (see the module docstring). Stored one feature per row (:func:`to_values`)."""

    name: ClassVar[str] = "vpdq"
    description: ClassVar[str] = (
        "vPDQ video hash (ThreatExchange): one PDQ per second of video; two videos match when ≥ 80 % of "
        f"one's frames are within {DISTANCE_THRESHOLD} bits of a frame of the other. Survives re-encoding, "
        "resizing and trimming; not crops, borders or heavy edits. A match means 'the same footage'."
    )
    index: ClassVar[type[HashIndex]] = VpdqIndex

    @classmethod
    def validate(cls, value: str) -> str:
        """The serialisation, re-written canonically (lower-case hex, compact JSON); ValueError if bad."""
        features = from_te(value)
        if not features:
            raise ValueError("a vPDQ hash needs at least one feature")
        return to_te(features)

    @classmethod
    def matchable(cls, value: SignalValue) -> bool:
        return (value.quality or 0) >= QUALITY_THRESHOLD

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return unavailable_reason()

    @classmethod
    def hash_video(cls, data: bytes) -> list[SignalValue]:
        return to_values(hash_video(data))
