"""Region hashes for robust repost matching: border/letterbox trimming and PDQ of several regions.

Standard PDQ of a whole frame breaks at a ≈ 5 % crop and at any border. A repost of a known image is
often the picture with something added (a letterbox, a white border, a caption banner, a phone
screenshot around it) or something taken away (a crop). This module gives the cheap, deterministic,
pure numpy/PDQ half of the robust engine (:mod:`reclaim.matching.robust` is the verifying half):

- :func:`trim_border` removes uniform rows and columns at the edges (letterbox bars, borders of any
  flat colour), like python-threatexchange's ``--photo-preprocess unletterbox`` but for any colour;
- :func:`reference_regions` are the windows hashed of a *known* image (the whole picture and crops of
  70-90 % of each side at nine positions): a cropped repost is close to one of them;
- :func:`query_regions` are the windows hashed of an *item*: the trimmed picture and the trimmed
  picture without a top or bottom band (a caption banner).

These hashes are reclaim-internal candidates for verification and never replace or change the
standard PDQ values an item or a known image is stored and exchanged with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reclaim.signals.pdqluma import hash_luma, hashable_luma, pdq_rgb

EDGE_STD = 6.0
"""A row/column whose grey levels vary less than this (standard deviation) is flat."""
EDGE_DELTA = 10.0
"""…and it is part of the border when its mean is within this of the outermost row's/column's mean."""
MAX_TRIM = 0.45
"""Never trim more than this share of a side from one edge."""

REFERENCE_SCALES = (0.9, 0.8, 0.7)
REFERENCE_POSITIONS = (0.0, 0.5, 1.0)
BANNER_BANDS = (0.12, 0.2)
"""Shares of the height cut off the top or the bottom of a query (a caption banner)."""
BANNER_SHARE = 0.5
"""A row is part of a caption banner when at least this share of its pixels is of the banner's level
(within :data:`BANNER_DELTA` of the outermost row's, which must be flat): flat rows and text on them."""
BANNER_DELTA = 12.0
MIN_BANNER = 0.03
"""A detected banner shorter than this share of the height is no banner (the border trim handles it)."""


@dataclass(frozen=True)
class RegionHash:
    region: str
    """Which window: 'full', 'trimmed', 'crop0.8@0.5,1', 'trimmed-top0.2', …"""
    bits: np.ndarray
    """256 PDQ bits (uint8 0/1)."""
    quality: int


def gray(image: np.ndarray) -> np.ndarray:
    """An (H, W) float32 luminance of an RGB or grey uint8 array."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3:
        a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    return a


def _flat_run(lines: np.ndarray, limit: int) -> int:
    """How many leading lines (rows of ``lines``) are flat and of the first line's level."""
    if not len(lines):
        return 0
    ref = float(lines[0].mean())
    n = 0
    for line in lines[:limit]:
        if float(line.std()) > EDGE_STD or abs(float(line.mean()) - ref) > EDGE_DELTA:
            break
        n += 1
    return n


def border_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of the picture inside uniform borders (bottom/right exclusive)."""
    return _gray_border_box(gray(image))


def _gray_border_box(g: np.ndarray) -> tuple[int, int, int, int]:
    """:func:`border_box` of the picture whose :func:`gray` is ``g`` (any window of a gray plane: gray
    is per pixel, so a window of a frame's gray is the gray of that window of the frame)."""
    h, w = g.shape
    top = _flat_run(g, int(h * MAX_TRIM))
    bottom = h - _flat_run(g[::-1], int(h * MAX_TRIM))
    left = _flat_run(g.T, int(w * MAX_TRIM))
    right = w - _flat_run(g.T[::-1], int(w * MAX_TRIM))
    if bottom - top < 8 or right - left < 8:
        return 0, h, 0, w
    return top, bottom, left, right


def trim_border(image: np.ndarray) -> np.ndarray:
    """``image`` without uniform borders (letterbox bars, a white frame); unchanged when it has none."""
    t, b, left, r = border_box(image)
    return image[t:b, left:r]


def _pdq(image: np.ndarray) -> tuple[np.ndarray, int]:
    return _as_region(pdq_rgb(image))


def _as_region(pdq: tuple[np.ndarray, int]) -> tuple[np.ndarray, int]:
    """(bits as uint8, quality): how a region keeps its PDQ."""
    return np.asarray(pdq[0], dtype=np.uint8), pdq[1]


def _window(h: int, w: int, scale: float, px: float, py: float) -> tuple[int, int, int, int]:
    ch, cw = round(h * scale), round(w * scale)
    y, x = round((h - ch) * py), round((w - cw) * px)
    return y, y + ch, x, x + cw


def reference_regions(image: np.ndarray) -> list[RegionHash]:
    """Region hashes of a known image: trimmed whole, and crops of each scale at nine positions."""
    pic = trim_border(image)
    h, w = pic.shape[:2]
    out = [RegionHash("trimmed", *_pdq(pic))]
    for scale in REFERENCE_SCALES:
        for py in REFERENCE_POSITIONS:
            for px in REFERENCE_POSITIONS:
                y0, y1, x0, x1 = _window(h, w, scale, px, py)
                out.append(RegionHash(f"crop{scale}@{px},{py}", *_pdq(pic[y0:y1, x0:x1])))
    return out


def banner_rows(image: np.ndarray) -> tuple[int, int]:
    """``(top, bottom)``: how many rows at the top and at the bottom of ``image`` form a caption banner
    (rows mostly of one level, with text on them), 0 where there is none."""
    return _gray_banner_rows(gray(image))


def _gray_banner_rows(g: np.ndarray) -> tuple[int, int]:
    h = g.shape[0]
    limit = int(h * MAX_TRIM)

    def run(rows: np.ndarray) -> int:
        if not len(rows) or float(rows[0].std()) > EDGE_STD:
            return 0  # a banner starts with a flat margin
        level = float(np.median(rows[0]))
        rows = rows[:limit]
        near = (np.abs(rows - level) <= BANNER_DELTA).mean(axis=1) >= BANNER_SHARE
        flat = (rows.std(axis=1) <= EDGE_STD) & (np.abs(rows.mean(axis=1) - level) <= EDGE_DELTA)
        inside = np.cumprod(near).astype(bool)  # rows up to the first that is not mostly the banner's level
        ends = np.flatnonzero(flat & inside)  # the banner ends at its last flat row (text lies between)
        n = int(ends[-1]) + 1 if len(ends) else 0
        return n if n >= MIN_BANNER * h else 0

    return run(g), run(g[::-1])


def query_regions(image: np.ndarray, *, whole: tuple[np.ndarray, int] | None = None) -> list[RegionHash]:
    """Region hashes of an item: trimmed whole, and trimmed without a top or bottom band. ``whole``: the
    standard PDQ (bits, quality) of ``image`` when already computed, used when there is no border.

    The frame's gray (for the border and banner tests) and PDQ luma are computed once and every window
    is cut from them: the same values as computing them of each window, a fraction of the work."""
    g = gray(image)
    plane = hashable_luma(image)

    def pdq_of(y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, int]:
        if plane is None:
            return _pdq(image[y0:y1, x0:x1])
        return _as_region(hash_luma(plane[y0:y1, x0:x1]))

    def trimmed(y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, int]:
        """PDQ of the window without its uniform borders (trim_border of the window)."""
        t, b, left, r = _gray_border_box(g[y0:y1, x0:x1])
        return pdq_of(y0 + t, y0 + b, x0 + left, x0 + r)

    t, b, left, r = _gray_border_box(g)
    h = b - t
    untrimmed = (h, r - left) == image.shape[:2]
    out = [RegionHash("trimmed", *(whole if untrimmed and whole is not None else pdq_of(t, b, left, r)))]
    for band in BANNER_BANDS:
        cut = round(h * band)
        out.append(RegionHash(f"trimmed-top{band}", *trimmed(t + cut, b, left, r)))
        out.append(RegionHash(f"trimmed-bottom{band}", *trimmed(t, t + h - cut, left, r)))
    top, bottom = _gray_banner_rows(g)
    if top or bottom:  # a caption banner found: the picture without it
        out.append(RegionHash("debannered", *trimmed(top, image.shape[0] - bottom, 0, image.shape[1])))
    return out


def packed(regions: list[RegionHash]) -> np.ndarray:
    """The regions' bits packed to (n, 32) uint8 for Hamming distances."""
    return np.packbits(np.stack([r.bits for r in regions]), axis=1)
