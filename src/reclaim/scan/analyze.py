"""Per-item analysis: decode, hash, find faces. Runs in worker processes; touches no database or key."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from reclaim.errors import MediaError
from reclaim.forensics.base import ForensicResult
from reclaim.forensics.passes import (
    CHEAP_PASSES,
    FILE_PASSES,
    ForensicInput,
    ForensicsMode,
    run_file_forensics,
)
from reclaim.matching.robust import ItemFeatures, item_features, one_thread
from reclaim.media import WORK_SIDE, DecodedMedia, MediaLimits, decode_media
from reclaim.signals import (
    PERCEPTUAL,
    PdqSignal,
    SignalValue,
    first_values,
    get_face_model,
    hash_media,
    hash_video,
)
from reclaim.signals.face import DEFAULT_FACE_MODEL, DlibResNetFace
from reclaim.signals.index import hex_to_bytes

_CRASH_ON = os.environ.get("RECLAIM_FAULT_CRASH_SHA256", "")
"""Testing only: a worker analysing the file with this SHA-256 exits abruptly, as a crashing decoder
would, so the scan's recovery can be tested for real."""

MAX_FACE_FRAMES = 8

FaceSearch = Literal["quick", "thorough"]
FACE_SEARCHES: tuple[FaceSearch, ...] = ("quick", "thorough")
"""How hard a scan looks for faces: "thorough" runs the face model's fallbacks (full resolution, turns,
upsampling: ≈ 470 ms of CPU on a 1 MP picture without a face) on every picture where the plain pass finds
none; "quick" runs the plain pass only (≈ 35 ms) and marks such a picture ``faces_deferred``: the scan
then searches the deferred items that matter thoroughly (those with a match), and
:func:`reclaim.scan.finish.finish_faces` the rest."""


@dataclass
class FaceResult:
    frame_index: int
    box: tuple[int, int, int, int]
    score: float
    rotation: int
    vector: bytes
    """float32 bytes of the template. Encrypted before it is stored; never logged."""

    def __repr__(self) -> str:
        return f"FaceResult(frame={self.frame_index}, box={self.box}, rotation={self.rotation})"


@dataclass
class Analysis:
    sha256: str
    md5: str
    size: int
    mime: str
    kind: str
    width: int
    height: int
    frame_count: int
    signals: list[SignalValue] = field(default_factory=list)
    faces: list[FaceResult] = field(default_factory=list)
    face_model: str = DEFAULT_FACE_MODEL
    forensics: list[ForensicResult] = field(default_factory=list)
    forensic_seconds: dict[str, float] = field(default_factory=dict)
    """Seconds each forensic pass took (for the benchmark; not stored)."""
    seconds: float = 0.0
    video_problems: dict[str, str] = field(default_factory=dict)
    """For a video: whole-video signal types (vPDQ) it has no value of, and why."""
    faces_deferred: bool = False
    """A quick face search (:data:`FaceSearch`) found no face where a thorough one would look further."""
    robust: ItemFeatures | None = None
    """The robust repost engine's features of the first frame (region hashes, ORB keypoints), when
    asked for (:attr:`AnalyzeOptions.robust`). Encrypted before they are stored; never logged."""

    def __repr__(self) -> str:
        return (
            f"Analysis(sha256={self.sha256[:12]}…, kind={self.kind}, {self.width}x{self.height}, "
            f"signals={len(self.signals)}, faces={len(self.faces)}, robust={self.robust is not None})"
        )


@dataclass(frozen=True)
class AnalyzeOptions:
    faces: bool = True
    forensics: ForensicsMode = "matched"
    c2pa_trust_pem: str | None = None
    """PEM trust anchors for C2PA signatures (the workspace's configured trust list), or None."""
    robust: bool = False
    """Compute the robust repost engine's features (:attr:`Analysis.robust`): set by the scan when the
    engine has something to match against (a person to match, or an imported bank)."""
    face_search: FaceSearch = "thorough"


def _face_frames(media: DecodedMedia) -> list[int]:
    n = len(media.frames)
    if n <= MAX_FACE_FRAMES:
        return list(range(n))
    step = n / MAX_FACE_FRAMES
    return sorted({int(i * step) for i in range(MAX_FACE_FRAMES)})


def analyze_bytes(
    data: bytes,
    *,
    limits: MediaLimits | None = None,
    faces: bool = True,
    face_model: str = DEFAULT_FACE_MODEL,
    face_budget_s: float = 1.5,
    forensics: ForensicsMode | bool = False,
    c2pa_trust_pem: str | None = None,
    robust: bool = False,
    face_search: FaceSearch = "thorough",
) -> Analysis:
    """Everything reclaim measures of one media file. Raises :class:`MediaError` for bad input."""
    start = time.monotonic()
    limits = limits or MediaLimits(max_side=WORK_SIDE)
    media = decode_media(data, limits=limits)
    working: dict[int, np.ndarray] = {}
    hashes = hash_media(data, media, working=working)
    exact = first_values(hashes)
    analysis = Analysis(
        sha256=exact["sha256"].value,
        md5=exact["md5"].value,
        size=len(data),
        mime=media.mime,
        kind=media.kind,
        width=media.width,
        height=media.height,
        frame_count=media.frame_count,
        face_model=face_model,
    )
    analysis.signals = [v for v in hashes if v.signal_type in PERCEPTUAL]
    video = hash_video(data, media)  # vPDQ of a video, where the package is installed
    analysis.signals += video.values
    analysis.video_problems = video.problems
    if robust and media.frames:
        index0 = media.frames[0].index
        pdq = next(
            (
                v
                for v in hashes
                if v.signal_type == PdqSignal.name and v.frame_index == index0 and not v.variant
            ),
            None,
        )
        whole = (np.unpackbits(hex_to_bytes(pdq.value)), pdq.quality or 0) if pdq is not None else None
        analysis.robust = item_features(working.get(index0, media.frames[0].image), pdq=whole)
    if faces:
        model = get_face_model(face_model)
        chosen = _face_frames(media)
        budget = face_budget_s if len(chosen) == 1 else max(0.2, 2 * face_budget_s / len(chosen))
        quick = face_search == "quick"
        for i in chosen:
            frame = media.frames[i]
            # Boxes are reported in the full-resolution image's coordinates.
            scale = media.width / frame.image.shape[1] if media.kind == "image" else 1.0
            if quick and model.has_fallbacks(frame.image):
                analysis.faces_deferred = True  # cleared below when a face is found
            for face in model.faces(frame.image, budget_s=budget, quick=quick):
                box = tuple(round(v * scale) for v in face.box)
                analysis.faces.append(
                    FaceResult(
                        frame_index=frame.index,
                        box=box,  # type: ignore[arg-type]
                        score=face.score,
                        rotation=face.rotation,
                        vector=np.asarray(face.vector, dtype=np.float32).tobytes(),
                    )
                )
        # Weak boxes (score < 0) are what a thorough search falls back to last: they do not settle it.
        analysis.faces_deferred = analysis.faces_deferred and not any(f.score >= 0 for f in analysis.faces)
    if forensics and forensics != "none":
        inp = ForensicInput(
            data=data,
            mime=media.mime,
            kind=media.kind,
            face_boxes=[f.box for f in analysis.faces if f.frame_index == 0],
            c2pa_trust_pem=c2pa_trust_pem,
        )
        first = media.frames[0].image if media.frames else None
        if media.kind == "image" and first is not None and first.shape[:2] == (media.height, media.width):
            inp.decoded = media  # decoded at full size already
        # "matched": the pixel passes wait for a match (the writer runs them; see scan.service)
        passes = CHEAP_PASSES if forensics == "matched" else FILE_PASSES
        analysis.forensics, analysis.forensic_seconds = run_file_forensics(inp, passes)
    analysis.seconds = time.monotonic() - start
    return analysis


def warm_up(faces: bool) -> None:
    """Pool warm-up job, sent to each worker as the pool starts: with ``faces``, load the face model and
    build its onnxruntime session (≈ 0.1-0.3 s a worker) while the scan's writer opens its indexes and
    the source is enumerated, instead of when the first file arrives. Errors are left to the files."""
    if not faces:
        return
    try:
        model = get_face_model()
        if isinstance(model, DlibResNetFace):
            model.encode_chips(np.zeros((1, 150, 150, 3), dtype=np.uint8))
    except Exception:  # each file reports a model problem itself
        pass


def analyze_job(job: tuple[bytes, AnalyzeOptions]) -> Analysis | str:
    """Process-pool entry point: an Analysis, or the error message for this file."""
    data, options = job
    one_thread()  # a worker process per core: OpenCV's threads on top only cost CPU
    if _CRASH_ON and hashlib.sha256(data).hexdigest() == _CRASH_ON:
        os._exit(70)  # fault injection for tests: a decoder that takes its process down
    try:
        return analyze_bytes(
            data,
            faces=options.faces,
            forensics=options.forensics,
            c2pa_trust_pem=options.c2pa_trust_pem,
            robust=options.robust,
            face_search=options.face_search,
        )
    except MediaError as exc:
        return str(exc)
    except MemoryError:
        return "ran out of memory decoding this file"
    except Exception as exc:  # a decoder bug must not end the scan
        return f"unexpected error while analysing ({type(exc).__name__}: {exc})"
