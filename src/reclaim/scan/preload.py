"""Imported once by the worker pool's fork server (``set_forkserver_preload``): the heavy imports and the
face detector (≈ 0.35 s to deserialise) are then shared by every worker it forks, instead of each worker
paying for them. The onnxruntime session is created in each worker on first use, after the fork."""

from __future__ import annotations

import contextlib

from reclaim.errors import ReclaimError
from reclaim.scan import analyze  # noqa: F401  (numpy, Pillow, PyAV, dlib, pdqhash)
from reclaim.signals import get_face_model

with contextlib.suppress(ReclaimError):  # a worker reports the problem itself, per file
    get_face_model()
