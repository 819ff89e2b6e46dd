"""The ONNX port of dlib's face ResNet gives dlib's descriptors (so the calibrated threshold holds)."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image
from skimage import data

from reclaim.errors import DependencyError
from reclaim.signals import dlib_onnx
from reclaim.signals.dlib_onnx import OnnxResNetEncoder
from reclaim.signals.face import _models_dir


@pytest.fixture(scope="module")
def dlib_parts() -> tuple[object, object, object]:
    models = _models_dir()
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat")),
        dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")),
    )


@pytest.fixture(scope="module")
def encoder() -> OnnxResNetEncoder:
    return OnnxResNetEncoder()


def _pairs(images: list[np.ndarray], parts: tuple[object, object, object], enc: OnnxResNetEncoder):  # type: ignore[no-untyped-def]
    det, sp, fr = parts
    out = []
    for img in images:
        img = np.ascontiguousarray(img)
        for rect in det(img, 1):  # type: ignore[operator]
            shape = sp(img, rect)  # type: ignore[operator]
            ref = np.asarray(fr.compute_face_descriptor(img, shape), dtype=np.float32)  # type: ignore[attr-defined]
            chip = np.asarray(dlib.get_face_chip(img, shape, size=150, padding=0.25))
            out.append((ref, enc.encode(chip)))
    return out


def test_matches_dlib_on_the_astronaut(
    dlib_parts: tuple[object, object, object], encoder: OnnxResNetEncoder
) -> None:
    pairs = _pairs([data.astronaut()], dlib_parts, encoder)
    assert pairs
    for ref, got in pairs:
        assert got.shape == (128,) and got.dtype == np.float32
        assert np.linalg.norm(ref - got) < 1e-4


def test_matches_dlib_on_shared_faces(
    dlib_parts: tuple[object, object, object], encoder: OnnxResNetEncoder, shared_data: Path
) -> None:
    files = sorted((shared_data / "faces" / "yale").glob("subject0*/normal.png"))
    files += sorted((shared_data / "faces" / "public_domain").glob("*.jpg"))
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    pairs = _pairs(images, dlib_parts, encoder)
    assert len(pairs) >= 10
    worst = max(float(np.linalg.norm(ref - got)) for ref, got in pairs)
    assert worst < 1e-4, worst


def test_batch_equals_single(encoder: OnnxResNetEncoder) -> None:
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, size=(3, 150, 150, 3), dtype=np.uint8)
    batch = encoder.encode_batch(chips)
    for i in range(3):
        assert np.allclose(batch[i], encoder.encode(chips[i]), atol=1e-6)
    assert encoder.encode_batch([]).shape == (0, 128)
    with pytest.raises(ValueError, match="150"):
        encoder.encode(np.zeros((100, 100, 3), dtype=np.uint8))


def test_damaged_model_is_a_dependency_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = dlib_onnx.model_path().read_bytes()
    for name, content in (("truncated.dat", original[: len(original) // 2]), ("extra.dat", original + b"x")):
        path = tmp_path / name
        path.write_bytes(content)
        monkeypatch.setattr(dlib_onnx, "model_path", lambda path=path: path)
        with pytest.raises(DependencyError, match="could not convert"):
            OnnxResNetEncoder()


def test_flip_averaged_faces_agree_between_encoders(monkeypatch: pytest.MonkeyPatch) -> None:
    """RECLAIM_FACE_ENCODER=dlib and the ONNX encoder give the same flip-averaged descriptors."""
    from reclaim.signals.face import DlibResNetFlipFace

    image = np.ascontiguousarray(data.astronaut())
    monkeypatch.setenv("RECLAIM_FACE_ENCODER", "dlib")
    by_dlib = DlibResNetFlipFace()
    monkeypatch.setenv("RECLAIM_FACE_ENCODER", "onnx")
    by_onnx = DlibResNetFlipFace()
    assert (by_dlib.encoder, by_onnx.encoder) == ("dlib", "onnxruntime")
    (a,), (b,) = by_dlib.faces(image), by_onnx.faces(image)
    assert a.box == b.box
    assert float(np.linalg.norm(a.vector - b.vector)) < 1e-4
