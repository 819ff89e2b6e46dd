"""The PDF evidence report, rendered from the manifest of a real export (sample Telegram export, real scan):
English and Korean, pages rasterised with poppler and checked non-blank, every sighting's chat and
message id present in the text, the thumbnail blurred by default, and the placeholder for null media."""

from __future__ import annotations

import copy
import hashlib
import io
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reclaim.demo import build_sample_export
from reclaim.errors import DependencyError
from reclaim.evidence.package import export_package
from reclaim.evidence.report import find_fonts, render_report, thumbnail
from reclaim.evidence.verify import verify_package
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.signals.face import DlibResNetFace
from reclaim.workspace import Workspace
from tests.conftest import PASSPHRASE


@dataclass
class Rendered:
    manifest: dict[str, Any]
    originals: Callable[[str], bytes | None]
    en: Path
    ko: Path
    unblurred: Path


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (Debian package poppler-utils)")
    return path


def _text(pdf: Path) -> list[str]:
    """The text of each page in content-stream order, whitespace normalised."""
    out = subprocess.run(
        [_need("pdftotext"), "-raw", "-enc", "UTF-8", str(pdf), "-"],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout.decode("utf-8")
    return [" ".join(page.split()) for page in out.split("\f")]


def _pages(pdf: Path, out: Path, *, first: int = 1, last: int = 3, dpi: int = 50) -> list[np.ndarray]:
    out.mkdir(exist_ok=True)
    prefix = out / pdf.stem
    subprocess.run(
        [_need("pdftoppm"), "-r", str(dpi), "-png", "-f", str(first), "-l", str(last), str(pdf), str(prefix)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    files = sorted(out.glob(f"{pdf.stem}-*.png"))
    pages = []
    for f in files:
        with Image.open(f) as im:
            pages.append(np.asarray(im.convert("L"), dtype=np.float64))
        f.unlink()
    return pages


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    tmp = tmp_path_factory.mktemp("report")
    sample = build_sample_export(tmp / "exp" / "ChatExport")
    ws = Workspace.create(tmp / "ws", PASSPHRASE)
    captured: list[dict[str, Any]] = []
    store: dict[str, bytes] = {}

    def hook(manifest: Mapping[str, Any], read: Callable[[str], bytes | None]) -> Mapping[str, bytes]:
        captured.append(copy.deepcopy(dict(manifest)))
        for item in manifest["items"]:
            data = read(item["original"]) if item["original"] else None
            if data is not None:
                assert hashlib.sha256(data).hexdigest() == item["sha256"]
                store[item["original"]] = data
        return {"report/report.pdf": render_report(manifest, originals=read)}

    try:
        with ws.session() as s:
            person_id = add_person(
                s, ws.key, name="Pseudonym Kim", photos=sample.enrol_photos,
                known_images=[sample.known_image], consent="test consent", vault=ws.vault,
            ).person_id  # fmt: skip
        scan_paths(ws, [sample.root], workers=1)
        export_package(ws, person_id=person_id, out=tmp / "evidence.zip", report=hook)
    finally:
        ws.close()
    # The report is a signed member of the package; the package still verifies.
    verified = verify_package(tmp / "evidence.zip")
    assert verified.ok, verified.problems
    with zipfile.ZipFile(tmp / "evidence.zip") as zf:
        assert zf.read("report/report.pdf").startswith(b"%PDF-")
    manifest = captured[0]
    assert manifest["items"] and any(it["sightings"] for it in manifest["items"])
    assert store, "the sample export should store at least one original"

    def originals(rel: str) -> bytes | None:
        return store.get(rel)

    paths = {}
    for name, lang, blur in (("en", "en", True), ("ko", "ko", True), ("unblurred", "en", False)):
        data = render_report(manifest, originals=originals, lang=lang, blur=blur)  # type: ignore[arg-type]
        assert data.startswith(b"%PDF-")
        paths[name] = tmp / f"report_{name}.pdf"
        paths[name].write_bytes(data)
    return Rendered(manifest, originals, paths["en"], paths["ko"], paths["unblurred"])


@pytest.mark.parametrize("name", ["en", "ko"])
def test_pages_render_and_are_not_blank(rendered: Rendered, name: str, tmp_path: Path) -> None:
    pages = _pages(getattr(rendered, name), tmp_path)
    assert len(pages) == 3
    for page in pages:
        assert page.std() > 8, "page is blank"
        assert page.min() < 100, "page has no dark ink"
    assert not list(tmp_path.glob("*.png"))


def test_english_text_lists_every_sighting(rendered: Rendered) -> None:
    pages = _text(rendered.en)
    text = " ".join(pages)
    assert "Evidence report — non-consensual synthetic imagery" in text
    assert "Pseudonym Kim" in text and rendered.manifest["person"]["person_id"] in text
    assert "reclaim evidence verify FILE.zip" in text
    assert "What the signals mean" in pages[-1] or "What the signals mean" in pages[-2]
    key = rendered.manifest["workspace_public_key"]
    assert " ".join(key[i : i + 4] for i in range(0, 16, 4)) in text
    n_sightings = 0
    for n, item in enumerate(rendered.manifest["items"], start=1):
        item_pages = [p for p in pages if f"Item {n} — {item['sha256'][:16]}" in p]
        assert item_pages, f"no section for item {n}"
        start = pages.index(item_pages[0])
        section = " ".join(pages[start : start + 3])
        assert item["sha256"] in section.replace(" ", "") and item["md5"] in section.replace(" ", "")
        for sg in item["sightings"]:
            n_sightings += 1
            assert sg["chat_name"] in section
            assert str(sg["message_id"]) in section
    assert n_sightings > 0
    assert f"{DlibResNetFace.default_threshold:.2f}" in text  # the face threshold is explained in place


def test_korean_labels(rendered: Rendered) -> None:
    text = " ".join(_text(rendered.ko))
    for label in (
        "증거 보고서 — 비동의 합성 이미지",
        "이 패키지를 검증하는 방법",
        "신호의 의미",
        "발견 건수",
    ):
        assert label in text
    assert "What the signals mean" not in text
    for item in rendered.manifest["items"]:
        for sg in item["sightings"]:
            assert sg["chat_name"] in text


def _sharpness(page: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    region = page[y0:y1, x0:x1]
    return float(np.abs(np.diff(region, axis=0)).mean() + np.abs(np.diff(region, axis=1)).mean())


def test_thumbnail_is_blurred_by_default(rendered: Rendered, tmp_path: Path) -> None:
    index = next(n for n, it in enumerate(rendered.manifest["items"], start=1) if it["original"])
    sha = rendered.manifest["items"][index - 1]["sha256"]
    page_no = next(i for i, p in enumerate(_text(rendered.en), start=1) if f"Item {index} — {sha[:16]}" in p)
    assert "Image blurred on purpose" in _text(rendered.en)[page_no - 1]
    blurred = _pages(rendered.en, tmp_path, first=page_no, last=page_no, dpi=72)[0]
    sharp = _pages(rendered.unblurred, tmp_path, first=page_no, last=page_no, dpi=72)[0]
    # The thumbnail: 60 mm square from the left margin (15 mm) under the heading; 72 dpi = 2.83 px/mm.
    box = (int(16 * 2.83), int(26 * 2.83), int(74 * 2.83), int(60 * 2.83))
    assert not np.array_equal(
        blurred[box[1] : box[3], box[0] : box[2]], sharp[box[1] : box[3], box[0] : box[2]]
    )
    assert _sharpness(blurred, box) < 0.5 * _sharpness(sharp, box)


def test_thumbnail_blur_strength() -> None:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    sharp = thumbnail(buf.getvalue(), blur=False)
    soft = thumbnail(buf.getvalue(), blur=True)
    assert sharp is not None and soft is not None
    assert np.asarray(soft, dtype=np.float64).std() < 0.1 * np.asarray(sharp, dtype=np.float64).std()
    assert thumbnail(b"not an image", blur=True) is None


def test_null_original_draws_placeholder(rendered: Rendered, tmp_path: Path) -> None:
    manifest = copy.deepcopy(rendered.manifest)
    for item in manifest["items"]:
        item["original"] = None
    out = tmp_path / "null.pdf"
    out.write_bytes(render_report(manifest, originals=rendered.originals))
    text = " ".join(_text(out))
    assert text.count("media not stored (hash-only / minor)") == len(manifest["items"])
    assert "Image blurred on purpose" not in text
    ko = tmp_path / "null_ko.pdf"
    ko.write_bytes(render_report(manifest, originals=lambda rel: None, lang="ko"))
    assert "미디어 미보관" in " ".join(_text(ko))


def test_long_tables_split_across_pages_and_any_script_renders(rendered: Rendered, tmp_path: Path) -> None:
    manifest = copy.deepcopy(rendered.manifest)
    item = manifest["items"][0]
    base = item["sightings"][0]
    names = [
        "Чат утечек",
        "Ωμέγα ομάδα",
        "비밀 대화방",
        "中文群組",
        ("Room with a very long name " * 4).strip(),
    ]
    item["sightings"] = [
        dict(
            base,
            chat_name=f"{names[i % len(names)]} {i}",
            message_id=5000 + i,
            forwarded_from="fwd " * (i % 9),
        )
        for i in range(90)
    ]
    out = tmp_path / "long.pdf"
    out.write_bytes(render_report(manifest, originals=rendered.originals))
    pages = _text(out)
    plain = _text(rendered.en)
    assert len(pages) >= len(plain) + 3
    text = " ".join(pages)
    for sg in item["sightings"]:
        assert " ".join(sg["chat_name"].split()) in text and str(sg["message_id"]) in text
    assert sum(p.count("Message id") for p in pages) >= 3  # the header row repeats on each page


def test_missing_fonts_raise_dependency_error(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="fonts-nanum"):
        find_fonts("ko", dirs=[tmp_path])
    with pytest.raises(DependencyError, match="fonts-nanum"):
        find_fonts("en", dirs=[tmp_path])
