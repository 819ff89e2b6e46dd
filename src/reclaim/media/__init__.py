"""Safe decoding of untrusted images, animations and videos (see `reclaim.media.decode`)."""

from __future__ import annotations

from reclaim.media.decode import (
    WORK_SIDE,
    DecodedMedia,
    Frame,
    MediaLimits,
    decode_media,
    exif_orientation,
    is_media_name,
    pillow_warnings_ignored,
    sniff_mime,
)

__all__ = [
    "WORK_SIDE",
    "DecodedMedia",
    "Frame",
    "MediaLimits",
    "decode_media",
    "exif_orientation",
    "is_media_name",
    "pillow_warnings_ignored",
    "sniff_mime",
]
