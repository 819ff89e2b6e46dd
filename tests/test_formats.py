"""Every common format, no silent skip: HEIC/HEIF, AVIF, TIFF, WebP and animated GIF files generated here
are items (a face pasted into a scene is found in each), and every other file under a scanned path is a
counted skip the scan's JSON reports (``skipped``) and ``--verbose`` lists."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.demo import SampleExport, build_sample_export, paste_face, sample_picture
from reclaim.errors import LimitExceeded, MediaError
from reclaim.media import decode_media, exif_orientation, sniff_mime
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.sources import NOT_MEDIA, FolderSource, Skipped
from reclaim.store.models import Item, Match, Sighting
from reclaim.workspace import Workspace


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


def fake(scene: str = "chelsea") -> Image.Image:
    """Our stand-in for a deepfake: the demo person's face pasted into a bundled sample scene."""
    return paste_face(sample_picture(scene), width=150, at=(0.45, 0.3))


def heic(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(im).save(buf, format="HEIF", quality=85, **kw)
    return buf.getvalue()


def save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def animated_gif(im: Image.Image) -> bytes:
    frames = [im.convert("P", palette=Image.Palette.ADAPTIVE)]
    frames += [Image.fromarray(sample_picture(s)).resize(im.size).convert("P") for s in ("coffee", "rocket")]
    return save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def format_folder(root: Path) -> dict[str, bytes]:
    """One file per format (names as cameras and phones write them), a text file and system files."""
    im = fake()
    files = {
        "IMG_0001.HEIC": heic(im),
        "photo.avif": save(im, "AVIF", quality=75),
        "scan.tiff": save(im, "TIFF", compression="tiff_lzw"),
        "sticker.webp": save(im, "WEBP", quality=85),
        "reaction.gif": animated_gif(im),
        "no_extension_heic": heic(fake("coffee")),  # content, not name, decides
    }
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "notes.txt").write_text("not media: a counted skip\n")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(60))
    (root / "Thumbs.db").write_bytes(bytes(range(256)))
    return files


def test_heic_and_avif_sniff_and_decode_like_jpeg() -> None:
    im = fake()
    for data, mime in ((heic(im), "image/heic"), (save(im, "AVIF"), "image/avif")):
        assert sniff_mime(data[:512]) == mime
        media = decode_media(data)
        assert (media.kind, media.mime, media.width, media.height) == ("image", mime, *im.size)
        diff = np.abs(media.frames[0].image.astype(int) - np.asarray(im, dtype=int)).mean()
        assert diff < 6, f"{mime} decoded far from the original ({diff:.1f} mean difference)"


def test_heic_and_avif_orientation_is_applied_once() -> None:
    im = fake()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    # libheif rotates while decoding (and reports orientation 1); Pillow's AVIF plugin leaves it to us.
    for data, applied in ((heic(im, exif=exif.tobytes()), 1), (save(im, "AVIF", exif=exif.tobytes()), 6)):
        media = decode_media(data)
        assert (media.width, media.height) == (im.height, im.width)
        upright = np.asarray(im.transpose(Image.Transpose.ROTATE_270), dtype=int)
        assert np.abs(media.frames[0].image.astype(int) - upright).mean() < 6
        assert exif_orientation(data) == applied


def test_truncated_and_huge_heic_and_avif_give_one_clear_error() -> None:
    im = fake()
    for data, name in ((heic(im), "HEIC"), (save(im, "AVIF"), "AVIF")):
        with pytest.raises(MediaError, match=f"^truncated or corrupt {name}: "):
            decode_media(data[: len(data) // 2])
        huge = bytearray(data)
        at = huge.index(b"ispe")
        huge[at + 8 : at + 16] = (100_000).to_bytes(4, "big") + (90_000).to_bytes(4, "big")
        with pytest.raises(LimitExceeded, match=r"^image is 100000x90000 = 9 gigapixels, above the limit"):
            decode_media(bytes(huge))


def test_folder_yields_every_file(tmp_path: Path) -> None:
    files = format_folder(tmp_path / "phone")
    out = list(FolderSource().entries(tmp_path / "phone"))
    skipped = sorted(x.path for x in out if isinstance(x, Skipped))
    assert skipped == [".DS_Store", "Thumbs.db", "notes.txt"]
    assert all(x.reason == NOT_MEDIA for x in out if isinstance(x, Skipped))
    assert sorted(x.sighting.path for x in out if not isinstance(x, Skipped)) == sorted(files)


def test_every_format_is_an_item_with_the_face_found(
    workspace: Workspace, sample: SampleExport, tmp_path: Path
) -> None:
    with workspace.session() as s:
        add_person(
            s, workspace.key, name="P", photos=sample.enrol_photos, known_images=[], consent="test consent",
            vault=workspace.vault,
        )  # fmt: skip
    files = format_folder(tmp_path / "phone")
    report = scan_paths(workspace, [tmp_path / "phone"], workers=1)
    assert report.errors == []
    assert report.items == report.new_items == len(files)
    assert report.skipped == {"not_media": 3, "export_file": 0}
    with workspace.session() as s:
        by_path = {x.path: x for x in s.scalars(select(Sighting))}
        assert set(by_path) == set(files)
        kinds = {p: (x.item.mime, x.item.kind) for p, x in by_path.items() if x.item is not None}
        assert kinds["IMG_0001.HEIC"] == ("image/heic", "image")
        assert kinds["photo.avif"] == ("image/avif", "image")
        assert kinds["reaction.gif"] == ("image/gif", "animation")
        matched = {by_path[p].item_id for p in files}
        face = set(s.scalars(select(Match.item_id).where(Match.kind == "face")))
        missing = [p for p in files if by_path[p].item_id not in face]
        assert not missing, f"the pasted face was not found in {missing}"
        assert len(matched) == len(files) and s.scalar(select(Item.id).where(Item.mime == "image/heic"))


def test_scan_cli_reports_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLAIM_PASSPHRASE", "formats-passphrase")
    monkeypatch.setenv("RECLAIM_WORKSPACE", str(tmp_path / "ws"))
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "letter.txt").write_text("hello\n")
    (tmp_path / "docs" / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (tmp_path / "docs" / "IMG_0002.heic").write_bytes(heic(fake("coffee")))

    result = runner.invoke(app, ["scan", str(tmp_path / "docs"), "--json", "--workers", "1"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] == {"not_media": 2, "export_file": 0}
    assert "skipped_paths" not in report and report["errors"] == [] and report["items"] == 1

    result = runner.invoke(app, ["scan", str(tmp_path / "docs"), "--json", "--verbose", "--workers", "1"])
    paths = {(x["path"].rsplit("/", 1)[-1], x["reason"]) for x in json.loads(result.stdout)["skipped_paths"]}
    assert paths == {("desktop.ini", "not_media"), ("letter.txt", "not_media")}

    result = runner.invoke(app, ["scan", str(tmp_path / "docs"), "--verbose", "--workers", "1"])
    assert "2 file(s) skipped as not media" in result.stdout
    assert "not media: " in result.stderr and "letter.txt" in result.stderr

    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["scan", str(tmp_path / "empty"), "--json", "--workers", "1"])
    assert json.loads(result.stdout)["skipped"] == {"not_media": 0, "export_file": 0}
