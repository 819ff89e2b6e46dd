"""The forensic passes: the signal types that run the forensic readers, and their registry.

File signals look at one file on its own and run inside the scan's workers: what the file declares
(metadata, C2PA), invisible watermarks, and pixel indicators. The source-photo signal needs an enrolled
person's kept photos, so it runs in the main process when a face match is made (see
reclaim.forensics.service). Their names share one namespace with the hash signal types
(reclaim.signals.SIGNALS_BY_NAME); :data:`FORENSIC_SIGNALS_BY_NAME` checks that at import.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from reclaim.errors import MediaError
from reclaim.forensics.base import ForensicResult
from reclaim.forensics.c2pa import VERDICTS as C2PA_VERDICTS
from reclaim.forensics.c2pa import C2paTrust, read_c2pa
from reclaim.forensics.declarations import read_declarations
from reclaim.forensics.orientation import Box, load_stored
from reclaim.forensics.pixels import analyze_pixels
from reclaim.forensics.watermark import detect_sd_watermark
from reclaim.media import DecodedMedia, pillow_warnings_ignored
from reclaim.registry import by_name
from reclaim.signals import SIGNALS_BY_NAME, SignalType


@dataclass
class ForensicInput:
    data: bytes
    mime: str
    kind: str
    face_boxes: list[Box] = field(default_factory=list)
    """Faces found by the scan, in displayed (EXIF-oriented) full-resolution coordinates."""
    c2pa_trust_pem: str | None = None
    decoded: DecodedMedia | None = None
    """The caller's decode of the file when its first frame is at full resolution (a scan decodes small
    images at full size): saves a second decode."""
    _pixels: tuple[np.ndarray, list[Box]] | str | None = None

    def stored_pixels(self) -> tuple[np.ndarray, list[Box]]:
        """The first frame at full resolution as the file stores it (see
        :func:`reclaim.forensics.orientation.load_stored`), with the face boxes mapped to it. Decoded
        once. Raises :class:`MediaError` when it cannot be decoded within the limits."""
        if isinstance(self._pixels, str):
            raise MediaError(self._pixels)
        if self._pixels is None:
            try:
                stored = load_stored(self.data, decoded=self.decoded)
            except MediaError as exc:
                self._pixels = str(exc)
                raise
            self._pixels = (stored.image, stored.boxes(self.face_boxes))
        return self._pixels


class ForensicSignal(SignalType):
    """A signal that reports what an item shows about how it was made. Its stored value is a
    :class:`ForensicResult` (verdict, strength, summary, numbers, caveats)."""

    verdicts: ClassVar[tuple[str, ...]]
    """Every verdict this signal can give (plus "error")."""

    @classmethod
    def validate(cls, value: str) -> str:
        if value != "error" and value not in cls.verdicts:
            raise ValueError(f"{cls.name}: unknown verdict {value!r}")
        return value


class FileForensicSignal(ForensicSignal):
    """Runs on one file alone, in the scan's workers."""

    applies_to: ClassVar[tuple[str, ...]] = ("image", "animation", "video")
    produces: ClassVar[tuple[str, ...]] = ()
    """The registered signal names whose results this pass produces (default: its own name)."""

    @classmethod
    @abstractmethod
    def analyze(cls, inp: ForensicInput) -> list[ForensicResult]: ...


def _error(name: str, message: str) -> ForensicResult:
    return ForensicResult(
        signal=name,
        verdict="error",
        strength="none",
        summary=f"This check could not run on this file: {message}. Nothing can be concluded from it.",
        error=message,
    )


class DeclarationsSignal(FileForensicSignal):
    name: ClassVar[str] = "declarations"
    description: ClassVar[str] = (
        "What the file's metadata declares about its origin (XMP/IPTC DigitalSourceType, EXIF Software, "
        "PNG text chunks written by AI generators). Strong when present; not signed, so it can be removed "
        "or forged; its absence proves nothing."
    )
    verdicts: ClassVar[tuple[str, ...]] = (
        "ai_declared",
        "ai_composite_declared",
        "algorithmic_declared",
        "capture_declared",
        "no_ai_claim",
        "nothing_declared",
    )

    @classmethod
    def analyze(cls, inp: ForensicInput) -> list[ForensicResult]:
        decl = read_declarations(inp.data)
        if decl.classification == "ai_composite":
            verdict, strength = "ai_composite_declared", "strong"
        elif decl.ai_declared:
            verdict, strength = "ai_declared", "strong"
        elif decl.classification == "algorithmic":
            verdict, strength = "algorithmic_declared", "moderate"
        elif decl.classification == "capture":
            verdict, strength = "capture_declared", "none"
        elif decl.findings:
            verdict, strength = "no_ai_claim", "none"
        else:
            verdict, strength = "nothing_declared", "none"
        caveats = [
            "Metadata is not signed: anyone can remove it or write it into any file.",
            "Most platforms (Telegram, X, messengers) strip metadata, so its absence proves nothing.",
        ]
        if verdict == "capture_declared":
            caveats.append("A camera-capture declaration does not show that the image is authentic.")
        return [
            ForensicResult(
                signal=cls.name,
                verdict=verdict,
                strength=strength,  # type: ignore[arg-type]
                summary=decl.summary(),
                detail={
                    "classification": decl.classification,
                    "generator": decl.generator,
                    "findings": [
                        {"source": f.source, "field": f.field, "value": f.value, "meaning": f.meaning}
                        for f in decl.findings
                    ],
                },
                caveats=caveats,
            )
        ]


class C2paSignal(FileForensicSignal):
    name: ClassVar[str] = "c2pa"
    description: ClassVar[str] = (
        "C2PA content credentials: a signed manifest stating how the file was made. An AI-generation "
        "claim with a valid signature is strong evidence; trust depends on the configured trust list."
    )
    verdicts: ClassVar[tuple[str, ...]] = tuple(v for v in C2PA_VERDICTS if v != "error")

    @classmethod
    def analyze(cls, inp: ForensicInput) -> list[ForensicResult]:
        trust = C2paTrust(anchors_pem=inp.c2pa_trust_pem) if inp.c2pa_trust_pem else None
        return [read_c2pa(inp.data, inp.mime, trust=trust)]


class SdWatermarkSignal(FileForensicSignal):
    name: ClassVar[str] = "sd-watermark"
    description: ClassVar[str] = (
        "The invisible watermark Stable Diffusion's reference scripts embed (SD 1, SD 2, SDXL; dwtDct), "
        "reported as matched bits. Destroyed by JPEG recompression and resizing: absence proves nothing."
    )
    verdicts: ClassVar[tuple[str, ...]] = (
        "watermark_very_likely",
        "inconclusive",
        "no_evidence",
        "not_applicable",
    )
    applies_to: ClassVar[tuple[str, ...]] = ("image",)

    @classmethod
    def analyze(cls, inp: ForensicInput) -> list[ForensicResult]:
        try:
            image, _ = inp.stored_pixels()
        except MediaError as exc:
            return [_error(cls.name, str(exc))]
        return [detect_sd_watermark(image)]


class JpegDqSignal(ForensicSignal):
    name: ClassVar[str] = "jpeg-dq"
    description: ClassVar[str] = (
        "Double-JPEG / DCT quantisation inconsistency of the face region against the rest of the image, "
        "as a percentile. An indicator of editing whose strength is measured in docs/pixel-indicators.md."
    )
    verdicts: ClassVar[tuple[str, ...]] = ("indicator_here", "no_indicator", "not_applicable")


class NoiseSignal(ForensicSignal):
    name: ClassVar[str] = "noise"
    description: ClassVar[str] = (
        "Noise level of the face region against windows of the same size elsewhere in the image, as a "
        "percentile. An indicator of editing whose strength is measured in docs/pixel-indicators.md."
    )
    verdicts: ClassVar[tuple[str, ...]] = ("indicator_here", "no_indicator", "not_applicable")


class PixelIndicators(FileForensicSignal):
    """Computes both pixel indicators in one pass (they share the decoded luminance)."""

    name: ClassVar[str] = "pixels"
    description: ClassVar[str] = "jpeg-dq and noise, computed together"
    verdicts: ClassVar[tuple[str, ...]] = ()
    applies_to: ClassVar[tuple[str, ...]] = ("image",)
    produces: ClassVar[tuple[str, ...]] = ("jpeg-dq", "noise")

    @classmethod
    def analyze(cls, inp: ForensicInput) -> list[ForensicResult]:
        try:
            image, boxes = inp.stored_pixels()
        except MediaError as exc:
            return [_error(JpegDqSignal.name, str(exc)), _error(NoiseSignal.name, str(exc))]
        return analyze_pixels(inp.data, image, boxes)


class SourcePhotoSignal(ForensicSignal):
    name: ClassVar[str] = "source-photo"
    description: ClassVar[str] = (
        "Whether the face in the item is an almost identical copy of one of the person's kept reference "
        "photos (same pose, expression and light) on a different body or background: strong evidence "
        "the face was pasted from that photo. Needs the person's agreement to keep photos."
    )
    verdicts: ClassVar[tuple[str, ...]] = (
        "face_copied_from_reference",
        "same_photo_as_reference",
        "no_source_photo_found",
        "no_kept_photos",
    )


FORENSIC_SIGNALS: tuple[type[ForensicSignal], ...] = (
    DeclarationsSignal,
    C2paSignal,
    SdWatermarkSignal,
    JpegDqSignal,
    NoiseSignal,
    SourcePhotoSignal,
)
"""Every forensic signal type; each has a stable name stored with its findings."""


def _by_name() -> dict[str, type[ForensicSignal]]:
    """Forensic signal names are unique, and unique against the hash signal types' (one namespace)."""
    by_name((*SIGNALS_BY_NAME.values(), *FORENSIC_SIGNALS), what="signal type")
    return by_name(FORENSIC_SIGNALS, what="forensic signal type")


FORENSIC_SIGNALS_BY_NAME = _by_name()
"""The forensic signal types by name (names unique, and unused by reclaim.signals.SIGNAL_TYPES)."""

CHEAP_PASSES: tuple[type[FileForensicSignal], ...] = (DeclarationsSignal, C2paSignal)
"""Header and metadata readers: about a millisecond per file; run on every item."""
PIXEL_PASSES: tuple[type[FileForensicSignal], ...] = (SdWatermarkSignal, PixelIndicators)
"""Full-resolution pixel work (≈ 20-30 ms per megapixel): by default run only on items that match an
enrolled person (see ForensicsMode)."""
FILE_PASSES: tuple[type[FileForensicSignal], ...] = CHEAP_PASSES + PIXEL_PASSES

ForensicsMode = Literal["matched", "all", "none"]
"""Which items get the forensic signals during a scan: "matched" (default) runs the cheap passes on
every item and the pixel passes on items that match a person; "all" runs everything on every item;
"none" runs nothing (``reclaim explain --refresh`` computes them later from stored media)."""
FORENSICS_MODES: tuple[ForensicsMode, ...] = ("matched", "all", "none")


def run_file_forensics(
    inp: ForensicInput, passes: tuple[type[FileForensicSignal], ...] = FILE_PASSES
) -> tuple[list[ForensicResult], dict[str, float]]:
    """Every file signal of ``passes`` that applies to the item, and the seconds each took. A signal that
    fails reports an "error" result for itself; the others still run."""
    results: list[ForensicResult] = []
    timings: dict[str, float] = {}
    for sig in passes:
        if inp.kind not in sig.applies_to:
            continue
        start = time.perf_counter()
        try:
            # Hostile files make Pillow warn (corrupt EXIF, ...): not a failure, and not for the terminal.
            with pillow_warnings_ignored():
                results.extend(sig.analyze(inp))
        except MemoryError:
            results.extend(_error(n, "ran out of memory") for n in sig.produces or (sig.name,))
        except Exception as exc:  # a forensic bug must never lose the item
            message = f"unexpected error ({type(exc).__name__}: {exc})"
            results.extend(_error(n, message) for n in sig.produces or (sig.name,))
        timings[sig.name] = time.perf_counter() - start
    return results, timings
