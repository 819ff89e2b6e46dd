"""Signal types: what reclaim measures of an item (after python-threatexchange's SignalType).

A signal type has a stable ``name`` and declares what it hashes. Capabilities are mix-ins:
:class:`BytesHasher` hashes raw bytes, :class:`FrameHasher` hashes decoded frames. Matching lives in
each type's index.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class SignalValue:
    signal_type: str
    value: str
    frame_index: int = 0
    variant: int = 0
    quality: int | None = None


class SignalType(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    """What it measures and how strong that kind of evidence is (shown to users)."""

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """Return ``value`` normalised, or raise ValueError."""


class BytesHasher(SignalType):
    @classmethod
    @abstractmethod
    def hash_bytes(cls, data: bytes) -> SignalValue: ...


class FrameHasher(SignalType):
    @classmethod
    @abstractmethod
    def hash_frames(cls, frames: Sequence[tuple[int, np.ndarray]]) -> list[SignalValue]:
        """Hash each ``(frame_index, rgb_array)``."""
