"""Undo EXIF orientation: pixel forensics need the pixels as the file stores them (the JPEG 8x8 grid is
in stored coordinates), while scans report faces in displayed coordinates."""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]


def to_stored(image: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels of a displayed ``image`` (what decode_media returns) for EXIF ``orientation``."""
    if orientation == 2:
        out = image[:, ::-1]
    elif orientation == 3:
        out = image[::-1, ::-1]
    elif orientation == 4:
        out = image[::-1]
    elif orientation == 5:
        out = np.swapaxes(image, 0, 1)
    elif orientation == 6:
        out = np.swapaxes(image[:, ::-1], 0, 1)
    elif orientation == 7:
        out = np.swapaxes(image[::-1, ::-1], 0, 1)
    elif orientation == 8:
        out = np.swapaxes(image[::-1], 0, 1)
    else:
        return image
    return np.ascontiguousarray(out)


def box_to_stored(box: Box, orientation: int, stored_w: int, stored_h: int) -> Box:
    """Map a (left, top, right, bottom) box from displayed to stored coordinates."""
    left, top, right, bottom = box
    w, h = stored_w, stored_h

    def point(x: int, y: int) -> tuple[int, int]:
        if orientation == 2:
            return w - x, y
        if orientation == 3:
            return w - x, h - y
        if orientation == 4:
            return x, h - y
        if orientation == 5:
            return y, x
        if orientation == 6:
            return y, h - x
        if orientation == 7:
            return w - y, h - x
        if orientation == 8:
            return w - y, x
        return x, y

    (x0, y0), (x1, y1) = point(left, top), point(right, bottom)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)
