"""Safe decoding of untrusted images, animations and videos (see `reclaim.media.decode`)."""

from __future__ import annotations

from reclaim.media.decode import DecodedMedia, Frame, MediaLimits, decode_media, is_media_name, sniff_mime

__all__ = ["DecodedMedia", "Frame", "MediaLimits", "decode_media", "is_media_name", "sniff_mime"]
