"""PDQ perceptual hash (Meta's, via ``pdqhash``) and its brute-force Hamming index.

Frames are downscaled to at most 512 px first (PDQ works on 64x64 internally; measured: 5 ms at 512 px
vs 133 ms at 2048 px). ``compute_dihedral`` gives the hashes of all 8 flips/rotations for the price of
one; those derived hashes are exact only for the transpose, so we hash four real reflections (see
``exact_dihedral``). Stored as variants 0-7, so a flipped or rotated repost still matches.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pdqhash
from PIL import Image

from reclaim.signals.base import FrameHasher, SignalValue

PDQ_MAX_SIDE = 512
MATCH_THRESHOLD = 31
"""Hamming distance (of 256 bits) at or below which two PDQ hashes are the same image (ThreatExchange)."""
MIN_QUALITY = 50
"""Hashes of lower quality (flat, featureless frames) are kept but never matched."""


def _downscale(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    side = max(h, w)
    if side <= PDQ_MAX_SIDE:
        return np.ascontiguousarray(image)
    scale = PDQ_MAX_SIDE / side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def bits_to_hex(bits: np.ndarray) -> str:
    return bytes(np.packbits(bits.astype(np.uint8))).hex()


def hex_to_bytes(value: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(value), dtype=np.uint8)


# pdqhash.compute_dihedral returns, in order: the image, rot90, rot180, rot270, flip left-right,
# flip up-down, transpose, anti-transpose. It derives the seven transforms from the DCT of the one
# image, and that is exact only for the transpose: PDQ's box filter is not mirror-symmetric, so derived
# flips/rotations of fine textures land 14-100 bits away from the hash of the really flipped pixels
# (measured in bench/reposts.py). We therefore hash four real reflections and take each one's exact
# transpose: 8 exact variants for the price of 4 hashes.
_REFLECTIONS: tuple[tuple[str, int, int], ...] = (
    # (reflection of the pixels, variant index of the reflection, variant index of its transpose)
    ("none", 0, 6),
    ("lr", 5, 1),  # transpose(fliplr(x)) == np.rot90(x, 1), pdqhash's "rot90"
    ("ud", 4, 3),  # transpose(flipud(x)) == np.rot90(x, 3)
    ("both", 2, 7),  # transpose(rot180(x)) == anti-transpose(x)
)
_TRANSPOSE = 6


def _reflect(image: np.ndarray, how: str) -> np.ndarray:
    if how == "lr":
        return np.ascontiguousarray(image[:, ::-1])
    if how == "ud":
        return np.ascontiguousarray(image[::-1])
    if how == "both":
        return np.ascontiguousarray(image[::-1, ::-1])
    return np.ascontiguousarray(image)


def exact_dihedral(image: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """``[(bits, quality)]`` of the 8 dihedral transforms, in pdqhash's order, each computed from the
    transformed pixels (variant 0 is the standard PDQ hash of the image)."""
    variants: list[tuple[np.ndarray, int] | None] = [None] * 8
    for how, plain, transposed in _REFLECTIONS:
        hashes, quality = pdqhash.compute_dihedral(_reflect(image, how))
        variants[plain] = (hashes[0], int(quality))
        variants[transposed] = (hashes[_TRANSPOSE], int(quality))
    return [v for v in variants if v is not None]


class WorkingCopyHasher(FrameHasher):
    """A perceptual hash computed from the frame's ≤ 512 px working copy (made once per frame)."""

    @classmethod
    @abstractmethod
    def hash_working(cls, index: int, small: np.ndarray) -> list[SignalValue]: ...

    @classmethod
    def hash_frames(cls, frames: Sequence[tuple[int, np.ndarray]]) -> list[SignalValue]:
        return [v for index, image in frames for v in cls.hash_working(index, _downscale(image))]


class PdqSignal(WorkingCopyHasher):
    name: ClassVar[str] = "pdq"
    description: ClassVar[str] = (
        "PDQ perceptual hash: survives recompression, resizing, colour changes, flips and 90° rotations "
        f"(distance ≤ {MATCH_THRESHOLD} of 256 bits); not crops of ≥5 %, borders or banners. A match means "
        "'visually the same picture', not 'the same file'."
    )
    _re = re.compile(r"^[0-9a-f]{64}$")

    @classmethod
    def validate(cls, value: str) -> str:
        v = value.strip().lower()
        if not cls._re.match(v):
            raise ValueError("a PDQ hash is 64 hex digits")
        return v

    @classmethod
    def hash_working(cls, index: int, small: np.ndarray) -> list[SignalValue]:
        return [
            SignalValue(cls.name, bits_to_hex(bits), index, variant, quality)
            for variant, (bits, quality) in enumerate(exact_dihedral(small))
        ]


class Pdq64Signal(WorkingCopyHasher):
    """PDQ of the frame area-averaged to 64x64 first.

    Standard PDQ filters the image with a window that depends on its size, so a copy resized to half
    size can drift by 40-80 bits on fine detail. Averaging every frame to 64x64 first removes the size
    from the picture, and at 64x64 PDQ's own filter is the identity, so the 8 dihedral hashes are exact.
    These hashes are reclaim-internal (a median ~10 bits from standard PDQ): they add recall for resized
    reposts and are never exchanged with other systems' PDQ lists."""

    name: ClassVar[str] = "pdq64"
    description: ClassVar[str] = (
        "PDQ of the frame averaged to 64x64: finds resized reposts standard PDQ misses on fine detail "
        f"(distance ≤ {MATCH_THRESHOLD} of 256 bits); reclaim-internal, not comparable with external lists."
    )
    SIDE: ClassVar[int] = 64

    @classmethod
    def validate(cls, value: str) -> str:
        return PdqSignal.validate(value)

    @classmethod
    def hash_working(cls, index: int, small: np.ndarray) -> list[SignalValue]:
        # averaged from the ≤ 512 px working copy PDQ uses anyway: the same 64x64 means, far cheaper
        tiny = np.asarray(Image.fromarray(small).resize((cls.SIDE, cls.SIDE), Image.Resampling.BOX))
        hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(tiny))
        return [
            SignalValue(cls.name, bits_to_hex(bits), index, variant, int(quality))
            for variant, bits in enumerate(hashes)
        ]


PERCEPTUAL_SIGNALS: tuple[type[WorkingCopyHasher], ...] = (PdqSignal, Pdq64Signal)
"""The perceptual hashes every frame gets; matching accepts a hit by any of them."""


def hash_perceptual(frames: Sequence[tuple[int, np.ndarray]]) -> list[SignalValue]:
    """Every perceptual signal of every frame, downscaling each frame once."""
    out: list[SignalValue] = []
    for index, image in frames:
        small = _downscale(image)
        for signal in PERCEPTUAL_SIGNALS:
            out += signal.hash_working(index, small)
    return out


class PdqIndex:
    """Exact radius search over PDQ hashes by numpy popcount. Fine up to a few hundred thousand hashes
    (see DESIGN.md for the faiss multi-hash index above that)."""

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

    def query(self, value: str, threshold: int = MATCH_THRESHOLD) -> list[tuple[int, int]]:
        """Every ``(ident, distance)`` within ``threshold``, nearest first."""
        self._compact()
        if not self._ids:
            return []
        dist = np.bitwise_count(np.bitwise_xor(self._hashes, hex_to_bytes(value))).sum(axis=1)
        hits = np.nonzero(dist <= threshold)[0]
        return sorted(((self._ids[i], int(dist[i])) for i in hits), key=lambda t: (t[1], t[0]))


def hamming(a: str, b: str) -> int:
    return int(np.bitwise_count(np.bitwise_xor(hex_to_bytes(a), hex_to_bytes(b))).sum())
