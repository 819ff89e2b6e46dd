"""The demo's sample data: a Telegram export built from scikit-image's bundled pictures (``reclaim demo``
runs the whole loop on it; the tests and benchmarks build their material with it too).

Safety: nothing here is sexual. The stand-in for a deepfake is the astronaut's face (a public-domain
NASA portrait shipped with scikit-image) pasted into other sample scenes; the reposts are resized,
recompressed and flipped copies forwarded between chats. A cameraman (another person), faceless
scenes, a corrupt file and a "file not included" placeholder complete the picture.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

# The astronaut's face region in skimage.data.astronaut() (512x512), with hair and chin.
_FACE_BOX = (135, 30, 305, 215)


def sample_picture(name: str) -> np.ndarray:
    """One of scikit-image's bundled pictures (``skimage.data.<name>``) as an RGB uint8 array."""
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def face_crop() -> Image.Image:
    """The astronaut's face, the demo person's (public-domain) face."""
    return Image.fromarray(sample_picture("astronaut")).crop(_FACE_BOX)


def paste_face(scene: np.ndarray, *, width: int, at: tuple[float, float]) -> Image.Image:
    """Paste the astronaut's face into ``scene`` with a feathered oval edge (a crude face swap)."""
    base = Image.fromarray(scene).convert("RGB")
    face = face_crop()
    height = round(face.height * width / face.width)
    face = face.resize((width, height), Image.Resampling.LANCZOS)
    mask = Image.new("L", face.size, 0)
    from PIL import ImageDraw

    ImageDraw.Draw(mask).ellipse((width * 0.06, height * 0.04, width * 0.94, height * 0.98), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1, width // 25)))
    x = round((base.width - width) * at[0])
    y = round((base.height - height) * at[1])
    base.paste(face, (x, y), mask)
    return base


def pan_frames(
    scene: str, *, seconds: float = 8.0, fps: int = 12, size: tuple[int, int] = (320, 240)
) -> list[np.ndarray]:
    """A slow pan and zoom over one of scikit-image's pictures (``skimage.data.<scene>``): the frames
    of a benign sample video, each ``size`` (width, height), RGB uint8."""
    img = sample_picture(scene)
    h, w = img.shape[:2]
    n = max(1, round(seconds * fps))
    frames = []
    for i in range(n):
        t = i / max(1, n - 1)
        zoom = 1.0 - 0.4 * t
        cw, ch = max(8, int(w * zoom)), max(8, int(h * zoom))
        x = int((w - cw) * t)
        y = int((h - ch) * (0.5 + 0.5 * np.sin(2.5 * t)))
        crop = Image.fromarray(img[y : y + ch, x : x + cw]).resize(size, Image.Resampling.BILINEAR)
        frames.append(np.asarray(crop))
    return frames


def encode_video(
    frames: list[np.ndarray],
    *,
    fps: int = 12,
    codec: str = "libx264",
    container: str = "mp4",
    bit_rate: int | None = None,
    size: tuple[int, int] | None = None,
) -> bytes:
    """``frames`` encoded with PyAV (``codec`` in ``container``), optionally resized to ``size``
    (width, height, even numbers) and at ``bit_rate`` bits per second."""
    import av  # only the sample videos need an encoder
    from av.video.stream import VideoStream

    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, VideoStream)
        height, width = frames[0].shape[:2]
        if size is not None:
            width, height = size
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        for f in frames:
            if size is not None:
                f = np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BILINEAR))
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    """``img`` as JPEG bytes at ``quality``."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class SampleExport:
    root: Path
    enrol_photos: list[Path]
    known_image: Path
    expected_face_items: int


def build_sample_export(root: Path) -> SampleExport:
    """Write a whole-account Telegram Desktop export (``result.json`` + media) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    photos = root / "chats" / "chat_001" / "photos"
    photos2 = root / "chats" / "chat_002" / "photos"
    files3 = root / "chats" / "chat_003" / "files"
    for d in (photos, photos2, files3):
        d.mkdir(parents=True, exist_ok=True)

    fake_a = paste_face(sample_picture("coffee"), width=150, at=(0.5, 0.35))
    fake_b = paste_face(sample_picture("rocket"), width=110, at=(0.3, 0.3))
    fake_known = paste_face(sample_picture("chelsea"), width=130, at=(0.7, 0.2))
    media: dict[str, bytes] = {
        "chats/chat_001/photos/photo_1.jpg": jpeg(fake_a, 92),
        "chats/chat_001/photos/photo_2.jpg": jpeg(Image.fromarray(sample_picture("camera")), 90),
        "chats/chat_001/photos/photo_3.jpg": jpeg(Image.fromarray(sample_picture("horse")), 90),
        "chats/chat_002/photos/photo_10.jpg": jpeg(
            fake_a.resize((fake_a.width * 6 // 10, fake_a.height * 6 // 10)), 40
        ),
        "chats/chat_002/photos/photo_11.jpg": jpeg(ImageOps.mirror(fake_a), 75),
        "chats/chat_002/photos/photo_12.jpg": jpeg(fake_b, 85),
        "chats/chat_002/photos/photo_13.jpg": jpeg(Image.fromarray(sample_picture("coins")), 85),
        "chats/chat_003/files/forwarded.jpg": jpeg(
            fake_known.resize((fake_known.width // 2, fake_known.height // 2)), 50
        ),
        "chats/chat_003/files/broken.jpg": jpeg(fake_b, 85)[:1500],
    }
    # An animated GIF: the pasted face moving over a scene, three frames.
    frames = [
        paste_face(sample_picture("rocket"), width=120, at=(x, 0.3)).resize((300, 200))
        for x in (0.2, 0.5, 0.8)
    ]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    media["chats/chat_003/files/animation.gif"] = buf.getvalue()
    for rel, data in media.items():
        (root / rel).write_bytes(data)

    # What the person brings: two ordinary photos of their face, and one image they already hold.
    own = root.parent / "person_photos"
    own.mkdir(exist_ok=True)
    enrol1 = own / "portrait.jpg"
    face_crop().resize((340, 370)).save(enrol1, "JPEG", quality=95)
    enrol2 = own / "portrait_bright.jpg"
    ImageOps.autocontrast(Image.fromarray(sample_picture("astronaut"))).crop((100, 0, 340, 260)).save(
        enrol2, "JPEG", quality=90
    )
    known = own / "image_already_held.png"
    fake_known.save(known, "PNG")

    t0 = 1_763_600_000  # 2025-11-20

    def msg(mid: int, offset: int, sender: str, uid: int, **kw: Any) -> dict[str, Any]:
        ts = t0 + offset
        return {
            "id": mid,
            "type": "message",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)),
            "date_unixtime": str(ts),
            "from": sender,
            "from_id": f"user{uid}",
            "text": kw.pop("text", ""),
            **kw,
        }

    chats: list[dict[str, Any]] = [
        {
            "name": "Room A",
            "type": "private_supergroup",
            "id": 1001,
            "messages": [
                {
                    "id": 1,
                    "type": "service",
                    "date": "2025-11-20T00:00:00",
                    "date_unixtime": str(t0),
                    "actor": "admin",
                    "actor_id": "user1",
                    "action": "create_group",
                    "title": "Room A",
                    "text": "",
                },
                msg(
                    2,
                    60,
                    "uploader_77",
                    77,
                    photo="chats/chat_001/photos/photo_1.jpg",
                    width=512,
                    height=400,
                    text=[{"type": "bold", "text": "new one"}, " of our classmate"],
                ),
                msg(
                    3,
                    120,
                    "uploader_77",
                    77,
                    photo="chats/chat_001/photos/photo_2.jpg",
                    width=512,
                    height=512,
                ),
                msg(4, 180, "someone", 12, photo="chats/chat_001/photos/photo_3.jpg", width=400, height=300),
                msg(
                    5,
                    240,
                    "someone",
                    12,
                    photo="(File not included. Change data exporting settings to download.)",
                    width=800,
                    height=600,
                ),
            ],
        },
        {
            "name": "Room B",
            "type": "public_channel",
            "id": 2002,
            "messages": [
                msg(
                    10,
                    3600,
                    "Room B",
                    2002,
                    photo="chats/chat_002/photos/photo_10.jpg",
                    width=307,
                    height=240,
                    forwarded_from="uploader_77",
                    text="fwd",
                ),
                msg(
                    11,
                    7200,
                    "Room B",
                    2002,
                    photo="chats/chat_002/photos/photo_11.jpg",
                    width=512,
                    height=400,
                    reply_to_message_id=10,
                ),
                msg(
                    12,
                    7300,
                    "Room B",
                    2002,
                    photo="chats/chat_002/photos/photo_12.jpg",
                    width=512,
                    height=512,
                ),
                msg(
                    13,
                    7400,
                    "Room B",
                    2002,
                    photo="chats/chat_002/photos/photo_13.jpg",
                    width=384,
                    height=303,
                ),
                msg(
                    14,
                    7500,
                    "Room B",
                    2002,
                    photo="chats/chat_001/photos/photo_1.jpg",
                    width=512,
                    height=400,
                    forwarded_from="Room A",
                ),
            ],
        },
        {
            "name": "trader",
            "type": "personal_chat",
            "id": 3003,
            "messages": [
                msg(
                    20,
                    9000,
                    "trader",
                    3003,
                    file="chats/chat_003/files/forwarded.jpg",
                    mime_type="image/jpeg",
                ),
                msg(21, 9100, "trader", 3003, file="chats/chat_003/files/broken.jpg", mime_type="image/jpeg"),
                msg(
                    22,
                    9200,
                    "trader",
                    3003,
                    file="chats/chat_003/files/animation.gif",
                    media_type="animation",
                    mime_type="image/gif",
                ),
                msg(23, 9300, "trader", 3003, file="../../../../etc/passwd", mime_type="image/jpeg"),
            ],
        },
    ]
    doc = {
        "about": "Here is the data you requested. Remember: Telegram is ad free, it doesn't sell your data.",
        "chats": {"about": "This page lists all chats from this export.", "list": chats},
        "left_chats": {"about": "This page lists all chats you left.", "list": []},
    }
    (root / "result.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    # face items: photo_1 (+ reposts 10, 11 are distinct items), photo_12, forwarded.jpg, animation.gif
    return SampleExport(root, [enrol1, enrol2], known, expected_face_items=6)
