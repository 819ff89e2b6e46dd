"""Signal types: what reclaim measures of an item (after python-threatexchange's SignalType).

A signal type has a stable ``name``, validates its values and names its :attr:`SignalType.index` (the
:class:`~reclaim.signals.index.HashIndex` its values are matched in). Capabilities are mix-ins:
:class:`BytesHasher` hashes raw bytes, :class:`FrameHasher` hashes decoded frames. Every hash of every
type is one :class:`SignalValue`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from PIL import Image

from reclaim.signals.index import HashIndex

WORKING_SIDE = 512
"""Frame hashers hash a copy of each frame downscaled to at most this many pixels (PDQ works on 64x64
internally; measured: 5 ms at 512 px vs 133 ms at 2048 px), made once per frame and shared by them."""


@dataclass(frozen=True)
class SignalValue:
    """One hash of an item: its signal type, value, and for frame hashes the frame, the dihedral variant
    (0 is the frame as it is) and the hasher's quality (None for byte hashes)."""

    signal_type: str
    value: str
    frame_index: int = 0
    variant: int = 0
    quality: int | None = None


class SignalType(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    """What it measures and how strong that kind of evidence is (shown to users)."""
    index: ClassVar[type[HashIndex]]
    """The index its values are matched in."""

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """Return ``value`` normalised, or raise ValueError."""

    @classmethod
    def matchable(cls, value: SignalValue) -> bool:
        """Whether ``value`` may be matched at all (a perceptual hash of a flat frame may not)."""
        return True


class VideoHasher(SignalType):
    """Hashes a whole video from its bytes (vPDQ); may be unavailable where its library is missing."""

    @classmethod
    @abstractmethod
    def unavailable_reason(cls) -> str | None:
        """None when it can hash here, otherwise why not (said in scan reports, never silently)."""

    @classmethod
    @abstractmethod
    def hash_video(cls, data: bytes) -> list[SignalValue]:
        """The values of one video. Raises RuntimeError when the video cannot be hashed."""


class BytesHasher(SignalType):
    @classmethod
    @abstractmethod
    def hash_bytes(cls, data: bytes) -> SignalValue: ...


def working_copy(image: np.ndarray) -> np.ndarray:
    """The frame downscaled (bilinear) to at most :data:`WORKING_SIDE` pixels, C-contiguous."""
    h, w = image.shape[:2]
    side = max(h, w)
    if side <= WORKING_SIDE:
        return np.ascontiguousarray(image)
    scale = WORKING_SIDE / side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


class FrameHasher(SignalType):
    """Hashes decoded frames, each from its :func:`working_copy`."""

    @classmethod
    @abstractmethod
    def hash_working(cls, index: int, small: np.ndarray) -> list[SignalValue]:
        """The values of frame ``index`` from its working copy ``small``."""

    @classmethod
    def hash_frames(cls, frames: Sequence[tuple[int, np.ndarray]]) -> list[SignalValue]:
        """Hash each ``(frame_index, rgb_array)``."""
        return [v for index, image in frames for v in cls.hash_working(index, working_copy(image))]
