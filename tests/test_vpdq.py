"""vPDQ video hashes (issue 11, part 4): python-threatexchange's serialisation and matcher, hashing by
Meta's ``vpdq`` package bit for bit, and the scan finding re-encoded, trimmed and resized copies of a
known video (or of a video already matched) while leaving an unrelated video alone.

The videos are benign sample footage made here: slow pans over scikit-image pictures without people
(``reclaim.demo.pan_frames``), and for the repost test the astronaut's public-domain face pasted into the
first seconds. Tests that hash need the ``vpdq`` package (built from source; CI installs it) and skip
with the reason otherwise."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from reclaim.demo import SampleExport, build_sample_export, encode_video, pan_frames, paste_face
from reclaim.evidence.package import export_package
from reclaim.evidence.report import render_report
from reclaim.matching.banks import list_hits
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.sharing.service import import_hashes, list_banks
from reclaim.signals import SIGNALS_BY_NAME, SignalValue, VpdqSignal
from reclaim.signals.vpdq import (
    VpdqFeature,
    VpdqIndex,
    from_te,
    from_values,
    hash_video,
    match_percentages,
    to_te,
    to_values,
    unavailable_reason,
)
from reclaim.store.models import ImportedHash, Item, KnownImage, Match, Sighting, Signal
from reclaim.workspace import Workspace

needs_vpdq = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"vPDQ unavailable here: {unavailable_reason()}"
)
FPS = 12

# python-threatexchange's VPDQSignal.get_examples()[0] starts like this (PdqSignal's examples)
TE_EXAMPLE = json.dumps(
    [
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,100,0.0",
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b20,100,1.0",
        "0000000000000000000000000000000000000000000000000000000000000000,0,2.0",
    ]
)


@dataclass
class Videos:
    original: Path
    reencoded: Path
    trimmed: Path
    resized: Path
    unrelated: Path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Videos:
    root = tmp_path_factory.mktemp("videos")
    frames = pan_frames("coffee", seconds=8.0, fps=FPS)
    made = {
        "original": encode_video(frames, fps=FPS),
        "reencoded": encode_video(frames, fps=FPS, codec="mpeg4", bit_rate=300_000),
        "trimmed": encode_video(frames[2 * FPS :], fps=FPS),  # the first 2 s cut
        "resized": encode_video(frames, fps=FPS, size=(176, 132), bit_rate=200_000),
        "unrelated": encode_video(pan_frames("rocket", seconds=8.0, fps=FPS), fps=FPS),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = root / name / f"{name}.mp4"
        paths[name].parent.mkdir()
        paths[name].write_bytes(data)
    return Videos(**paths)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


# --- the format and the matcher (no package needed) ---------------------------------------------------


def test_registered_and_serialised_as_python_threatexchange_writes_it() -> None:
    assert SIGNALS_BY_NAME["vpdq"] is VpdqSignal
    features = from_te(TE_EXAMPLE)
    assert [f.frame_number for f in features] == [0, 1, 2] and features[2].quality == 0
    assert to_te(features) == TE_EXAMPLE == VpdqSignal.validate(TE_EXAMPLE)
    # VpdqCompactFeature.__str__ writes three significant digits: 123.0 s is "1.23e+02"
    late = VpdqFeature("ab" * 32, 90, 1476, 123.0)
    assert late.te_str().endswith(",90,1.23e+02") and from_te(to_te([late]))[0].timestamp == 123.0
    stored = to_values([late])
    assert stored == [SignalValue("vpdq", late.te_str(), 1476, 0, 90)] and from_values(stored) == [late]
    for bad in ("", "[]", '{"0": 1}', '["abc,1,0.0"]', json.dumps(["ab" * 32 + ",101,0.0"])):
        with pytest.raises(ValueError):
            VpdqSignal.validate(bad)


def test_brute_force_percentages() -> None:
    rng = np.random.default_rng(7)

    def feature(i: int, quality: int = 100) -> VpdqFeature:
        return VpdqFeature(rng.bytes(32).hex(), quality, i, float(i))

    known = [feature(i) for i in range(10)]
    flip = bytearray.fromhex(known[3].pdq_hex)
    flip[0] ^= 0xFF  # 8 bits away: still the same frame
    # a trimmed copy: frames 2-9, one of them re-encoded a little, plus a repeat and a flat frame
    copy = [*known[2:], VpdqFeature(flip.hex(), 100, 11, 11.0), known[5], feature(12, quality=10)]
    m = match_percentages(copy, known)
    assert m is not None and m.query_match_percent == 100.0 and m.compared_match_percent == 80.0
    assert m.is_match and m.detail() == {
        "by": "vpdq",
        "query_match_percent": 100.0,
        "compared_match_percent": 80.0,
    }
    # a short clip inside a longer video: the compared side carries it
    m = match_percentages(known, known[:3])
    assert m is not None and (m.query_match_percent, m.compared_match_percent) == (30.0, 100.0) and m.is_match
    unrelated = [feature(i) for i in range(10)]
    assert VpdqIndex().search(unrelated) == []
    index = VpdqIndex()
    index.add(to_te(unrelated), 1)
    index.add(to_te(known), 2)
    assert index.query(to_te(copy)) == [(2, 0)]
    assert match_percentages([feature(0, quality=0)], known) is None  # nothing of quality ≥ 50


# --- hashing: the vpdq package, bit for bit -----------------------------------------------------------


@needs_vpdq
def test_hash_is_the_vpdq_packages_and_python_threatexchanges(videos: Videos) -> None:
    from threatexchange.extensions.vpdq.vpdq import VPDQSignal
    from threatexchange.extensions.vpdq.vpdq_brute_matcher import match_VPDQ_hash_brute
    from threatexchange.extensions.vpdq.vpdq_util import json_to_vpdq

    import vpdq  # type: ignore[import-not-found]

    ours = hash_video(videos.original.read_bytes())
    theirs = vpdq.computeHash(str(videos.original))
    assert [(f.pdq_hex, f.quality, f.frame_number, f.timestamp) for f in ours] == [
        (f.hex, f.quality, f.frame_number, f.timestamp) for f in theirs
    ]
    assert len(ours) == 8  # one feature per second
    assert to_te(ours) == VPDQSignal.hash_from_file(videos.original)
    for other in (videos.trimmed, videos.unrelated):
        a, b = to_te(hash_video(other.read_bytes())), to_te(ours)
        te = match_VPDQ_hash_brute(json_to_vpdq(a), json_to_vpdq(b), 50, 31)
        m = match_percentages(from_te(a), from_te(b))
        assert m is not None
        assert (m.query_match_percent, m.compared_match_percent) == (
            te.query_match_percent,
            te.compared_match_percent,
        )
    with pytest.raises(RuntimeError, match="could not hash"):
        hash_video(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)


# --- the scan ---------------------------------------------------------------------------------------


def _enrol(ws: Workspace, sample: SampleExport, known: list[Path]) -> str:
    with ws.session() as s:
        return add_person(
            s, ws.key, name="P", photos=sample.enrol_photos, known_images=known, consent="test consent"
        ).person_id


def _matches_by_file(ws: Workspace) -> dict[str, list[Match]]:
    with ws.session() as s:
        out: dict[str, list[Match]] = {}
        for sighting in s.scalars(select(Sighting)):
            rows = s.scalars(select(Match).where(Match.item_id == sighting.item_id)).all()
            s.expunge_all()
            out[Path(sighting.path).name] = list(rows)
        return out


@needs_vpdq
def test_scan_finds_copies_of_a_known_video(
    workspace: Workspace, sample: SampleExport, videos: Videos, tmp_path: Path
) -> None:
    person = _enrol(workspace, sample, [videos.original])
    with workspace.session() as s:
        known = s.scalars(select(KnownImage)).one()
        assert known.vpdq == to_te(hash_video(videos.original.read_bytes()))
    folder = tmp_path / "found"
    folder.mkdir()
    for p in (videos.reencoded, videos.trimmed, videos.resized, videos.unrelated):
        (folder / p.name).write_bytes(p.read_bytes())
    report = scan_paths(workspace, [folder], workers=1)
    assert report.to_dict()["video_signals"] == {"vpdq": {"hashed": 4, "unhashed": 0, "problems": {}}}
    found = _matches_by_file(workspace)
    assert found["unrelated.mp4"] == []
    for name in ("reencoded.mp4", "trimmed.mp4", "resized.mp4"):
        (m,) = found[name]
        assert (m.person_id, m.kind, m.detail["by"]) == (person, "hash", "vpdq")
        assert m.detail["known_image_id"] == known.id
        assert max(m.detail["query_match_percent"], m.detail["compared_match_percent"]) >= 80
    assert found["trimmed.mp4"][0].detail["query_match_percent"] == 100.0
    # what is stored is the vpdq package's hash, in python-threatexchange's serialisation
    with workspace.session() as s:
        item = s.scalars(select(Item).join(Sighting).where(Sighting.path.like("%trimmed.mp4"))).one()
        rows = s.scalars(select(Signal).where(Signal.item_id == item.id, Signal.signal_type == "vpdq")).all()
        stored = from_values(
            [SignalValue(r.signal_type, r.value, r.frame_index, r.variant, r.quality) for r in rows]
        )
    assert to_te(stored) == to_te(hash_video(videos.trimmed.read_bytes()))
    assert [f.frame_number for f in stored] == [0, 12, 24, 36, 48, 60]
    # the evidence report explains a vPDQ match in frames, not in bits
    reports: list[bytes] = []

    def hook(manifest: Mapping[str, Any], read: Callable[[str], bytes | None]) -> Mapping[str, bytes]:
        reports.append(render_report(manifest, originals=read))
        return {"report/report.pdf": reports[-1]}

    export_package(workspace, person_id=person, out=tmp_path / "evidence.zip", report=hook)
    if shutil.which("pdftotext") is not None:
        text = subprocess.run(
            ["pdftotext", "-", "-"], input=reports[0], capture_output=True, check=True, timeout=60
        ).stdout.decode()
        assert "vPDQ video match: 100% of this video's frames and 75% of the known video's" in " ".join(
            text.split()
        )


@needs_vpdq
def test_enrolling_a_known_video_after_the_scan(
    workspace: Workspace, sample: SampleExport, videos: Videos
) -> None:
    scan_paths(workspace, [videos.trimmed.parent, videos.unrelated.parent], workers=1)
    _enrol(workspace, sample, [videos.original])
    found = _matches_by_file(workspace)
    assert found["unrelated.mp4"] == []
    assert [(m.kind, m.detail["by"]) for m in found["trimmed.mp4"]] == [("hash", "vpdq")]


@needs_vpdq
def test_a_copy_of_a_matched_video_is_a_repost(
    workspace: Workspace, sample: SampleExport, tmp_path: Path
) -> None:
    # a clip whose first 3 s show the (pasted) face: a face match; a copy with those seconds cut has no
    # face, and only the footage links it to the matched clip
    frames = pan_frames("chelsea", seconds=9.0, fps=FPS, size=(480, 360))
    for i in range(3 * FPS):
        frames[i] = np.asarray(paste_face(frames[i], width=150, at=(0.5, 0.4)))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "clip.mp4").write_bytes(encode_video(frames, fps=FPS))
    (tmp_path / "b" / "cut.mp4").write_bytes(encode_video(frames[3 * FPS :], fps=FPS, bit_rate=250_000))
    person = _enrol(workspace, sample, [])
    scan_paths(workspace, [tmp_path / "a"], workers=1)
    scan_paths(workspace, [tmp_path / "b"], workers=1)
    found = _matches_by_file(workspace)
    assert [m.kind for m in found["clip.mp4"]] == ["face"]
    (repost,) = found["cut.mp4"]
    assert (repost.person_id, repost.kind) == (person, "repost")
    assert repost.detail["via"]["match_id"] == found["clip.mp4"][0].id
    assert repost.detail["via"]["signal"] in ("pdq", "pdq64", "vpdq")


def test_without_the_package_videos_get_no_vpdq_and_the_scan_says_so(videos: Videos, tmp_path: Path) -> None:
    """A machine without the vpdq package (a fresh ``make demo``): no crash, no vPDQ, said plainly."""
    script = (
        "import json, sys\n"
        "sys.modules['vpdq'] = None  # as if the package were not installed\n"
        "from pathlib import Path\n"
        "from reclaim.scan.service import scan_paths\n"
        "from reclaim.workspace import Workspace\n"
        f"ws = Workspace.create(Path({str(tmp_path / 'ws')!r}), 'pass-phrase-for-test')\n"
        f"report = scan_paths(ws, [Path({str(videos.original.parent)!r})], workers=1)\n"
        "print(json.dumps(report.to_dict()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["new_items"] == 1 and report["errors"] == []
    (problem,) = report["video_signals"]["vpdq"]["problems"]
    assert "not installed" in problem and report["video_signals"]["vpdq"]["unhashed"] == 1
    ws = Workspace.open(tmp_path / "ws", "pass-phrase-for-test")
    try:
        with ws.session() as s:
            assert s.scalars(select(Signal).where(Signal.signal_type == "vpdq")).all() == []
            assert s.scalars(select(Signal).where(Signal.signal_type == "pdq")).all() != []
    finally:
        ws.close()


@needs_vpdq
def test_an_imported_vpdq_list_flags_a_trimmed_copy(
    workspace: Workspace, videos: Videos, tmp_path: Path
) -> None:
    """A partner's python-threatexchange list with a vpdq line: the bank holds it, a scan flags the copy."""
    listing = tmp_path / "partner.te"
    original = to_te(hash_video(videos.original.read_bytes()))
    listing.write_text(f"# a partner's list\nvpdq {original}\nvpdq {original}\n")
    with workspace.session() as s:
        result = import_hashes(s, path=listing, bank="partner")
    assert (result.added, result.already_there) == (1, 0)  # a repeated line counts once
    with workspace.session() as s:
        (banked,) = s.scalars(select(ImportedHash)).all()
        assert banked.vpdq == original and banked.signal_type == "vpdq" and len(banked.value) == 64
        assert [b.to_dict() for b in list_banks(s)] == [
            {"bank": "partner", "pdq": 0, "md5": 0, "hits": 0, "vpdq": 1}
        ]
    scan_paths(workspace, [videos.trimmed.parent, videos.unrelated.parent], workers=1)
    trimmed_sha = hashlib.sha256(videos.trimmed.read_bytes()).hexdigest()
    with workspace.session() as s:
        assert [(h.item_sha256, h.bank, h.by, h.distance) for h in list_hits(s)] == [
            (trimmed_sha, "partner", "vpdq", 0)
        ]
