"""Signal types and face models, registered in one place with unique names."""

from __future__ import annotations

from reclaim.signals.base import BytesHasher, FrameHasher, SignalType, SignalValue
from reclaim.signals.face import FACE_MODELS, DetectedFace, FaceModel, get_face_model
from reclaim.signals.hashes import Md5Signal, Sha256Signal
from reclaim.signals.hashing import (
    PERCEPTUAL,
    PERCEPTUAL_SIGNALS,
    SIGNAL_TYPES,
    SIGNALS_BY_NAME,
    first_values,
    hash_media,
)
from reclaim.signals.index import ExactIndex, HashIndex, LinearIndex, MultiIndexHash
from reclaim.signals.pdq import Pdq64Signal, PdqSignal

__all__ = [
    "FACE_MODELS",
    "PERCEPTUAL",
    "PERCEPTUAL_SIGNALS",
    "SIGNALS_BY_NAME",
    "SIGNAL_TYPES",
    "BytesHasher",
    "DetectedFace",
    "ExactIndex",
    "FaceModel",
    "FrameHasher",
    "HashIndex",
    "LinearIndex",
    "Md5Signal",
    "MultiIndexHash",
    "Pdq64Signal",
    "PdqSignal",
    "Sha256Signal",
    "SignalType",
    "SignalValue",
    "first_values",
    "get_face_model",
    "hash_media",
]
