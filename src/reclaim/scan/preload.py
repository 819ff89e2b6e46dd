"""Imported once by the worker pool's fork server (``set_forkserver_preload``): the heavy imports, the
face detector (≈ 0.35 s to deserialise) and the face ResNet converted to ONNX (≈ 1 s with the ``onnx``
import) are then shared by every worker it forks, instead of each worker paying for them. The
onnxruntime session (≈ 0.07 s) is created in each worker, after the fork."""

from __future__ import annotations

import contextlib

from reclaim.errors import ReclaimError
from reclaim.scan import analyze  # noqa: F401  (numpy, Pillow, PyAV, dlib, pdqhash)
from reclaim.signals import get_face_model
from reclaim.signals.dlib_onnx import converted_model
from reclaim.signals.face import DlibResNetFace

with contextlib.suppress(ReclaimError):  # a worker reports the problem itself, per file
    model = get_face_model()
    if isinstance(model, DlibResNetFace) and model.encoder == "onnxruntime":
        converted_model()
