"""Imported once by the worker pool's fork server (``set_forkserver_preload``): the heavy imports and the
face detector are then shared by every worker it forks, instead of each worker paying for them, and the
face ResNet's ONNX conversion is checked (or made: ≈ 1 s with the ``onnx`` import) once in the user's
cache folder. The onnxruntime session (≈ 0.07 s) is created in each worker, after the fork, from that
file."""

from __future__ import annotations

import contextlib

from reclaim.errors import ReclaimError
from reclaim.scan import analyze  # noqa: F401  (numpy, Pillow, OpenCV, dlib, pdqhash)
from reclaim.signals import get_face_model
from reclaim.signals.dlib_onnx import converted_model_file
from reclaim.signals.face import DlibResNetFace

with contextlib.suppress(ReclaimError):  # a worker reports the problem itself, per file
    model = get_face_model()
    if isinstance(model, DlibResNetFace) and model.encoder == "onnxruntime":
        converted_model_file()
