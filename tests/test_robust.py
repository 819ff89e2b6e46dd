"""The robust repost engine (issue 11, outcome 2): border trimming, region hashes, ORB + RANSAC
verification, and a scan finding a cropped + captioned copy and a screenshot of a known image that
plain PDQ misses, without matching an unrelated picture given the same edits."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from reclaim.demo import SampleExport, build_sample_export, paste_face, sample_picture
from reclaim.matching import robust
from reclaim.matching.queries import list_matches
from reclaim.matching.robust import KnownFeatures, RobustIndex, item_features, known_features
from reclaim.matching.service import Matcher
from reclaim.persons.service import add_person, forget_person
from reclaim.review import review_match
from reclaim.scan.analyze import Analysis, AnalyzeOptions, analyze_bytes, analyze_job
from reclaim.scan.service import scan_paths
from reclaim.sharing.service import import_hashes
from reclaim.signals.regions import banner_rows, border_box, query_regions
from reclaim.store.models import BankHit, Event, Item, ItemFeatureRow, KnownImage, Match
from reclaim.workspace import Workspace

from .conftest import PASSPHRASE

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


# --- the engine in the scan: features from the worker, matched items as references, banks ----------------


def edit_without_face(img: Image.Image) -> Image.Image:
    """Keep the right 65 % and the top 90 % (the face pasted at the left edge is gone), then a banner."""
    w, h = img.size
    pic = img.crop((round(w * 0.35), 0, w, round(h * 0.9)))
    bh = round(pic.height * 0.16)
    out = Image.new("RGB", (pic.width, pic.height + bh), "white")
    out.paste(pic, (0, bh))
    ImageDraw.Draw(out).text((8, bh // 3), "look at this", fill="black", font_size=bh // 3)
    return out


@dataclass(frozen=True)
class Edited:
    enrol_photos: list[Path]
    known: Path
    """A known image (faceless) of the person."""
    files: list[Path]
    """original.jpg (the face composite: a face match), edited.jpg (it cropped without the face and
    captioned: no face, no PDQ match), known_edit.jpg (the known image cropped and captioned),
    other_edit.jpg (an unrelated picture given the same edit)."""

    def path(self, name: str) -> Path:
        return next(p for p in self.files if p.name == name)


@pytest.fixture(scope="module")
def edited(sample: SampleExport, tmp_path_factory: pytest.TempPathFactory) -> Edited:
    base = tmp_path_factory.mktemp("edited")
    known = base / "known.png"
    picture("rocket").save(known)
    files = base / "files"
    files.mkdir()
    composite = paste_face(sample_picture(KNOWN), width=150, at=(0.0, 0.3))
    (files / "original.jpg").write_bytes(jpeg(composite, 92))
    (files / "edited.jpg").write_bytes(jpeg(edit_without_face(composite), 70))
    (files / "known_edit.jpg").write_bytes(jpeg(crop_banner(picture("rocket")), 70))
    (files / "other_edit.jpg").write_bytes(jpeg(edit_without_face(picture("camera")), 70))
    return Edited(sample.enrol_photos, known, sorted(files.iterdir()))


def enrol(ws: Workspace, e: Edited) -> str:
    with ws.session() as s:
        return add_person(
            s, ws.key, name="P", photos=e.enrol_photos, known_images=[e.known], consent="test consent",
            vault=ws.vault,
        ).person_id  # fmt: skip


def by_name(ws: Workspace, e: Edited) -> dict[str, list[dict[str, Any]]]:
    with ws.session() as s:
        names = {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in e.files}
        out: dict[str, list[dict[str, Any]]] = {n: [] for n in names.values()}
        for m in list_matches(s):
            out[names[m["item_sha256"]]].append(m)
        return out


def test_the_worker_computes_features_only_when_the_engine_has_something_to_match(
    workspace: Workspace, edited: Edited
) -> None:
    data = edited.path("edited.jpg").read_bytes()
    off = analyze_job((data, AnalyzeOptions(faces=False)))
    on = analyze_job((data, AnalyzeOptions(faces=False, robust=True)))
    assert isinstance(off, Analysis) and isinstance(on, Analysis)
    assert off.robust is None and on.robust is not None
    direct = item_features(decoded(data))  # what the worker gives = the engine on the decoded frame
    assert np.array_equal(on.robust.regions, direct.regions)
    assert np.array_equal(on.robust.descriptors, direct.descriptors)
    assert repr(on).count("robust=True") == 1 and "regions" not in repr(on)
    scan_paths(workspace, [edited.path("other_edit.jpg")], workers=1)
    with workspace.session() as s:  # nobody to match: no features computed or stored
        assert s.scalars(select(ItemFeatureRow)).all() == []
    enrol(workspace, edited)  # an enrolment computes them from the vault for the stored items
    with workspace.session() as s:
        rows = s.scalars(select(ItemFeatureRow)).all()
        assert len(rows) == 1 and b"regions" not in rows[0].features_ct  # encrypted


def test_the_writer_does_not_decode_for_the_engine(
    workspace: Workspace, edited: Edited, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(workspace, edited)

    def no_decoding(data: bytes) -> None:
        raise AssertionError("the scan's writer decoded a frame for the robust engine")

    monkeypatch.setattr(robust, "first_frame", no_decoding)
    report = scan_paths(workspace, [edited.path("known_edit.jpg")], workers=1, forensics="none")
    assert not report.errors and report.hash_matches == 1


def test_an_edited_repost_of_a_matched_item_is_a_repost_match(workspace: Workspace, edited: Edited) -> None:
    enrol(workspace, edited)
    scan_paths(workspace, [edited.path("edited.jpg").parent], workers=1)
    got = by_name(workspace, edited)
    assert [m["kind"] for m in got["original.jpg"]] == ["face"]
    assert [(m["kind"], str(m["detail"]["by"])[:7]) for m in got["known_edit.jpg"]] == [("hash", "robust:")]
    assert got["other_edit.jpg"] == []
    [repost] = got["edited.jpg"]
    via = repost["via"]
    original_sha = hashlib.sha256(edited.path("original.jpg").read_bytes()).hexdigest()
    assert repost["kind"] == "repost" and via["match_id"] == got["original.jpg"][0]["match_id"]
    assert via["item_sha256"] == original_sha and str(via["signal"]).startswith("robust:")
    assert via["inliers"] >= 20 and repost["distance"] == via["distance"]
    with workspace.session() as s:  # the original and its edit are in different clusters
        items = {i.sha256: i.cluster_id for i in s.scalars(select(Item))}
        assert len(set(items.values())) == len(items)
        # rejecting the original does not silently reject the edited repost: it is named, still to review
        r = review_match(s, match_id=got["original.jpg"][0]["match_id"], decision="rejected")
        assert r.reposts_pending == [repost["match_id"]]
        assert s.get(Match, repost["match_id"]).status == "candidate"  # type: ignore[union-attr]


def _signature(ws: Workspace, e: Edited) -> list[tuple[Any, ...]]:
    rows = []
    for name, ms in by_name(ws, e).items():
        for m in ms:
            via = m["via"] or {}
            by = (m["detail"] or {}).get("by")
            rows.append((name, m["kind"], by, via.get("item_sha256"), via.get("signal"), via.get("distance")))
    return sorted(rows, key=repr)


def test_scan_order_and_enrolment_after_the_scan_give_the_same_robust_matches(
    tmp_path: Path, edited: Edited
) -> None:
    results = []
    for label, order, enrol_first in [
        ("forward", edited.files[::-1], True),  # original before its edit
        ("backward", edited.files, True),  # the edit first: found when the original is matched
        ("enrolled-after", edited.files, False),
        ("one-scan-backward", edited.files, True),  # the edit first in the same scan: the scan's finish
        ("one-scan-forward", edited.files[::-1], True),
    ]:
        w = Workspace.create(tmp_path / label, PASSPHRASE)
        try:
            if enrol_first:
                enrol(w, edited)
            if label.startswith("one-scan"):
                assert not scan_paths(w, list(order), workers=1, forensics="none").errors
            for path in [] if label.startswith("one-scan") else order:  # one scan per file
                assert not scan_paths(w, [path], workers=1, forensics="none").errors
            if not enrol_first:
                enrol(w, edited)
            results.append(_signature(w, edited))
        finally:
            w.close()
    assert all(r == results[0] for r in results), results
    kinds = sorted((row[0], row[1]) for row in results[0])
    assert kinds == [("edited.jpg", "repost"), ("known_edit.jpg", "hash"), ("original.jpg", "face")]


def test_forgetting_the_person_leaves_no_reference(workspace: Workspace, edited: Edited) -> None:
    person_id = enrol(workspace, edited)
    scan_paths(workspace, [edited.path("original.jpg")], workers=1, forensics="none")
    with workspace.session() as s:
        assert len(Matcher(s, workspace.key).references) == 1
        forget_person(s, person_id, workspace.vault)
    with workspace.session() as s:
        assert len(Matcher(s, workspace.key).references) == 0
        assert s.scalars(select(Match)).all() == []
    scan_paths(workspace, [edited.path("edited.jpg")], workers=1, forensics="none")
    with workspace.session() as s:
        assert s.scalars(select(Match)).all() == []


def test_a_bank_of_standard_pdq_is_hit_by_region_hashes(workspace: Workspace, tmp_path: Path) -> None:
    original = picture("rocket")
    pdq = analyze_bytes(jpeg(original, 95), faces=False).signals[0]
    assert pdq.signal_type == "pdq" and pdq.variant == 0
    listing = tmp_path / "partner.te"
    listing.write_text(f"pdq {pdq.value}\n")
    with workspace.session() as s:
        import_hashes(s, path=listing, bank="partner", key=workspace.key)
        s.commit()
    folder = tmp_path / "items"
    folder.mkdir()
    w, h = original.size
    boxed = Image.new("RGB", (w, round(h * 1.3)), "black")
    boxed.paste(original, (0, round(h * 0.15)))
    (folder / "letterboxed.jpg").write_bytes(jpeg(boxed, 80))
    bannered = Image.new("RGB", (w, round(h * 1.16)), "white")
    bannered.paste(original, (0, round(h * 0.16)))
    ImageDraw.Draw(bannered).text((8, 10), "look at this", fill="black", font_size=24)
    (folder / "bannered.jpg").write_bytes(jpeg(bannered, 80))
    (folder / "plain.jpg").write_bytes(jpeg(original, 60))
    (folder / "other.jpg").write_bytes(jpeg(picture(UNRELATED), 80))
    (folder / "other_boxed.jpg").write_bytes(jpeg(crop_banner(picture(UNRELATED)), 80))
    scan_paths(workspace, [folder], workers=1, forensics="none")
    with workspace.session() as s:
        names = {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in folder.iterdir()}
        hits = {
            names[sha]: by for sha, by in s.execute(select(Item.sha256, BankHit.signal_type).join(BankHit))
        }
        assert hits == {"plain.jpg": "pdq", "letterboxed.jpg": "pdq-region", "bannered.jpg": "pdq-region"}
        assert s.scalars(select(Match)).all() == []  # a bank hit is not a match
        events = [e.detail for e in s.scalars(select(Event).where(Event.kind == "bank.hit"))]
        assert sorted(str((d or {}).get("region")) for d in events) == ["None", "debannered", "trimmed"]


def test_banner_rows_find_a_caption_banner_and_not_a_plain_picture() -> None:
    pic = picture(KNOWN)
    w, h = pic.size
    bh = round(h * 0.16)
    out = Image.new("RGB", (w, h + bh), "white")
    out.paste(pic, (0, bh))
    ImageDraw.Draw(out).text((8, bh // 3), "who is this??", fill="black", font_size=bh // 3)
    top, bottom = banner_rows(decoded(jpeg(out, 70)))
    assert bottom == 0 and bh - 4 <= top <= bh + 1
    assert banner_rows(sample_picture(KNOWN)) == (0, 0)
    names = [r.region for r in query_regions(decoded(jpeg(out, 70)))]
    assert names[-1] == "debannered" and "debannered" not in [
        r.region for r in query_regions(sample_picture(KNOWN))
    ]


def _random_features(rng: np.random.Generator, n: int, near: np.ndarray | None = None) -> KnownFeatures:
    regions = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    if near is not None and len(near) and n:
        k = min(n, len(near))
        flips = np.packbits(rng.random((k, 256)) < 0.06, axis=1)  # ≈ 15 of 256 bits
        regions[:k] = near[:k] ^ flips
    names = [f"r{i}" for i in range(n)]
    return KnownFeatures(regions, names, np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), (8, 8))


def test_candidates_are_the_closest_region_pair_of_each_known_image() -> None:
    """The stacked, vectorised candidates give what a per-known-image search gives: the same known
    images in the order they were added, distances and region names (first closest pair in (query,
    known) order), with known images that have no regions, re-added owners and adds between queries."""
    rng = np.random.default_rng(13)
    index = RobustIndex()
    known: dict[int, KnownFeatures] = {}

    def expected(item: KnownFeatures) -> dict[int, tuple[int, str]]:
        out: dict[int, tuple[int, str]] = {}
        for owner, k in known.items():
            if not len(k.regions):
                continue
            x = np.unpackbits(item.regions, axis=1).astype(np.int32)
            y = np.unpackbits(k.regions, axis=1).astype(np.int32)
            dist = (x[:, None, :] != y[None, :, :]).sum(axis=2)
            qi, ki = np.unravel_index(int(dist.argmin()), dist.shape)
            if dist[qi, ki] <= robust.CANDIDATE_BITS:
                out[owner] = (int(dist[qi, ki]), f"{item.region_names[qi]}~{k.region_names[ki]}")
        return out

    found = 0
    for step in range(120):
        owner = int(rng.integers(0, 60))  # some owners are added again (their features replaced)
        features = _random_features(rng, int(rng.integers(0, 12)))
        index.add(owner, features, pooled=bool(step % 2))
        known[owner] = features
        if step % 4 == 3:
            target = known[int(rng.choice(list(known)))]
            item = _random_features(rng, int(rng.integers(1, 25)), near=target.regions)
            got = index.candidates(item)
            assert list(got.items()) == list(expected(item).items())
            found += len(got)
    assert found >= 20, "the near copies must give candidates for the test to mean anything"
    assert index.candidates(_random_features(rng, 0)) == {}
