"""Hostile input: a corpus of bad files and bad Telegram exports, generated at test time.

The bar: every bad input gives exactly one clear error naming it, the scan finishes, decompression bombs
are refused fast, good content in the same corpus (even misnamed) is scanned, and nothing is written
outside the workspace. Bombs are small files that declare huge dimensions or frame counts.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import resource
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pillow_heif
import pytest
from PIL import Image
from sqlalchemy import select

from reclaim.scan.analyze import AnalyzeOptions, analyze_job
from reclaim.scan.service import ScanError, ScanReport, scan_paths
from reclaim.store.models import Item, Scan
from reclaim.workspace import Workspace

PASSPHRASE = "hostile-test-passphrase"
MAX_ERROR_CHARS = 300
BOMB_SECONDS = 2.0


# --- generated media (benign: noise, gradients, flat colours) -----------------------------------------


def picture(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A distinct, deterministic, benign RGB picture: a colour gradient plus seeded noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    gx = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    gy = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    tint = rng.uniform(0.2, 1.0, size=3).astype(np.float32)
    base = (gx * tint + gy * tint[::-1]) / 2 + rng.normal(0, 25, size=(h, w, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def encode(im: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def mp4_bytes(seed: int) -> bytes:
    """A two-second 64x48 MP4 of flat frames (moov atom at the end, as PyAV writes it)."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            pixels = np.full((48, 64, 3), (i * 10 + int(rng.integers(0, 5))) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A real 1-bit PNG of width x height black pixels: 400 megapixels in ~50 KB."""
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


# One 1x1 GIF image: descriptor, LZW minimum code size 2, codes clear/0/end packed into 0x44 0x01.
_GIF_FRAME = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"


def gif(screen_w: int, screen_h: int, frames: int) -> bytes:
    """A GIF with the given logical screen and ``frames`` 1x1 images (2-colour global palette)."""
    header = b"GIF89a" + struct.pack("<HHBBB", screen_w, screen_h, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    return header + _GIF_FRAME * frames + b"\x3b"


def tiff_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A little-endian TIFF whose IFD declares 10 gigapixels over a 16-byte strip."""
    strip_at = 8 + 2 + 12 * 8 + 4
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 1), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, strip_at), (278, 4, 1, height), (279, 4, 1, 16)]  # fmt: skip
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0" * 4
    return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0" * 16


def webp_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A VP8X canvas of 400 megapixels around a 4x4 lossless bitstream."""
    small = encode(Image.new("RGB", (4, 4), (10, 200, 10)), "WEBP", lossless=True)
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0" * 4
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + small[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def jpeg_bomb() -> bytes:
    """An 8x8 JPEG whose SOF0 header is patched to claim 65000x65000."""
    data = bytearray(encode(Image.new("RGB", (8, 8), (1, 2, 3)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 65_000, 65_000)
    return bytes(data)


def bmp_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 1, 0, 0, 2835, 2835, 0, 0)
    offset = 14 + 40 + 8
    return (
        b"BM" + struct.pack("<IHHI", offset + 64, 0, 0, offset) + dib + b"\0\0\0\0\xff\xff\xff\0" + b"\0" * 64
    )


def heic(im: Image.Image) -> bytes:
    """HEIC (HEVC in HEIF), the format of an iPhone's photos, written by pillow-heif."""
    buf = io.BytesIO()
    pillow_heif.from_pillow(im).save(buf, format="HEIF", quality=80)
    return buf.getvalue()


def heif_bomb(small: bytes, width: int = 100_000, height: int = 90_000) -> bytes:
    """A small HEIC or AVIF whose image-spatial-extent (ispe) properties declare 9 gigapixels."""
    data = bytearray(small)
    at = data.find(b"ispe")
    while at != -1:
        struct.pack_into(">II", data, at + 8, width, height)
        at = data.find(b"ispe", at + 4)
    return bytes(data)


def jpeg_with_odd_exif(seed: int) -> bytes:
    """A valid JPEG whose EXIF orientation is nonsense (99): the pixels are fine, so it is scanned."""
    exif = Image.Exif()
    exif[0x0112] = 99
    return encode(picture(seed), "JPEG", quality=85, exif=exif.tobytes())


def jpeg_with_corrupt_exif(seed: int) -> bytes:
    """A valid JPEG with an APP1 Exif segment whose IFD offset points past the end."""
    data = encode(picture(seed), "JPEG", quality=85)
    segment = b"Exif\0\0MM\0*\xff\xff\xff\xf0" + b"\x13" * 40
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + data[2:]


# --- the corpus ---------------------------------------------------------------------------------------


@dataclass
class Corpus:
    root: Path
    expected_errors: dict[str, str] = field(default_factory=dict)
    """Expected ScanError.path -> short description of the bad input."""
    good: dict[str, bytes] = field(default_factory=dict)
    """Description -> bytes of content that must become an item."""
    never: dict[str, bytes] = field(default_factory=dict)
    """Description -> bytes that must never become an item (symlink targets outside the corpus)."""
    bombs: dict[str, bytes] = field(default_factory=dict)
    not_media: set[str] = field(default_factory=set)
    """Paths the scan must count as not-media skips."""


def _write(path: Path | bytes, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _export(root: Path, doc: Any) -> None:
    root.mkdir(parents=True)
    (root / "result.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _msg(mid: Any, **fields: Any) -> dict[str, Any]:
    base = {"id": mid, "type": "message", "date": "2025-11-20T10:00:00", "date_unixtime": "1763632800",
            "from": "someone", "from_id": "user9", "text": ""}  # fmt: skip
    base.update(fields)
    return base


def build_corpus(base: Path) -> Corpus:
    """The corpus folder ``base/corpus`` (loose files in ``files/``, Telegram exports beside it) and, for
    symlinks to point at, ``base/outside``."""
    root = base / "corpus"
    files = root / "files"
    files.mkdir(parents=True)
    outside = base / "outside"
    outside.mkdir()
    secret = encode(picture(900), "PNG")
    (outside / "secret.png").write_bytes(secret)
    corpus = Corpus(root=root, never={"symlink target outside": secret})
    flabel = str(files)

    def bad(name: str, data: bytes, what: str) -> None:
        (files / name).write_bytes(data)
        corpus.expected_errors[f"{flabel}/{name}"] = what

    jpg = encode(picture(1, (320, 240)), "JPEG", quality=90)
    png = encode(picture(2, (320, 240)), "PNG")
    gif_ok = encode(picture(3, (160, 120)), "GIF")
    webp = encode(picture(4, (320, 240)), "WEBP")
    mp4 = mp4_bytes(5)
    heic_ok = heic(picture(6, (320, 240)))
    avif_ok = encode(picture(7, (320, 240)), "AVIF", quality=60)
    bad("trunc.jpg", jpg[: len(jpg) * 4 // 10], "truncated JPEG")
    bad("trunc.png", png[: len(png) // 2], "truncated PNG")
    bad("trunc.gif", gif_ok[: len(gif_ok) // 2], "truncated GIF")
    bad("trunc.webp", webp[: len(webp) // 2], "truncated WebP")
    bad("trunc.mp4", mp4[: len(mp4) // 2], "truncated MP4")
    bad("trunc.heic", heic_ok[: len(heic_ok) // 2], "truncated HEIC")
    bad("trunc.avif", avif_ok[: len(avif_ok) // 2], "truncated AVIF")
    bad("zero.jpg", b"", "zero bytes (.jpg)")
    bad("zero.mp4", b"", "zero bytes (.mp4)")
    bad("notes.jpg", b"Dear diary, this is plain text and not a picture at all.\n" * 20, "text named .jpg")
    bad("page.jpg", b"<!DOCTYPE html><html><body><img src='x.jpg'></body></html>\n", "HTML named .jpg")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("inner.txt", "hello")
    bad("archive.jpg", zbuf.getvalue(), "ZIP named .jpg")
    bad("program.jpg", b"\x7fELF\x02\x01\x01\0" + bytes(range(256)) * 4, "ELF named .jpg")
    bad("random.png", np.random.default_rng(7).bytes(4096), "random bytes named .png")
    bad("header_only.mp4", mp4[:32] + np.random.default_rng(8).bytes(2000), "MP4 header then garbage")
    bombs = {
        "bomb.png": (png_bomb(), "PNG decompression bomb, 20000x20000"),
        "bomb.gif": (gif(65_535, 65_535, 1), "GIF bomb, 65535x65535 logical screen"),
        "anim_frames.gif": (gif(1, 1, 6_000), "animated-GIF bomb, 6000 frames"),
        "anim_pixels.gif": (gif(2_000, 2_000, 1_000), "animated-GIF bomb, 2000x2000 x 1000 frames"),
        "bomb.tiff": (tiff_bomb(), "TIFF bomb, 100000x100000"),
        "bomb.webp": (webp_bomb(), "WebP bomb, 20000x20000 VP8X canvas"),
        "bomb.jpg": (jpeg_bomb(), "JPEG bomb, SOF says 65000x65000"),
        "bomb.bmp": (bmp_bomb(), "BMP bomb, 100000x100000"),
        "bomb.heic": (heif_bomb(heic(picture(30, (64, 48)))), "HEIC bomb, ispe says 100000x90000"),
        "bomb.avif": (heif_bomb(encode(picture(31, (64, 48)), "AVIF")), "AVIF bomb, ispe says 100000x90000"),
    }
    for name, (data, what) in bombs.items():
        bad(name, data, what)
        corpus.bombs[name] = data
    # A non-UTF-8 file name holding garbage, and one holding a good image.
    _write(os.fsencode(files) + b"/garbage_\xff\xfe.jpg", b"\x00\x01garbage" * 50)
    corpus.expected_errors[f"{flabel}/garbage_\ufffd\ufffd.jpg"] = "garbage with a non-UTF-8 name"
    good_nonutf8 = encode(picture(10), "PNG")
    _write(os.fsencode(files) + b"/good_\xff.png", good_nonutf8)
    corpus.good["valid PNG with a non-UTF-8 name"] = good_nonutf8
    # Links and special files.
    (files / "escape.jpg").symlink_to(outside / "secret.png")
    corpus.expected_errors[f"{flabel}/escape.jpg"] = "symlink pointing outside the folder"
    (files / "dangling.jpg").symlink_to(files / "does_not_exist.jpg")
    corpus.expected_errors[f"{flabel}/dangling.jpg"] = "dangling symlink"
    os.mkfifo(files / "pipe.jpg")
    corpus.expected_errors[f"{flabel}/pipe.jpg"] = "FIFO named .jpg (reading it would block)"
    (files / "linked_dir").symlink_to(outside, target_is_directory=True)  # not followed, not an error
    # Good content with a wrong or missing extension, and odd-but-valid EXIF.
    for name, data, what in [
        ("really_a_png.jpg", encode(picture(11), "PNG"), "valid PNG named .jpg"),
        ("no_extension", encode(picture(12), "JPEG"), "valid JPEG without extension"),
        ("clip.gif", mp4_bytes(13), "valid MP4 named .gif"),
        ("odd_exif.jpg", jpeg_with_odd_exif(14), "valid JPEG with a nonsense EXIF orientation"),
        ("corrupt_exif.jpg", jpeg_with_corrupt_exif(15), "valid JPEG with a corrupt EXIF segment"),
        ("pixel.gif", gif(1, 1, 1), "valid 1x1 GIF (a tracking pixel)"),
        ("IMG_0001.HEIC", heic_ok, "valid HEIC"),
        ("photo.avif", avif_ok, "valid AVIF"),
    ]:
        (files / name).write_bytes(data)
        corpus.good[what] = data
    # Files operating systems leave behind, and macOS's AppleDouble twin of a picture: counted skips.
    for name in (".DS_Store", "Thumbs.db", "desktop.ini", "._IMG_0001.HEIC"):
        (files / name).write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64))
        corpus.not_media.add(f"{flabel}/{name}")

    # Telegram exports inside the corpus folder: the folder source hands each to the Telegram source.
    def whole_file(name: str, raw: bytes, what: str) -> None:
        export = root / name
        export.mkdir()
        (export / "result.json").write_bytes(raw)
        corpus.expected_errors[f"{export}/result.json"] = what

    whole_file("tg_bad_json", b'{"chats": {"list": [{"id": 1, "messages": [{"id": 2,', "malformed JSON")
    whole_file("tg_empty_json", b"", "empty result.json")
    whole_file("tg_not_utf8", b'{"name": "caf\xe9 \xff", "messages": []}', "result.json not UTF-8")
    whole_file("tg_top_list", b'[{"id": 1, "type": "message"}]', "top-level JSON list")
    whole_file(
        "tg_deep", b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "JSON nested 100000 deep"
    )
    whole_file("tg_chats_not_list", b'{"chats": {"list": 5}}', "'chats.list' is not a list")

    tg = root / "tg_messages"
    label = str(tg)
    good_tg = encode(picture(20), "PNG")
    messages: list[Any] = [
        _msg(901, photo="../../../../etc/passwd"),
        _msg(902, photo="/etc/passwd"),
        _msg(903, photo="photos/photo_903.jpg"),  # there is no photos/ folder at all
        _msg("abc", photo="files/good_910.png"),
        _msg(905, photo="media_dir"),
        _msg(906, file="files/link_out.jpg"),
        _msg(907, photo=12345),
        _msg(908, photo="files/good_910.png", date_unixtime="yesterday"),
        _msg(909, photo="files/trunc_909.jpg"),
        _msg(910, photo="files/good_910.png"),
        _msg(911, file="files/pipe_911.jpg"),
        ["not", "a", "message"],
        _msg(913, photo="files/zero_913.jpg"),
    ]
    _export(tg, {"name": "Hostile chat", "type": "personal_chat", "id": 4242, "messages": messages})
    (tg / "media_dir").mkdir()
    (tg / "files").mkdir()
    (tg / "files" / "link_out.jpg").symlink_to(outside / "secret.png")
    (tg / "files" / "trunc_909.jpg").write_bytes(jpg[:300])
    (tg / "files" / "good_910.png").write_bytes(good_tg)
    (tg / "files" / "zero_913.jpg").write_bytes(b"")
    os.mkfifo(tg / "files" / "pipe_911.jpg")
    corpus.good["valid image in an export"] = good_tg
    corpus.expected_errors.update(
        {
            f"{label}/result.json#message 901": "message media path traversal '../../..'",
            f"{label}/result.json#message 902": "message media path absolute '/etc/passwd'",
            f"{label}/photos/photo_903.jpg": "message media in a missing photos/ folder",
            f"{label}/result.json#message index 3": "message id not an integer",
            f"{label}/result.json#message 905": "message media path is a directory",
            f"{label}/result.json#message 906": "message media is a symlink out of the export",
            f"{label}/result.json#message 907": "message photo is a JSON number",
            f"{label}/result.json#message 908": "message date_unixtime not an integer",
            f"{label}/files/trunc_909.jpg": "truncated JPEG inside an export",
            f"{label}/result.json#message 911": "message media is a FIFO",
            f"{label}/result.json#message index 11": "message is a JSON list",
            f"{label}/files/zero_913.jpg": "zero-byte media inside an export",
        }
    )
    # An export whose media folders are missing altogether.
    nomedia = root / "tg_no_media"
    _export(
        nomedia,
        {"name": "No media", "type": "private_group", "id": 77, "messages": [
            _msg(1, photo="photos/photo_1@20-11-2025_10-00-00.jpg"),
            _msg(2, file="video_files/clip.mp4", media_type="video_file", mime_type="video/mp4"),
        ]},
    )  # fmt: skip
    corpus.expected_errors[f"{nomedia}/photos/photo_1@20-11-2025_10-00-00.jpg"] = "missing photos/ folder"
    corpus.expected_errors[f"{nomedia}/video_files/clip.mp4"] = "missing video_files/ folder"
    _html_exports(root, corpus)
    return corpus


def html_page(*messages: str) -> str:
    """A page shaped like Telegram Desktop's messages.html around the given message blocks."""
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8"/>\n</head>\n<body>\n<div class="page_wrap">\n'
        '<div class="page_header">\n<div class="content">\n<div class="text bold">\nHostile HTML chat\n'
        '</div>\n</div>\n</div>\n<div class="page_body chat_page">\n<div class="history">\n'
        + "\n".join(messages)
        + "\n</div>\n</div>\n</div>\n</body>\n</html>\n"
    )


def html_message(mid: int, href: str | None = None, text: str = "") -> str:
    media = (
        f'<div class="media_wrap clearfix">\n<a class="photo_wrap clearfix pull_left" href="{href}">\n'
        '<img class="photo" src="photos/thumb.jpg"/>\n</a>\n</div>\n'
        if href is not None
        else ""
    )
    return (
        f'<div class="message default clearfix" id="message{mid}">\n<div class="body">\n'
        '<div class="pull_right date details" title="20.11.2025 19:00:00 UTC+09:00">\n19:00\n</div>\n'
        f'<div class="from_name">\nsomeone\n</div>\n{media}<div class="text">\n{text}\n</div>\n</div>\n</div>'
    )


def _html_exports(root: Path, corpus: Corpus) -> None:
    """Telegram Desktop HTML exports with hostile pages: links out of the export, a truncated page, bytes
    that are not UTF-8, tags nested 20,000 deep, a tag that never closes."""
    tg = root / "tg_html"
    (tg / "photos").mkdir(parents=True)
    good = encode(picture(40), "PNG")
    (tg / "photos" / "good.png").write_bytes(good)
    corpus.good["valid image in an HTML export"] = good
    page = html_page(
        html_message(901, "../../../../etc/passwd"),
        html_message(902, "/etc/passwd"),
        html_message(903, "file:///etc/passwd"),
        html_message(904, "photos/good.png", "caption with &lt;b&gt; &amp; <script>alert(1)</script>"),
    )
    (tg / "messages.html").write_text(page, encoding="utf-8")
    second = html_page(html_message(1001, None, "a message"), html_message(1002, "photos/good.png"))
    (tg / "messages2.html").write_text(second[: second.index('id="message1002"') + 40], encoding="utf-8")
    label = str(tg)
    corpus.expected_errors.update(
        {
            f"{label}/messages.html#message 901": "HTML media link '../../..' out of the export",
            f"{label}/messages.html#message 902": "HTML media link absolute '/etc/passwd'",
            f"{label}/messages.html#message 903": "HTML media link 'file:///etc/passwd'",
            f"{label}/messages2.html": "truncated HTML page",
        }
    )

    def bad_page(name: str, raw: bytes, what: str) -> None:
        export = root / name
        export.mkdir()
        (export / "messages.html").write_bytes(raw)
        corpus.expected_errors[f"{export}/messages.html"] = what

    bad_page("tg_html_not_utf8", html_page(html_message(1, None, "caf\u00e9")).encode().replace(
        "caf\u00e9".encode(), b"caf\xe9 \xff"), "HTML page not UTF-8")  # fmt: skip
    bad_page("tg_html_deep", html_page("<div>" * 20_000).encode(), "HTML tags nested 20000 deep")
    bad_page("tg_html_long_tag", html_page('<div class="' + "a" * 100_000).encode(), "HTML tag never closed")


# --- helpers ------------------------------------------------------------------------------------------


def snapshot(root: Path, *, exclude: Path | None = None) -> dict[bytes, tuple[int, int, int, str]]:
    """(mode, size, mtime_ns, content hash) of every path under ``root`` (symlinks not followed)."""
    out: dict[bytes, tuple[int, int, int, str]] = {}
    skip = os.fsencode(exclude) if exclude is not None else None
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        if skip is not None:
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != skip]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = ""
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = os.fsdecode(os.readlink(path))
            out[path] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


def reclaimish_temp_entries() -> set[str]:
    tmp = Path(tempfile.gettempdir())
    return {p.name for p in tmp.iterdir() if "reclaim" in p.name.lower()}


def reclaim_cmd() -> list[str]:
    script = Path(sys.executable).with_name("reclaim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reclaim.cli"]


def run_cli(
    *args: str, passphrase: str = PASSPHRASE, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECLAIM_")}
    env["RECLAIM_PASSPHRASE"] = passphrase
    return subprocess.run(
        [*reclaim_cmd(), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_clear(error: str) -> None:
    assert isinstance(error, str) and error.strip(), error
    assert len(error) < MAX_ERROR_CHARS, error
    assert "\n" not in error and "Traceback" not in error and 'File "' not in error, error
    assert "unexpected error" not in error, f"an unhandled exception leaked into the message: {error}"


def check_errors(errors: list[ScanError] | list[dict[str, str]], expected: dict[str, str]) -> None:
    pairs = [(e.path, e.error) if isinstance(e, ScanError) else (e["path"], e["error"]) for e in errors]
    by_path: dict[str, list[str]] = {}
    for path, error in pairs:
        by_path.setdefault(path, []).append(error)
    missing = {p: what for p, what in expected.items() if p not in by_path}
    assert not missing, f"bad inputs without an error: {missing}\nerrors: {pairs}"
    doubled = {p: errs for p, errs in by_path.items() if len(errs) > 1}
    assert not doubled, f"more than one error for one input: {doubled}"
    extra = {p: errs for p, errs in by_path.items() if p not in expected}
    assert not extra, f"errors for inputs that are not bad: {extra}"
    for _path, error in pairs:
        assert_clear(error)


# --- fixtures -----------------------------------------------------------------------------------------


@dataclass
class Scanned:
    corpus: Corpus
    ws: Workspace
    report: ScanReport
    seconds: float
    before: dict[bytes, tuple[int, int, int, str]]
    after: dict[bytes, tuple[int, int, int, str]]
    temp_before: set[str]
    temp_after: set[str]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scanned]:
    base = tmp_path_factory.mktemp("hostile")
    corpus = build_corpus(base)
    ws_dir = base / "ws"
    ws = Workspace.create(ws_dir, PASSPHRASE)
    try:
        temp_before = reclaimish_temp_entries()
        before = snapshot(base, exclude=ws_dir)
        start = time.monotonic()
        report = scan_paths(ws, [corpus.root], workers=1)
        seconds = time.monotonic() - start
        after = snapshot(base, exclude=ws_dir)
        yield Scanned(corpus, ws, report, seconds, before, after, temp_before, reclaimish_temp_entries())
    finally:
        ws.close()


# --- tests --------------------------------------------------------------------------------------------


def test_corpus_is_big_and_small_on_disk(scanned: Scanned) -> None:
    assert len(scanned.corpus.expected_errors) >= 25
    total = sum(v[1] for v in scanned.before.values())
    assert total < 2_000_000, f"the corpus should stay small on disk, it is {total:,} bytes"


def test_every_bad_input_gives_one_clear_error(scanned: Scanned) -> None:
    check_errors(scanned.report.errors, scanned.corpus.expected_errors)
    assert len(scanned.report.errors) == len(scanned.corpus.expected_errors)


def test_every_other_file_is_a_counted_skip(scanned: Scanned) -> None:
    skipped = {x.path for x in scanned.report.skipped_paths if x.reason == "not_media"}
    assert skipped == scanned.corpus.not_media
    assert scanned.report.skipped["not_media"] == len(scanned.corpus.not_media)
    exports = {x.path for x in scanned.report.skipped_paths if x.reason == "export_file"}
    assert exports and all(p.endswith(("/result.json", ".html")) for p in exports)
    assert not exports & {e.path for e in scanned.report.errors}  # a broken one is an error only
    assert not any(e.path in skipped for e in scanned.report.errors)


def test_scan_finishes_in_reasonable_time(scanned: Scanned) -> None:
    assert scanned.seconds < 60, f"the hostile scan took {scanned.seconds:.1f} s"
    with scanned.ws.session() as s:
        status = s.scalar(select(Scan.status).where(Scan.id == scanned.report.scan_id))
    assert status == "finished"


def test_good_content_in_the_corpus_is_scanned(scanned: Scanned) -> None:
    with scanned.ws.session() as s:
        shas = set(s.scalars(select(Item.sha256)))
    want = {what: hashlib.sha256(data).hexdigest() for what, data in scanned.corpus.good.items()}
    missing = [what for what, sha in want.items() if sha not in shas]
    assert not missing, f"good content not scanned: {missing}"
    assert shas == set(want.values()), "only the good content may become items"
    for what, data in scanned.corpus.never.items():
        assert hashlib.sha256(data).hexdigest() not in shas, f"{what} was followed and scanned"
    assert scanned.report.new_items == len(want)


def test_nothing_written_outside_the_workspace(scanned: Scanned) -> None:
    changed = {
        os.fsdecode(p): (scanned.before.get(p), scanned.after.get(p))
        for p in scanned.before.keys() | scanned.after.keys()
        if scanned.before.get(p) != scanned.after.get(p)
    }
    assert not changed, f"paths outside the workspace changed: {changed}"
    assert scanned.temp_after <= scanned.temp_before, scanned.temp_after - scanned.temp_before
    ws_files = [p for p in scanned.ws.root.rglob("*") if p.is_file()]
    assert ws_files and all(scanned.ws.root in p.parents for p in ws_files)


def test_bombs_are_refused_fast_and_small(scanned: Scanned) -> None:
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for name, data in scanned.corpus.bombs.items():
        start = time.monotonic()
        result = analyze_job((data, AnalyzeOptions()))
        seconds = time.monotonic() - start
        assert isinstance(result, str), f"{name} was decoded instead of refused"
        assert_clear(result)
        assert seconds < BOMB_SECONDS, f"{name} took {seconds:.2f} s to refuse"
        assert len(data) < 200_000, f"{name} is {len(data):,} bytes on disk"
    grew_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grew_mib < 200, f"refusing the bombs raised peak memory by {grew_mib:.0f} MiB"


def test_hostile_scan_through_the_cli(tmp_path: Path, scanned: Scanned) -> None:
    ws = tmp_path / "cli-ws"
    init = run_cli("--workspace", str(ws), "init")
    assert init.returncode == 0, init.stderr
    temp_before = reclaimish_temp_entries()
    before = snapshot(scanned.corpus.root)
    # Default workers: the process-pool path sees the hostile files too.
    proc = run_cli("--workspace", str(ws), "scan", str(scanned.corpus.root), "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", f"nothing but JSON should be printed: {proc.stderr}"
    result = json.loads(proc.stdout)
    check_errors(result["errors"], scanned.corpus.expected_errors)
    assert result["new_items"] == len(scanned.corpus.good)
    assert snapshot(scanned.corpus.root) == before
    assert reclaimish_temp_entries() <= temp_before


def test_wrong_passphrase_exits_2_and_leaves_workspace_untouched(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(3):
        picture(100 + i).save(pics / f"p{i}.png")
    assert run_cli("--workspace", str(ws), "init").returncode == 0
    first = run_cli("--workspace", str(ws), "scan", str(pics), "--json", "--workers", "1")
    assert first.returncode == 0, first.stderr
    assert (ws / "reclaim.db").is_file()
    before = snapshot(ws)
    proc = run_cli("--workspace", str(ws), "scan", str(pics), "--json", passphrase="not the passphrase")
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "wrong passphrase" in lines[0].lower(), lines[0]
    assert "Traceback" not in proc.stderr
    assert snapshot(ws) == before, "a wrong passphrase changed the workspace"


def test_errors_of_exports_nested_in_a_folder_name_the_export(tmp_path: Path) -> None:
    """Several exports in one folder: each error names its own export, not the scanned folder."""
    corpus = tmp_path / "corpus"
    for name in ("export_a", "export_b"):
        _export(corpus / name, {"name": name, "type": "personal_chat", "id": 5, "messages": [
            _msg(901, photo="../../../../etc/passwd"), _msg(902, photo="photos/missing.jpg")]})  # fmt: skip
    (corpus / "export_c").mkdir()
    (corpus / "export_c" / "result.json").write_bytes(b"{not json")
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        report = scan_paths(ws, [corpus], workers=1)
    finally:
        ws.close()
    paths = sorted(e.path for e in report.errors)
    assert len(paths) == 5 and len(set(paths)) == 5, paths
    for name in ("export_a", "export_b"):
        assert f"{corpus}/{name}/result.json#message 901" in paths, paths
        assert f"{corpus}/{name}/photos/missing.jpg" in paths, paths
    assert f"{corpus}/export_c/result.json" in paths, paths


def test_html_export_page_with_a_50_mb_line(tmp_path: Path) -> None:
    """A 50 MB page (one line) is one named error, refused before it is parsed; the chat's other page is
    read and its photo scanned."""
    corpus = tmp_path / "corpus"
    export = corpus / "tg_html_huge"
    (export / "photos").mkdir(parents=True)
    good = encode(picture(41), "PNG")
    (export / "photos" / "good.png").write_bytes(good)
    (export / "messages.html").write_text(html_page(html_message(1, "photos/good.png")), encoding="utf-8")
    with open(export / "messages2.html", "w", encoding="utf-8") as fh:
        fh.write(html_page(html_message(2, None, "x" * 50_000_000)).replace("\n", " "))
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        start = time.monotonic()
        report = scan_paths(ws, [corpus], workers=1)
        seconds = time.monotonic() - start
    finally:
        ws.close()
    check_errors(report.errors, {f"{export}/messages2.html": "a 50 MB line"})
    assert "bytes, over the 32 MiB" in report.errors[0].error
    assert report.new_items == 1
    assert seconds < 30, f"{seconds:.1f} s"


def test_corrupt_exif_is_scanned_quietly(tmp_path: Path) -> None:
    """Pillow's 'Corrupt EXIF data' warning is not an error and must not reach the terminal."""
    folder = tmp_path / "exif"
    folder.mkdir()
    data = jpeg_with_corrupt_exif(30)
    (folder / "corrupt_exif.jpg").write_bytes(data)
    ws = tmp_path / "ws"
    assert run_cli("--workspace", str(ws), "init").returncode == 0
    proc = run_cli("--workspace", str(ws), "scan", str(folder), "--json", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["errors"] == [] and result["new_items"] == 1, result
    assert proc.stderr == "", proc.stderr


def test_tiny_valid_images_are_scanned(tmp_path: Path) -> None:
    """Tracking pixels and one-row images are valid: scanned (no face in them), not an error."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "pixel.gif").write_bytes(gif(1, 1, 1))  # a 1x1 tracking pixel
    Image.new("RGB", (40, 1), (9, 9, 9)).save(folder / "row.png")
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        report = scan_paths(ws, [folder], workers=1)
    finally:
        ws.close()
    assert report.errors == []
    assert report.new_items == 2


def test_corrupt_video_errors_read_as_sentences(scanned: Scanned) -> None:
    """FFmpeg's errors arrive as "[Errno 1094995529] ...: '<none>'"; the user sees only the sentence."""
    files = f"{scanned.corpus.root}/files"
    errors = {e.path: e.error for e in scanned.report.errors}
    for name in ("trunc.mp4", "header_only.mp4"):
        message = errors[f"{files}/{name}"]
        assert "[Errno" not in message and "<none>" not in message, message


# --- web archives (WARC, WARC.gz, WACZ) ---------------------------------------------------------------


def warc_record(uri: str, body: bytes, *, declared: int | None = None, header: bytes = b"") -> bytes:
    """One WARC response record holding an HTTP 200 image response (``declared``: a payload length to
    claim instead of the body's; ``header``: an extra WARC header line)."""
    size = len(body) if declared is None else declared
    http = f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {size}\r\n\r\n".encode()
    head = (
        f"WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2026-11-02T08:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:{hashlib.md5(uri.encode()).hexdigest()}>\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http) + size}\r\n"
    ).encode()
    return head + header + b"\r\n" + http + body + b"\r\n\r\n"


def png(seed: int) -> bytes:
    return encode(picture(seed), "PNG")


def gz_members(*records: bytes) -> tuple[bytes, list[int]]:
    """Records as one gzip member each (how wget and warcio write .warc.gz), and each member's offset."""
    out, offsets = b"", []
    for rec in records:
        offsets.append(len(out))
        out += gzip.compress(rec)
    return out, offsets


def bomb_member(uri: str, zeros: int) -> bytes:
    """A gzip member whose record claims ``zeros`` bytes of payload, all zeros: about 1,000 to 1 packed."""
    rec = warc_record(uri, b"", declared=zeros)
    head = rec[: -len(b"\r\n\r\n")]
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = z.compress(head)
    chunk = bytes(2**20)
    for _ in range(zeros // len(chunk)):
        out += z.compress(chunk)
    return out + z.compress(b"\r\n\r\n") + z.flush()


def wacz(path: Path, members: dict[str, bytes], *, lie_about: str | None = None) -> None:
    """A WACZ: ``members`` stored as given plus a datapackage.json with their SHA-256 (a wrong one for
    ``lie_about``)."""
    resources = []
    for name, data in members.items():
        digest = hashlib.sha256(data + (b"x" if name == lie_about else b"")).hexdigest()
        resources.append(
            {"name": Path(name).name, "path": name, "hash": f"sha256:{digest}", "bytes": len(data)}
        )
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("datapackage.json", json.dumps({"profile": "data-package", "resources": resources}))


def test_hostile_web_archives(tmp_path: Path) -> None:
    """Truncated record, gzip bomb, huge header, a WACZ with '../' names, a WACZ whose datapackage hash is
    wrong, a non-WARC file named .warc: one clear error each naming the record; the rest goes on."""
    folder = tmp_path / "archives"
    folder.mkdir()
    good, _ = gz_members(warc_record("https://x.test/good.png", png(40)))
    _write(folder / "good.warc.gz", good)
    ok_rec = gzip.compress(warc_record("https://x.test/t1.png", png(41)))
    cut = gzip.compress(warc_record("https://x.test/t2.png", png(42)))
    _write(folder / "truncated.warc.gz", ok_rec + cut[: len(cut) // 2])
    bomb = bomb_member("https://x.test/bomb.png", 64 * 2**20)
    after = gzip.compress(warc_record("https://x.test/after-bomb.png", png(43)))
    _write(folder / "bomb.warc.gz", bomb + after)
    first = warc_record("https://x.test/h1.png", png(44))
    huge = warc_record("https://x.test/h2.png", png(45), header=b"X-Filler: " + b"a" * 2**20 + b"\r\n")
    _write(folder / "hugeheader.warc", first + huge)
    inner, _ = gz_members(warc_record("https://x.test/in-wacz.png", png(46)))
    wacz(folder / "escape.wacz", {"archive/data.warc.gz": inner, "../../evil.warc.gz": inner})
    tampered, _ = gz_members(warc_record("https://x.test/tampered.png", png(47)))
    wacz(folder / "tampered.wacz", {"archive/data.warc.gz": tampered}, lie_about="archive/data.warc.gz")
    _write(folder / "notwarc.warc", encode(picture(48), "JPEG"))

    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        start = time.monotonic()
        report = scan_paths(ws, [folder], workers=1)
        seconds = time.monotonic() - start
    finally:
        ws.close()
    root = str(folder)
    check_errors(
        report.errors,
        {
            f"{root}/truncated.warc.gz@{len(ok_rec)}": "truncated",
            f"{root}/bomb.warc.gz@0": "bomb",
            f"{root}/hugeheader.warc@{len(first)}": "huge header",
            f"{root}/escape.wacz!../../evil.warc.gz": "escapes",
            f"{root}/tampered.wacz!archive/data.warc.gz": "hash",
            f"{root}/notwarc.warc@0": "not a WARC",
        },
    )
    errors = {e.path: e.error for e in report.errors}
    assert "middle of a member" in errors[f"{root}/truncated.warc.gz@{len(ok_rec)}"]
    assert "decompression bomb" in errors[f"{root}/bomb.warc.gz@0"]
    assert "WARC headers larger than 65,536 bytes" in errors[f"{root}/hugeheader.warc@{len(first)}"]
    assert "escapes the archive" in errors[f"{root}/escape.wacz!../../evil.warc.gz"]
    assert "does not match datapackage.json" in errors[f"{root}/tampered.wacz!archive/data.warc.gz"]
    assert "not a WARC file" in errors[f"{root}/notwarc.warc@0"]
    # good, t1, after-bomb, h1, in-wacz, tampered (scanned all the same, with the warning above)
    assert report.new_items == 6, report
    assert seconds < 60, f"{seconds:.1f}s"


def test_a_bad_http_block_in_a_plain_warc_is_skipped_by_its_length(tmp_path: Path) -> None:
    """A record whose HTTP block is not HTTP is one error; its WARC Content-Length says where the next
    record starts, so an uncompressed WARC goes on too."""
    bad_http = b"not an HTTP status line\r\n" + b"b" * 100
    bad = (
        b"WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: https://x.test/bad\r\n"
        b"WARC-Date: 2026-11-02T08:00:00Z\r\nContent-Type: application/http; msgtype=response\r\n"
        b"Content-Length: %d\r\n\r\n%s\r\n\r\n" % (len(bad_http), bad_http)
    )
    path = tmp_path / "plain.warc"
    after = warc_record("https://x.test/after.png", png(51))
    _write(path, bad + after)
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        report = scan_paths(ws, [path], workers=1)
    finally:
        ws.close()
    check_errors(report.errors, {f"{tmp_path}/plain.warc@0": "no status line"})
    assert "no status line" in report.errors[0].error
    assert report.new_items == 1
