"""Signal types and face models, registered in one place with unique names."""

from __future__ import annotations

from reclaim.signals.base import BytesHasher, FrameHasher, SignalType, SignalValue
from reclaim.signals.face import FACE_MODELS, DetectedFace, FaceModel, get_face_model
from reclaim.signals.hashes import Md5Signal, Sha256Signal
from reclaim.signals.pdq import PERCEPTUAL_SIGNALS, Pdq64Signal, PdqIndex, PdqSignal

SIGNAL_TYPES: tuple[type[SignalType], ...] = (
    Sha256Signal,
    Md5Signal,
    PdqSignal,
    Pdq64Signal,
)


def _registry() -> dict[str, type[SignalType]]:
    names = [s.name for s in SIGNAL_TYPES]
    if len(set(names)) != len(names):
        raise RuntimeError(f"duplicate signal type names: {names}")
    return {s.name: s for s in SIGNAL_TYPES}


SIGNALS_BY_NAME = _registry()

__all__ = [
    "FACE_MODELS",
    "PERCEPTUAL_SIGNALS",
    "SIGNALS_BY_NAME",
    "SIGNAL_TYPES",
    "BytesHasher",
    "DetectedFace",
    "FaceModel",
    "FrameHasher",
    "Md5Signal",
    "Pdq64Signal",
    "PdqIndex",
    "PdqSignal",
    "Sha256Signal",
    "SignalType",
    "SignalValue",
    "get_face_model",
]
