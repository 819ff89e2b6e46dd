"""Undo EXIF orientation: pixel forensics need the pixels as the file stores them (the JPEG 8x8 grid is
in stored coordinates), while scans report faces in displayed coordinates. :func:`load_stored` is the one
loader of those pixels (the pixel passes and the pictures of the evidence report use it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reclaim.errors import MediaError
from reclaim.media import DecodedMedia, MediaLimits, decode_media, exif_orientation

Box = tuple[int, int, int, int]

PIXEL_MAX_PIXELS = 40_000_000
"""Watermark and pixel indicators decode the image at full resolution; above this they do not run."""


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


@dataclass(frozen=True)
class StoredImage:
    """The first frame of a file at full resolution as the file stores it."""

    image: np.ndarray
    orientation: int
    """The EXIF orientation that was undone (1 = none)."""
    kind: str
    """The media kind of the file ("image", "animation", "video")."""

    def boxes(self, displayed: Sequence[Box]) -> list[Box]:
        """``displayed`` boxes (EXIF-oriented full-resolution coordinates) in this image's coordinates."""
        h, w = self.image.shape[:2]
        return [box_to_stored(b, self.orientation, w, h) for b in displayed]


def load_stored(data: bytes, *, decoded: DecodedMedia | None = None) -> StoredImage:
    """The first frame of ``data`` at full resolution with its EXIF orientation undone (so the JPEG 8x8
    grid is where the encoder put it). ``decoded``: a decode the caller already has whose first frame is
    at full resolution (saves a second decode). Raises :class:`MediaError` when it cannot be decoded
    within :data:`PIXEL_MAX_PIXELS`."""
    if decoded is None:
        try:
            decoded = decode_media(
                data, limits=MediaLimits(max_pixels=PIXEL_MAX_PIXELS, max_frames=1, max_side=None)
            )
        except MediaError as exc:
            raise MediaError(f"not decoded at full resolution: {exc}") from exc
    orientation = exif_orientation(data)
    return StoredImage(to_stored(decoded.frames[0].image, orientation), orientation, decoded.kind)
