"""The demo: a sample Telegram export built from scikit-image's bundled pictures, then the whole loop.

Safety: nothing here is sexual. The stand-in for a deepfake is the astronaut's face (a public-domain
NASA portrait shipped with scikit-image) pasted into other sample scenes; the reposts are resized,
recompressed and flipped copies forwarded between chats. A cameraman (another person), faceless
scenes, a corrupt file and a "file not included" placeholder complete the picture.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps
from rich.console import Console

DEMO_PASSPHRASE = "demo-passphrase"  # the demo's throwaway workspace only

# The astronaut's face region in skimage.data.astronaut() (512x512), with hair and chin.
_FACE_BOX = (135, 30, 305, 215)


def _sk(name: str) -> np.ndarray:
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def face_crop() -> Image.Image:
    return Image.fromarray(_sk("astronaut")).crop(_FACE_BOX)


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


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
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

    fake_a = paste_face(_sk("coffee"), width=150, at=(0.5, 0.35))
    fake_b = paste_face(_sk("rocket"), width=110, at=(0.3, 0.3))
    fake_known = paste_face(_sk("chelsea"), width=130, at=(0.7, 0.2))
    media: dict[str, bytes] = {
        "chats/chat_001/photos/photo_1.jpg": jpeg(fake_a, 92),
        "chats/chat_001/photos/photo_2.jpg": jpeg(Image.fromarray(_sk("camera")), 90),
        "chats/chat_001/photos/photo_3.jpg": jpeg(Image.fromarray(_sk("horse")), 90),
        "chats/chat_002/photos/photo_10.jpg": jpeg(
            fake_a.resize((fake_a.width * 6 // 10, fake_a.height * 6 // 10)), 40
        ),
        "chats/chat_002/photos/photo_11.jpg": jpeg(ImageOps.mirror(fake_a), 75),
        "chats/chat_002/photos/photo_12.jpg": jpeg(fake_b, 85),
        "chats/chat_002/photos/photo_13.jpg": jpeg(Image.fromarray(_sk("coins")), 85),
        "chats/chat_003/files/forwarded.jpg": jpeg(
            fake_known.resize((fake_known.width // 2, fake_known.height // 2)), 50
        ),
        "chats/chat_003/files/broken.jpg": jpeg(fake_b, 85)[:1500],
    }
    # An animated GIF: the pasted face moving over a scene, three frames.
    frames = [paste_face(_sk("rocket"), width=120, at=(x, 0.3)).resize((300, 200)) for x in (0.2, 0.5, 0.8)]
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
    ImageOps.autocontrast(Image.fromarray(_sk("astronaut"))).crop((100, 0, 340, 260)).save(
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


def run_demo(
    *, workspace: Path | None = None, keep: Path | None = None, console: Console | None = None
) -> dict[str, Any]:
    """Build the sample export, enrol the person, scan, and return (and print) the matches."""
    from reclaim.cli import print_matches_table
    from reclaim.forensics.service import explain_item, resolve_item
    from reclaim.matching.queries import list_matches
    from reclaim.persons.service import add_person
    from reclaim.scan.service import scan_paths
    from reclaim.takedown.reupload import ReuploadCheck
    from reclaim.workspace import WORKSPACE_FILE, Workspace

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="reclaim-demo-") as tmp:
        base = keep if keep is not None else Path(tmp)
        export = build_sample_export(base / "ChatExport_demo")
        ws_dir = workspace if workspace is not None else Path(tmp) / "workspace"
        passphrase = os.environ.get("RECLAIM_PASSPHRASE", DEMO_PASSPHRASE)
        if (ws_dir / WORKSPACE_FILE).exists():
            ws = Workspace.open(ws_dir, passphrase)
        else:
            ws = Workspace.create(ws_dir, passphrase)
        try:
            say = console.print if console else (lambda *a, **k: None)
            kept = (
                "" if keep is not None else " (a temporary folder, removed at the end; --keep DIR keeps it)"
            )
            say(f"[bold]1. Sample Telegram export[/] written to {export.root}{kept}")
            with ws.session() as session:
                person = add_person(
                    session,
                    ws.key,
                    name="Demo Person",
                    photos=export.enrol_photos,
                    known_images=[export.known_image],
                    consent="demo: public-domain sample portrait, no real victim",
                    recorded_by="reclaim demo",
                    vault=ws.vault,
                    keep_photos=True,
                )
            say(
                f"[bold]2. Enrolled[/] {person.name} ({person.person_id}): {person.templates} templates, "
                f"{person.known_images} known image; {person.kept_photos} photos kept encrypted "
                "(--keep-photos) to show where a face was copied from"
            )
            report = scan_paths(ws, [export.root], checks=[ReuploadCheck()])
            say(
                f"[bold]3. Scanned[/]: {report.items} items ({report.new_items} new), {report.sightings} "
                f"sightings, {report.face_matches} face matches, {report.hash_matches} hash matches"
            )
            for e in report.errors:
                where = e.path.removeprefix(f"{export.root}/")
                say(f"   [yellow]skipped[/] {where}: {e.error}", markup=True, highlight=False)
            with ws.session() as session:
                rows = list_matches(session, person_id=person.person_id)
                explained = {}
                for row in rows:
                    item = resolve_item(session, row["match_id"])
                    if item.sha256 not in explained:
                        explained[item.sha256] = [
                            st["text"] for st in explain_item(session, item)["statements"]
                        ]
            if console:
                say("[bold]4. Matches[/] (candidates await review):")
                print_matches_table(rows)
                say("[bold]5. How each matched item was made[/] ('reclaim explain ITEM' gives the details):")
                for sha, texts in explained.items():
                    say(f"   {sha[:12]}: " + "; ".join(texts), markup=False, highlight=False)
                say(f"Done in {time.monotonic() - started:.1f} s.")
            return {
                "person_id": person.person_id,
                "scan": report.to_dict(),
                "matches": rows,
                "forensics": explained,
                "seconds": round(time.monotonic() - started, 2),
            }
        finally:
            ws.close()
