"""Signal types and face models, registered in one place with unique names."""

from __future__ import annotations

from reclaim.signals.base import BytesHasher, FrameHasher, SignalType, SignalValue, VideoHasher
from reclaim.signals.face import FACE_MODELS, DetectedFace, FaceModel, get_face_model
from reclaim.signals.hashes import Md5Signal, Sha256Signal
from reclaim.signals.hashing import (
    PERCEPTUAL,
    PERCEPTUAL_SIGNALS,
    SIGNAL_TYPES,
    SIGNALS_BY_NAME,
    VIDEO_SIGNALS,
    VideoHashes,
    first_values,
    hash_media,
    hash_video,
)
from reclaim.signals.index import ExactIndex, HashIndex, LinearIndex, MultiIndexHash
from reclaim.signals.pdq import Pdq64Signal, PdqSignal
from reclaim.signals.vpdq import VpdqIndex, VpdqSignal

__all__ = [
    "FACE_MODELS",
    "PERCEPTUAL",
    "PERCEPTUAL_SIGNALS",
    "SIGNALS_BY_NAME",
    "SIGNAL_TYPES",
    "VIDEO_SIGNALS",
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
    "VideoHasher",
    "VideoHashes",
    "VpdqIndex",
    "VpdqSignal",
    "first_values",
    "get_face_model",
    "hash_media",
    "hash_video",
]
