"""Tests for reclaim.media: safe decoding of untrusted images, animations and videos.

Every input is synthetic (numpy/PIL drawings, skimage.data sample photos of objects) or hand-crafted
header bytes; nothing is read from outside tmp_path.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

import reclaim.media.decode as media_decode
from reclaim.errors import LimitExceeded, MediaError
from reclaim.media import DecodedMedia, Frame, MediaLimits, decode_media, is_media_name, sniff_mime

# --------------------------------------------------------------------------------------------------
# Helpers


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    """A deterministic RGB test card: horizontal red ramp, vertical green ramp, constant blue."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    arr = np.zeros((height, width, 3), np.uint8)
    arr[..., 0] = np.broadcast_to(x, (height, width)).astype(np.uint8)
    arr[..., 1] = np.broadcast_to(y, (height, width)).astype(np.uint8)
    arr[..., 2] = 96
    return Image.fromarray(arr)


def assert_frame_ok(frame: Frame, width: int, height: int) -> None:
    img = frame.image
    assert isinstance(img, np.ndarray)
    assert img.shape == (height, width, 3)
    assert img.dtype == np.uint8
    assert img.flags.c_contiguous
    assert not img.flags.writeable  # frames are read-only evidence


def assert_still(media: DecodedMedia, mime: str, width: int, height: int) -> None:
    assert media.kind == "image"
    assert media.mime == mime
    assert (media.width, media.height) == (width, height)
    assert media.frame_count == 1
    assert len(media.frames) == 1
    assert media.frames[0].index == 0
    assert media.frames[0].timestamp is None
    assert_frame_ok(media.frames[0], width, height)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def crafted_png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def crafted_jpeg_header(width: int, height: int) -> bytes:
    sof = (
        b"\xff\xc0"
        + struct.pack(">HBHHB", 17, 8, height, width, 3)
        + bytes([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
    )
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + bytes([1, 0, 2, 0x11, 3, 0x11, 0, 0x3F, 0])
    return b"\xff\xd8" + sof + sos + b"\0" * 16 + b"\xff\xd9"


def crafted_gif(width: int, height: int, frame_w: int = 1, frame_h: int = 1) -> bytes:
    """A GIF whose logical screen is width x height with one frame_w x frame_h frame of 1x1 data."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, frame_w, frame_h, 0)
    return b"GIF89a" + screen + descriptor + b"\x02\x02D\x01\x00;"


def crafted_webp_vp8x(width: int, height: int) -> bytes:
    payload = b"\0\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def crafted_rgb16_tiff(width: int, height: int, value: int) -> bytes:
    """A little-endian uncompressed 16-bit-per-channel RGB TIFF (Pillow cannot write one)."""
    pixels = struct.pack("<H", value) * (3 * width * height)
    entries = [
        (256, 3, 1, width),  # ImageWidth
        (257, 3, 1, height),  # ImageLength
        (258, 3, 3, 0),  # BitsPerSample -> offset patched below
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 2),  # Photometric: RGB
        (273, 4, 1, 0),  # StripOffsets -> patched
        (277, 3, 1, 3),  # SamplesPerPixel
        (278, 3, 1, height),  # RowsPerStrip
        (279, 4, 1, len(pixels)),  # StripByteCounts
    ]
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    bps_offset = ifd_offset + ifd_size
    data_offset = bps_offset + 6
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset))
    out += struct.pack("<H", len(entries))
    for tag, typ, count, value_ in entries:
        if tag == 258:
            value_ = bps_offset
        elif tag == 273:
            value_ = data_offset
        if typ == 3 and count == 1:
            out += struct.pack("<HHIHH", tag, typ, count, value_, 0)
        else:
            out += struct.pack("<HHII", tag, typ, count, value_)
    out += struct.pack("<I", 0)
    out += struct.pack("<HHH", 16, 16, 16)
    out += pixels
    return bytes(out)


def solid_frames(count: int, size: tuple[int, int] = (48, 32)) -> list[Image.Image]:
    """`count` frames of distinct solid colours (distinct per frame, so no encoder merges them)."""
    return [Image.new("RGB", size, (i * 5 % 256, 255 - i * 5 % 256, (i * 37) % 256)) for i in range(count)]


def frame_colour(media: DecodedMedia, k: int) -> tuple[int, int, int]:
    mean = media.frames[k].image.reshape(-1, 3).mean(axis=0)
    return (round(float(mean[0])), round(float(mean[1])), round(float(mean[2])))


# --------------------------------------------------------------------------------------------------
# Sniffing and names


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"BM" + b"\0" * 12 + struct.pack("<I", 40), "image/bmp"),
        (b"BM" + b"\0" * 12 + struct.pack("<I", 124), "image/bmp"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "video/mp4"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "video/mp4"),
        (b"\x00\x00\x00\x14ftypavc1\x00\x00\x00\x00avc1", "video/mp4"),
        (b"\x00\x00\x00\x1cftypM4V \x00\x00\x00\x01M4V M4A mp42", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "video/quicktime"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x10mdat", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "video/webm"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),  # an iPhone's photo
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf", "image/heic"),
        (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00avifmif1", "image/avif"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"),
        (b"\x00\x00\x00\x18ftypavis\x00\x00\x00\x00avismsf1", "image/avif"),
        (b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1", "image/heif"),
    ],
)
def test_sniff_mime_recognises_magic(head: bytes, mime: str) -> None:
    assert sniff_mime(head) == mime


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\xff\xd8",  # too short for JPEG
        b"hello world, this is plain text",
        b"BMW is a car brand and not a bitmap",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"\x00\x00\x00\x18ftypjpx \x00\x00\x00\x00jpx jp2 ",  # JPEG 2000: not supported
        b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x00crx isom",  # Canon raw
        b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42",  # audio only
        b"%PDF-1.7\n",
        b"PK\x03\x04\x14\x00",
    ],
)
def test_sniff_mime_rejects_other_content(head: bytes) -> None:
    assert sniff_mime(head) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.jpg", True),
        ("PHOTO.JPEG", True),
        ("a/b/c.Png", True),
        ("c:\\users\\x\\anim.GIF", True),
        ("x.webp", True),
        ("x.bmp", True),
        ("scan.tif", True),
        ("scan.TIFF", True),
        ("clip.mp4", True),
        ("clip.MOV", True),
        ("clip.m4v", True),
        ("clip.webm", True),
        ("notes.txt", False),
        ("archive.jpg.zip", False),
        ("jpg", False),
        ("folder.jpg/readme", False),
        ("photo.heic", True),
        ("IMG_0001.HEIC", True),
        ("x.heif", True),
        ("x.avif", True),
        ("x.jp2", False),
        ("", False),
    ],
)
def test_is_media_name(name: str, expected: bool) -> None:
    assert is_media_name(name) is expected


# --------------------------------------------------------------------------------------------------
# Still images


def test_jpeg_round_trip() -> None:
    src = Image.fromarray(skdata.coffee())  # 600x400 photo of a coffee cup
    media = decode_media(encode(src, "JPEG", quality=92))
    assert_still(media, "image/jpeg", 600, 400)
    diff = np.abs(media.frames[0].image.astype(int) - np.asarray(src).astype(int))
    assert diff.mean() < 4


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("BMP", "image/bmp"), ("TIFF", "image/tiff")]
)
def test_lossless_formats_round_trip_exactly(fmt: str, mime: str) -> None:
    src = gradient(97, 61)
    media = decode_media(encode(src, fmt))
    assert_still(media, mime, 97, 61)
    np.testing.assert_array_equal(media.frames[0].image, np.asarray(src))


def test_webp_static_lossless_and_lossy() -> None:
    src = gradient(80, 50)
    lossless = decode_media(encode(src, "WEBP", lossless=True))
    assert_still(lossless, "image/webp", 80, 50)
    np.testing.assert_array_equal(lossless.frames[0].image, np.asarray(src))
    lossy = decode_media(encode(src, "WEBP", quality=90))
    assert_still(lossy, "image/webp", 80, 50)
    assert np.abs(lossy.frames[0].image.astype(int) - np.asarray(src).astype(int)).mean() < 6


def test_static_gif_round_trip() -> None:
    src = Image.new("P", (30, 20), 0)
    src.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    src.paste(1, (0, 0, 15, 20))
    media = decode_media(encode(src, "GIF"))
    assert_still(media, "image/gif", 30, 20)
    assert tuple(media.frames[0].image[0, 0]) == (200, 100, 50)
    assert tuple(media.frames[0].image[0, 29]) == (10, 20, 30)


def test_wrong_extension_is_irrelevant(tmp_path: Path) -> None:
    path = tmp_path / "holiday.jpg"  # actually a PNG
    path.write_bytes(encode(gradient(20, 10), "PNG"))
    media = decode_media(path.read_bytes())
    assert media.mime == "image/png"
    assert media.kind == "image"


def test_exif_orientation_6_rotates_dimensions() -> None:
    stored = Image.new("RGB", (64, 32), (255, 255, 255))
    stored.paste((255, 0, 0), (0, 0, 16, 16))  # red block at the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    media = decode_media(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert (media.width, media.height) == (32, 64)
    img = media.frames[0].image
    assert img.shape == (64, 32, 3)
    # After a clockwise rotation the stored top-left lands at the displayed top-right.
    assert img[4, 28, 0] > 200 and img[4, 28, 1] < 60
    assert img[4, 4].min() > 200


def test_exif_orientation_applies_with_downscaling() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    media = decode_media(
        encode(gradient(400, 100), "JPEG", exif=exif.tobytes()), limits=MediaLimits(max_side=40)
    )
    assert (media.width, media.height) == (100, 400)
    assert media.frames[0].image.shape == (40, 10, 3)


# --------------------------------------------------------------------------------------------------
# Mode conversions


def test_rgba_composited_onto_white() -> None:
    arr = np.zeros((10, 20, 4), np.uint8)
    arr[:, :10] = (255, 0, 0, 255)  # opaque red
    arr[:, 10:15] = (0, 0, 255, 0)  # fully transparent blue -> white
    arr[:, 15:] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    media = decode_media(encode(Image.fromarray(arr), "PNG"))
    img = media.frames[0].image
    assert tuple(img[5, 2]) == (255, 0, 0)
    assert tuple(img[5, 12]) == (255, 255, 255)
    assert all(abs(int(v) - 127) <= 2 for v in img[5, 17])


def test_palette_la_l_and_bilevel_modes() -> None:
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 0, 128, 255] + [0] * 762)
    assert tuple(decode_media(encode(pal, "PNG")).frames[0].image[0, 0]) == (0, 128, 255)

    transparent = pal.copy()
    transparent.info["transparency"] = 1
    img = decode_media(encode(transparent, "PNG", transparency=1)).frames[0].image
    assert tuple(img[0, 0]) == (255, 255, 255)

    la = Image.fromarray(np.dstack([np.full((6, 6), 50, np.uint8), np.full((6, 6), 255, np.uint8)]), "LA")
    assert tuple(decode_media(encode(la, "PNG")).frames[0].image[0, 0]) == (50, 50, 50)

    grey = Image.new("L", (6, 6), 77)
    assert tuple(decode_media(encode(grey, "JPEG", quality=100)).frames[0].image[3, 3]) == (77, 77, 77)

    bilevel = Image.new("1", (16, 8), 1)
    assert tuple(decode_media(encode(bilevel, "TIFF")).frames[0].image[0, 0]) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_converted(fmt: str) -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    media = decode_media(encode(cmyk, fmt))
    r, g, b = (int(v) for v in media.frames[0].image[8, 8])
    assert r > 200 and g < 60 and b < 60


def test_16_bit_grey_png_and_tiff_scaled_not_clipped() -> None:
    arr = np.full((12, 10), 0x8000, np.uint16)
    arr[:, 5:] = 0xFFFF
    src = Image.fromarray(arr)
    assert src.mode.startswith("I;16")
    for fmt in ("PNG", "TIFF"):
        img = decode_media(encode(src, fmt)).frames[0].image
        assert tuple(img[0, 0]) == (128, 128, 128), fmt
        assert tuple(img[0, 9]) == (255, 255, 255), fmt


def test_16_bit_rgb_tiff() -> None:
    media = decode_media(crafted_rgb16_tiff(7, 5, 0x4000))
    assert_still(media, "image/tiff", 7, 5)
    assert tuple(media.frames[0].image[2, 3]) == (64, 64, 64)


def test_32_bit_int_and_float_tiff() -> None:
    ints = Image.fromarray(np.full((4, 4), 1000, np.int32), "I")
    assert decode_media(encode(ints, "TIFF")).frames[0].image.shape == (4, 4, 3)
    floats = Image.fromarray(np.full((4, 4), 0.5, np.float32), "F")
    assert tuple(decode_media(encode(floats, "TIFF")).frames[0].image[0, 0]) == (128, 128, 128)


def test_multipage_tiff_is_a_still_of_its_first_page() -> None:
    pages = solid_frames(3)
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    media = decode_media(data)
    assert_still(media, "image/tiff", 48, 32)
    assert frame_colour(media, 0) == pages[0].getpixel((0, 0))


# --------------------------------------------------------------------------------------------------
# Animations


def test_animated_gif_50_frames_samples_16_distinct_including_first() -> None:
    frames = solid_frames(50)
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    media = decode_media(data)
    assert media.kind == "animation"
    assert media.mime == "image/gif"
    assert (media.width, media.height) == (48, 32)
    assert media.frame_count == 50
    assert len(media.frames) == 16
    indices = [f.index for f in media.frames]
    assert indices[0] == 0 and indices[-1] == 49
    assert indices == sorted(set(indices))
    for k, frame in enumerate(media.frames):
        assert_frame_ok(frame, 48, 32)
        assert frame.timestamp == pytest.approx(frame.index * 0.1)
        expected = frames[frame.index].getpixel((0, 0))
        assert all(abs(a - b) <= 8 for a, b in zip(frame_colour(media, k), expected, strict=True))
    assert len({frame_colour(media, k) for k in range(16)}) == 16


def test_animated_gif_with_transparency_is_composited_on_white() -> None:
    frames = []
    for i in range(3):
        im = Image.new("P", (10, 10), 0)
        im.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0, 0, 0, 200] + [0] * 756)
        im.paste(i + 1, (0, 0, 5, 10))
        frames.append(im)
    data = encode(
        frames[0], "GIF", save_all=True, append_images=frames[1:], transparency=0, duration=50, disposal=2
    )
    media = decode_media(data)
    assert media.frame_count == 3
    for k, frame in enumerate(media.frames):
        assert tuple(frame.image[5, 8]) == (255, 255, 255), k
    assert tuple(media.frames[1].image[5, 2]) == (0, 200, 0)


def test_apng_animation() -> None:
    frames = solid_frames(5, (20, 16))
    data = encode(
        frames[0], "PNG", save_all=True, append_images=frames[1:], duration=[100, 200, 300, 400, 500]
    )
    media = decode_media(data)
    assert media.kind == "animation"
    assert media.mime == "image/png"
    assert media.frame_count == 5
    assert [f.index for f in media.frames] == [0, 1, 2, 3, 4]
    assert [f.timestamp for f in media.frames] == pytest.approx([0.0, 0.1, 0.3, 0.6, 1.0])
    assert [frame_colour(media, k) for k in range(5)] == [f.getpixel((0, 0)) for f in frames]


def test_animated_webp_sampled() -> None:
    frames = solid_frames(20, (24, 24))
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=40, lossless=True)
    media = decode_media(data, limits=MediaLimits(max_frames=4))
    assert media.kind == "animation"
    assert media.mime == "image/webp"
    assert media.frame_count == 20
    assert [f.index for f in media.frames] == [0, 6, 13, 19]
    assert [f.timestamp for f in media.frames] == pytest.approx([0.0, 0.24, 0.52, 0.76])
    assert [frame_colour(media, k) for k in range(4)] == [frames[i].getpixel((0, 0)) for i in (0, 6, 13, 19)]


def test_animation_downscaled_with_max_side() -> None:
    frames = solid_frames(4, (200, 100))
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    media = decode_media(data, limits=MediaLimits(max_side=50))
    assert (media.width, media.height) == (200, 100)
    for frame in media.frames:
        assert_frame_ok(frame, 50, 25)


# --------------------------------------------------------------------------------------------------
# Bombs and limits


def _assert_limit_fast(data: bytes, limits: MediaLimits, *fragments: str) -> LimitExceeded:
    start = time.perf_counter()
    with pytest.raises(LimitExceeded) as info:
        decode_media(data, limits=limits)
    assert time.perf_counter() - start < 1.0
    for fragment in fragments:
        assert fragment in str(info.value)
    return info.value


def test_gif_bomb_refused_from_header() -> None:
    data = crafted_gif(30000, 30000)
    assert len(data) < 100
    _assert_limit_fast(data, MediaLimits(), "30000x30000", "900 megapixels", "decompression bomb")


def test_gif_frame_growing_the_canvas_refused() -> None:
    _assert_limit_fast(crafted_gif(10, 10, 20000, 20000), MediaLimits(), "20000x20000")


def test_png_bomb_refused_from_header() -> None:
    _assert_limit_fast(crafted_png_header(20000, 20000), MediaLimits(), "20000x20000", "400 megapixels")


def test_jpeg_bomb_message() -> None:
    exc = _assert_limit_fast(crafted_jpeg_header(40000, 40000), MediaLimits(), "40000x40000")
    assert str(exc) == (
        "image is 40000x40000 = 1.6 gigapixels, above the limit of 60 megapixels (decompression bomb?)"
    )


def test_webp_bomb_refused_from_header() -> None:
    _assert_limit_fast(crafted_webp_vp8x(16000, 16000), MediaLimits(), "16000x16000")


def test_real_png_above_small_pixel_limit() -> None:
    data = encode(Image.new("L", (3000, 2000), 7), "PNG")
    _assert_limit_fast(data, MediaLimits(max_pixels=5_000_000), "3000x2000", "6 megapixels")


def test_animation_bomb_total_pixels() -> None:
    frames = solid_frames(50, (64, 64))
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    _assert_limit_fast(data, MediaLimits(max_total_pixels=100_000), "64x64 x 50 frames")


def test_animation_too_many_frames() -> None:
    frames = solid_frames(30, (8, 8))
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    _assert_limit_fast(gif, MediaLimits(max_animation_frames=10), "more than 10 frames")
    apng = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    _assert_limit_fast(apng, MediaLimits(max_animation_frames=10), "30 frames")


def test_apng_declaring_a_billion_frames() -> None:
    frames = solid_frames(2, (8, 8))
    data = bytearray(encode(frames[0], "PNG", save_all=True, append_images=frames[1:]))
    pos = data.index(b"acTL") - 4
    data[pos : pos + 20] = png_chunk(b"acTL", struct.pack(">II", 1_000_000_000, 0))
    _assert_limit_fast(bytes(data), MediaLimits(), "1000000000 frames")


def test_max_bytes() -> None:
    data = encode(gradient(50, 50), "PNG")
    _assert_limit_fast(data, MediaLimits(max_bytes=100), "above the limit of 100 bytes")


def test_pillow_global_limit_not_triggered_for_allowed_images(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow would warn (an error under filterwarnings=error) above its own, here tiny, global limit.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    media = decode_media(encode(gradient(100, 100), "TIFF"))
    assert media.frames[0].image.shape == (100, 100, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_limits_validated() -> None:
    with pytest.raises(ValueError):
        MediaLimits(max_frames=0)
    with pytest.raises(ValueError):
        MediaLimits(max_side=0)
    with pytest.raises(ValueError):
        MediaLimits(video_interval_s=0)


# --------------------------------------------------------------------------------------------------
# Corrupt and unsupported content


@pytest.mark.parametrize(
    ("fmt", "name"), [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WebP"), ("TIFF", "TIFF")]
)
def test_truncated_image(fmt: str, name: str) -> None:
    data = encode(Image.fromarray(skdata.coffee()), fmt)
    with pytest.raises(MediaError, match=f"truncated or corrupt {name}") as info:
        decode_media(data[: len(data) // 2])
    assert not isinstance(info.value, LimitExceeded)


def test_corrupt_header_bytes() -> None:
    with pytest.raises(MediaError, match="truncated or corrupt PNG"):
        decode_media(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(MediaError, match="truncated or corrupt GIF"):
        decode_media(b"GIF89a\x10")


def test_empty_input() -> None:
    with pytest.raises(MediaError, match=r"empty file \(0 bytes\)") as info:
        decode_media(b"")
    assert not isinstance(info.value, LimitExceeded)


def test_text_input_described_without_content() -> None:
    secret = b"my secret diary entry, please do not print me\n" * 3
    with pytest.raises(MediaError, match="looks like text") as info:
        decode_media(secret)
    message = str(info.value)
    assert message.startswith("not a supported image or video (content starts with 6d 79 20 73")
    assert "secret" not in message and "diary" not in message


def test_random_bytes() -> None:
    data = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    data = b"\x13" + data[1:]  # make sure no magic matches by chance
    with pytest.raises(MediaError, match="not a supported image or video") as info:
        decode_media(data)
    assert len(str(info.value)) < 150


# --------------------------------------------------------------------------------------------------
# Downscaling and speed


def test_max_side_downscales_but_reports_original_size() -> None:
    media = decode_media(encode(gradient(400, 200), "PNG"), limits=MediaLimits(max_side=100))
    assert (media.width, media.height) == (400, 200)
    assert_frame_ok(media.frames[0], 100, 50)
    untouched = decode_media(encode(gradient(40, 20), "PNG"), limits=MediaLimits(max_side=100))
    assert_frame_ok(untouched.frames[0], 40, 20)


def test_jpeg_draft_downscale_keeps_content() -> None:
    src = gradient(2400, 1200)
    media = decode_media(encode(src, "JPEG", quality=90), limits=MediaLimits(max_side=300))
    assert (media.width, media.height) == (2400, 1200)
    img = media.frames[0].image
    assert img.shape == (150, 300, 3)
    expected = np.asarray(src.resize((300, 150), Image.Resampling.BILINEAR)).astype(int)
    assert np.abs(img.astype(int) - expected).mean() < 4


def test_one_megapixel_jpeg_is_fast() -> None:
    data = encode(Image.fromarray(skdata.coffee()).resize((1280, 800)), "JPEG", quality=90)
    for limits in (MediaLimits(), MediaLimits(max_side=1024)):
        decode_media(data, limits=limits)
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            decode_media(data, limits=limits)
            timings.append(time.perf_counter() - start)
        assert min(timings) < 0.1, (limits, timings)  # ~5-20 ms; generous for slow CI machines


# --------------------------------------------------------------------------------------------------
# Video


def _video_codec(candidates: tuple[str, ...]) -> str:
    for codec in candidates:
        if codec in av.codecs_available:
            return codec
    pytest.skip(f"no encoder among {candidates} in this PyAV build")


def make_video(
    path: Path,
    container_format: str,
    codec: str,
    seconds: float,
    fps: int,
    size: tuple[int, int] = (64, 48),
    level: Callable[[int], int] | None = None,
    texture: bool = False,
    gop: int | None = None,
) -> bytes:
    """Encode a synthetic clip whose grey level changes every second (20, 60, 100, ...), optionally with
    a moving noise texture so that every frame takes a similar share of the file."""
    width, height = size
    level = level or (lambda i: 20 + 40 * (i // fps) % 236)
    noise = np.random.default_rng(7).integers(-12, 13, (height, width, 1)) if texture else 0
    with av.open(str(path), mode="w", format=container_format) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.gop_size = gop
        for i in range(round(seconds * fps)):
            moving = np.roll(noise, 3 * i, axis=1) if texture else 0
            arr = np.clip(np.full((height, width, 3), level(i)) + moving, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


@pytest.fixture(scope="module")
def mp4_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    codec = _video_codec(("libx264", "h264", "mpeg4"))
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4", "mp4", codec, 3, 10)


def test_mp4_three_seconds_sampled_once_per_second(mp4_clip: bytes) -> None:
    media = decode_media(mp4_clip)
    assert media.kind == "video"
    assert media.mime == "video/mp4"
    assert (media.width, media.height) == (64, 48)
    assert media.frame_count == 30
    assert len(media.frames) == 3
    stamps = [f.timestamp for f in media.frames]
    assert stamps == pytest.approx([0.0, 1.0, 2.0], abs=0.06)
    assert [f.index for f in media.frames] == [0, 10, 20]
    for k, frame in enumerate(media.frames):
        assert_frame_ok(frame, 64, 48)
        assert abs(float(frame.image.mean()) - (20 + 40 * k)) < 6


def test_video_spread_evenly_when_above_max_frames(mp4_clip: bytes) -> None:
    media = decode_media(mp4_clip, limits=MediaLimits(max_frames=2))
    assert [f.timestamp for f in media.frames] == pytest.approx([0.0, 1.5], abs=0.06)
    one = decode_media(mp4_clip, limits=MediaLimits(max_frames=1))
    assert [f.index for f in one.frames] == [0]


def test_video_interval(mp4_clip: bytes) -> None:
    media = decode_media(mp4_clip, limits=MediaLimits(video_interval_s=0.5))
    assert [f.timestamp for f in media.frames] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], abs=0.06)


def test_video_max_side(mp4_clip: bytes) -> None:
    media = decode_media(mp4_clip, limits=MediaLimits(max_side=32))
    assert (media.width, media.height) == (64, 48)
    for frame in media.frames:
        assert_frame_ok(frame, 32, 24)


def test_video_limits(mp4_clip: bytes) -> None:
    _assert_limit_fast(mp4_clip, MediaLimits(max_pixels=1000), "video frame is 64x48")
    _assert_limit_fast(mp4_clip, MediaLimits(max_video_seconds=2), "above the limit of 2 s")


def test_truncated_and_corrupt_video_silent(mp4_clip: bytes, capfd: pytest.CaptureFixture[str]) -> None:
    for data in (mp4_clip[: len(mp4_clip) // 2], mp4_clip[:64], mp4_clip[:40] + b"\xff" * 2000):
        with pytest.raises(MediaError, match="corrupt or unsupported video"):
            decode_media(data)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_webm_clip(tmp_path: Path) -> None:
    codec = _video_codec(("libvpx", "libvpx-vp9"))
    data = make_video(tmp_path / "clip.webm", "webm", codec, 3, 10, texture=True)
    media = decode_media(data)
    assert media.kind == "video"
    assert media.mime == "video/webm"
    assert (media.width, media.height) == (64, 48)
    assert [f.timestamp for f in media.frames] == pytest.approx([0.0, 1.0, 2.0], abs=0.06)
    assert media.frame_count == 30
    partial = decode_media(data[: len(data) // 2])  # a truncated WebM keeps its decodable start
    assert 1 <= len(partial.frames) <= 2
    with pytest.raises(MediaError, match="corrupt or unsupported video"):
        decode_media(data[:100])


def test_mov_clip(tmp_path: Path) -> None:
    codec = _video_codec(("mpeg4", "libx264", "h264"))
    data = make_video(tmp_path / "clip.mov", "mov", codec, 2, 5)
    media = decode_media(data)
    assert media.mime == "video/quicktime"
    assert [f.timestamp for f in media.frames] == pytest.approx([0.0, 1.0], abs=0.11)


def test_long_video_seeks_to_the_same_frames_as_sequential_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codec = _video_codec(("libx264", "h264", "mpeg4"))
    data = make_video(
        tmp_path / "long.mp4", "mp4", codec, 640, 1, (32, 32), level=lambda i: (i * 7) % 256, gop=10
    )
    decoded: dict[str, int] = {}
    run_seeking = media_decode._VideoSampler.run_seeking
    run_sequential = media_decode._VideoSampler.run_sequential

    def spy_seeking(self: media_decode._VideoSampler) -> None:
        run_seeking(self)
        decoded["seeking"] = self.decoded

    def spy_sequential(self: media_decode._VideoSampler) -> None:
        run_sequential(self)
        decoded["sequential"] = self.decoded

    monkeypatch.setattr(media_decode._VideoSampler, "run_seeking", spy_seeking)
    monkeypatch.setattr(media_decode._VideoSampler, "run_sequential", spy_sequential)
    seeking = decode_media(data)  # 16 samples 40 s apart: the seeking path
    monkeypatch.setattr(media_decode, "SEEK_MIN_GAP_S", float("inf"))
    sequential = decode_media(data)
    assert decoded["seeking"] < decoded["sequential"] == 601
    assert seeking.frame_count == sequential.frame_count == 640
    assert len(seeking.frames) == len(sequential.frames) == 16
    expected = [i * 40.0 for i in range(16)]
    assert [f.timestamp for f in seeking.frames] == pytest.approx(expected, abs=0.01)
    assert [f.timestamp for f in sequential.frames] == pytest.approx(expected, abs=0.01)
    assert [f.index for f in seeking.frames] == [f.index for f in sequential.frames]
    for a, b in zip(seeking.frames, sequential.frames, strict=True):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 3
        assert abs(float(a.image.mean()) - (a.index * 7) % 256) < 6


def test_video_display_rotation_applied(tmp_path: Path) -> None:
    codec = _video_codec(("libx264", "h264", "mpeg4"))
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height = 64, 32
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(-90)  # a phone held upright: display rotated 90 degrees clockwise
        for _ in range(5):
            arr = np.zeros((32, 64, 3), np.uint8)
            arr[:16, :16] = (255, 0, 0)  # red block at the stored top-left corner
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    media = decode_media(path.read_bytes())
    assert (media.width, media.height) == (32, 64)
    img = media.frames[0].image
    assert_frame_ok(media.frames[0], 32, 64)
    assert img[4, 28, 0] > 200 and img[4, 28, 1] < 60  # now at the displayed top-right
    assert img[4, 4].max() < 60


def test_pillow_warnings_on_hostile_metadata_do_not_escape(recwarn: pytest.WarningsRecorder) -> None:
    # An APP1 Exif segment whose IFD offset points past the end: Pillow warns "Corrupt EXIF data".
    jpeg = encode(gradient(40, 30), "JPEG")
    segment = b"Exif\0\0MM\0*\xff\xff\xff\xf0" + b"\x13" * 40
    corrupt_exif = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]
    media = decode_media(corrupt_exif)  # would raise under filterwarnings=error if the warning escaped
    assert_still(media, "image/jpeg", 40, 30)
    # A palette PNG with per-entry alpha (tRNS as bytes) and an APNG whose acTL is corrupt.
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 0, 128, 255] + [0] * 762)
    assert decode_media(encode(pal, "PNG", transparency=b"\x00\x80")).frames[0].image.shape == (8, 8, 3)
    frames = solid_frames(3, (8, 8))
    apng = bytearray(encode(frames[0], "PNG", save_all=True, append_images=frames[1:]))
    pos = apng.index(b"acTL") - 4
    apng[pos : pos + 20] = png_chunk(b"acTL", struct.pack(">II", 0, 0))  # zero frames: "Invalid APNG"
    assert decode_media(bytes(apng)).frames[0].image.shape == (8, 8, 3)
    assert len(recwarn) == 0
