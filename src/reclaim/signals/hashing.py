"""The hash signal types' registry and :func:`hash_media`, the one way a media file is hashed (scan,
enrolment of known images, the hash API's ``/h/hash``), so hashes computed anywhere are comparable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from reclaim.media import DecodedMedia
from reclaim.registry import by_name
from reclaim.signals.base import BytesHasher, FrameHasher, SignalType, SignalValue, VideoHasher, working_copy
from reclaim.signals.hashes import Md5Signal, Sha256Signal
from reclaim.signals.pdq import Pdq64Signal, PdqSignal
from reclaim.signals.vpdq import VpdqSignal

SIGNAL_TYPES: tuple[type[SignalType], ...] = (Sha256Signal, Md5Signal, PdqSignal, Pdq64Signal, VpdqSignal)
"""Every hash signal type, in the order :func:`hash_media` (bytes, frames) and :func:`hash_video`
(whole videos) compute them."""


SIGNALS_BY_NAME = by_name(SIGNAL_TYPES, what="signal type")

PERCEPTUAL_SIGNALS: tuple[type[FrameHasher], ...] = tuple(
    s for s in SIGNAL_TYPES if issubclass(s, FrameHasher)
)
"""The perceptual hashes every frame gets; matching accepts a hit by any of them."""
VIDEO_SIGNALS: tuple[type[VideoHasher], ...] = tuple(s for s in SIGNAL_TYPES if issubclass(s, VideoHasher))
"""The whole-video hashes (vPDQ) every video gets where their library is installed."""
PERCEPTUAL: tuple[str, ...] = tuple(s.name for s in PERCEPTUAL_SIGNALS)
"""Their names: the signal types a scan stores per item (the byte hashes are the item's columns)."""


def hash_media(
    data: bytes,
    media: DecodedMedia,
    *,
    signal_types: Sequence[type[SignalType]] = SIGNAL_TYPES,
    working: dict[int, np.ndarray] | None = None,
) -> list[SignalValue]:
    """The hashes of one media file (``data``, decoded as ``media``) by each of ``signal_types``: first
    the byte hashes, then per frame the frame hashes (each frame downscaled once for all of them; the
    downscaled frames go into ``working``, by frame index, when it is given)."""
    out = [s.hash_bytes(data) for s in signal_types if issubclass(s, BytesHasher)]
    frame_types = [s for s in signal_types if issubclass(s, FrameHasher)]
    if frame_types:
        for frame in media.frames:
            small = working_copy(frame.image)
            if working is not None:
                working[frame.index] = small
            for signal in frame_types:
                out += signal.hash_working(frame.index, small)
    return out


def first_values(values: Sequence[SignalValue]) -> dict[str, SignalValue]:
    """Per signal type its first value as it is (variant 0): the byte hashes and the first frame's
    hashes (a frame hash is missing for media without frames)."""
    out: dict[str, SignalValue] = {}
    for v in values:
        if v.variant == 0:
            out.setdefault(v.signal_type, v)
    return out


@dataclass
class VideoHashes:
    values: list[SignalValue] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    """Signal type → why this video has no value of it (library missing, video unreadable)."""


def hash_video(data: bytes, media: DecodedMedia) -> VideoHashes:
    """The whole-video hashes of a video (nothing for images and animations). A type that cannot hash
    here, or this video, is named in ``problems``: never an error, never a silent gap."""
    out = VideoHashes()
    if media.kind != "video":
        return out
    for signal in VIDEO_SIGNALS:
        reason = signal.unavailable_reason()
        if reason is None:
            try:
                out.values += signal.hash_video(data)
                continue
            except RuntimeError as exc:
                reason = str(exc)
        out.problems[signal.name] = reason
    return out
