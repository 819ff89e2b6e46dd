"""Pixel-level editing indicators: is the face region statistically out of line with the rest of the image?

Two indicators are scored, each as a percentile of the face region against same-size windows elsewhere in
the *same* image (so each image is its own reference):

``"jpeg-dq"`` (double-JPEG / DCT quantisation inconsistency)
    Only for JPEG files. The file's luminance channel is cut into the 8x8 blocks of its (final) JPEG grid
    and transformed with the block DCT; each coefficient is divided by the file's own quantisation step,
    giving the integer the encoder stored. When an image was JPEG-compressed before its last save (a
    photo taken from the web, edited and saved again), the histograms of those integers show a periodic
    pattern of over- and under-full bins (Lin et al. 2009, Bianchi & Piva 2012). A pasted region that was
    resized or made elsewhere has not been through that first compression, so its coefficients fall into
    the "under-full" bins more often. Per block we add up ``log(expected / observed)`` bin frequencies,
    where "expected" is a locally smoothed histogram; frequencies that show no periodic pattern get no
    weight. The face value is that per-coefficient mean over the face box (one-sided: higher = less
    consistent with the image's dominant compression history). When no frequency shows a periodic
    pattern (the file was compressed once, or the first compression was finer than the last), the
    indicator is "not_applicable": there is nothing for a face to stand out against.

``"noise"`` (face-versus-surroundings noise grain)
    A robust local noise sigma per 8x8 block: the mean absolute response of Immerkær's 3x3 noise
    operator on luminance (which cancels smooth gradients), measured twice, with taps 1 and 2 pixels
    apart. The block value is the log ratio of the two: the *grain* of the noise. White sensor noise gives
    the same value everywhere; a face that was resized, denoised or generated at another resolution has
    a different grain from the scene it was pasted into. (The raw noise *level* was tried first and was
    no better on the benchmark: faces are simply more or less textured than their surroundings.) The face
    value is the mean over the face box; the score is two-sided (finer or coarser grain), measured as
    the distance from the median window.

Error-level analysis (:func:`ela_image`) is provided as a picture only and is never scored.

Scores: ``percentile`` = share of comparison windows (same size as the face box, at every block position,
not overlapping a face by more than a quarter) whose value is less extreme than the face's. With several
faces the most extreme face is reported (all are listed in ``detail["faces"]``). With no face box there is
nothing to compare, so the verdict is "not_applicable"; the per-block maps from :func:`indicator_maps`
can still be drawn.

Strength follows the AUC measured by ``python bench/pixel_auc.py`` (see docs/pixel-indicators.md): an
indicator never reports "strong"; below :data:`WEAK_AUC` it reports at most "weak" and says so.
Nothing here raises on odd input: the verdict is then "not_applicable" or "error".
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from reclaim.forensics.base import ForensicResult, Strength

# Measured by `python bench/pixel_auc.py` (120 benign composites vs 120 untouched images, seed 7); the
# numbers, their bootstrap intervals and the data behind them are in docs/pixel-indicators.md. Rerun the
# script after any change to this module and update these constants and the doc together.
DQ_AUC: float = 0.874
"""AUC of the "jpeg-dq" percentile where it applied (a double-compression pattern was found)."""
DQ_AUC_LOWER: float = 0.781
"""Lower end of DQ_AUC's bootstrap 95 % interval (only 27 composites / 35 untouched applied)."""
DQ_AUC_ALL: float = 0.498
"""AUC over all images, not-applicable ones scored 0: most files show no pattern to compare against."""
NOISE_AUC: float = 0.537
"""AUC of the "noise" percentile where it applied: little or no better than chance."""
NOISE_AUC_LOWER: float = 0.465
NOISE_AUC_ALL: float = 0.541

WEAK_AUC = 0.75
"""If the lower end of an indicator's measured AUC interval is below this, it reports at most "weak" and
says it is a weak indicator on its own."""
INDICATOR_PERCENTILE = 95.0
"""A face at or above this percentile of its own image's windows gives verdict "indicator_here"."""

BLOCK = 8
MIN_FACE_BLOCKS = 2
"""A face box must cover at least this many whole 8x8 blocks in each direction."""
MIN_WINDOWS = 8
"""Fewer comparison windows than this (the face fills the image) gives "not_applicable"."""
MAX_WINDOW_OVERLAP = 0.25
DQ_FREQS = 10
"""DC plus the first 9 AC coefficients in zig-zag order (higher ones are too often all zero)."""
DQ_MAX_BIN = 40
DQ_MIN_PERIODICITY = 0.5
"""Mean histogram periodicity (over the DQ_FREQS frequencies) below which the file shows no
double-compression pattern: single saves measured 0.0-0.35, an earlier coarser save 0.75-1.5."""
DQ_PERIODICITY_ZERO = 0.3
DQ_PERIODICITY_FULL = 0.8
"""A frequency's weight rises linearly from 0 at DQ_PERIODICITY_ZERO to 1 at DQ_PERIODICITY_FULL."""
DQ_TERM_CLIP = 3.0
DQ_SHRINK = 4.0
"""Pseudo-count of neutral coefficients added to every region's mean (stabilises small regions)."""
NOISE_FLOOR = 0.1
_IMMERKAER_SCALE = float(np.sqrt(np.pi / 2.0) / 6.0)
"""mean |response| of the 3x3 operator -> Gaussian sigma (Immerkær 1996; the kernel's L2 norm is 6)."""

DQ_CAVEATS = [
    "An image saved only once as JPEG (for example exported from a PNG or a camera RAW file) has no "
    "double-compression pattern, so this indicator cannot say anything about it.",
    "Cropping or resizing the whole picture after an earlier save shifts or destroys the old 8x8 grid; "
    "the earlier compression then leaves no aligned trace and the indicator sees nothing.",
    "Platform recompression at a lower quality than before (most social networks) largely masks earlier "
    "traces, of the edit and of everything else.",
    "If the earlier save used a finer quality than the last save, the pattern is weak or absent.",
    "Large flat, dark or saturated regions (sky, shadows, blown highlights) and overlaid text or graphics "
    "have unusual coefficient statistics and can stand out without any editing.",
    "A face pasted from another JPEG without resizing, on the same grid, carries that JPEG's history and "
    "may look consistent; only regions that lost the image's compression history are detected.",
]
NOISE_CAVEATS = [
    "Faces differ in content from everything else in a picture; on untouched photos the face often stands "
    "out at a high percentile anyway, which is why this indicator is weak on its own.",
    "Smooth regions (sky, walls, skin, make-up) have lower measured noise than textured ones, and faces "
    "are often the smoothest or the most detailed part of a photo.",
    "Denoising, beauty or skin-smoothing filters (common in phone cameras and apps) lower the noise of "
    "faces without any face being swapped.",
    "Resizing, sharpening and strong JPEG compression change the noise of the whole image and can make "
    "regions with different content differ more.",
    "Different parts of one camera sensor, focus blur and depth of field (a sharp face before a blurred "
    "background) give genuinely different noise levels.",
    "Text overlays, stickers, frames and graphics differ from photographed areas.",
]


@dataclass(frozen=True)
class _Maps:
    noise: np.ndarray
    """Per 8x8 block log noise sigma, shape (H//8, W//8)."""
    dq_sum: np.ndarray | None
    """Per block weighted sum of log(expected/observed) terms (in the caller's orientation)."""
    dq_count: np.ndarray | None
    dq_reason: str
    dq_weight: float
    dq_quality: dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Input handling


def _as_rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = np.clip(np.nan_to_num(arr.astype(np.float64)), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr[:, :, :3]
    else:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _luma(rgb: np.ndarray) -> np.ndarray:
    f = rgb.astype(np.float32)
    out: np.ndarray = 0.299 * f[:, :, 0] + 0.587 * f[:, :, 1] + 0.114 * f[:, :, 2]
    return out


def _blocks(a: np.ndarray) -> np.ndarray:
    """(H, W) -> (H//8, W//8, 8, 8), dropping partial edge blocks."""
    nh, nw = a.shape[0] // BLOCK, a.shape[1] // BLOCK
    return a[: nh * BLOCK, : nw * BLOCK].reshape(nh, BLOCK, nw, BLOCK).transpose(0, 2, 1, 3)


# --------------------------------------------------------------------------------------------------
# Noise


def _immerkaer(y: np.ndarray, d: int) -> np.ndarray:
    """Immerkær's 3x3 noise operator with its taps ``d`` pixels apart (cancels planes and gradients)."""
    h, w = y.shape
    p = np.pad(y, d, mode="reflect")

    def at(dy: int, dx: int) -> np.ndarray:
        out: np.ndarray = p[d + dy : d + dy + h, d + dx : d + dx + w]
        return out

    r: np.ndarray = (
        4.0 * at(0, 0)
        - 2.0 * (at(-d, 0) + at(d, 0) + at(0, -d) + at(0, d))
        + (at(-d, -d) + at(-d, d) + at(d, -d) + at(d, d))
    )
    return r


def _block_log_sigma(r: np.ndarray) -> np.ndarray:
    b = np.abs(_blocks(r))
    nh, nw = b.shape[0], b.shape[1]
    sigma = b.reshape(nh, nw, BLOCK * BLOCK).mean(axis=2) * _IMMERKAER_SCALE
    out: np.ndarray = np.log(np.maximum(sigma, NOISE_FLOOR))
    return out


def _noise_map(y: np.ndarray) -> np.ndarray:
    """Per block log of (fine-scale / coarser-scale) robust noise sigma: the "grain" of the noise.

    White sensor noise gives the same sigma at both tap spacings (ratio ~1); resampling (a face scaled to
    fit), denoising and blur remove fine-scale energy first (ratio < 1), sharpening adds it (> 1). Being a
    ratio, it depends less on how much texture a region has than the noise level itself does."""
    h, w = y.shape
    if h < BLOCK or w < BLOCK or min(h, w) < 5:
        return np.zeros((h // BLOCK, w // BLOCK), np.float32)
    out: np.ndarray = (_block_log_sigma(_immerkaer(y, 1)) - _block_log_sigma(_immerkaer(y, 2))).astype(
        np.float32
    )
    return out


# --------------------------------------------------------------------------------------------------
# Double JPEG


def _dct_matrix() -> np.ndarray:
    n = np.arange(BLOCK)
    m = np.cos((2 * n[None, :] + 1) * n[:, None] * np.pi / (2 * BLOCK)) * np.sqrt(2.0 / BLOCK)
    m[0, :] /= np.sqrt(2.0)
    out: np.ndarray = m.astype(np.float32)
    return out


_DCT = _dct_matrix()


def _zigzag(n: int) -> list[tuple[int, int]]:
    order = sorted(
        ((i, j) for i in range(BLOCK) for j in range(BLOCK)),
        key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 == 0 else p[0]),
    )
    return order[:n]


_ZIGZAG = _zigzag(DQ_FREQS)


def _local_expected(h: np.ndarray) -> np.ndarray:
    """Expected count per bin from its neighbours (offsets -2..2, centre excluded): a local linear fit in
    log-count space evaluated at the bin, so smooth (e.g. Laplacian) shapes are followed, including at the
    ends, while a period-2/3 pattern of full and empty bins is not."""
    n = h.shape[0]
    lh = np.log(h + 1.0)
    s0 = np.zeros(n)
    s1 = np.zeros(n)
    s2 = np.zeros(n)
    t0 = np.zeros(n)
    t1 = np.zeros(n)
    idx = np.arange(n)
    for d in (-2, -1, 1, 2):
        j = idx + d
        ok = (j >= 0) & (j < n)
        yj = np.where(ok, lh[np.clip(j, 0, n - 1)], 0.0)
        m = ok.astype(np.float64)
        s0 += m
        s1 += m * d
        s2 += m * d * d
        t0 += m * yj
        t1 += m * d * yj
    det = s0 * s2 - s1 * s1
    with np.errstate(divide="ignore", invalid="ignore"):
        intercept = np.where(det > 0, (s2 * t0 - s1 * t1) / np.where(det > 0, det, 1.0), lh)
    out: np.ndarray = np.maximum(np.exp(np.clip(intercept, -5.0, 30.0)) - 1.0, 0.0)
    return out


def _dq_terms(values: np.ndarray, dc: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Per coefficient log(expected/observed) term, a validity mask, and the frequency's weight."""
    if dc:
        lo = int(values.min())
        bins = values - lo
        valid = np.ones(values.shape, dtype=bool)
    else:
        bins = np.abs(values)
        valid = (bins >= 1) & (bins <= DQ_MAX_BIN)
    flat = np.where(valid, bins, 0).ravel()
    hist = np.bincount(flat[valid.ravel()], minlength=2).astype(np.float64)
    if not dc:
        hist = hist[1:]  # bin 0 (|k| = 0) is not modelled
        flat = flat - 1
    used = hist.shape[0]
    if valid.sum() < 50 or used < 5:
        return np.zeros(values.shape, np.float32), np.zeros(values.shape, bool), 0.0
    expected = _local_expected(hist)
    # Periodicity: the share of the histogram's mass that departs from the smooth expectation, beyond what
    # counting noise explains. A single compression gives about 0.0-0.6; an earlier coarser save about 1.
    sig = expected >= 2.0
    if sig.sum() < 3:
        return np.zeros(values.shape, np.float32), np.zeros(values.shape, bool), 0.0
    departure = float(np.abs(hist[sig] - expected[sig]).sum())
    counting = float(np.sqrt(2.0 / np.pi) * np.sqrt(expected[sig]).sum())
    periodicity = max(0.0, departure - counting) / max(float(hist[sig].sum()), 1.0)
    table = np.clip(np.log((expected + 0.5) / (hist + 0.5)), -DQ_TERM_CLIP, DQ_TERM_CLIP)
    terms = table[np.clip(flat, 0, used - 1)].reshape(values.shape).astype(np.float32)
    return terms, valid, periodicity


_EXIF_ORIENT = {
    2: lambda m: m[:, ::-1],
    3: lambda m: m[::-1, ::-1],
    4: lambda m: m[::-1, :],
    5: lambda m: m.T,
    6: lambda m: np.rot90(m, -1),
    7: lambda m: m[::-1, ::-1].T,
    8: lambda m: np.rot90(m, 1),
}


def _file_luma(data: bytes) -> tuple[np.ndarray | None, np.ndarray | None, int, str]:
    """The JPEG's own luminance (exact, decoded without colour conversion), its 8x8 luminance
    quantisation table, and the EXIF orientation; or a reason it cannot be used."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            if im.format != "JPEG":
                return None, None, 1, f"not a JPEG file ({im.format or 'unknown format'})"
            tables = getattr(im, "quantization", None) or {}
            table = tables.get(0)
            if table is None or len(table) != 64:
                return None, None, 1, "the JPEG has no readable luminance quantisation table"
            try:
                orientation = int(im.getexif().get(0x0112, 1) or 1)
            except Exception:
                orientation = 1
            if im.mode in ("RGB", "YCbCr", "L"):
                im.draft("L", im.size)
            y = np.asarray(im.convert("L"), dtype=np.float32)
    except Exception as exc:  # garbage bytes, truncated files, decoder errors
        return None, None, 1, f"the file could not be read as an image ({type(exc).__name__})"
    q = np.asarray(table, dtype=np.float32).reshape(BLOCK, BLOCK)
    if np.any(q <= 0):
        return None, None, 1, "the JPEG's quantisation table is invalid"
    return y, q, orientation, ""


def _dq_maps(
    data: bytes, shape: tuple[int, int]
) -> tuple[np.ndarray | None, np.ndarray | None, str, float, dict[str, Any]]:
    y, q, orientation, reason = _file_luma(data)
    if y is None or q is None:
        return None, None, reason, 0.0, {}
    quality: dict[str, Any] = {"q_luma_dc": int(q[0, 0]), "q_luma_mean": round(float(q.mean()), 2)}
    nh, nw = y.shape[0] // BLOCK, y.shape[1] // BLOCK
    if nh < 2 or nw < 2:
        return None, None, "the image is too small for 8x8 block statistics", 0.0, quality
    coeffs = _DCT @ _blocks(y - 128.0) @ _DCT.T
    k = np.rint(coeffs / q).astype(np.int32)
    total = np.zeros((nh, nw), np.float32)
    count = np.zeros((nh, nw), np.float32)
    periodicities: list[float] = []
    span = DQ_PERIODICITY_FULL - DQ_PERIODICITY_ZERO
    for i, j in _ZIGZAG:
        terms, valid, per = _dq_terms(k[:, :, i, j], dc=(i == 0 and j == 0))
        periodicities.append(round(per, 3))
        wgt = min(1.0, max(0.0, (per - DQ_PERIODICITY_ZERO) / span))
        if wgt > 0:
            total += wgt * np.where(valid, terms, 0.0)
            count += wgt * valid
    quality["frequency_periodicity"] = periodicities
    weight = float(np.mean(periodicities))
    want = (shape[0] // BLOCK, shape[1] // BLOCK)
    if total.shape != want and orientation in _EXIF_ORIENT:
        # The caller turned the pixels upright (EXIF rotation); turn the maps the same way (the grid may
        # then be off by the partial edge block, at most 7 px). Pixels given in the file's stored
        # orientation (as reclaim's scan does) are used as they are.
        total = np.ascontiguousarray(_EXIF_ORIENT[orientation](total))
        count = np.ascontiguousarray(_EXIF_ORIENT[orientation](count))
    if total.shape != want:
        return None, None, "the image given is not the file's own pixels (its size differs)", weight, quality
    if weight < DQ_MIN_PERIODICITY:
        return (
            total,
            count,
            "no double-compression pattern anywhere in this file (saved once, or the earlier save was "
            "finer than the last), so a face cannot stand out against it",
            weight,
            quality,
        )
    return total, count, "", weight, quality


# --------------------------------------------------------------------------------------------------
# Shared computation (one-entry cache: analyze_pixels and indicator_maps are usually called together)

_cache_lock = threading.Lock()
_cache: tuple[bytes, _Maps] | None = None


def _compute(data: bytes, rgb: np.ndarray) -> _Maps:
    global _cache
    key = hashlib.blake2b(data, digest_size=16)
    key.update(repr(rgb.shape).encode())
    key.update(rgb.tobytes())
    digest = key.digest()
    with _cache_lock:
        if _cache is not None and _cache[0] == digest:
            return _cache[1]
    noise = _noise_map(_luma(rgb))
    dq_sum, dq_count, reason, weight, quality = _dq_maps(data, (rgb.shape[0], rgb.shape[1]))
    maps = _Maps(noise, dq_sum, dq_count, reason, weight, quality)
    with _cache_lock:
        _cache = (digest, maps)
    return maps


# --------------------------------------------------------------------------------------------------
# Windows and percentiles


def _integral(a: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0] + 1, a.shape[1] + 1), np.float64)
    out[1:, 1:] = np.cumsum(np.cumsum(a, axis=0, dtype=np.float64), axis=1)
    return out


def _window_sums(a: np.ndarray, bh: int, bw: int) -> np.ndarray:
    s = _integral(a)
    res: np.ndarray = s[bh:, bw:] - s[:-bh, bw:] - s[bh:, :-bw] + s[:-bh, :-bw]
    return res


def _face_blocks(box: tuple[int, int, int, int], grid: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Block rows/cols wholly inside the box (top, left, bottom, right), or None if too small."""
    left, top, right, bottom = (float(v) for v in box)
    c0 = max(0, int(np.ceil(left / BLOCK)))
    r0 = max(0, int(np.ceil(top / BLOCK)))
    c1 = min(grid[1], int(np.floor(right / BLOCK)))
    r1 = min(grid[0], int(np.floor(bottom / BLOCK)))
    if r1 - r0 < MIN_FACE_BLOCKS or c1 - c0 < MIN_FACE_BLOCKS:
        return None
    return r0, c0, r1, c1


def _allowed_windows(
    grid: tuple[int, int], bh: int, bw: int, faces: Sequence[tuple[int, int, int, int]]
) -> np.ndarray:
    rows = np.arange(grid[0] - bh + 1)[:, None]
    cols = np.arange(grid[1] - bw + 1)[None, :]
    ok = np.ones((rows.shape[0], cols.shape[1]), dtype=bool)
    for r0, c0, r1, c1 in faces:
        oy = np.clip(np.minimum(rows + bh, r1) - np.maximum(rows, r0), 0, None)
        ox = np.clip(np.minimum(cols + bw, c1) - np.maximum(cols, c0), 0, None)
        ok &= (oy * ox) <= MAX_WINDOW_OVERLAP * bh * bw
    return ok


def _percentile(face: float, others: np.ndarray) -> float:
    below = float(np.count_nonzero(others < face))
    ties = float(np.count_nonzero(others == face))
    return 100.0 * (below + 0.5 * ties) / float(others.size)


def _score_faces(
    kind: str,
    maps: _Maps,
    face_boxes: Sequence[tuple[int, int, int, int]],
) -> tuple[list[dict[str, Any]], str]:
    """Per usable face: raw value, reference, percentile. Returns (faces, reason if none usable)."""
    grid = maps.noise.shape
    cells = [_face_blocks(b, (grid[0], grid[1])) for b in face_boxes]
    usable = [(i, c) for i, c in enumerate(cells) if c is not None]
    if not usable:
        return [], "the face box is too small for 8x8 block statistics (needs at least 16x16 pixels)"
    all_cells = [c for _, c in usable]
    out: list[dict[str, Any]] = []
    reason = ""
    for idx, (r0, c0, r1, c1) in usable:
        bh, bw = r1 - r0, c1 - c0
        if bh > grid[0] or bw > grid[1]:
            continue
        ok = _allowed_windows((grid[0], grid[1]), bh, bw, all_cells)
        n_windows = int(ok.sum())
        if n_windows < MIN_WINDOWS:
            reason = "the face fills too much of the image to compare it with other regions"
            continue
        if kind == "noise":
            values = _window_sums(maps.noise, bh, bw) / float(bh * bw)
            face_value = float(maps.noise[r0:r1, c0:c1].mean())
            others = values[ok]
            ref = float(np.median(others))
            pct = _percentile(abs(face_value - ref), np.abs(others - ref))
            entry: dict[str, Any] = {
                "box": [int(v) for v in face_boxes[idx]],
                "percentile": round(pct, 2),
                "face_log_grain": round(face_value, 4),
                "median_window_log_grain": round(ref, 4),
                "grain_ratio": round(float(np.exp(face_value - ref)), 4),
                "direction": "finer" if face_value > ref else "coarser",
                "blocks": bh * bw,
                "windows": n_windows,
            }
        else:
            assert maps.dq_sum is not None and maps.dq_count is not None
            sums = _window_sums(maps.dq_sum, bh, bw)
            counts = _window_sums(maps.dq_count, bh, bw)
            values = sums / (counts + DQ_SHRINK)
            fs = float(maps.dq_sum[r0:r1, c0:c1].sum())
            fc = float(maps.dq_count[r0:r1, c0:c1].sum())
            face_value = fs / (fc + DQ_SHRINK)
            others = values[ok]
            pct = _percentile(face_value, others)
            entry = {
                "box": [int(v) for v in face_boxes[idx]],
                "percentile": round(pct, 2),
                "face_inconsistency": round(face_value, 4),
                "median_window_inconsistency": round(float(np.median(others)), 4),
                "face_coefficients": round(fc, 1),
                "blocks": bh * bw,
                "windows": n_windows,
            }
        out.append(entry)
    return out, reason


# --------------------------------------------------------------------------------------------------
# Verdicts and wording


def strength_for(auc_lower: float) -> Strength:
    """The most an indicator may claim, from the lower end of its measured AUC interval: never "strong"
    (these are statistics measured on stand-in composites); "moderate" from WEAK_AUC up; else "weak"."""
    return "moderate" if auc_lower >= WEAK_AUC else "weak"


def _auc_phrase(auc: float, auc_lower: float) -> str:
    if auc < 0.6:
        return (
            "it is a weak indicator on its own: on our benchmark it did little or no better than chance "
            f"(AUC {auc:.2f}), so do not rely on it"
        )
    if auc_lower < WEAK_AUC:
        return f"it is a weak indicator on its own (benchmark AUC {auc:.2f}, lower bound {auc_lower:.2f})"
    return (
        f"where it applied on our benchmark of crude pastes it separated edited from untouched images "
        f"with AUC {auc:.2f} ({auc_lower:.2f} at the lower end), which is no proof on its own"
    )


_DQ = (DQ_AUC, DQ_AUC_LOWER)
_NOISE = (NOISE_AUC, NOISE_AUC_LOWER)
_NO_INDICATOR = "No indicator found here — this does not show the image is authentic."


def _result(
    signal: str,
    auc: tuple[float, float],
    faces: list[dict[str, Any]],
    reason: str,
    caveats: list[str],
    extra: dict[str, Any],
) -> ForensicResult:
    detail: dict[str, Any] = {
        "measured_auc": auc[0],
        "measured_auc_lower": auc[1],
        "threshold_percentile": INDICATOR_PERCENTILE,
        **extra,
    }
    if not faces:
        detail["reason"] = reason
        return ForensicResult(
            signal,
            "not_applicable",
            "none",
            f"Not applicable: {reason}.",
            detail,
            list(caveats),
        )
    best = max(faces, key=lambda f: float(f["percentile"]))
    pct = float(best["percentile"])
    detail.update(percentile=pct, face=best, faces=faces)
    if pct < INDICATOR_PERCENTILE:
        return ForensicResult(signal, "no_indicator", "none", _NO_INDICATOR, detail, list(caveats))
    if signal == "noise":
        what = (
            f"The face's noise grain ({best['direction']}: fine-to-coarse noise {best['grain_ratio']:.2f}x "
            f"the typical region's) differs from the rest of the image more than {pct:.0f}% of same-size "
            "regions do"
        )
    else:
        what = (
            "The face's JPEG coefficients fit the image's earlier compression worse than "
            f"{pct:.0f}% of same-size regions do, as a pasted or re-made region would"
        )
    return ForensicResult(
        signal,
        "indicator_here",
        strength_for(auc[1]),
        f"{what}; {_auc_phrase(*auc)}. It can have innocent causes (see caveats).",
        detail,
        list(caveats),
    )


def _box(b: Sequence[float]) -> tuple[int, int, int, int]:
    left, top, right, bottom = (round(float(v)) for v in b[:4])
    return left, top, right, bottom


def _error(signal: str, exc: BaseException, caveats: list[str]) -> ForensicResult:
    msg = f"{type(exc).__name__}: {exc}"[:300]
    return ForensicResult(
        signal, "error", "none", "The indicator could not run on this image.", {}, list(caveats), msg
    )


# --------------------------------------------------------------------------------------------------
# Public API


def analyze_pixels(
    data: bytes, image: np.ndarray, face_boxes: Sequence[tuple[int, int, int, int]]
) -> list[ForensicResult]:
    """Score the "jpeg-dq" and "noise" indicators for the faces in ``image``.

    ``data`` are the file's bytes (for the JPEG tables and grid), ``image`` the caller's full-resolution
    (H, W, 3) uint8 RGB decode, ``face_boxes`` (left, top, right, bottom) in ``image`` coordinates.
    Never raises: unusable input gives "not_applicable" or "error" results."""
    try:
        rgb = _as_rgb(image)
        maps = _compute(bytes(data), rgb)
    except Exception as exc:
        return [_error("jpeg-dq", exc, DQ_CAVEATS), _error("noise", exc, NOISE_CAVEATS)]
    try:
        boxes = [_box(b) for b in face_boxes]
    except Exception as exc:
        return [_error("jpeg-dq", exc, DQ_CAVEATS), _error("noise", exc, NOISE_CAVEATS)]
    results: list[ForensicResult] = []

    try:
        dq_extra: dict[str, Any] = {"periodicity": round(maps.dq_weight, 3), **maps.dq_quality}
        if maps.dq_reason:
            results.append(_result("jpeg-dq", _DQ, [], maps.dq_reason, DQ_CAVEATS, dq_extra))
        elif not boxes:
            results.append(_result("jpeg-dq", _DQ, [], "no face to compare", DQ_CAVEATS, dq_extra))
        else:
            faces, reason = _score_faces("jpeg-dq", maps, boxes)
            results.append(_result("jpeg-dq", _DQ, faces, reason, DQ_CAVEATS, dq_extra))
    except Exception as exc:
        results.append(_error("jpeg-dq", exc, DQ_CAVEATS))

    try:
        noise_extra: dict[str, Any] = {"block": BLOCK}
        if maps.noise.size == 0:
            reason = "the image is too small for 8x8 block statistics"
            results.append(_result("noise", _NOISE, [], reason, NOISE_CAVEATS, noise_extra))
        elif not boxes:
            results.append(_result("noise", _NOISE, [], "no face to compare", NOISE_CAVEATS, noise_extra))
        else:
            faces, reason = _score_faces("noise", maps, boxes)
            results.append(_result("noise", _NOISE, faces, reason, NOISE_CAVEATS, noise_extra))
    except Exception as exc:
        results.append(_error("noise", exc, NOISE_CAVEATS))
    return results


def indicator_maps(data: bytes, image: np.ndarray) -> dict[str, np.ndarray]:
    """Per 8x8 block float32 maps, shape (H//8, W//8), for drawing as heatmaps.

    "noise": log ratio of fine- to coarse-scale noise sigma per block (the scored "grain").
    "jpeg-dq": per-block mean inconsistency with the file's dominant double-compression pattern (higher =
    less consistent); all NaN when the file is not a JPEG or the map cannot be computed, all zero when
    the file shows no double-compression pattern. Never raises."""
    try:
        rgb = _as_rgb(image)
    except Exception:
        arr = np.asarray(image)
        shape = (arr.shape[0] // BLOCK, arr.shape[1] // BLOCK) if arr.ndim >= 2 else (0, 0)
        empty = np.full(shape, np.nan, np.float32)
        return {"jpeg-dq": empty, "noise": empty.copy()}
    shape = (rgb.shape[0] // BLOCK, rgb.shape[1] // BLOCK)
    try:
        maps = _compute(bytes(data), rgb)
    except Exception:
        return {"jpeg-dq": np.full(shape, np.nan, np.float32), "noise": np.full(shape, np.nan, np.float32)}
    if maps.dq_sum is not None and maps.dq_count is not None:
        dq = (maps.dq_sum / (maps.dq_count + 1.0)).astype(np.float32)
    else:
        dq = np.full(shape, np.nan, np.float32)
    return {"jpeg-dq": dq, "noise": maps.noise.astype(np.float32)}


def ela_image(image: np.ndarray, quality: int = 90) -> np.ndarray:
    """Error-level analysis picture: |image - JPEG(image, quality)|, brightened so the largest difference
    is white. Shown as a picture only, never scored (its brightness follows edges and texture as much as
    edits). Returns uint8 RGB of the input's size; never raises (a black picture if it cannot run)."""
    try:
        rgb = _as_rgb(image)
    except Exception:
        arr = np.asarray(image)
        h, w = (arr.shape[0], arr.shape[1]) if arr.ndim >= 2 else (0, 0)
        return np.zeros((h, w, 3), np.uint8)
    if rgb.size == 0:
        return np.zeros(rgb.shape, np.uint8)
    try:
        q = int(min(100, max(1, quality)))
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf) as im:
            again = np.asarray(im.convert("RGB"), dtype=np.int16)
        diff = np.abs(rgb.astype(np.int16) - again).astype(np.float32)
        peak = float(diff.max())
        scale = 255.0 / peak if peak > 0 else 0.0
        picture: np.ndarray = np.clip(diff * scale, 0, 255).astype(np.uint8)
        return picture
    except Exception:
        return np.zeros(rgb.shape, np.uint8)
