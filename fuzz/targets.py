"""Fuzz targets: each takes bytes and calls a library entry point exactly as the product does. A target
returns normally or raises a project error (:class:`reclaim.errors.ReclaimError`); anything else escaping it
is a crash to fix in the library. Used by ``fuzz/run.py`` (atheris, ``make fuzz``) and by
``tests/test_fuzz_properties.py`` (a short hypothesis run in ``make test``)."""

from __future__ import annotations

import contextlib
import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from reclaim.errors import ReclaimError

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

Target = Callable[[bytes], None]


def telegram(data: bytes) -> None:
    """A Telegram Desktop export whose result.json is ``data`` (with a photo the messages may name)."""
    from reclaim.sources.telegram import TelegramExportSource

    with tempfile.TemporaryDirectory(prefix="fuzz-tg-") as tmp:
        root = Path(tmp)
        (root / "result.json").write_bytes(data)
        (root / "photos").mkdir()
        (root / "photos" / "photo_1@20-11-2025_10-00-00.jpg").write_bytes(_tiny_jpeg())
        for _ in TelegramExportSource().entries(root):
            pass


def media(data: bytes) -> None:
    """Decoding as the scan does (the scan's limits, every frame it would take)."""
    from reclaim.media import WORK_SIDE, MediaLimits, decode_media

    decode_media(data, limits=MediaLimits(max_side=WORK_SIDE))


def zip_upload(data: bytes) -> None:
    """An uploaded archive, extracted as the server's job does."""
    from reclaim.server.jobs import UploadLimits, extract_zip, is_archive

    with tempfile.TemporaryDirectory(prefix="fuzz-zip-") as tmp:
        archive = Path(tmp) / "upload.zip"
        archive.write_bytes(data)
        limits = UploadLimits(max_bytes=20 * 2**20, max_files=2000)
        if is_archive(archive):
            extract_zip(archive, Path(tmp) / "out", limits, budget=[limits.max_bytes, limits.max_files])


def evidence(data: bytes) -> None:
    """``reclaim evidence verify`` on a (mutated) package."""
    from reclaim.evidence.verify import verify_package

    with tempfile.TemporaryDirectory(prefix="fuzz-ev-") as tmp:
        path = Path(tmp) / "case.zip"
        path.write_bytes(data)
        verify_package(path)


def custody(data: bytes) -> None:
    """A real package whose custody log (custody.json) is ``data``: its parsing and chain verification."""
    base = _base_package()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            out.writestr(info, data if info.filename == "custody.json" else src.read(info))
    evidence(buf.getvalue())


TARGETS: dict[str, Target] = {
    "telegram": telegram,
    "media": media,
    "zip": zip_upload,
    "evidence": evidence,
    "custody": custody,
}


def run_one(target: Target, data: bytes) -> None:
    """Call ``target``; a project error is a clean refusal, anything else propagates (a crash)."""
    with contextlib.suppress(ReclaimError):
        target(data)


def seeds(name: str) -> list[bytes]:
    folder = CORPUS / name
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()] if folder.is_dir() else []


_BASE: list[bytes] = []


def _base_package() -> bytes:
    if not _BASE:
        _BASE.extend(seeds("evidence")[:1] or [b""])
    return _BASE[0]


def _tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 120, 30)).save(buf, "JPEG")
    return buf.getvalue()
