"""Tests for the dlib face model: detection, its fallbacks (small and rotated faces) and templates.

Self-contained apart from the last test (``shared_data`` fixture; skipped without ../shared/data):
images come from ``skimage.data`` or are generated here. The astronaut is a public-domain NASA
portrait; the cameraman is scikit-image's ``camera`` sample.
"""

from __future__ import annotations

import math
from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from skimage import data

from reclaim.signals import DetectedFace, FaceModel, get_face_model
from reclaim.signals.face import (
    COMPATIBLE_FACE_MODELS,
    DEFAULT_FACE_MODEL,
    DlibResNetFace,
    DlibResNetFlipFace,
    flip_average,
)

THRESHOLD = DlibResNetFace.default_threshold
SAME_IMAGE_MAX = 0.1
"""Distance between templates of the same pixels seen upright and turned by a multiple of 90°."""
ASTRONAUT_FACE = (135, 30, 305, 215)
"""The astronaut's head (with hair and chin) in skimage.data.astronaut(), 512x512."""
CAMERAMAN_HEAD = (150, 20, 330, 200)
"""The cameraman's head in skimage.data.camera(), 512x512 grayscale."""
BUDGET = 20.0
"""Generous: these tests check what the fallbacks find, not how fast (a loaded CI machine is slow)."""


# --- helpers ------------------------------------------------------------------------------------------


def rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def assert_box_inside(face: DetectedFace, image: np.ndarray) -> None:
    h, w = image.shape[:2]
    left, top, right, bottom = face.box
    assert 0 <= left < right <= w, face.box
    assert 0 <= top < bottom <= h, face.box


def centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def rot90_box(box: tuple[int, int, int, int], k: int, width: int, height: int) -> tuple[int, ...]:
    """Where ``box`` lands after ``np.rot90(image, k)`` (counter-clockwise quarter turns)."""
    left, top, right, bottom = box
    for _ in range(k % 4):
        # one quarter turn: (x, y) -> (y, width - x); the image becomes height x width
        left, top, right, bottom = top, width - right, bottom, width - left
        width, height = height, width
    return (left, top, right, bottom)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(FaceModel.distance(a, b)[0, 0])


def scene_with_small_face(
    size: tuple[int, int], face_px: int
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The coffee sample stretched to ``size`` with the astronaut's head pasted (feathered oval) so that
    her face box is about ``face_px`` wide. Returns the image and the pasted rectangle."""
    scene = Image.fromarray(data.coffee()).resize(size, Image.Resampling.BILINEAR)
    head = Image.fromarray(data.astronaut()).crop(ASTRONAUT_FACE)
    # dlib's box on the astronaut is about 87 px wide, the head crop 170 px.
    width = round(head.width * face_px / 87)
    head = head.resize((width, round(head.height * width / head.width)), Image.Resampling.LANCZOS)
    mask = Image.new("L", head.size, 0)
    ImageDraw.Draw(mask).ellipse(
        (head.width * 0.06, head.height * 0.04, head.width * 0.94, head.height * 0.98), fill=255
    )
    mask = mask.filter(ImageFilter.GaussianBlur(max(1, head.width // 25)))
    x, y = round(size[0] * 0.4), round(size[1] * 0.45)
    scene.paste(head, (x, y), mask)
    return np.ascontiguousarray(np.asarray(scene)), (x, y, x + head.width, y + head.height)


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> DlibResNetFace:
    found = get_face_model()
    assert isinstance(found, DlibResNetFace)
    return found


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return rgb(data.astronaut())


@pytest.fixture(scope="module")
def astronaut_face(model: FaceModel, astronaut: np.ndarray) -> DetectedFace:
    faces = model.faces(astronaut)
    assert len(faces) == 1
    return faces[0]


# --- tests --------------------------------------------------------------------------------------------


def test_astronaut_found_once_on_the_plain_pass(
    model: FaceModel, astronaut: np.ndarray, astronaut_face: DetectedFace
) -> None:
    # dlib's detector alone, without upsampling, sees her: the model needs no fallback for this image
    rects, _, _ = dlib.get_frontal_face_detector().run(astronaut, 0, 0.0)
    assert len(rects) == 1
    expected = (rects[0].left(), rects[0].top(), rects[0].right(), rects[0].bottom())
    face = astronaut_face
    assert face.rotation == 0
    assert face.score > 0
    assert all(abs(a - b) <= 1 for a, b in zip(face.box, expected, strict=True)), (face.box, expected)
    assert face.vector.dtype == np.float32
    assert face.vector.shape == (DlibResNetFace.dim,)
    assert_box_inside(face, astronaut)
    left, top, right, bottom = ASTRONAUT_FACE
    assert left <= centre(face.box)[0] <= right and top <= centre(face.box)[1] <= bottom


@pytest.mark.parametrize("k", [1, 2, 3], ids=["90", "180", "270"])
def test_quarter_turns_found_with_the_same_template(
    model: FaceModel, astronaut: np.ndarray, astronaut_face: DetectedFace, k: int
) -> None:
    turned = np.ascontiguousarray(np.rot90(astronaut, k))
    faces = model.faces(turned, budget_s=BUDGET)
    assert len(faces) == 1
    face = faces[0]
    assert face.rotation != 0
    assert distance(face.vector, astronaut_face.vector) < SAME_IMAGE_MAX
    assert_box_inside(face, turned)
    # the box is reported in the turned image's own coordinates
    expected = rot90_box(astronaut_face.box, k, astronaut.shape[1], astronaut.shape[0])
    assert all(abs(a - b) <= 3 for a, b in zip(face.box, expected, strict=True)), (face.box, expected)


def test_45_degree_rotation_found(
    model: FaceModel, astronaut: np.ndarray, astronaut_face: DetectedFace
) -> None:
    tilted = np.ascontiguousarray(
        np.asarray(Image.fromarray(astronaut).rotate(45, resample=Image.Resampling.BILINEAR, expand=True))
    )
    faces = model.faces(tilted, budget_s=BUDGET)
    assert len(faces) == 1
    face = faces[0]
    assert distance(face.vector, astronaut_face.vector) < THRESHOLD
    assert_box_inside(face, tilted)
    # where the face centre lands: PIL turns counter-clockwise about the centre (y axis points down)
    cx, cy = centre(astronaut_face.box)
    dx, dy = cx - astronaut.shape[1] / 2, cy - astronaut.shape[0] / 2
    c, s = math.cos(math.radians(45)), math.sin(math.radians(45))
    ex, ey = dx * c + dy * s + tilted.shape[1] / 2, -dx * s + dy * c + tilted.shape[0] / 2
    fx, fy = centre(face.box)
    assert math.hypot(fx - ex, fy - ey) < 15, ((fx, fy), (ex, ey))


def test_small_face_in_wide_scene_found_by_the_fallback(
    model: FaceModel, astronaut_face: DetectedFace
) -> None:
    image, rect = scene_with_small_face((1200, 480), 50)
    # The plain pass works on a copy at most DETECT_SIDE wide, where this face is ~27 px: too small for
    # HOG (80 px window). Only a fallback with more pixels can find it.
    small = np.asarray(
        Image.fromarray(image).resize((DlibResNetFace.DETECT_SIDE, 256), Image.Resampling.BILINEAR)
    )
    assert len(dlib.get_frontal_face_detector().run(np.ascontiguousarray(small), 0, 0.0)[0]) == 0
    faces = model.faces(image, budget_s=BUDGET)
    assert len(faces) == 1
    face = faces[0]
    assert_box_inside(face, image)
    assert face.box[2] - face.box[0] < 64
    fx, fy = centre(face.box)
    assert rect[0] <= fx <= rect[2] and rect[1] <= fy <= rect[3]
    assert distance(face.vector, astronaut_face.vector) < THRESHOLD


def test_small_face_in_large_photo_found(model: FaceModel) -> None:
    image, rect = scene_with_small_face((1200, 900), 50)
    faces = model.faces(image, budget_s=BUDGET)
    assert any(
        rect[0] <= centre(f.box)[0] <= rect[2] and rect[1] <= centre(f.box)[1] <= rect[3] for f in faces
    )


def test_other_person_is_farther_than_the_threshold(model: FaceModel, astronaut_face: DetectedFace) -> None:
    head = Image.fromarray(data.camera()).crop(CAMERAMAN_HEAD).convert("RGB")
    head = head.resize((head.width * 2, head.height * 2), Image.Resampling.LANCZOS)
    image = np.ascontiguousarray(np.asarray(head))
    faces = model.faces(image)
    assert len(faces) == 1
    assert_box_inside(faces[0], image)
    assert distance(faces[0].vector, astronaut_face.vector) > THRESHOLD


@pytest.mark.parametrize("value", [0, 255])
def test_blank_image_has_no_faces(model: FaceModel, value: int) -> None:
    assert model.faces(np.full((300, 400, 3), value, dtype=np.uint8)) == []


def test_one_pixel_high_image_has_no_faces(model: FaceModel) -> None:
    assert model.faces(np.zeros((1, 1, 3), dtype=np.uint8)) == []


def test_distance_shapes() -> None:
    a = np.zeros(128, dtype=np.float32)
    b = np.ones((3, 128), dtype=np.float32)
    d = FaceModel.distance(a, b)
    assert d.shape == (1, 3)
    assert np.allclose(d, math.sqrt(128))


@pytest.mark.shared
def test_shared_photos_same_and_different_people(model: FaceModel, shared_data: Path) -> None:
    pd = shared_data / "faces" / "public_domain"
    yale = shared_data / "faces" / "yale"
    if not pd.is_dir() or not yale.is_dir():
        pytest.skip(f"{shared_data} lacks faces/public_domain or faces/yale")

    def template(path: Path) -> np.ndarray:
        with Image.open(path) as im:
            image = np.ascontiguousarray(np.asarray(im.convert("RGB")))
        faces = model.faces(image, budget_s=BUDGET)
        assert len(faces) == 1, path
        assert_box_inside(faces[0], image)
        return faces[0].vector

    obama = template(pd / "obama2.jpg")
    assert distance(template(pd / "obama.jpg"), obama) < THRESHOLD
    assert distance(template(pd / "biden.jpg"), obama) > THRESHOLD
    subject01 = template(yale / "subject01" / "normal.png")
    assert distance(template(yale / "subject01" / "happy.png"), subject01) < THRESHOLD
    assert distance(template(yale / "subject02" / "happy.png"), subject01) > THRESHOLD


# --- repost conditions: second detection pass and flip-averaged descriptors (docs/face-roc.md) ---------


def blurred_small_face() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 42 px astronaut face in a 640x427 scene, blurred (sigma 1.5) as a re-shared copy might be."""
    image, rect = scene_with_small_face((640, 427), 42)
    blurred = Image.fromarray(image).filter(ImageFilter.GaussianBlur(1.5))
    return np.ascontiguousarray(np.asarray(blurred)), rect


def test_blurred_small_face_found_only_by_the_second_pass(
    model: DlibResNetFace, astronaut_face: DetectedFace
) -> None:
    image, rect = blurred_small_face()
    # measured: the first pass (plain, full-size, turned and 2x-upsampled HOG at score >= 0) misses it ...
    first, weak = model.first_pass(image, budget_s=BUDGET)
    assert first == []
    assert weak, "the first pass saw no weak box either"
    # ... and the weak box it saw is the face, and close enough to her template to match
    faces = model.faces(image, budget_s=BUDGET)
    assert len(faces) == 1
    face = faces[0]
    assert DlibResNetFace.WEAK_SCORE <= face.score < 0
    fx, fy = centre(face.box)
    assert rect[0] <= fx <= rect[2] and rect[1] <= fy <= rect[3]
    assert_box_inside(face, image)
    assert distance(face.vector, astronaut_face.vector) < THRESHOLD
    assert np.allclose(face.vector, model.second_pass(image, weak)[0].vector)


def test_second_pass_never_runs_when_the_first_finds_a_face(
    model: DlibResNetFace, astronaut: np.ndarray
) -> None:
    first, weak = model.first_pass(astronaut, budget_s=BUDGET)
    assert len(first) == 1 and weak == []  # nothing is handed on: a found face ends the search
    assert model.faces(astronaut, budget_s=BUDGET)[0].box == first[0].box


def test_second_pass_keeps_at_most_the_strongest_distinct_weak_boxes(
    model: DlibResNetFace, astronaut: np.ndarray
) -> None:
    box = (135.0, 30.0, 305.0, 215.0)
    weak = [
        (box, -0.4),
        ((137.0, 32.0, 306.0, 214.0), -0.1),  # the same place, stronger: replaces the first
        ((0.0, 300.0, 100.0, 400.0), -0.2),
        ((400.0, 400.0, 500.0, 500.0), -0.3),  # third distinct box: over MAX_WEAK_FACES
    ]
    faces = model.second_pass(astronaut, weak)
    assert DlibResNetFace.MAX_WEAK_FACES == 2
    assert [f.score for f in faces] == [-0.1, -0.2]
    assert faces[0].box == (137, 32, 306, 214)
    assert model.second_pass(astronaut, []) == []


@pytest.mark.parametrize("value", [0, 128, 255])
def test_flat_images_give_the_second_pass_nothing(model: DlibResNetFace, value: int) -> None:
    first, weak = model.first_pass(np.full((300, 400, 3), value, dtype=np.uint8), budget_s=BUDGET)
    assert first == [] and weak == []


def test_default_descriptor_is_flip_averaged(model: DlibResNetFace, astronaut: np.ndarray) -> None:
    assert model.name == DlibResNetFlipFace.name == DEFAULT_FACE_MODEL
    plain_model = get_face_model(DlibResNetFace.name)
    (face,) = model.faces(astronaut, budget_s=BUDGET)
    (plain,) = plain_model.faces(astronaut, budget_s=BUDGET)
    assert face.box == plain.box
    chip = model.chip(astronaut, face.box)
    by_hand = flip_average(
        model.encode_chips(chip)[0], model.encode_chips(np.ascontiguousarray(chip[:, ::-1]))[0]
    )
    assert np.allclose(face.vector, by_hand, atol=1e-5)
    assert np.allclose(plain.vector, model.encode_chips(chip)[0], atol=1e-5)
    # the mirror changes the descriptor, but little: the same face stays far inside the threshold, and
    # the length (dlib's scale, which the threshold was calibrated on) is kept
    assert 0.005 < distance(face.vector, plain.vector) < THRESHOLD / 4
    assert abs(np.linalg.norm(face.vector) - np.linalg.norm(plain.vector)) < 0.02


@pytest.mark.shared
def test_older_plain_templates_still_match_flip_averaged_faces(model: FaceModel, shared_data: Path) -> None:
    """Workspaces enrolled before flip-averaging hold plain templates: they must keep matching."""
    pd = shared_data / "faces" / "public_domain"
    if not pd.is_dir():
        pytest.skip(f"{shared_data} lacks faces/public_domain")
    plain_model = get_face_model(DlibResNetFace.name)

    def face(m: FaceModel, name: str) -> np.ndarray:
        with Image.open(pd / name) as im:
            image = np.ascontiguousarray(np.asarray(im.convert("RGB")))
        (found,) = m.faces(image, budget_s=BUDGET)
        return found.vector

    old_template = face(plain_model, "obama2.jpg")
    new_template = face(model, "obama2.jpg")
    for probe in ("obama.jpg", "obama_small.jpg"):
        assert distance(face(model, probe), old_template) < THRESHOLD
        assert distance(face(plain_model, probe), new_template) < THRESHOLD
    assert distance(face(model, "biden.jpg"), old_template) > THRESHOLD
    assert {DlibResNetFace.name, DlibResNetFlipFace.name} <= COMPATIBLE_FACE_MODELS
