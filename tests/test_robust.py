"""The robust repost engine (issue 11, outcome 2): border trimming, region hashes, ORB + RANSAC
verification, and a scan finding a cropped + captioned copy and a screenshot of a known image that
plain PDQ misses, without matching an unrelated picture given the same edits."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from reclaim.demo import SampleExport, build_sample_export, sample_picture
from reclaim.matching.robust import KnownFeatures, RobustIndex, known_features
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.signals.regions import border_box
from reclaim.store.models import Item, KnownImage, Match
from reclaim.workspace import Workspace

KNOWN = "coffee"  # a faceless scene
UNRELATED = "chelsea"


def jpeg(img: Image.Image, quality: int = 70) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def crop_banner(img: Image.Image) -> Image.Image:
    """Keep 80 % of each side (off-centre), then a 16 % caption banner on top."""
    w, h = img.size
    cw, ch = round(w * 0.8), round(h * 0.8)
    pic = img.crop((w - cw, round((h - ch) * 0.2), w, round((h - ch) * 0.2) + ch))
    bh = round(ch * 0.16)
    out = Image.new("RGB", (cw, ch + bh), "white")
    out.paste(pic, (0, bh))
    ImageDraw.Draw(out).text((8, bh // 3), "look at this", fill="black", font_size=bh // 3)
    return out


def screenshot(img: Image.Image) -> Image.Image:
    """The picture scaled into a 540x1170 phone screenshot with a status bar, a chat header and a caption."""
    out = Image.new("RGB", (540, 1170), (236, 229, 221))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, 0, 540, 40), fill=(20, 20, 20))
    draw.text((20, 10), "12:41", fill="white", font_size=20)
    draw.rectangle((0, 40, 540, 130), fill=(7, 94, 84))
    draw.text((90, 65), "Group chat", fill="white", font_size=28)
    scale = 500 / img.width
    pic = img.resize((500, round(img.height * scale)), Image.Resampling.BILINEAR)
    out.paste(pic, (20, 160))
    draw.text((24, 175 + pic.height), "who is this??", fill="black", font_size=22)
    return out


def picture(name: str) -> Image.Image:
    return Image.fromarray(sample_picture(name))


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_border_box_finds_letterbox_and_white_border() -> None:
    pic = sample_picture(KNOWN)
    h, w = pic.shape[:2]
    boxed = np.zeros((h + 80, w, 3), np.uint8)
    boxed[40 : 40 + h] = pic
    assert border_box(boxed) == (40, 40 + h, 0, w)
    framed = np.full((h + 60, w + 60, 3), 255, np.uint8)
    framed[30 : 30 + h, 30 : 30 + w] = pic
    assert border_box(framed) == (30, 30 + h, 30, 30 + w)
    assert border_box(pic) == (0, h, 0, w)


def test_features_round_trip() -> None:
    f = known_features(sample_picture(KNOWN))
    g = KnownFeatures.from_bytes(f.to_bytes())
    assert g.region_names == f.region_names and g.size == f.size
    assert np.array_equal(g.regions, f.regions) and np.array_equal(g.descriptors, f.descriptors)
    assert np.array_equal(g.points, f.points)


def test_engine_finds_edited_copies_and_not_unrelated_ones() -> None:
    index = RobustIndex()
    index.add(1, known_features(sample_picture(KNOWN)))
    index.add(2, known_features(sample_picture("rocket")))
    for edit in (crop_banner, screenshot):
        hits = index.query(decoded(jpeg(edit(picture(KNOWN)))))
        assert hits and hits[0].owner == 1 and hits[0].inliers >= 20, edit.__name__
        assert {h.owner for h in hits} == {1}
        assert not index.query(decoded(jpeg(edit(picture(UNRELATED))))), edit.__name__


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


def test_scan_finds_known_image_reposts_by_the_robust_engine(
    workspace: Workspace, sample: SampleExport, tmp_path: Path
) -> None:
    known_path = tmp_path / "mine.png"
    picture(KNOWN).save(known_path)
    with workspace.session() as s:
        person_id = add_person(
            s,
            workspace.key,
            name="P",
            photos=sample.enrol_photos,
            known_images=[known_path],
            consent="test consent",
            vault=workspace.vault,
        ).person_id
        known = s.scalars(select(KnownImage)).one()
        assert known.features_ct is not None and b"regions" not in known.features_ct  # encrypted
    reposts = tmp_path / "reposts"
    reposts.mkdir()
    (reposts / "cropped.jpg").write_bytes(jpeg(crop_banner(picture(KNOWN)), 60))
    (reposts / "screenshot.jpg").write_bytes(jpeg(screenshot(picture(KNOWN)), 80))
    (reposts / "other_cropped.jpg").write_bytes(jpeg(crop_banner(picture(UNRELATED)), 60))
    (reposts / "other_screenshot.jpg").write_bytes(jpeg(screenshot(picture(UNRELATED)), 80))
    scan_paths(workspace, [reposts], workers=1)
    with workspace.session() as s:
        items = {i.id: i for i in s.scalars(select(Item))}
        matches = s.scalars(select(Match).where(Match.kind == "hash")).all()
        found = {items[m.item_id].sha256: m for m in matches}
        expected = {
            hashlib.sha256((reposts / n).read_bytes()).hexdigest() for n in ("cropped.jpg", "screenshot.jpg")
        }
        assert set(found) == expected
        for m in matches:
            assert m.person_id == person_id
            assert m.detail["known_image_id"] == known.id
            assert str(m.detail["by"]).startswith("robust:")
            assert int(m.detail["inliers"]) >= 20  # type: ignore[call-overload]


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 200, 3), (50, 50, 3), (70, 700, 3)])
@pytest.mark.parametrize("fill", [0, 255, None])
def test_tiny_flat_and_noise_frames_neither_crash_nor_match(
    shape: tuple[int, int, int], fill: int | None
) -> None:
    if fill is None:
        frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    else:
        frame = np.full(shape, fill, np.uint8)
    index = RobustIndex()
    index.add(1, known_features(sample_picture(KNOWN)))
    assert index.query(frame) == []
    index.add(2, known_features(frame))  # a degenerate known image is harmless too
    assert [h.owner for h in index.query(decoded(jpeg(crop_banner(picture(KNOWN)))))] == [1]
