"""PDQ from a luma plane computed once: the same hashes as ``pdqhash``, with less work per hash.

``pdqhash.compute``/``compute_dihedral`` take an RGB array and compute its luma in numpy (float64, then
float32) before calling Meta's C++ hasher. Reclaim hashes several views of one frame (four reflections
for the exact dihedral variants; the robust engine's regions), and luma is per pixel, so the luma of a
reflection or a window of a frame is that reflection or window of the frame's luma. Here the luma is
computed once, by the same expression, and the C++ hasher compiled into ``pdqhash``'s extension is
called on each view's luma directly (ctypes; the extension exports it). Where the extension does not
export it (another build of pdqhash), :data:`AVAILABLE` is False and callers use ``pdqhash`` as before;
tests check that both give identical bits and qualities.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import pdqhash
from pdqhash import bindings

_SINGLE_SYMBOL = "_ZN8facebook3pdq7hashing23pdqHash256FromFloatLumaEPfS2_iiPA64_fS4_PA16_fRNS1_7Hash256ERi"
_DIHEDRAL_SYMBOL = (
    "_ZN8facebook3pdq7hashing33pdqDihedralHash256esFromFloatLuma"
    "EPfS2_iiPA64_fS4_PA16_fS6_PNS1_7Hash256ES8_S8_S8_S8_S8_S8_S8_Ri"
)
_Hash256 = ctypes.c_uint16 * 16
_F = ctypes.POINTER(ctypes.c_float)
_H = ctypes.POINTER(_Hash256)
_I = ctypes.POINTER(ctypes.c_int)


def _load() -> tuple[Any, Any] | None:
    try:
        lib = ctypes.CDLL(bindings.__file__)
        single = getattr(lib, _SINGLE_SYMBOL)
        dihedral = getattr(lib, _DIHEDRAL_SYMBOL)
    except (OSError, AttributeError):
        return None
    single.restype = None
    single.argtypes = [_F, _F, ctypes.c_int, ctypes.c_int, _F, _F, _F, _H, _I]
    dihedral.restype = None
    dihedral.argtypes = [_F, _F, ctypes.c_int, ctypes.c_int, _F, _F, _F, _F, *([_H] * 8), _I]
    return single, dihedral


_FUNCTIONS = _load()
AVAILABLE = _FUNCTIONS is not None
"""Whether the C++ hasher can be called on a luma plane here."""


def _hasher() -> tuple[Any, Any]:
    """The C++ (single, dihedral) functions; RuntimeError where they are not callable."""
    if _FUNCTIONS is None:
        raise RuntimeError("pdqhash's C++ hasher is not callable here")
    return _FUNCTIONS


_K = np.arange(256)
_WORD = _K >> 4
_SHIFT = _K & 15


def luma(image: np.ndarray) -> np.ndarray:
    """The float32 luma pdqhash computes of an (H, W, 3) uint8 RGB array (the same expression)."""
    return (image[:, :, 0] * 0.299 + image[:, :, 1] * 0.587 + image[:, :, 2] * 0.114).astype("float32")


def _bits(words: Any) -> np.ndarray:
    """pdqhash's bit vector (``hash_to_vector``) of one hash's 16 words."""
    w = np.frombuffer(words, dtype=np.uint16).astype(np.int64)
    bits: np.ndarray = ((w[_WORD] >> _SHIFT) & 1)[::-1]
    return bits


def _buffers(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    # The hasher filters in place: always a private C-contiguous float32 copy.
    work = np.array(plane, dtype=np.float32, order="C", copy=True)
    if work.ndim != 2 or not work.size:
        raise IndexError("PDQ needs a non-empty 2-D luma plane")  # as pdqhash fails on an empty image
    rows, cols = work.shape
    return work, np.zeros_like(work), rows, cols


def _scratch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hasher's working buffers: 64x64, 16x64 and 16x16 float32."""
    return np.empty((64, 64), np.float32), np.empty((16, 64), np.float32), np.empty((16, 16), np.float32)


def _fp(a: np.ndarray) -> Any:
    return a.ctypes.data_as(_F)


def hash_luma(plane: np.ndarray) -> tuple[np.ndarray, int]:
    """``(bits, quality)`` as ``pdqhash.compute`` gives them for the image whose :func:`luma` is
    ``plane`` (any 2-D view of it; not modified)."""
    functions = _hasher()
    work, temp, rows, cols = _buffers(plane)
    b64, b16x64, b16 = _scratch()
    out = _Hash256()
    quality = ctypes.c_int(0)
    functions[0](
        _fp(work), _fp(temp), rows, cols, _fp(b64), _fp(b16x64), _fp(b16), ctypes.byref(out),
        ctypes.byref(quality),
    )  # fmt: skip
    return _bits(out), int(quality.value)


def dihedral_luma(plane: np.ndarray) -> tuple[list[np.ndarray], int]:
    """``(8 bit vectors, quality)`` as ``pdqhash.compute_dihedral`` gives them for the image whose
    :func:`luma` is ``plane`` (not modified)."""
    functions = _hasher()
    work, temp, rows, cols = _buffers(plane)
    b64, b16x64, b16 = _scratch()
    aux = np.empty((16, 16), np.float32)
    outs = [_Hash256() for _ in range(8)]
    quality = ctypes.c_int(0)
    functions[1](
        _fp(work), _fp(temp), rows, cols, _fp(b64), _fp(b16x64), _fp(b16), _fp(aux),
        *(ctypes.byref(h) for h in outs), ctypes.byref(quality),
    )  # fmt: skip
    return [_bits(h) for h in outs], int(quality.value)


def hashable_luma(image: np.ndarray) -> np.ndarray | None:
    """The :func:`luma` of an RGB frame to hash views of with :func:`hash_luma`/:func:`dihedral_luma`;
    None where the C++ hasher is not callable here or the frame is not RGB (use ``pdqhash``)."""
    return luma(image) if AVAILABLE and image.ndim == 3 else None


def pdq_rgb(image: np.ndarray) -> tuple[np.ndarray, int]:
    """``pdqhash.compute`` of an RGB uint8 array (through :func:`hash_luma` where available)."""
    if (plane := hashable_luma(image)) is not None:
        return hash_luma(plane)
    bits, quality = pdqhash.compute(np.ascontiguousarray(image))
    return bits, int(quality)
