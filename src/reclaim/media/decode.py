"""Safe decoding of untrusted images, animations and videos into RGB frames.

Every input is treated as hostile: the format is sniffed from the content (never the file name), sizes
are checked from the header *before* any pixel is decoded (decompression-bomb guard), animations and
videos are sampled to a bounded number of frames, and every decoder failure becomes a `MediaError`
(a `LimitExceeded` for limit violations) so that one bad file never aborts a scan.

Pillow's own decompression-bomb guard (`Image.MAX_IMAGE_PIXELS`) is left in place for the rest of the
process. We construct the format plugin directly (skipping the check `Image.open` would do), so our
`MediaLimits.max_pixels` check runs first and reports the real dimensions. Only if a caller allows more
pixels than Pillow does is `Image.MAX_IMAGE_PIXELS` raised, temporarily and under a lock, for that one
decode (see `_pillow_allows`).

FFmpeg's log output: PyAV's default log level (`None`) already drops every FFmpeg log line; we do not
call `av.logging.set_level(av.logging.ERROR)` because that would forward ERROR lines to Python logging,
whose last-resort handler prints them to stderr. A `NullHandler` on the "libav" logger keeps them off
the terminal even if an application raises the level without configuring logging.
"""

from __future__ import annotations

import io
import logging
import math
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import (
    AvifImagePlugin,
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from reclaim.errors import LimitExceeded, MediaError

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

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

logging.getLogger("libav").addHandler(logging.NullHandler())

MediaKind = Literal["image", "animation", "video"]

WORK_SIDE = 1280
"""Frames are decoded at most this large: enough for the face encoder, cheap to decode (JPEG draft)."""


@dataclass(frozen=True)
class MediaLimits:
    """Resource limits applied while decoding one media file."""

    max_bytes: int = 512 * 2**20
    max_pixels: int = 60_000_000
    max_frames: int = 16
    max_animation_frames: int = 5_000
    max_total_pixels: int = 1_500_000_000
    video_interval_s: float = 1.0
    max_video_seconds: float = 6 * 3600
    max_side: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_frames", "max_animation_frames", "max_total_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"MediaLimits.{name} must be at least 1")
        if not self.video_interval_s > 0 or not self.max_video_seconds > 0:
            raise ValueError("MediaLimits.video_interval_s and max_video_seconds must be positive")
        if self.max_side is not None and self.max_side < 1:
            raise ValueError("MediaLimits.max_side must be at least 1 (or None)")


@dataclass
class Frame:
    """One decoded frame: (H, W, 3) uint8 RGB, C-contiguous and read-only (copy it to modify it)."""

    image: np.ndarray
    index: int
    timestamp: float | None


@dataclass
class DecodedMedia:
    """The sampled frames of one media file plus what its header declares."""

    kind: MediaKind
    mime: str
    width: int
    height: int
    frames: list[Frame] = field(default_factory=list)
    frame_count: int = 1


# --------------------------------------------------------------------------------------------------
# Sniffing


_HEIC_FTYP_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_AVIF_FTYP_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_FTYP_BRANDS = frozenset({b"mif1", b"msf1"})  # generic HEIF: the compatible brands say which codec
_OTHER_IMAGE_FTYP_BRANDS = frozenset({b"crx ", b"jpx "})  # Canon raw, JPEG 2000
_IMAGE_FTYP_BRANDS = _HEIC_FTYP_BRANDS | _AVIF_FTYP_BRANDS | _HEIF_FTYP_BRANDS | _OTHER_IMAGE_FTYP_BRANDS
_AUDIO_FTYP_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_MP4_FTYP_BRANDS = frozenset(
    {b"avc1", b"M4V ", b"M4VH", b"M4VP", b"dash", b"mmp4", b"MSNV", b"XAVC", b"f4v ", b"NDAS", b"cmfc"}
)  # plus every iso*, mp4*, 3gp*, 3g2* brand
_QT_TOP_LEVEL_BOXES = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_BMP_DIB_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def _is_mp4_brand(brand: bytes) -> bool:
    return brand in _MP4_FTYP_BRANDS or brand.startswith((b"iso", b"mp4", b"3gp", b"3g2"))


def _sniff_heif(major: bytes, compatible: list[bytes]) -> str | None:
    """HEIC (HEVC-coded HEIF, an iPhone's photos), AVIF (AV1-coded HEIF) or another HEIF still image."""
    if major in _AVIF_FTYP_BRANDS:
        return "image/avif"
    if major in _HEIC_FTYP_BRANDS:
        return "image/heic"
    if major in _HEIF_FTYP_BRANDS:
        if any(b in _AVIF_FTYP_BRANDS for b in compatible):
            return "image/avif"
        if any(b in _HEIC_FTYP_BRANDS for b in compatible):
            return "image/heic"
        return "image/heif"
    return None


def _sniff_ftyp(head: bytes) -> str | None:
    major = head[8:12]
    box_size = int.from_bytes(head[0:4], "big")
    compatible = [head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)]
    if major in _IMAGE_FTYP_BRANDS:
        return _sniff_heif(major, compatible)
    if major in _AUDIO_FTYP_BRANDS:
        return None
    if major == b"qt  ":
        return "video/quicktime"
    if _is_mp4_brand(major):
        return "video/mp4"
    if b"qt  " in compatible:
        return "video/quicktime"
    if any(_is_mp4_brand(b) for b in compatible) and not any(b in _IMAGE_FTYP_BRANDS for b in compatible):
        return "video/mp4"
    return None


def sniff_mime(head: bytes) -> str | None:
    """The MIME type of a supported image or video, from its first bytes (at least 32 recommended)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if (
        head.startswith(b"BM")
        and len(head) >= 18
        and struct.unpack_from("<I", head, 14)[0] in _BMP_DIB_HEADER_SIZES
    ):
        return "image/bmp"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "image/tiff"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    if len(head) >= 8 and head[4:8] in _QT_TOP_LEVEL_BOXES:  # old QuickTime files have no ftyp box
        box_size = int.from_bytes(head[0:4], "big")
        if box_size in (0, 1) or box_size >= 8:
            return "video/quicktime"
    return None


_KNOWN_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "looks like a PDF document"),
    (b"PK\x03\x04", "looks like a ZIP archive or office document"),
    (b"\x1f\x8b", "looks like gzip-compressed data"),
    (b"Rar!", "looks like a RAR archive"),
    (b"7z\xbc\xaf", "looks like a 7-Zip archive"),
    (b"8BPS", "looks like a Photoshop document"),
    (b"ID3", "looks like audio"),
    (b"fLaC", "looks like audio"),
    (b"OggS", "looks like an Ogg container"),
    (b"\x00\x00\x01\xba", "looks like an MPEG program stream"),
    (b"\x7fELF", "looks like a program"),
    (b"MZ", "looks like a program"),
    (b"\x00\x00\x01\x00", "looks like an icon file"),
)


def _describe_unknown(data: bytes) -> str:
    """A short, safe description of unsupported content: a few hex bytes and a guess, never raw text."""
    if not data:
        return "empty file (0 bytes)"
    head = data[:512]
    hex4 = head[:4].hex(" ")
    guess = "unrecognised binary data"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_FTYP_BRANDS:
            guess = "looks like a camera raw or JPEG 2000 image, which is not supported"
        elif brand in _AUDIO_FTYP_BRANDS:
            guess = "looks like an audio-only MP4"
        else:
            guess = "looks like an ISO media file of an unsupported kind"
    elif head.startswith(b"RIFF"):
        guess = "looks like a RIFF container (AVI/WAV), which is not supported"
    elif not any(head):
        guess = "all zero bytes"
    else:
        for magic, description in _KNOWN_OTHER_MAGIC:
            if head.startswith(magic):
                guess = description
                break
        else:
            text = head.decode("utf-8", errors="ignore")
            printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
            if text and len(text.encode("utf-8")) >= len(head) - 3 and printable >= 0.95 * len(text):
                lowered = text.lstrip("\ufeff \r\n\t").lower()
                if lowered.startswith(("<!doctype html", "<html")):
                    guess = "looks like HTML"
                elif lowered.startswith(("<?xml", "<svg")):
                    guess = "looks like XML/SVG"
                else:
                    guess = "looks like text"
    return f"content starts with {hex4}: {guess}, {len(data)} bytes"


_IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "heic", "heif", "hif", "avif"}
)
_VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "webm"})


def is_media_name(name: str) -> bool:
    """Whether a file name has an image or video extension (case-insensitive). Only a pre-filter:
    `decode_media` sniffs the content and ignores the name."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    _stem, dot, ext = base.rpartition(".")
    return bool(dot) and ext.lower() in (_IMAGE_EXTENSIONS | _VIDEO_EXTENSIONS)


# --------------------------------------------------------------------------------------------------
# Entry point


def decode_media(data: bytes, *, limits: MediaLimits = MediaLimits()) -> DecodedMedia:
    """Decode an untrusted image, animation or video into sampled RGB frames.

    Raises `LimitExceeded` if a limit is exceeded and `MediaError` for unsupported or corrupt content.
    """
    if len(data) > limits.max_bytes:
        raise LimitExceeded(
            f"input is {len(data)} bytes ({len(data) / 2**20:.1f} MiB), "
            f"above the limit of {limits.max_bytes} bytes ({limits.max_bytes / 2**20:.1f} MiB)"
        )
    mime = sniff_mime(data[:512])
    if mime is None:
        raise MediaError(f"not a supported image or video ({_describe_unknown(data)})")
    if mime.startswith("video/"):
        return _decode_video(data, mime, limits)
    return _decode_image(data, mime, limits)


# --------------------------------------------------------------------------------------------------
# Helpers shared by images and videos


def _fmt_pixels(n: int) -> str:
    if n >= 1_000_000_000:
        return f"{n / 1e9:.3g} gigapixels"
    if n >= 1_000_000:
        return f"{n / 1e6:.3g} megapixels"
    return f"{n} pixels"


def _check_frame_pixels(what: str, width: int, height: int, limits: MediaLimits) -> None:
    if width * height > limits.max_pixels:
        raise LimitExceeded(
            f"{what} is {width}x{height} = {_fmt_pixels(width * height)}, above the limit of "
            f"{_fmt_pixels(limits.max_pixels)} (decompression bomb?)"
        )


def _target_size(width: int, height: int, max_side: int | None) -> tuple[int, int] | None:
    """The downscaled (width, height) keeping the aspect ratio, or None if no downscaling is needed."""
    if max_side is None or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(1, min(max_side, round(width * scale))), max(1, min(max_side, round(height * scale)))


def _sample_indices(count: int, wanted: int) -> list[int]:
    """Up to `wanted` distinct indices in range(count), evenly spread, always including 0."""
    if count <= wanted:
        return list(range(count))
    if wanted == 1:
        return [0]
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def _frozen(image: np.ndarray) -> np.ndarray:
    """C-contiguous uint8 and read-only: frames are evidence, and handing out Pillow's buffer without a
    second copy keeps decoding fast. Callers that want to draw on a frame use `frame.image.copy()`."""
    out = np.ascontiguousarray(image, dtype=np.uint8)
    out.flags.writeable = False
    return out


def _short(exc: BaseException) -> str:
    # FFmpeg errors read "[Errno 1094995529] Invalid data found when processing input: '<none>'":
    # the sentence is in strerror.
    strerror = getattr(exc, "strerror", None)
    text = (strerror if isinstance(strerror, str) and strerror else str(exc)).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# --------------------------------------------------------------------------------------------------
# Images (Pillow)


_PIL_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    struct.error,
    zlib.error,
    ZeroDivisionError,
    OverflowError,
    MemoryError,
    Image.DecompressionBombError,
)

_FORMAT_NAMES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/heic": "HEIC",
    "image/heif": "HEIF",
    "image/avif": "AVIF",
}

_ANIMATED_MIMES = frozenset({"image/gif", "image/png", "image/webp", "image/avif"})
# A HEIF file's further top-level images (bursts, a depth map's companions) are not an animation: its
# primary image is the picture, as a viewer shows it.

_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class _PillowLimit:
    """Bookkeeping for temporarily raising Pillow's global `Image.MAX_IMAGE_PIXELS` (see below)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: list[int] = []  # pixel counts of the decodes currently needing a raised limit
        self.baseline: int | None = None  # the value to restore when none is left


_pillow_limit = _PillowLimit()


@contextmanager
def _pillow_allows(pixels: int) -> Iterator[None]:
    """Make sure Pillow's own bomb check (a warning above `Image.MAX_IMAGE_PIXELS`, an error above twice
    that) does not fire for an image of `pixels` that our limits allowed. With the default limits (60 MP,
    below Pillow's ~89 MP) this never touches Pillow. Otherwise the global limit is raised, never lowered,
    to the largest size any concurrent decode needs, and restored when the last of them finishes."""
    with _pillow_limit.lock:
        if not _pillow_limit.active:
            _pillow_limit.baseline = Image.MAX_IMAGE_PIXELS
        baseline = _pillow_limit.baseline
        registered = baseline is not None and pixels > baseline
        if registered:
            _pillow_limit.active.append(pixels)
            Image.MAX_IMAGE_PIXELS = max(_pillow_limit.active)
    try:
        yield
    finally:
        if registered:
            with _pillow_limit.lock:
                _pillow_limit.active.remove(pixels)
                Image.MAX_IMAGE_PIXELS = max(_pillow_limit.active, default=_pillow_limit.baseline)


@contextmanager
def pillow_warnings_ignored() -> Iterator[None]:
    """Hostile files make Pillow warn (corrupt EXIF, bad TIFF tags, invalid APNG chunks, ...). A warning
    is not a decode failure: it must neither reach the terminal nor, under warnings-as-errors, turn a
    decodable image into an error. Only warnings attributed to Pillow or to this module are ignored.
    (`catch_warnings` swaps process-global state; scans decode in worker processes, not threads, and a
    race between threads could at worst leave these Pillow warnings ignored.)"""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL\.")
        warnings.filterwarnings("ignore", module=re.escape(__name__))
        yield


def _open_pillow(data: bytes, mime: str) -> ImageFile.ImageFile:
    """Construct the Pillow plugin for the sniffed format directly: this parses only the header and,
    unlike `Image.open`, runs no bomb check of its own, so ours comes first."""
    fp = io.BytesIO(data)
    if mime == "image/jpeg":
        return JpegImagePlugin.JpegImageFile(fp)
    if mime == "image/png":
        return PngImagePlugin.PngImageFile(fp)
    if mime == "image/gif":
        return GifImagePlugin.GifImageFile(fp)
    if mime == "image/webp":
        return WebPImagePlugin.WebPImageFile(fp)
    if mime == "image/bmp":
        return BmpImagePlugin.BmpImageFile(fp)
    if mime == "image/tiff":
        return TiffImagePlugin.TiffImageFile(fp)
    if mime == "image/avif":
        return AvifImagePlugin.AvifImageFile(fp)
    if mime in ("image/heic", "image/heif"):
        # pillow-heif's plugin class, constructed here only: its opener is never registered globally.
        # Imported here, not at the top: ≈ 50 ms of start-up that a scan without HEIF would pay.
        from pillow_heif.as_plugin import HeifImageFile

        return HeifImageFile(fp)  # type: ignore[no-untyped-call]
    raise MediaError(f"unsupported image type {mime}")  # pragma: no cover - sniff_mime guards this


@dataclass
class _GifScan:
    width: int
    height: int
    frames: int  # stops counting at cap + 1
    canvas_width: int  # Pillow grows the canvas to fit frames that extend beyond the screen
    canvas_height: int


def _scan_gif(data: bytes, cap: int) -> _GifScan:
    """Walk the GIF block structure (without decoding) to count frames and find the largest extent."""
    width, height = struct.unpack_from("<HH", data, 6) if len(data) >= 10 else (0, 0)
    canvas_w, canvas_h = width, height
    frames = 0
    size = len(data)
    pos = 13
    if size > 10 and data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)

    def skip_sub_blocks(p: int) -> int:
        while p < size:
            n = data[p]
            p += 1 + n
            if n == 0:
                break
        return p

    while pos < size and frames <= cap:
        block = data[pos]
        if block == 0x21:  # extension
            pos = skip_sub_blocks(pos + 2)
        elif block == 0x2C:  # image descriptor
            if pos + 10 > size:
                break
            x, y, w, h, flags = struct.unpack_from("<HHHHB", data, pos + 1)
            canvas_w, canvas_h = max(canvas_w, x + w), max(canvas_h, y + h)
            pos += 10
            if flags & 0x80:
                pos += 3 << ((flags & 7) + 1)
            pos = skip_sub_blocks(pos + 1)  # LZW minimum code size, then the data sub-blocks
            frames += 1
        else:  # trailer (0x3B) or garbage: Pillow stops there too
            break
    return _GifScan(width, height, max(frames, 1), canvas_w, canvas_h)


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a WebP header (VP8X canvas, VP8 or VP8L bitstream), or None."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack_from("<HH", data, 26)
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


_ISPE_BOX_SIZE = 20  # size, "ispe", version and flags, width, height


def _heif_largest_extent(data: bytes) -> tuple[int, int] | None:
    """The largest width x height any image-spatial-extent (`ispe`) property in a HEIF/AVIF file's `meta`
    box declares, read from the box structure before libheif or libavif parse anything, or None. A grid
    image (an iPhone's HEIC: 512x512 tiles) declares its full size there, so no tile can hide it."""
    pos, end = 0, len(data)
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1 and pos + 16 <= end:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header:
            return None
        if kind == b"meta":
            meta = data[pos : min(end, pos + size)]
            best: tuple[int, int] | None = None
            for found in re.finditer(b"ispe", meta):
                start = found.start() - 4
                if start < 0 or start + _ISPE_BOX_SIZE > len(meta):
                    continue
                if int.from_bytes(meta[start : start + 4], "big") != _ISPE_BOX_SIZE:
                    continue
                w, h = struct.unpack_from(">II", meta, start + 12)
                if best is None or w * h > best[0] * best[1]:
                    best = (w, h)
            return best
        pos += size
    return None


def _exif_orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except _PIL_ERRORS:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) that :func:`decode_media` applies to ``data``; 1 when there is none or
    the header cannot be read. Reads the header only."""
    mime = sniff_mime(data[:512])
    if mime is None or not mime.startswith("image/"):
        return 1
    try:
        with pillow_warnings_ignored(), _open_pillow(data, mime) as im:
            return _exif_orientation(im)
    except Exception:
        return 1


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparent pixels are composited onto white."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im if mode == "RGBA" else im.convert("RGBA")
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(rgba, (0, 0), rgba)
        return background
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(im)
        if mode == "F":
            farr = np.nan_to_num(arr.astype(np.float32))
            peak = float(farr.max()) if farr.size else 0.0
            scaled = farr * 255.0 if peak <= 1.0 else farr
            gray = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
        else:
            iarr = arr.astype(np.int64)
            peak = int(iarr.max()) if iarr.size else 0
            if mode.startswith("I;16") or 255 < peak <= 65535:
                gray = (np.clip(iarr, 0, 65535) >> 8).astype(np.uint8)
            elif peak <= 255:
                gray = np.clip(iarr, 0, 255).astype(np.uint8)
            else:
                gray = (np.clip(iarr, 0, None) * 255 // peak).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    return im.convert("RGB")


def _finish_frame(im: Image.Image, target: tuple[int, int] | None, orientation: int) -> np.ndarray:
    """RGB conversion, downscaling and EXIF orientation of one loaded frame."""
    rgb = _to_rgb(im)
    if target is not None and rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.BILINEAR, reducing_gap=3.0)
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    if method is not None:
        rgb = rgb.transpose(method)
    return _frozen(np.asarray(rgb, dtype=np.uint8))


def _decode_image(data: bytes, mime: str, limits: MediaLimits) -> DecodedMedia:
    fmt = _FORMAT_NAMES[mime]
    gif: _GifScan | None = None
    header_pixels = 0  # pixels known from our own header parsing, before Pillow sees the data
    if mime == "image/gif":
        gif = _scan_gif(data, limits.max_animation_frames)
        _check_frame_pixels("image", gif.width, gif.height, limits)
        if (gif.canvas_width, gif.canvas_height) != (gif.width, gif.height):
            _check_frame_pixels(
                "image (a frame extends the canvas)", gif.canvas_width, gif.canvas_height, limits
            )
        header_pixels = gif.canvas_width * gif.canvas_height
    elif mime == "image/webp":
        size = _webp_canvas_size(data)
        if size is not None:
            _check_frame_pixels("image", size[0], size[1], limits)
            header_pixels = size[0] * size[1]
    elif mime in ("image/heic", "image/heif", "image/avif"):
        size = _heif_largest_extent(data)
        if size is not None:
            _check_frame_pixels("image", size[0], size[1], limits)
            header_pixels = size[0] * size[1]
    try:
        with pillow_warnings_ignored(), _pillow_allows(header_pixels), _open_pillow(data, mime) as im:
            width, height = im.size
            _check_frame_pixels("image", width, height, limits)
            with _pillow_allows(width * height):
                return _decode_pillow_frames(im, mime, gif, width, height, limits)
    except _PIL_ERRORS as exc:
        if isinstance(exc, Image.DecompressionBombError):
            raise LimitExceeded(
                f"{fmt} image exceeds Pillow's decompression-bomb limit: {_short(exc)}"
            ) from exc
        raise MediaError(f"truncated or corrupt {fmt}: {_short(exc)}") from exc


def _decode_pillow_frames(
    im: ImageFile.ImageFile,
    mime: str,
    gif: _GifScan | None,
    width: int,
    height: int,
    limits: MediaLimits,
) -> DecodedMedia:
    if gif is not None:
        declared = gif.frames
    elif mime in _ANIMATED_MIMES:
        declared = int(getattr(im, "n_frames", 1))
    else:
        declared = 1  # multi-page TIFF: the first page is the image
    cap = limits.max_animation_frames
    if declared > cap:
        counted = f"more than {cap}" if gif is not None else str(declared)  # GIF counting stops at cap + 1
        raise LimitExceeded(f"animation has {counted} frames, above the limit of {cap} (decompression bomb?)")
    if declared > 1 and width * height * declared > limits.max_total_pixels:
        raise LimitExceeded(
            f"animation is {width}x{height} x {declared} frames = {_fmt_pixels(width * height * declared)}, "
            f"above the limit of {_fmt_pixels(limits.max_total_pixels)} (decompression bomb?)"
        )

    target = _target_size(width, height, limits.max_side)
    if declared == 1 and target is not None and mime == "image/jpeg":
        im.draft(im.mode, target)  # DCT scaling: decode at 1/2, 1/4 or 1/8 size, still >= target
    im.load()
    orientation = _exif_orientation(im)
    out_w, out_h = (height, width) if orientation >= 5 else (width, height)

    if declared == 1:
        frame = Frame(_finish_frame(im, target, orientation), 0, None)
        return DecodedMedia("image", mime, out_w, out_h, [frame], 1)

    wanted = _sample_indices(declared, limits.max_frames)
    wanted_set = set(wanted)
    frames: list[Frame] = []
    elapsed_ms: float | None = 0.0
    for index in range(wanted[-1] + 1):
        try:
            if index:
                im.seek(index)
                im.load()
        except Image.DecompressionBombError:
            raise
        except _PIL_ERRORS:
            break  # a damaged or missing later frame: keep the frames decoded so far
        if im.size != (width, height):
            _check_frame_pixels("image", im.size[0], im.size[1], limits)
        start = elapsed_ms
        if isinstance(im, WebPImagePlugin.WebPImageFile) and "timestamp" in im.info:
            start = float(im.info["timestamp"])
        duration = im.info.get("duration")
        if elapsed_ms is not None:
            elapsed_ms = elapsed_ms + float(duration) if isinstance(duration, int | float) else None
        if index in wanted_set:
            frame_target = target if im.size == (width, height) else _target_size(*im.size, limits.max_side)
            image = _finish_frame(im, frame_target, orientation)
            frames.append(Frame(image, index, None if start is None else start / 1000.0))
    return DecodedMedia("animation", mime, out_w, out_h, frames, declared)


# --------------------------------------------------------------------------------------------------
# Video (PyAV / FFmpeg)


_OTHER_VIDEO_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    EOFError,
    IndexError,
    OverflowError,
    MemoryError,
    RuntimeError,
)
_DEMUXER_FOR_MIME = {"video/mp4": "mov", "video/quicktime": "mov", "video/webm": "matroska"}

# Seek (to the preceding keyframe) instead of decoding through when sampled frames are this far apart;
# closer together, decoding sequentially is both faster and more robust.
SEEK_MIN_GAP_S = 30.0


def _video_targets(duration: float | None, limits: MediaLimits) -> list[float]:
    """Timestamps (seconds from the start) to sample: one per interval, evenly spread if too many."""
    interval = limits.video_interval_s
    if duration is None or duration <= 0:
        return [i * interval for i in range(limits.max_frames)]
    count = max(1, math.ceil(duration / interval - 1e-9))
    if count <= limits.max_frames:
        return [i * interval for i in range(count)]
    step = duration / limits.max_frames
    return [i * step for i in range(limits.max_frames)]


def _av_errors() -> tuple[type[BaseException], ...]:
    """What PyAV and FFmpeg raise on a damaged or hostile video."""
    import av.error

    return (av.error.FFmpegError, *_OTHER_VIDEO_ERRORS)


def _decode_video(data: bytes, mime: str, limits: MediaLimits) -> DecodedMedia:
    # PyAV is imported with the first video, not at the top: ≈ 40 ms of start-up for every process that
    # decodes (a scan's writer and fork server) when most scans hold pictures only.
    import av

    try:
        with av.open(
            io.BytesIO(data), mode="r", format=_DEMUXER_FOR_MIME[mime], metadata_errors="ignore"
        ) as ct:
            return _decode_video_container(ct, mime, limits)
    except _av_errors() as exc:
        raise MediaError(f"corrupt or unsupported video: {_short(exc)}") from exc


def _decode_video_container(container: InputContainer, mime: str, limits: MediaLimits) -> DecodedMedia:
    import av  # already imported by _decode_video

    if not container.streams.video:
        raise MediaError("corrupt or unsupported video: no video stream")
    stream = container.streams.video[0]
    cc = stream.codec_context
    if cc is None:  # a stream whose codec FFmpeg does not know (found by fuzzing: an MP4 with a bad tag)
        raise MediaError("corrupt or unsupported video: its video codec is unknown")
    if cc.width and cc.height:
        _check_frame_pixels("video frame", cc.width, cc.height, limits)

    duration: float | None = None
    if container.duration is not None and container.duration > 0:
        duration = container.duration / av.time_base
    elif stream.duration is not None and stream.duration > 0 and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    if duration is not None and duration > limits.max_video_seconds:
        raise LimitExceeded(
            f"video is {duration:.0f} s ({duration / 3600:.1f} h) long, above the limit of "
            f"{limits.max_video_seconds:.0f} s ({limits.max_video_seconds / 3600:.1f} h)"
        )
    origin: float | None = container.start_time / av.time_base if container.start_time is not None else None
    rate = float(stream.average_rate) if stream.average_rate else None
    targets = _video_targets(duration, limits)
    sampler = _VideoSampler(container, stream, targets, origin, rate, limits)
    gap = targets[1] - targets[0] if len(targets) > 1 else 0.0
    try:
        if gap >= SEEK_MIN_GAP_S:
            sampler.run_seeking()
        else:
            sampler.run_sequential()
    except _av_errors():
        if not sampler.frames:
            raise
        # Damaged or truncated after the start (a partial download): keep the frames decoded so far.
    if not sampler.frames:
        raise MediaError("corrupt or unsupported video: no decodable video frames")

    declared = stream.frames or 0
    if declared <= 0:
        if sampler.reached_end:
            declared = sampler.decoded
        elif duration is not None and rate:
            declared = max(sampler.decoded, round(duration * rate))
        else:
            declared = sampler.decoded
    width, height = sampler.display_size
    return DecodedMedia("video", mime, width, height, sampler.frames, declared)


class _VideoSampler:
    """Pick the first decoded frame at or after each target time."""

    def __init__(
        self,
        container: InputContainer,
        stream: VideoStream,
        targets: list[float],
        origin: float | None,
        rate: float | None,
        limits: MediaLimits,
    ) -> None:
        self.container = container
        self.stream = stream
        self.targets = targets
        self.origin = origin
        self.rate = rate
        self.limits = limits
        self.frames: list[Frame] = []
        self.decoded = 0
        self.reached_end = False
        self.display_size = (stream.codec_context.width, stream.codec_context.height)
        # Half a frame of tolerance so that a frame at 0.9999 s counts for the 1 s target.
        self.tolerance = 0.5 / rate if rate else 0.02

    def _time(self, frame: VideoFrame, fallback_index: int) -> float:
        t = frame.time
        if t is None:
            return fallback_index / self.rate if self.rate else 0.0
        if self.origin is None:
            self.origin = float(t)
        return max(0.0, float(t) - self.origin)

    def _take(self, frame: VideoFrame, index: int, t: float) -> None:
        _check_frame_pixels("video frame", frame.width, frame.height, self.limits)
        rotation = round(float(frame.rotation)) % 360
        target = _target_size(frame.width, frame.height, self.limits.max_side)
        if target is None:
            rgb = frame.to_ndarray(format="rgb24")
        else:
            rgb = frame.to_ndarray(
                width=target[0], height=target[1], format="rgb24", interpolation="BILINEAR"
            )
        if rotation in (90, 180, 270):
            rgb = np.rot90(rgb, k=rotation // 90)
        w, h = (frame.height, frame.width) if rotation in (90, 270) else (frame.width, frame.height)
        if not self.frames:
            self.display_size = (w, h)
        self.frames.append(Frame(_frozen(rgb), index, t))

    def _check_length(self, t: float) -> None:
        if t > self.limits.max_video_seconds:
            raise LimitExceeded(
                f"video runs longer than the limit of {self.limits.max_video_seconds:.0f} s "
                f"({self.limits.max_video_seconds / 3600:.1f} h)"
            )

    def run_sequential(self) -> None:
        next_target = 0
        for frame in self.container.decode(self.stream):
            index = self.decoded
            self.decoded += 1
            t = self._time(frame, index)
            self._check_length(t)
            if t + self.tolerance >= self.targets[next_target] or not self.frames:
                self._take(frame, index, t)
                while next_target < len(self.targets) and t + self.tolerance >= self.targets[next_target]:
                    next_target += 1
                if next_target == len(self.targets):
                    return
        self.reached_end = True

    def run_seeking(self) -> None:
        time_base = self.stream.time_base
        if time_base is None or self.origin is None:
            self.run_sequential()
            return
        for target in self.targets:
            if self.frames and self.frames[-1].timestamp is not None and self.frames[-1].timestamp >= target:
                continue
            self.container.seek(int((self.origin + target) / time_base), stream=self.stream, backward=True)
            for frame in self.container.decode(self.stream):
                self.decoded += 1
                t = self._time(frame, 0)
                self._check_length(t)
                if t + self.tolerance >= target:
                    self._take(frame, round(t * self.rate) if self.rate else 0, t)
                    break
            else:
                return  # the stream ended before this target
