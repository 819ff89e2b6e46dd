"""Tests for the source-photo match signal (reclaim.forensics.source_photo).

Self-contained where possible: the astronaut (skimage.data, a public-domain NASA portrait) is the kept
reference photo; a "composite" is her face region pasted into another sample scene, resized and
recompressed. Tests with Yale photos use ../shared/data (``shared_data`` fixture; skipped without it).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from skimage import data

from reclaim.forensics import source_photo as sp
from reclaim.signals import get_face_model

ASTRONAUT_HEAD = (135, 30, 305, 215)
"""The astronaut's head (with hair and chin) in skimage.data.astronaut(), 512x512."""


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


def paste_head(
    source: np.ndarray, head: tuple[int, int, int, int], scene: np.ndarray, width: int
) -> np.ndarray:
    crop = Image.fromarray(source).crop(head)
    crop = crop.resize((width, round(crop.height * width / crop.width)), Image.Resampling.LANCZOS)
    mask = Image.new("L", crop.size, 0)
    w, h = crop.size
    ImageDraw.Draw(mask).ellipse((w * 0.06, h * 0.04, w * 0.94, h * 0.98), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1, w // 25)))
    base = Image.fromarray(scene).convert("RGB")
    base.paste(crop, ((base.width - w) // 3, (base.height - h) // 4), mask)
    return np.asarray(base)


@pytest.fixture(scope="module")
def astronaut() -> sp.FaceSample:
    samples = sp.face_samples(data.astronaut())
    assert len(samples) == 1
    return samples[0]


def only(samples: list[sp.FaceSample]) -> sp.FaceSample:
    assert len(samples) == 1, [s.box for s in samples]
    return samples[0]


def closest(samples: list[sp.FaceSample], reference: sp.FaceSample) -> sp.FaceSample:
    """The face matching the reference person (HOG sometimes adds a false face in a busy scene)."""
    assert samples
    return min(samples, key=lambda s: float(np.linalg.norm(s.vector - reference.vector)))


def test_sample_shapes(astronaut: sp.FaceSample) -> None:
    assert astronaut.chip.shape == (sp.CHIP_SIZE, sp.CHIP_SIZE, 3)
    assert astronaut.context.shape == (sp.CONTEXT_SIZE, sp.CONTEXT_SIZE, 3)
    assert astronaut.chip.dtype == np.uint8


def test_chip_is_what_the_encoder_sees() -> None:
    model = get_face_model()
    image = data.astronaut()
    face = model.faces(image)[0]
    chip = model.chip(image, face.box)
    assert chip.shape == (150, 150, 3)
    from reclaim.signals.dlib_onnx import OnnxResNetEncoder
    from reclaim.signals.face import flip_average

    encoder = OnnxResNetEncoder()
    # the default model encodes the chip and its mirror image and averages the two
    vector = flip_average(encoder.encode(chip), encoder.encode(np.ascontiguousarray(chip[:, ::-1])))
    assert float(np.linalg.norm(vector - face.vector)) < 1e-3


def test_pasted_face_is_flagged_as_copied(astronaut: sp.FaceSample) -> None:
    scene = np.asarray(Image.fromarray(data.coffee()).resize((640, 480)))
    composite = jpeg(paste_head(data.astronaut(), ASTRONAUT_HEAD, scene, 120), 70)
    comparison = sp.compare(closest(sp.face_samples(composite), astronaut), astronaut)
    assert comparison.kind == "face_copied", comparison
    assert comparison.flagged
    result = sp.source_photo_result([("reference photo 1 (astronaut)", comparison)])
    assert result.signal == "source-photo"
    assert result.verdict == "face_copied_from_reference"
    assert result.strength == "strong"
    assert "reference photo 1 (astronaut)" in result.summary
    assert result.detail["reference"] == "reference photo 1 (astronaut)"
    assert result.detail["thresholds"]["min_face_similarity"] == sp.MIN_FACE_SIMILARITY
    assert result.caveats


def test_colour_shifted_small_paste_is_flagged(astronaut: sp.FaceSample) -> None:
    scene = np.asarray(Image.fromarray(data.chelsea()).resize((600, 400)))
    # head 180 px wide: a face box of about 90 px (the head crop is about twice the face box)
    composite = paste_head(data.astronaut(), ASTRONAUT_HEAD, scene, 180).astype(np.float32)
    composite = np.clip(composite * np.array([1.1, 0.95, 0.9]) + 8, 0, 255).astype(np.uint8)
    comparison = sp.compare(closest(sp.face_samples(jpeg(composite, 60)), astronaut), astronaut)
    assert comparison.flagged, comparison


def test_rescaled_reference_is_the_same_photo(astronaut: sp.FaceSample) -> None:
    small = jpeg(
        np.asarray(Image.fromarray(data.astronaut()).resize((384, 384), Image.Resampling.BILINEAR)), 80
    )
    comparison = sp.compare(closest(sp.face_samples(small), astronaut), astronaut)
    assert comparison.kind == "same_photo", comparison
    assert not comparison.flagged
    result = sp.source_photo_result([("reference photo 1", comparison)])
    assert result.verdict == "same_photo_as_reference"
    assert result.strength == "none"


def test_mirrored_and_relit_face_is_not_a_copy(astronaut: sp.FaceSample) -> None:
    """A mirrored, slightly turned and relit copy is no longer pixel-for-pixel the same face."""
    image = Image.fromarray(data.astronaut()[:, ::-1].copy()).rotate(10, resample=Image.Resampling.BILINEAR)
    arr = np.asarray(image).astype(np.float32)
    ramp = np.linspace(0.7, 1.2, arr.shape[1], dtype=np.float32)[None, :, None]
    relit = np.clip(arr * ramp, 0, 255).astype(np.uint8)
    samples = sp.face_samples(relit)
    assert samples
    assert not sp.compare(closest(samples, astronaut), astronaut).flagged


def test_faceless_image_has_no_samples() -> None:
    assert sp.face_samples(data.coffee()) == []
    assert sp.face_samples(np.zeros((10, 10, 3), np.uint8)) == []
    assert sp.face_samples(data.camera()[:64, :64]) == []  # grey input accepted


def test_no_comparisons_means_no_source_photo_found() -> None:
    result = sp.source_photo_result([])
    assert result.verdict == "no_source_photo_found"
    assert result.strength == "none"
    assert "may come from a photo reclaim does not have" in result.summary


def test_sample_for_box(astronaut: sp.FaceSample) -> None:
    again = sp.sample_for_box(data.astronaut(), astronaut.box)
    assert np.array_equal(again.chip, astronaut.chip)
    with_vector = sp.sample_for_box(data.astronaut(), astronaut.box, vector=astronaut.vector)
    assert np.array_equal(with_vector.chip, astronaut.chip)
    with pytest.raises(ValueError):
        sp.sample_for_box(data.coffee(), (10, 10, 100, 100))


def test_side_by_side_picture(astronaut: sp.FaceSample) -> None:
    comparison = sp.compare(astronaut, astronaut)
    picture = sp.side_by_side(astronaut.chip, astronaut.chip, comparison, labels=("item", "reference 1"))
    assert picture.dtype == np.uint8
    assert picture.ndim == 3 and picture.shape[2] == 3
    assert picture.shape[1] > 2 * sp.CHIP_SIZE * 2
    assert sp.side_by_side(astronaut.chip, astronaut.chip).shape[2] == 3


def test_result_is_json_safe(astronaut: sp.FaceSample) -> None:
    import json

    comparison = sp.compare(astronaut, astronaut)
    text = json.dumps(sp.source_photo_result([("r", comparison)]).to_dict())
    assert "face_similarity" in text


# --- ../shared/data ----------------------------------------------------------------------------------


def yale(shared: Path, subject: str, name: str) -> np.ndarray:
    with Image.open(shared / "faces" / "yale" / subject / f"{name}.png") as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.shared
def test_yale_other_photo_is_not_flagged(shared_data: Path) -> None:
    reference = only(sp.face_samples(yale(shared_data, "subject01", "normal")))
    for name in ("surprised", "leftlight"):
        other = only(sp.face_samples(yale(shared_data, "subject01", name)))
        comparison = sp.compare(other, reference)
        assert not comparison.flagged, (name, comparison)
        assert comparison.kind == "different_photo", (name, comparison)


@pytest.mark.shared
def test_yale_other_photo_pasted_is_not_flagged(shared_data: Path) -> None:
    """A face pasted from a photo reclaim does not keep: a composite, but not from the reference."""
    reference = only(sp.face_samples(yale(shared_data, "subject01", "normal")))
    scene = np.asarray(Image.fromarray(data.coffee()).resize((640, 480)))
    other = yale(shared_data, "subject01", "surprised")
    composite = jpeg(paste_head(other, (100, 40, 260, 230), scene, 130), 80)
    assert not sp.compare(closest(sp.face_samples(composite), reference), reference).flagged


@pytest.mark.shared
def test_yale_composite_is_flagged(shared_data: Path) -> None:
    source = yale(shared_data, "subject01", "normal")
    reference = only(sp.face_samples(source))
    scene = np.asarray(Image.fromarray(data.coffee()).resize((640, 480)))
    composite = jpeg(paste_head(source, (100, 40, 260, 230), scene, 130), 75)
    comparison = sp.compare(closest(sp.face_samples(composite), reference), reference)
    assert comparison.kind == "face_copied", comparison
