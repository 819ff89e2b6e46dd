"""Scale (issue 13, outcome 3): a rescan recognises unchanged files by their stamp without reading them,
records nothing twice, and reads a file again when it changed; the stamps hold no path in the clear."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

import reclaim.scan.service as scan_service
from reclaim.demo import jpeg, sample_picture
from reclaim.matching.index import GrowingIndex
from reclaim.scan.service import scan_paths
from reclaim.signals import LinearIndex
from reclaim.store.models import FileStamp, Item, Sighting
from reclaim.workspace import DB_FILE, Workspace


def _pictures(folder: Path, n: int) -> list[Path]:
    folder.mkdir()
    scene = sample_picture("coffee")
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        y, x = int(rng.integers(0, 100)), int(rng.integers(0, 150))
        crop = scene[y : y + 300, x : x + 400].astype(np.float32) * rng.uniform(0.6, 1.2, size=3)
        img = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8))
        path = folder / f"p{i}.jpg"
        path.write_bytes(jpeg(img))
        out.append(path)
    return out


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the scan reads (its one reader, wrapped)."""
    seen: list[str] = []
    real = scan_service._read_entry

    def counting(entry: scan_service.Entry, limits: scan_service.MediaLimits) -> bytes:
        seen.append(entry.file.name if entry.file else "?")
        return real(entry, limits)

    monkeypatch.setattr(scan_service, "_read_entry", counting)
    return seen


def _counts(ws: Workspace) -> tuple[int, int, int]:
    with ws.session() as s:
        return (
            int(s.scalar(select(func.count()).select_from(Item)) or 0),
            int(s.scalar(select(func.count()).select_from(Sighting)) or 0),
            int(s.scalar(select(func.count()).select_from(FileStamp)) or 0),
        )


def test_rescan_reads_nothing_unchanged_and_records_nothing_twice(
    workspace: Workspace, tmp_path: Path, reads: list[str]
) -> None:
    files = _pictures(tmp_path / "pics", 5)
    (tmp_path / "pics" / "copy.jpg").write_bytes(files[0].read_bytes())  # same content, second path
    first = scan_paths(workspace, [tmp_path / "pics"], workers=1, faces=False)
    assert (first.new_items, first.new_sightings, first.errors) == (5, 6, [])
    assert len(reads) == 6
    assert _counts(workspace) == (5, 6, 6)

    reads.clear()
    again = scan_paths(workspace, [tmp_path / "pics"], workers=1, faces=False)
    assert reads == []  # neither read nor hashed: recognised by (path, size, mtime, inode)
    assert (again.items, again.sightings, again.new_items, again.new_sightings) == (5, 6, 0, 0)
    assert _counts(workspace) == (5, 6, 6)

    # A file touched (same bytes, new mtime) is read again and still adds nothing but its new stamp.
    st = files[1].stat()
    os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    # A file whose bytes changed is a new item.
    files[2].write_bytes(jpeg(Image.new("RGB", (320, 240), (200, 30, 30))))
    reads.clear()
    third = scan_paths(workspace, [tmp_path / "pics"], workers=1, faces=False)
    assert sorted(reads) == ["p1.jpg", "p2.jpg"]
    assert (third.new_items, third.new_sightings) == (1, 1)
    assert _counts(workspace) == (6, 7, 8)


def test_stamps_hold_no_path_in_the_clear(workspace: Workspace, tmp_path: Path) -> None:
    _pictures(tmp_path / "secret-folder-name", 2)
    scan_paths(workspace, [tmp_path / "secret-folder-name"], workers=1, faces=False)
    workspace.close()
    raw = (workspace.root / DB_FILE).read_bytes()
    assert b"secret-folder-name" not in raw


def test_growing_index_answers_as_the_linear_index_while_it_grows() -> None:
    rng = np.random.default_rng(11)
    grow, linear = GrowingIndex(), LinearIndex()
    GrowingIndex.TAIL = 64  # so that this test crosses several merges
    try:
        base = rng.integers(0, 256, size=(40, 32), dtype=np.uint8)
        for i in range(1_000):
            row = base[i % 40].copy()
            flips = rng.choice(256, size=int(rng.integers(0, 40)), replace=False)
            for bit in flips:
                row[bit // 8] ^= 1 << (bit % 8)
            value = row.tobytes().hex()
            for index in (grow, linear):
                index.add(value, i)
            if i % 97 == 0:
                probe = base[int(rng.integers(40))].tobytes().hex()
                assert grow.query(probe) == linear.query(probe)
                assert grow.query(probe, radius=10) == linear.query(probe, radius=10)
        assert len(grow) == len(linear) == 1_000
        for j in range(40):
            probe = base[j].tobytes().hex()
            assert grow.query(probe) == linear.query(probe) != []
    finally:
        GrowingIndex.TAIL = 4096


def test_a_folder_named_twice_is_scanned_once_and_stamped_once(workspace: Workspace, tmp_path: Path) -> None:
    _pictures(tmp_path / "pics", 3)
    report = scan_paths(workspace, [tmp_path / "pics", tmp_path / "pics"], workers=1, faces=False)
    assert (report.new_items, report.new_sightings, report.errors) == (3, 3, [])
    assert _counts(workspace) == (3, 3, 3)
    again = scan_paths(workspace, [tmp_path / "pics", tmp_path / "pics"], workers=1, faces=False)
    assert (again.new_items, again.new_sightings, again.sightings, again.errors) == (0, 0, 6, [])
