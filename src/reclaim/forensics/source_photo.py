"""Source-photo match: was this face pasted from one of the photos reclaim keeps of the person?

When a face in an item matches an enrolled person, its aligned face crop (the 150 px chip the face
encoder sees) is compared with the same crop from each of that person's reference and known photos.
Two photos of one person taken at different moments differ in pose, expression and lighting: their face
templates are a typical same-person distance apart and their aligned crops differ pixel by pixel. A face
*copied* from a photo is the same pixels again: its template is far closer than same-person variation and
its aligned crop correlates almost perfectly with the source's, even after resizing, recompression and a
colour shift. If, in addition, the surroundings (hair edge, neck, background: a wider aligned crop with the
face masked out) do not match, the face sits on a different body or background: strong evidence that it
was pasted from that photo. If the surroundings match too, the item is the reference photo again (a
repost, a resize or a crop), which is not evidence of editing and is reported as such.

Measures (see docs/source-photo.md, calibrated by ``python bench/source_photo.py``):

- ``distance``: Euclidean distance between the two face templates (as in face matching).
- ``face_similarity``: the grey chips, mildly blurred (absorbs resizing and JPEG noise), are aligned by the
  best whole-face normalised cross-correlation (NCC) over shifts of up to ``FACE_SHIFT_PX`` (landmark
  jitter); then, with lighting gradients removed, every 20 px block of the inner face is compared on its
  own (SSIM's contrast-structure term) and the *worst* block is the score. NCC ignores brightness and
  contrast (colour shifts, filters); the worst block catches the small local differences (eyelids,
  mouth) between two exposures of one sitting that a whole-face correlation averages away.
- ``context_similarity``: mean local SSIM of grey, wider chips over a ring outside the face, counting only
  pixels that lie inside both images; None when too little of the ring is inside both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reclaim.forensics.base import ForensicResult
from reclaim.signals.face import FaceModel, get_face_model

SIGNAL = "source-photo"

CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""The encoder's own crop (dlib.get_face_chip defaults): eyebrows to chin, cheek to cheek."""
CONTEXT_SIZE = 150
CONTEXT_PADDING = 1.0
"""The wider crop: one face width of surroundings on each side (hair, neck, shoulders, background)."""
FACE_BLUR_SIGMA = 1.5
"""Gaussian blur (chip pixels) before comparing faces: a 60 px face is upscaled ~1.7x into the chip."""
FACE_SHIFT_PX = 2
"""The face crops are compared at every shift of up to this many chip pixels (landmark jitter)."""
FACE_BAND_SIGMA = 6.0
"""The wide blur subtracted before the block comparison (removes lighting gradients)."""
FACE_BLOCK_PX = 20
"""Side of the blocks compared one by one (on a half-overlapping grid)."""
FACE_BLOCK_OVAL = (0.5, 0.52, 0.25, 0.33)
"""Blocks whose centre lies in this oval (eyes, nose, mouth; away from the jaw line and hair, where a pasted
face's blended edge and the background start) are compared."""
FACE_BLOCK_C = 4.0
"""Stabiliser (grey levels squared) in the block similarity, as in SSIM: two flat blocks count as alike."""
CONTEXT_BLUR_SIGMA = 1.0
FACE_MASK = (0.5, 0.52, 0.33, 0.42)
"""Inner-face oval in the chip: centre x, centre y, half-width, half-height (fractions of the chip)."""
CONTEXT_RING = (0.5, 0.5, 0.40, 0.46)
"""The context chip outside this oval (same convention) is the surroundings: outside anything a face swap
would paste (a pasted face region reaches about 0.3 face widths beyond the face box)."""
MIN_CONTEXT_VALID = 0.25
"""Below this fraction of ring pixels inside both images, the surroundings are not compared (None)."""

# Thresholds: calibrated by `python bench/source_photo.py` (docs/source-photo.md), on half of the identities
# and reported on the other half; re-run the benchmark after changing any measure above.
MAX_DISTANCE = 0.30
"""Template distance at or below which a face may be a copy (genuine other photos of a person sit above)."""
MIN_FACE_SIMILARITY = 0.835
"""Worst-block similarity at or above which the two crops show the same pixels (the main threshold; see
the ROC in docs/source-photo.md)."""
SAME_PHOTO_CONTEXT = 0.60
"""Context SSIM at or above which the surroundings match too: the same photo, not a pasted face."""

Kind = Literal["face_copied", "same_photo", "different_photo"]

CAVEATS = [
    "Burst photos and video frames of the same moment give near-identical faces: a genuine photo taken a "
    "second after a kept photo, on a different background, could be flagged as copied from it.",
    "A kept photo that is itself a crop or an edit of another kept photo will match it; check which "
    "photo came first.",
    "Heavy filters, beauty retouching, strong blur or a face smaller than about 50 px lower the similarity: "
    "a copied face can be missed.",
    "This only finds faces copied from photos reclaim keeps; a face taken from any other photo is not "
    "detected by this signal.",
]


@dataclass(frozen=True)
class FaceSample:
    """One face in one image, ready to compare."""

    box: tuple[int, int, int, int]
    """left, top, right, bottom in the image."""
    vector: np.ndarray
    """The face model's template."""
    chip: np.ndarray
    """(CHIP_SIZE, CHIP_SIZE, 3) uint8: the aligned crop the encoder sees."""
    context: np.ndarray
    """(CONTEXT_SIZE, CONTEXT_SIZE, 3) uint8: aligned crop with CONTEXT_PADDING; pure black = outside."""


@dataclass(frozen=True)
class Comparison:
    distance: float
    face_similarity: float
    """Worst-block similarity of the aligned face crops (the main measure; 1 = identical)."""
    face_ncc: float
    """Whole-face NCC of the aligned crops (for the report; not used in the decision)."""
    context_similarity: float | None
    """None when the surroundings could not be compared (too little of them inside both images)."""
    kind: Kind
    mirrored: bool = False
    """True when the item's face matches the reference photo's face mirrored (a flipped copy)."""

    @property
    def flagged(self) -> bool:
        """True when the face looks pasted from the reference photo."""
        return self.kind == "face_copied"

    def to_dict(self) -> dict[str, Any]:
        return {
            "distance": round(self.distance, 4),
            "face_similarity": round(self.face_similarity, 4),
            "face_ncc": round(self.face_ncc, 4),
            "context_similarity": (
                None if self.context_similarity is None else round(self.context_similarity, 4)
            ),
            "kind": self.kind,
            "mirrored": self.mirrored,
        }


# --------------------------------------------------------------------------------------------------
# Sampling faces


def _rotation_view(
    image: np.ndarray, box: tuple[int, int, int, int], degrees: int
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The image turned counter-clockwise by ``degrees`` (as the detector saw it) and ``box`` mapped into
    it (for turns other than quarter turns the mapped box is the bounding box of the turned one)."""
    h, w = image.shape[:2]
    if degrees % 90 == 0:
        turned = np.ascontiguousarray(np.rot90(image, k=(degrees // 90) % 4))
    else:
        turned = np.asarray(
            Image.fromarray(image).rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True)
        )
    th, tw = turned.shape[:2]
    theta = np.radians(degrees)
    cos, sin = float(np.cos(theta)), float(np.sin(theta))
    left, top, right, bottom = box
    xs, ys = [], []
    for x, y in ((left, top), (right, top), (left, bottom), (right, bottom)):
        dx, dy = x - w / 2, y - h / 2
        xs.append(dx * cos + dy * sin + tw / 2)
        ys.append(-dx * sin + dy * cos + th / 2)
    return turned, (min(xs), min(ys), max(xs), max(ys))


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


def _sample(
    model: FaceModel, image: np.ndarray, box: tuple[int, int, int, int], vector: np.ndarray, rotation: int
) -> FaceSample:
    # Real pixels are lifted to >= 1 so that pure black in the context chip means "outside the image".
    lifted = np.maximum(image, 1)
    work, work_box = (
        (lifted, tuple(float(v) for v in box)) if not rotation else _rotation_view(lifted, box, rotation)
    )
    chip = model.chip(work, work_box, size=CHIP_SIZE, padding=CHIP_PADDING)  # type: ignore[arg-type]
    context = model.chip(work, work_box, size=CONTEXT_SIZE, padding=CONTEXT_PADDING)  # type: ignore[arg-type]
    return FaceSample(box, np.asarray(vector, dtype=np.float32), chip, context)


def face_samples(image: np.ndarray, model: FaceModel | None = None) -> list[FaceSample]:
    """Every face the model finds in an RGB (or grey) uint8 image; [] when there is none."""
    model = model or get_face_model()
    rgb = _rgb(image)
    return [_sample(model, rgb, f.box, f.vector, f.rotation) for f in model.faces(rgb)]


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def sample_for_box(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    model: FaceModel | None = None,
    *,
    vector: np.ndarray | None = None,
) -> FaceSample:
    """The sample for a face already found at ``box`` (e.g. stored by a scan, with its ``vector``).
    Without ``vector`` the image is searched again and the face overlapping ``box`` most is used;
    ValueError when no face overlaps it."""
    model = model or get_face_model()
    rgb = _rgb(image)
    if vector is not None:
        return _sample(model, rgb, box, vector, 0)
    found = [(f, _iou(f.box, box)) for f in model.faces(rgb)]
    found = [(f, v) for f, v in found if v >= 0.3]
    if not found:
        raise ValueError(f"no face found at {box}")
    face = max(found, key=lambda fv: fv[1])[0]
    return _sample(model, rgb, face.box, face.vector, face.rotation)


# --------------------------------------------------------------------------------------------------
# Comparing


@lru_cache(maxsize=8)
def _kernel(sigma: float) -> np.ndarray:
    radius = max(1, round(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return np.asarray(k / k.sum(), dtype=np.float32)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D float image (edges reflected)."""
    k = _kernel(sigma)
    r = len(k) // 2
    out = np.pad(image, r, mode="symmetric")
    out = sum(k[i] * out[i : i + image.shape[0], :] for i in range(len(k)))
    out = sum(k[i] * out[:, i : i + image.shape[1]] for i in range(len(k)))
    return np.asarray(out, dtype=np.float32)


@lru_cache(maxsize=8)
def _oval(size: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    return np.asarray(((xx / size - cx) / rx) ** 2 + ((yy / size - cy) / ry) ** 2 <= 1.0)


def _grey(chip: np.ndarray) -> np.ndarray:
    rgb = chip.astype(np.float32)
    return np.asarray(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-6 else 0.0


def _blocks(size: int) -> list[tuple[int, int]]:
    """Top-left corners of the FACE_BLOCK_PX blocks whose centre lies in the inner-face oval."""
    mask = _oval(size, *FACE_BLOCK_OVAL)
    b = FACE_BLOCK_PX
    return [
        (y, x)
        for y in range(0, size - b + 1, b // 2)
        for x in range(0, size - b + 1, b // 2)
        if mask[y + b // 2, x + b // 2]
    ]


def face_similarities(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(worst-block similarity, whole-face similarity) of two aligned face chips.

    Both crops are made grey and blurred (FACE_BLUR_SIGMA). The whole-face similarity is the NCC over the
    inner-face oval, best over shifts of up to FACE_SHIFT_PX. At that shift, each FACE_BLOCK_PX block of
    the band-passed crops (blur minus a wide blur: lighting gradients removed) is compared on its own;
    the worst block's SSIM contrast-structure term is the main measure: a different exposure differs
    somewhere (an eyelid, the mouth, a shadow) even when the face as a whole correlates at 0.99, while a
    copied face matches everywhere."""
    size = a.shape[0]
    ga = _blur(_grey(a), FACE_BLUR_SIGMA)
    gb = _blur(_grey(b), FACE_BLUR_SIGMA)
    mask = _oval(size, *FACE_MASK)
    ys, xs = np.nonzero(mask)
    s = FACE_SHIFT_PX
    ys = np.clip(ys, s, size - 1 - s)
    xs = np.clip(xs, s, size - 1 - s)
    va = ga[ys, xs]
    whole, shift = -1.0, (0, 0)
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            v = _ncc(va, gb[ys + dy, xs + dx])
            if v > whole:
                whole, shift = v, (dy, dx)
    ba = ga - _blur(ga, FACE_BAND_SIGMA)
    bb = np.roll(gb - _blur(gb, FACE_BAND_SIGMA), (-shift[0], -shift[1]), axis=(0, 1))
    k = FACE_BLOCK_PX
    worst = min(_structure(ba[y : y + k, x : x + k], bb[y : y + k, x : x + k]) for y, x in _blocks(size))
    return worst, whole


def _structure(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM's contrast-structure term of two blocks: (2 cov + C) / (var a + var b + C)."""
    a = a - a.mean()
    b = b - b.mean()
    n = a.size
    return float(
        (2 * (a * b).sum() / n + FACE_BLOCK_C) / (((a * a).sum() + (b * b).sum()) / n + FACE_BLOCK_C)
    )


def context_similarity(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean local SSIM of the surroundings (the ring outside the face) where both images have pixels."""
    from skimage.metrics import structural_similarity

    ssim: Any = structural_similarity

    size = a.shape[0]
    valid = (a.max(axis=2) > 0) & (b.max(axis=2) > 0)
    ring = ~_oval(size, *CONTEXT_RING)
    use = ring & valid
    if use.sum() < MIN_CONTEXT_VALID * ring.sum():
        return None
    ga = _blur(_grey(a), CONTEXT_BLUR_SIGMA)
    gb = _blur(_grey(b), CONTEXT_BLUR_SIGMA)
    _, ssim_map = ssim(ga, gb, data_range=255.0, gaussian_weights=True, sigma=3.0, full=True)
    return float(np.asarray(ssim_map)[use].mean())


def classify(
    distance: float,
    face_sim: float,
    context_sim: float | None,
    *,
    min_face_similarity: float | None = None,
    max_distance: float | None = None,
) -> Kind:
    """The decision (thresholds default to the module constants; the benchmark sweeps them)."""
    min_sim = MIN_FACE_SIMILARITY if min_face_similarity is None else min_face_similarity
    max_dist = MAX_DISTANCE if max_distance is None else max_distance
    if distance > max_dist or face_sim < min_sim:
        return "different_photo"
    if context_sim is not None and context_sim >= SAME_PHOTO_CONTEXT:
        return "same_photo"
    return "face_copied"


def compare(item: FaceSample, reference: FaceSample) -> Comparison:
    """How closely the item's face reproduces the reference photo's face, and whether the rest matches."""
    distance = float(FaceModel.distance(item.vector, reference.vector)[0, 0])
    face_sim, face_ncc = face_similarities(item.chip, reference.chip)
    mirrored = False
    if face_sim < MIN_FACE_SIMILARITY:
        # Reposts are often flipped: the aligned crop of a mirrored face is the mirrored crop.
        m_sim, m_ncc = face_similarities(item.chip[:, ::-1], reference.chip)
        if m_sim > face_sim:
            face_sim, face_ncc, mirrored = m_sim, m_ncc, True
    context = item.context[:, ::-1] if mirrored else item.context
    context_sim = context_similarity(np.ascontiguousarray(context), reference.context)
    kind = classify(distance, face_sim, context_sim)
    return Comparison(distance, face_sim, face_ncc, context_sim, kind, mirrored)


# --------------------------------------------------------------------------------------------------
# Reporting


def thresholds() -> dict[str, float]:
    return {
        "max_distance": MAX_DISTANCE,
        "min_face_similarity": MIN_FACE_SIMILARITY,
        "same_photo_context": SAME_PHOTO_CONTEXT,
    }


def source_photo_result(comparisons: Sequence[tuple[str, Comparison]]) -> ForensicResult:
    """One result for an item's face against the person's kept photos: ``comparisons`` pairs a label for
    each reference photo (e.g. "reference photo 2 (passport)") with the comparison."""
    detail: dict[str, Any] = {
        "thresholds": thresholds(),
        "comparisons": [{"reference": label, **c.to_dict()} for label, c in comparisons],
    }
    copied = [(label, c) for label, c in comparisons if c.kind == "face_copied"]
    same = [(label, c) for label, c in comparisons if c.kind == "same_photo"]
    if copied:
        label, best = max(copied, key=lambda lc: lc[1].face_similarity)
        detail["reference"] = label
        return ForensicResult(
            signal=SIGNAL,
            verdict="face_copied_from_reference",
            strength="strong",
            summary=(
                f"The face is an almost exact copy of the face in {label} (crop similarity "
                f"{best.face_similarity:.3f}, template distance {best.distance:.2f}), but what surrounds it "
                "does not match that photo: the face appears to have been pasted from it onto a different "
                "body or background."
            ),
            detail=detail,
            caveats=list(CAVEATS),
        )
    if same:
        label, best = max(same, key=lambda lc: lc[1].face_similarity)
        detail["reference"] = label
        return ForensicResult(
            signal=SIGNAL,
            verdict="same_photo_as_reference",
            strength="none",
            summary=(
                f"This appears to be {label} itself, possibly resized, recompressed or cropped: the face and "
                f"its surroundings both match (crop similarity {best.face_similarity:.3f}, surroundings "
                f"{best.context_similarity:.2f}). A repost of a kept photo is not evidence of editing."
            ),
            detail=detail,
            caveats=list(CAVEATS),
        )
    return ForensicResult(
        signal=SIGNAL,
        verdict="no_source_photo_found",
        strength="none",
        summary=(
            "The face does not match any kept photo of this person closely enough to show it was copied "
            "from one; it may come from a photo reclaim does not have."
        ),
        detail=detail,
        caveats=list(CAVEATS),
    )


def side_by_side(
    item_chip: np.ndarray,
    reference_chip: np.ndarray,
    comparison: Comparison | None = None,
    *,
    labels: tuple[str, str] = ("this item", "reference"),
    scale: int = 2,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB picture for the report: the two aligned crops side by side, with labels and
    (given ``comparison``) the numbers underneath."""
    a = Image.fromarray(_rgb(item_chip))
    b = Image.fromarray(_rgb(reference_chip)).resize(a.size, Image.Resampling.BILINEAR)
    w, h = a.width * scale, a.height * scale
    gap, text_h = 8, 44 if comparison is not None else 22
    canvas = Image.new("RGB", (2 * w + 3 * gap, h + 2 * gap + text_h), (255, 255, 255))
    canvas.paste(a.resize((w, h), Image.Resampling.BILINEAR), (gap, gap))
    canvas.paste(b.resize((w, h), Image.Resampling.BILINEAR), (2 * gap + w, gap))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    draw.text((gap, h + gap + 2), labels[0], fill=(0, 0, 0), font=font)
    draw.text((2 * gap + w, h + gap + 2), labels[1], fill=(0, 0, 0), font=font)
    if comparison is not None:
        ctx = "n/a" if comparison.context_similarity is None else f"{comparison.context_similarity:.2f}"
        line = (
            f"distance {comparison.distance:.3f}  crop similarity {comparison.face_similarity:.3f}  "
            f"surroundings {ctx}  -> {comparison.kind}{' (mirrored)' if comparison.mirrored else ''}"
        )
        draw.text((gap, h + gap + 22), line, fill=(0, 0, 0), font=font)
    return np.asarray(canvas, dtype=np.uint8)
