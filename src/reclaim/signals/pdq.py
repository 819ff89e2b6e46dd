"""PDQ perceptual hashes (Meta's, via ``pdqhash``): standard PDQ and reclaim's pdq64.

Both hash each frame's ≤ 512 px working copy (:func:`~reclaim.signals.base.working_copy`) and are
matched in a :class:`~reclaim.signals.index.LinearIndex` within ``MATCH_THRESHOLD`` bits.
``compute_dihedral`` gives the hashes of all 8 flips/rotations for the price of one; those derived
hashes are exact only for the transpose, so we hash four real reflections (see ``exact_dihedral``).
Stored as variants 0-7, so a flipped or rotated repost still matches.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pdqhash
from PIL import Image

from reclaim.signals.base import FrameHasher, SignalValue
from reclaim.signals.index import MATCH_THRESHOLD, HashIndex, LinearIndex, bits_to_hex
from reclaim.signals.pdqluma import dihedral_luma, hashable_luma

MIN_QUALITY = 50
"""Hashes of lower quality (flat, featureless frames) are kept but never matched."""


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


def _reflect_view(image: np.ndarray, how: str) -> np.ndarray:
    if how == "lr":
        return image[:, ::-1]
    if how == "ud":
        return image[::-1]
    if how == "both":
        return image[::-1, ::-1]
    return image


def _reflect(image: np.ndarray, how: str) -> np.ndarray:
    return np.ascontiguousarray(_reflect_view(image, how))


def exact_dihedral(image: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """``[(bits, quality)]`` of the 8 dihedral transforms, in pdqhash's order, each computed from the
    transformed pixels (variant 0 is the standard PDQ hash of the image)."""
    variants: list[tuple[np.ndarray, int] | None] = [None] * 8
    plane = hashable_luma(image)
    for how, plain, transposed in _REFLECTIONS:
        if plane is not None:  # the luma of a reflection is the reflection of the luma: computed once
            hashes, quality = dihedral_luma(_reflect_view(plane, how))  # copied once, in there
        else:
            hashes, quality = pdqhash.compute_dihedral(_reflect(image, how))
        variants[plain] = (hashes[0], int(quality))
        variants[transposed] = (hashes[_TRANSPOSE], int(quality))
    return [v for v in variants if v is not None]


class PerceptualSignal(FrameHasher):
    """A 256-bit PDQ-family hash (64 hex digits) of each frame, matched within :data:`MATCH_THRESHOLD`
    bits, and only at a quality of at least :data:`MIN_QUALITY`."""

    index: ClassVar[type[HashIndex]] = LinearIndex
    _re = re.compile(r"^[0-9a-f]{64}$")

    @classmethod
    def validate(cls, value: str) -> str:
        v = value.strip().lower()
        if not cls._re.match(v):
            raise ValueError("a PDQ hash is 64 hex digits")
        return v

    @classmethod
    def matchable(cls, value: SignalValue) -> bool:
        return (value.quality or 0) >= MIN_QUALITY


class PdqSignal(PerceptualSignal):
    name: ClassVar[str] = "pdq"
    description: ClassVar[str] = (
        "PDQ perceptual hash: survives recompression, resizing, colour changes, flips and 90° rotations "
        f"(distance ≤ {MATCH_THRESHOLD} of 256 bits); not crops of ≥5 %, borders or banners. A match means "
        "'visually the same picture', not 'the same file'."
    )

    @classmethod
    def hash_working(cls, index: int, small: np.ndarray) -> list[SignalValue]:
        return [
            SignalValue(cls.name, bits_to_hex(bits), index, variant, quality)
            for variant, (bits, quality) in enumerate(exact_dihedral(small))
        ]


class Pdq64Signal(PerceptualSignal):
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
    def hash_working(cls, index: int, small: np.ndarray) -> list[SignalValue]:
        # averaged from the ≤ 512 px working copy PDQ uses anyway: the same 64x64 means, far cheaper
        tiny = np.asarray(Image.fromarray(small).resize((cls.SIDE, cls.SIDE), Image.Resampling.BOX))
        hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(tiny))
        return [
            SignalValue(cls.name, bits_to_hex(bits), index, variant, int(quality))
            for variant, bits in enumerate(hashes)
        ]
