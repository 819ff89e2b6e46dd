"""Write the seed corpus under fuzz/corpus/ from benign, generated inputs (no shared data, no real people):
tiny images of each format, a small Telegram export's result.json, small ZIPs, a real evidence package of a
generated workspace and its custody log. Run: python fuzz/make_corpus.py"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import av
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from targets import CORPUS  # noqa: E402


def _picture(seed: int, size: tuple[int, int] = (48, 36)) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _mp4() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.asarray(_picture(i, (48, 32))), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def media() -> dict[str, bytes]:
    import pillow_heif

    pillow_heif.register_heif_opener()
    im = _picture(1)
    frames = [_picture(i) for i in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=80)
    return {
        "a.jpg": _save(im, "JPEG", quality=80),
        "a.png": _save(im, "PNG"),
        "a.gif": gif.getvalue(),
        "a.webp": _save(im, "WEBP", quality=70),
        "a.tiff": _save(im, "TIFF"),
        "a.bmp": _save(im, "BMP"),
        "a.heic": _save(im, "HEIF", quality=50),
        "a.mp4": _mp4(),
    }


def custody_db() -> dict[str, bytes]:
    """Edit scripts for the custody_db target (see targets._edit_rows): none, one value of TEXTS over each
    column of event 2, a deleted and a copied event, a text, a blob and a number over a field."""
    from targets import EVENT_COLUMNS

    seeds = {"untouched": b""}
    for col, column in enumerate(EVENT_COLUMNS):
        for t in (0, 3, 4, 6):
            seeds[f"{column}-text{t}"] = bytes([5, 1, col, t])
    seeds["delete"] = bytes([6, 1, 0, 0])
    seeds["copy"] = bytes([7, 2, 0, 0])
    seeds["actor-text"] = bytes([0, 2, 2, 5]) + b"hello"
    seeds["hash-blob"] = bytes([1, 2, 7, 2]) + b"\x00\xff"
    seeds["at-number"] = bytes([2, 2, 1, 4]) + b"\x10\x20\x30\x40"
    return seeds


def telegram_html() -> dict[str, bytes]:
    """Pages written by the tests' re-telling of tdesktop's HTML writer: a chat with every kind of message,
    and a chat page of a whole-account export (its links climb ``../../`` to the account root)."""
    sys.path.insert(0, str(HERE.parent))
    from tests.tg_export_gen import sample_chats, write_html

    group, channel = sample_chats()
    group.messages = group.messages[:10]
    with tempfile.TemporaryDirectory() as tmp:
        single = write_html(Path(tmp) / "single", [group], account=False)
        account = write_html(Path(tmp) / "account", [group, channel], account=True)
        return {
            "messages.html": (single / "messages.html").read_bytes(),
            "account-chat.html": (account / "chats" / "chat_002" / "messages.html").read_bytes(),
        }


def main() -> None:
    from reclaim.demo import build_sample_export, sample_picture
    from reclaim.evidence.package import export_package
    from reclaim.persons.service import add_person
    from reclaim.scan.service import scan_paths
    from reclaim.workspace import Workspace

    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    for name in ("telegram", "telegram_html", "media", "zip", "evidence", "custody", "custody_db"):
        (CORPUS / name).mkdir(parents=True)
    for name, data in media().items():
        (CORPUS / "media" / name).write_bytes(data)
    for name, data in custody_db().items():
        (CORPUS / "custody_db" / name).write_bytes(data)
    for name, data in telegram_html().items():
        (CORPUS / "telegram_html" / name).write_bytes(data)
    with tempfile.TemporaryDirectory() as tmp:
        sample = build_sample_export(Path(tmp) / "export")
        doc = json.loads((sample.root / "result.json").read_text(encoding="utf-8"))
        (CORPUS / "telegram" / "sample.json").write_text(
            json.dumps(doc, ensure_ascii=False), encoding="utf-8"
        )
        one = dict(doc["chats"]["list"][0])
        (CORPUS / "telegram" / "single-chat.json").write_text(
            json.dumps(one, ensure_ascii=False), encoding="utf-8"
        )
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("ChatExport/result.json", json.dumps(one))
            zf.writestr("ChatExport/photos/photo_1.jpg", media()["a.jpg"])
        (CORPUS / "zip" / "export.zip").write_bytes(buf.getvalue())
        (CORPUS / "zip" / "empty.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
        ws = Workspace.create(Path(tmp) / "ws", "fuzz corpus passphrase")
        try:
            # the package's one original is a faceless scene (a known image matched by its hashes)
            small = Path(tmp) / "small"
            small.mkdir()
            scene = small / "scene.jpg"
            scene.write_bytes(_save(Image.fromarray(sample_picture("coffee")).resize((160, 120)), "JPEG"))
            with ws.session() as s:
                pid = add_person(
                    s, ws.key, name="Corpus", photos=sample.enrol_photos, consent="generated",
                    known_images=[scene],
                ).person_id  # fmt: skip
            scan_paths(ws, [small], workers=1)
            out = Path(tmp) / "case.zip"
            export_package(ws, person_id=pid, out=out)
        finally:
            ws.close()
        package = out.read_bytes()
        (CORPUS / "evidence" / "package.zip").write_bytes(package)
        with zipfile.ZipFile(io.BytesIO(package)) as zf:
            (CORPUS / "custody" / "custody.json").write_bytes(zf.read("custody.json"))
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(f"corpus: {sum(1 for p in CORPUS.rglob('*') if p.is_file())} files, {total:,} bytes in {CORPUS}")


if __name__ == "__main__":
    main()
