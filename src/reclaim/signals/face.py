"""Face models: detect faces and turn each into a template (a vector) compared by distance.

The default is dlib's HOG detector + 5-point landmarks + 128-d ResNet (public-domain/CC0 weights from
the ``face_recognition_models`` package); the ResNet itself runs in onnxruntime (see dlib_onnx.py). The
HOG detector misses small faces and faces rotated by more than ~40°, so when the plain pass finds
nothing we try, within a CPU-time budget, the full resolution, rotated copies and 2x upsampling.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from reclaim.errors import DependencyError
from reclaim.registry import by_name
from reclaim.signals.dlib_onnx import OnnxResNetEncoder, frontal_face_detector, import_onnxruntime


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[int, int, int, int]
    """left, top, right, bottom in the input image's pixel coordinates."""
    score: float
    vector: np.ndarray
    """float32 template; compare with :meth:`FaceModel.distance`."""
    rotation: int = 0
    """Degrees the image was rotated for the detector to find this face."""


class FaceModel(ABC):
    name: ClassVar[str]
    dim: ClassVar[int]
    default_threshold: ClassVar[float]
    """Distance at or below which two templates are taken to be the same person (see docs/face-roc.md)."""

    @abstractmethod
    def faces(self, image: np.ndarray, *, budget_s: float = 1.5, quick: bool = False) -> list[DetectedFace]:
        """Detect and encode every face in an (H, W, 3) uint8 RGB image. ``quick``: only the model's
        cheapest detection pass, none of its fallbacks for small or turned faces (a model without
        fallbacks ignores it; see :meth:`has_fallbacks`)."""

    def first_pass(
        self, image: np.ndarray, *, budget_s: float = 1.5, quick: bool = False
    ) -> tuple[list[DetectedFace], list[tuple[tuple[float, float, float, float], float]]]:
        """The confidently detected faces only, and the weak candidate boxes a second pass may use (a
        model without a second pass: all its faces and no candidates). Enrolment uses this."""
        return self.faces(image, budget_s=budget_s, quick=quick), []

    def has_fallbacks(self, image: np.ndarray) -> bool:
        """Whether a full search of ``image`` runs passes a ``quick`` one leaves out (so a quick search
        that found no face there is not the last word)."""
        return False

    @abstractmethod
    def chip(
        self,
        image: np.ndarray,
        box: tuple[float, float, float, float],
        *,
        size: int = 150,
        padding: float = 0.25,
    ) -> np.ndarray:
        """The face in ``box`` of an (H, W, 3) uint8 RGB image, aligned (upright, eyes level) and scaled to a
        (size, size, 3) uint8 chip with ``padding`` (a fraction of the face size) on each side; with the
        defaults, exactly what the encoder sees. Parts outside the image are black."""

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Euclidean distance between ``a`` (d,) or (n, d) and ``b`` (m, d)."""
        diff = np.atleast_2d(a)[:, None, :] - np.atleast_2d(b)[None, :, :]
        return np.asarray(np.linalg.norm(diff, axis=2))


def _models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise DependencyError("the face_recognition_models package is not installed")
    return Path(spec.origin).parent / "models"


def _grey(image: np.ndarray, scale: float) -> np.ndarray:
    """The luminance of ``image`` resized by ``scale`` (≤ 1): converted first, so the resize filters one
    channel instead of three (≈ 5 ms less on a 1 MP picture; HOG boxes within a pixel on average)."""
    grey = Image.fromarray(image).convert("L")
    if scale < 1.0:
        h, w = image.shape[:2]
        grey = grey.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(grey))


def _rotate(image: np.ndarray, degrees: int) -> np.ndarray:
    """Rotate counter-clockwise by ``degrees`` (multiples of 90 exactly; others with expansion)."""
    if degrees % 90 == 0:
        return np.ascontiguousarray(np.rot90(image, k=(degrees // 90) % 4))
    return np.ascontiguousarray(
        np.asarray(Image.fromarray(image).rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True))
    )


def _unrotate_box(
    box: tuple[float, float, float, float], degrees: int, src_w: int, src_h: int, rot_w: int, rot_h: int
) -> tuple[int, int, int, int]:
    """Map a box found in the rotated image back to the original image's coordinates."""
    left, top, right, bottom = box
    corners = [(left, top), (right, top), (left, bottom), (right, bottom)]
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    pts = []
    for x, y in corners:
        # centre-relative in the rotated image; rotate back by -degrees (image y axis points down)
        dx, dy = x - rot_w / 2, y - rot_h / 2
        ox = dx * cos - dy * sin
        oy = dx * sin + dy * cos
        pts.append((ox + src_w / 2, oy + src_h / 2))
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (
        max(0, round(min(xs))),
        max(0, round(min(ys))),
        min(src_w, round(max(xs))),
        min(src_h, round(max(ys))),
    )


def flip_average(plain: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """The mean of a face's descriptor and its mirrored chip's, rescaled to their mean length (so
    distances keep dlib's scale and the calibrated threshold)."""
    mean = (plain + mirrored) / 2
    length = (np.linalg.norm(plain) + np.linalg.norm(mirrored)) / 2
    return np.asarray(mean * (length / max(float(np.linalg.norm(mean)), 1e-12)), dtype=np.float32)


class DlibResNetFace(FaceModel):
    """dlib's ResNet descriptor of the aligned chip as it is (the templates of workspaces enrolled before
    flip-averaging carry this name; see :class:`DlibResNetFlipFace`)."""

    name: ClassVar[str] = "dlib-resnet-v1"
    FLIP_AVERAGE: ClassVar[bool] = False
    dim: ClassVar[int] = 128
    default_threshold: ClassVar[float] = 0.46
    """Calibrated in docs/face-roc.md: the largest threshold whose false-match rate stays ≤ 0.5 % on both
    the plain benchmark and the repost conditions (issue 11's bar); before flip-averaging and the second
    detection pass it was 0.47 (≤ 1 % at the upper end of its 95 % interval; dlib's own default, 0.6,
    gave 4.8 % false matches there)."""
    DETECT_SIDE: ClassVar[int] = 800
    """Detection runs on a grey copy at most this wide/high (≈ 30 ms; finds faces from ≈ 100 px in a 1 MP
    photo at once, where 640 px needed the full-resolution fallback for a third of them); encoding uses
    the full image."""
    FULL_SIDE: ClassVar[int] = 1280
    """The first fallback: the image at up to this size, for smaller faces."""
    ROTATED_SIDE: ClassVar[int] = 640
    """Rotated retries run smaller: turned faces are rare, and faceless images pay for every retry."""
    MAX_UPSAMPLED_PIXELS: ClassVar[int] = 4 * 1280 * 1280
    """The 2x-upsampled pass (≈ 0.5-0.8 s) runs on at most a 1280 px copy."""
    MIN_SIDE: ClassVar[int] = 20
    WEAK_SCORE: ClassVar[float] = -0.5
    """HOG boxes scoring between this and 0 are kept for :meth:`second_pass` (see docs/face-roc.md)."""
    MAX_WEAK_FACES: ClassVar[int] = 2

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise DependencyError(f"dlib is not importable: {exc}") from exc
        models = _models_dir()
        try:
            self._dlib: Any = dlib
            self._detector = frontal_face_detector(dlib)  # read from the user's cache folder
            self._shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        except RuntimeError as exc:
            raise DependencyError(f"could not load the dlib face models from {models}: {exc}") from exc
        # The ResNet is run by onnxruntime (≈ 6 ms instead of dlib-bin's ≈ 75 ms; descriptors equal to
        # ~1e-6, see dlib_onnx.py). RECLAIM_FACE_ENCODER=dlib uses dlib's own implementation.
        self._onnx: Any = None
        self._encoder: Any = None
        self._use_onnx = os.environ.get("RECLAIM_FACE_ENCODER", "onnx") != "dlib"
        if self._use_onnx:
            # Checked now, built on first use: a model object loaded before a fork (the scan's worker
            # pool preloads it) must not hold an onnxruntime session.
            import_onnxruntime()
        else:
            try:
                self._encoder = dlib.face_recognition_model_v1(
                    str(models / "dlib_face_recognition_resnet_model_v1.dat")
                )
            except RuntimeError as exc:
                raise DependencyError(f"could not load the dlib face ResNet from {models}: {exc}") from exc

    @property
    def encoder(self) -> str:
        """Which implementation computes the descriptors: "onnxruntime" or "dlib"."""
        return "onnxruntime" if self._use_onnx else "dlib"

    def _onnx_encoder(self) -> Any:
        if self._onnx is None:
            self._onnx = OnnxResNetEncoder()
        return self._onnx

    def _detect(
        self, image: np.ndarray, upsample: int, adjust: float = 0.0
    ) -> list[tuple[tuple[float, float, float, float], float]]:
        rects, scores, _ = self._detector.run(image, upsample, adjust)
        return [
            ((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores, strict=True)
        ]

    def detect(
        self, image: np.ndarray, side: int, upsample: int = 0, adjust: float = 0.0
    ) -> list[tuple[tuple[float, float, float, float], float]]:
        """HOG boxes (in ``image``'s coordinates) and scores, detecting on a grey copy at most ``side``
        px: luminance gives the same detections as RGB for ~25 % less time (on RGB dlib takes the
        strongest of the three channels' gradients). ``adjust`` below 0 also returns weaker boxes
        (score below 0), at no extra cost."""
        scale = min(1.0, side / max(image.shape[:2]))
        grey = _grey(image, scale)
        return [(tuple(v / scale for v in box), score) for box, score in self._detect(grey, upsample, adjust)]

    def _encode(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        rect = self._dlib.rectangle(*(round(v) for v in box))
        shape = self._shape(image, rect)
        if self.FLIP_AVERAGE:
            # exactly the chip compute_face_descriptor(image, shape) extracts internally, and its mirror
            chip = np.asarray(self._dlib.get_face_chip(image, shape, size=150, padding=0.25), np.uint8)
            plain, mirrored = self.encode_chips(np.stack([chip, chip[:, ::-1]]))
            return flip_average(plain, mirrored)
        if self._use_onnx:
            chip = self._dlib.get_face_chip(image, shape, size=150, padding=0.25)
            return np.asarray(self._onnx_encoder().encode(np.asarray(chip)), dtype=np.float32)
        return np.asarray(self._encoder.compute_face_descriptor(image, shape), dtype=np.float32)

    def chip(
        self,
        image: np.ndarray,
        box: tuple[float, float, float, float],
        *,
        size: int = 150,
        padding: float = 0.25,
    ) -> np.ndarray:
        """dlib.get_face_chip on the 5-point shape found in ``box`` (the encoder's crop at the defaults)."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        rect = self._dlib.rectangle(*(round(v) for v in box))
        shape = self._shape(image, rect)
        return np.asarray(self._dlib.get_face_chip(image, shape, size=size, padding=padding), dtype=np.uint8)

    def _attempt(
        self,
        image: np.ndarray,
        degrees: int,
        detect_side: int,
        upsample: int,
        weak: list[tuple[tuple[float, float, float, float], float]] | None = None,
        greys: dict[float, np.ndarray] | None = None,
    ) -> list[DetectedFace]:
        """Faces found at HOG score ≥ 0; boxes scoring between WEAK_SCORE and 0 (unturned passes only)
        are appended to ``weak`` for :meth:`second_pass`. A turned pass detects on a turned grey copy at
        most ``detect_side`` px (``greys`` caches the unturned grey copies by scale; quarter turns only) and
        turns the full image only when it finds a face (which is rare)."""
        if not degrees:
            adjust = self.WEAK_SCORE if weak is not None else 0.0
            return self._found(image, image, 0, self.detect(image, detect_side, upsample, adjust), weak)
        src_h, src_w = image.shape[:2]
        theta = math.radians(degrees)
        cos, sin = abs(math.cos(theta)), abs(math.sin(theta))
        extent = max(src_w * cos + src_h * sin, src_w * sin + src_h * cos)
        scale = min(1.0, detect_side / extent)
        if degrees % 90:  # turned with interpolation at full size, as before (its score is sensitive)
            work = _rotate(image, degrees)
            return self._found(image, work, degrees, self.detect(work, detect_side, upsample, 0.0), None)
        cache = greys if greys is not None else {}
        if scale not in cache:  # exact turns commute with scaling: turn the small grey copy
            cache[scale] = _grey(image, scale)
        boxes = [
            (tuple(v / scale for v in box), score)
            for box, score in self._detect(_rotate(cache[scale], degrees), upsample, 0.0)
        ]
        if not any(score >= 0.0 for _, score in boxes):
            return []
        return self._found(image, _rotate(image, degrees), degrees, boxes, None)

    def _found(
        self,
        image: np.ndarray,
        work: np.ndarray,
        degrees: int,
        boxes: list[tuple[tuple[float, float, float, float], float]],
        weak: list[tuple[tuple[float, float, float, float], float]] | None,
    ) -> list[DetectedFace]:
        """Encode the boxes found in ``work`` (``image`` turned by ``degrees``) scoring ≥ 0; keep the
        weaker ones in ``weak`` (when given)."""
        src_h, src_w = image.shape[:2]
        rot_h, rot_w = work.shape[:2]
        found = []
        for (left, top, right, bottom), score in boxes:
            full_box = (max(0.0, left), max(0.0, top), min(rot_w - 1.0, right), min(rot_h - 1.0, bottom))
            if score < 0.0:
                if weak is not None and full_box[2] > full_box[0] and full_box[3] > full_box[1]:
                    weak.append((full_box, score))
                continue
            vector = self._encode(work, full_box)
            if degrees:
                out_box = _unrotate_box(full_box, degrees, src_w, src_h, rot_w, rot_h)
            else:
                out_box = (round(full_box[0]), round(full_box[1]), round(full_box[2]), round(full_box[3]))
            found.append(DetectedFace(out_box, score, vector, degrees))
        return found

    def encode_chips(self, chips: np.ndarray) -> np.ndarray:
        """float32 (n, 128) descriptors of aligned (n, 150, 150, 3) or (150, 150, 3) uint8 RGB chips."""
        batch = np.ascontiguousarray(chips if chips.ndim == 4 else chips[None], dtype=np.uint8)
        if self._use_onnx:
            return np.asarray(self._onnx_encoder().encode_batch(batch), dtype=np.float32)
        return np.stack(
            [np.asarray(self._encoder.compute_face_descriptor(c), dtype=np.float32) for c in batch]
        )

    def faces(self, image: np.ndarray, *, budget_s: float = 1.5, quick: bool = False) -> list[DetectedFace]:
        """:meth:`first_pass`; only when it finds no face, :meth:`second_pass` on its weak boxes."""
        found, weak = self.first_pass(image, budget_s=budget_s, quick=quick)
        return found if found else self.second_pass(image, weak)

    def second_pass(
        self, image: np.ndarray, weak: list[tuple[tuple[float, float, float, float], float]]
    ) -> list[DetectedFace]:
        """For an image in which :meth:`first_pass` found no face: the strongest weak HOG boxes (score
        between WEAK_SCORE and 0, seen by the unturned passes), overlapping boxes merged, at most
        MAX_WEAK_FACES, encoded. Detection costs nothing more (the passes ran with the lower threshold);
        each kept box costs one encoding (≈ 5-10 ms). Small, blurred and banner-covered faces score
        low; measured in docs/face-roc.md (repost conditions)."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        kept: list[tuple[tuple[float, float, float, float], float]] = []
        for box, score in sorted(weak, key=lambda b: -b[1]):
            if len(kept) == self.MAX_WEAK_FACES:
                break
            if all(_overlap(box, k) < 0.3 for k, _ in kept):
                kept.append((box, score))
        return [
            DetectedFace(tuple(round(v) for v in box), score, self._encode(image, box), 0)  # type: ignore[arg-type]
            for box, score in kept
        ]

    def has_fallbacks(self, image: np.ndarray) -> bool:
        return bool(min(image.shape[:2]) >= self.MIN_SIDE)

    def first_pass(
        self, image: np.ndarray, *, budget_s: float = 1.5, quick: bool = False
    ) -> tuple[list[DetectedFace], list[tuple[tuple[float, float, float, float], float]]]:
        """The plain pass at ≤ 800 px; when it finds nothing (and not ``quick``), a fixed plan of
        fallbacks, cheapest first: full resolution (up to 1280 px), quarter/half turns, ±45°, then 2x
        upsampling for small faces (≈ 470 ms of CPU on a 1 MP picture without a face, against ≈ 35 ms for
        the plain pass). ``budget_s`` caps the CPU time (not wall time, so a busy machine finds the same
        faces). Returns the faces and the weak boxes the unturned passes saw (for :meth:`second_pass`)."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        weak: list[tuple[tuple[float, float, float, float], float]] = []
        h, w = image.shape[:2]
        if min(h, w) < self.MIN_SIDE:
            return [], weak  # icons, tracking pixels: no face to find (and dlib refuses tiny arrays)
        longest = max(h, w)
        start = time.process_time()
        found = self._attempt(image, 0, self.DETECT_SIDE, 0, weak)
        if found:
            return found, []
        if quick:
            return [], weak
        full_side = min(longest, self.FULL_SIDE)
        turned = self.ROTATED_SIDE
        plans: list[tuple[int, int, int]] = []
        if longest > self.DETECT_SIDE:
            plans.append((0, full_side, 0))
        plans += [(90, turned, 0), (270, turned, 0), (180, turned, 0), (45, turned, 0), (315, turned, 0)]
        scale = full_side / longest
        if 4 * h * w * scale * scale <= self.MAX_UPSAMPLED_PIXELS:
            plans.append((0, full_side, 1))
        greys: dict[float, np.ndarray] = {}
        for degrees, side, upsample in plans:
            if time.process_time() - start > budget_s:
                break
            found = self._attempt(image, degrees, side, upsample, weak, greys)
            if found:
                return found, []
        return [], weak


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class DlibResNetFlipFace(DlibResNetFace):
    """The default: the same network on the aligned chip and on its mirror image, descriptors averaged
    (:func:`flip_average`; one more encoding per face, ≈ 5-10 ms). Measured in docs/face-roc.md (repost
    conditions): higher recall at the same false-match rate.

    Compatibility: a flip-averaged descriptor lies close to the plain one of the same face, and mixed
    comparisons (plain templates of an older workspace against flip-averaged faces, or the reverse) were
    measured no worse than plain against plain, so matching compares across the two names and nothing
    stored has to be migrated; :func:`reclaim.persons.service.reembed_templates` upgrades a person's
    templates from kept reference photos."""

    name: ClassVar[str] = "dlib-resnet-v1-flip"
    FLIP_AVERAGE: ClassVar[bool] = True


FACE_MODELS: dict[str, type[FaceModel]] = by_name((DlibResNetFlipFace, DlibResNetFace), what="face model")
DEFAULT_FACE_MODEL = DlibResNetFlipFace.name
COMPATIBLE_FACE_MODELS: frozenset[str] = frozenset({DlibResNetFace.name, DlibResNetFlipFace.name})
"""Model names whose descriptors are compared with each other (same network, same scale)."""

_loaded: dict[str, FaceModel] = {}


def get_face_model(name: str = DEFAULT_FACE_MODEL) -> FaceModel:
    """The named model, loaded once per process."""
    if name not in FACE_MODELS:
        raise KeyError(f"unknown face model {name!r}; known: {sorted(FACE_MODELS)}")
    if name not in _loaded:
        _loaded[name] = FACE_MODELS[name]()
    return _loaded[name]
