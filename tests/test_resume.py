"""Crash safety: a scan killed (SIGKILL) at random points, then rerun, ends exactly where an uninterrupted
scan ends: same items, signals, faces, sightings, matches, clusters and vault contents.

Runs the real CLI in subprocesses. The corpus is the demo Telegram export plus generated pictures (some
with the demo's pasted sample face, some near-duplicates, some exact duplicates in two places).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reclaim.demo import SampleExport, build_sample_export, jpeg, paste_face
from reclaim.persons.service import add_person
from reclaim.store.crypto import open_keyring
from reclaim.store.fields import unseal
from reclaim.workspace import DB_FILE, KEYRING_FILE, VAULT_DIR, Workspace

pytestmark = pytest.mark.slow

PASSPHRASE = "resume-test-passphrase"
PERSON = "Resume Person (sample portrait)"
KILLS = 10
POOL_RUNS = {2, 6, 8}
"""Kill rounds that run with --workers 2 (the process-pool path); the others use --workers 1."""
STARTUP_ROUNDS = {0, 5}
"""Kill rounds that land in start-up rather than while items are written."""
SEED = 20251120


# --- material -----------------------------------------------------------------------------------------


def background(seed: int, size: tuple[int, int] = (480, 360)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    gx = np.linspace(0, 255, w)[None, :, None]
    gy = np.linspace(0, 255, h)[:, None, None]
    tint = rng.uniform(0.2, 1.0, 3)
    return np.clip((gx * tint + gy * tint[::-1]) / 2 + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


@dataclass
class Material:
    corpus: Path
    sample: SampleExport


def build_material(base: Path) -> Material:
    """``base/corpus`` holds the demo export and ``extra/`` generated pictures; the enrolment photos stay
    outside it."""
    sample = build_sample_export(base / "build" / "ChatExport")
    corpus = base / "corpus"
    corpus.mkdir()
    shutil.move(sample.root, corpus / "ChatExport")
    sample.root = corpus / "ChatExport"
    extra = corpus / "extra"
    (extra / "a").mkdir(parents=True)
    (extra / "b").mkdir()
    for i in range(9):  # faceless scenes
        (extra / "a" / f"scene_{i:02d}.jpg").write_bytes(jpeg(Image.fromarray(background(100 + i)), 88))
    for i in range(7):  # the sample face pasted into generated scenes
        fake = paste_face(background(200 + i), width=100 + 10 * i, at=(0.1 + 0.1 * i, 0.2 + 0.05 * i))
        (extra / "a" / f"face_{i:02d}.jpg").write_bytes(jpeg(fake, 90))
        if i < 2:  # near-duplicates: downscaled and recompressed reposts
            small = fake.resize((fake.width * 7 // 10, fake.height * 7 // 10))
            (extra / "b" / f"repost_{i:02d}.jpg").write_bytes(jpeg(small, 60))
    for name in ("scene_03.jpg", "face_01.jpg"):  # exact duplicates: sightings only
        shutil.copyfile(extra / "a" / name, extra / "b" / f"copy_of_{name}")
    return Material(corpus, sample)


def enrol(ws_dir: Path, sample: SampleExport) -> None:
    ws = Workspace.create(ws_dir, PASSPHRASE)
    try:
        with ws.session() as session:
            add_person(
                session,
                ws.key,
                name=PERSON,
                photos=sample.enrol_photos,
                known_images=[sample.known_image],
                consent="test: public-domain sample portrait, no real person harmed",
            )
    finally:
        ws.close()


# --- running the CLI ----------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECLAIM_")}
    env["RECLAIM_PASSPHRASE"] = PASSPHRASE
    return env


def _cmd(ws: Path, corpus: Path, workers: int) -> list[str]:
    script = Path(sys.executable).with_name("reclaim")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "reclaim.cli"]
    return [*base, "--workspace", str(ws), "scan", str(corpus), "--json", "--workers", str(workers)]


def scan_to_end(ws: Path, corpus: Path, workers: int = 1) -> tuple[dict[str, Any], float]:
    start = time.monotonic()
    proc = subprocess.run(
        _cmd(ws, corpus, workers), env=_env(), capture_output=True, text=True, timeout=120, check=False
    )
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), seconds


def _reap_group(pgid: int) -> None:
    """Kill what is left of a killed scan's process group (pool workers, the forkserver)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass
class KillLog:
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mid_scan(self) -> int:
        return sum(r["alive"] for r in self.rounds)


def scan_and_kill(
    ws: Path, corpus: Path, workers: int, *, delay: float, after_items: int | None = None
) -> bool:
    """Start a scan and SIGKILL it ``delay`` seconds after start, or, with ``after_items``, ``delay``
    seconds after the workspace first holds that many items. True if the scan was still running."""
    with subprocess.Popen(
        _cmd(ws, corpus, workers),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as proc:
        if after_items is not None:
            while proc.poll() is None and count_items(ws) < after_items:
                time.sleep(0.01)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            _reap_group(proc.pid)
            return True
        _reap_group(proc.pid)
        assert proc.returncode == 0
        return False


def count_items(ws: Path) -> int:
    with contextlib.closing(sqlite3.connect(ws / DB_FILE)) as db:
        return int(db.execute("SELECT count(*) FROM items").fetchone()[0])


# --- the state to compare -----------------------------------------------------------------------------


@dataclass
class State:
    items: dict[str, bool]
    """sha256 -> stored."""
    signals: set[tuple[str, str, int, int, str]]
    faces: set[tuple[str, int, str]]
    sightings: list[tuple[str, str | None, str | None]]
    """(source_key, item sha256, placeholder), sorted."""
    matches: dict[tuple[str, str, str], float]
    """(person name, item sha256, kind) -> distance."""
    clusters: set[frozenset[str]]
    vault_files: list[Path]
    scans: list[str]


def read_state(ws: Path) -> State:
    key = open_keyring(ws / KEYRING_FILE, PASSPHRASE)

    def opened(field: str, value: str | None) -> str | None:
        """Words are encrypted at rest (store.fields), with a fresh nonce each: compare plaintexts."""
        return None if value is None else unseal(key, field, value)

    with contextlib.closing(sqlite3.connect(ws / DB_FILE)) as db:
        items = {sha: bool(stored) for sha, stored in db.execute("SELECT sha256, stored FROM items")}
        signals = set(
            db.execute(
                "SELECT i.sha256, s.signal_type, s.frame_index, s.variant, s.value "
                "FROM signals s JOIN items i ON i.id = s.item_id"
            )
        )
        faces = set(
            db.execute("SELECT i.sha256, f.frame_index, f.box FROM faces f JOIN items i ON i.id = f.item_id")
        )
        sightings = sorted(
            (
                (
                    opened("sightings.source_key", source_key),
                    sha,
                    opened("sightings.placeholder", placeholder),
                )
                for source_key, sha, placeholder in db.execute(
                    "SELECT s.source_key, i.sha256, s.placeholder "
                    "FROM sightings s LEFT JOIN items i ON i.id = s.item_id"
                )
            ),
            key=repr,
        )
        matches = {
            (opened("persons.name", name), sha, kind): dist
            for name, sha, kind, dist in db.execute(
                "SELECT p.name, i.sha256, m.kind, m.distance FROM matches m "
                "JOIN persons p ON p.id = m.person_id JOIN items i ON i.id = m.item_id"
            )
        }
        by_cluster: dict[int | None, set[str]] = defaultdict(set)
        for cluster_id, sha in db.execute("SELECT cluster_id, sha256 FROM items"):
            by_cluster[cluster_id].add(sha)
        assert None not in by_cluster, "every analysed item belongs to a cluster"
        scans = [status for (status,) in db.execute("SELECT status FROM scans ORDER BY id")]
    vault_files = sorted(p for p in (ws / VAULT_DIR).rglob("*") if p.is_file())
    return State(
        items,
        signals,
        faces,
        sightings,
        matches,
        {frozenset(s) for s in by_cluster.values()},
        vault_files,
        scans,
    )


def check_vault(ws_dir: Path, state: State) -> list[Path]:
    """Every stored item has its blob, which decrypts to its bytes; returns leftover temp files. Fails on
    a blob under a real name that no stored item owns."""
    temp = [p for p in state.vault_files if p.name.startswith(".") and p.name.endswith(".tmp")]
    blobs = [p for p in state.vault_files if p not in temp]
    stored = [sha for sha, is_stored in state.items.items() if is_stored]
    ws = Workspace.open(ws_dir, PASSPHRASE)
    try:
        for sha in stored:
            assert ws.vault.has(sha), f"stored item {sha[:12]} has no blob"
            assert len(ws.vault.get(sha)) > 0
    finally:
        ws.close()
    assert len(blobs) == len(stored), f"{len(blobs) - len(stored)} orphan blob(s) in the vault"
    return temp


# --- the test -----------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_killed_scans_resume_to_the_same_result(tmp_path: Path) -> None:
    started = time.monotonic()
    material = build_material(tmp_path)
    ws_a, ws_b = tmp_path / "ws_a", tmp_path / "ws_b"
    for ws in (ws_a, ws_b):
        enrol(ws, material.sample)

    # Reference: one uninterrupted scan, then a rescan that finds everything known (start-up cost).
    reference, total = scan_to_end(ws_a, material.corpus)
    state_a = read_state(ws_a)
    n_items = len(state_a.items)
    assert n_items >= 25 and reference["face_matches"] >= 10 and reference["hash_matches"] >= 1, reference
    rescan, startup = scan_to_end(ws_a, material.corpus)
    assert rescan["new_items"] == 0 and rescan["new_sightings"] == 0 and rescan["new_matches"] == 0
    per_item = (total - startup) / n_items
    # The kills below are timed from this measured work, so it only has to be long enough to land in:
    # the mid-scan and partial-set assertions after the kills are what show it did.
    assert total - startup > 1.0, (
        f"the scan should take some seconds of work, it took {total - startup:.1f} s"
    )

    # Kill at random points. Two kills land at a random time in start-up (key derivation, enumeration,
    # hashing); the others a random time (up to 1.2 items' work) after the scan has committed one or two
    # more items, so that over the rounds the kills walk through the item sequence (and its vault writes).
    rng = random.Random(SEED)
    log = KillLog()
    for round_no in range(KILLS):
        done = count_items(ws_b)
        workers = 2 if round_no in POOL_RUNS else 1
        if round_no in STARTUP_ROUNDS:
            target, delay = None, rng.uniform(0.2, 0.9) * startup
        else:
            target, delay = done + rng.randint(1, 2), rng.uniform(0.0, 1.2) * per_item
        alive = scan_and_kill(ws_b, material.corpus, workers, delay=delay, after_items=target)
        log.rounds.append(
            {
                "workers": workers,
                "delay": round(delay, 2),
                "alive": alive,
                "before": done,
                "after": count_items(ws_b),
            }
        )
    # At least 7 in 10 kills must hit a live scan, and some must leave a partial set of items behind.
    assert log.mid_scan * 10 >= 7 * KILLS, f"most kills must land in a running scan: {log.rounds}"
    assert sum(0 < r["after"] < n_items for r in log.rounds) >= KILLS // 2, log.rounds

    final, _ = scan_to_end(ws_b, material.corpus, workers=2)
    state_b = read_state(ws_b)

    # The same outcome, compared by content (ids differ between the workspaces).
    assert state_b.items == state_a.items
    assert state_b.signals == state_a.signals
    assert state_b.faces == state_a.faces
    assert state_b.sightings == state_a.sightings
    assert len({s[:2] for s in state_b.sightings}) == len(state_b.sightings), "no duplicate sightings"
    assert state_b.matches.keys() == state_a.matches.keys()
    for key, dist in state_a.matches.items():
        assert state_b.matches[key] == pytest.approx(dist, abs=1e-6), key
    assert state_b.clusters == state_a.clusters
    for key in ("items", "sightings", "face_matches", "hash_matches"):
        assert final[key] == reference[key], (key, final[key], reference[key])
    assert sorted(e["path"] for e in final["errors"]) == sorted(e["path"] for e in reference["errors"])

    # The vault: exactly one blob per stored item, each decrypting to its item. Killed writes may leave
    # a hidden ".<name>.<rand>.tmp" file behind (an encrypted, never-renamed partial blob); allowed,
    # but never a blob under a real name that no item owns.
    assert check_vault(ws_a, state_a) == []
    leftovers = check_vault(ws_b, state_b)
    assert len(leftovers) <= log.mid_scan
    for path in leftovers:  # never plaintext: an empty file or the start of a reclaim ciphertext
        head = path.read_bytes()[:5]
        assert head in (b"", b"RCLM\x01"[: len(head)]), f"{path.name} is not ciphertext"
    # A killed scan cannot record its end: its row stays "running". The last scan finished.
    assert state_b.scans[-1] == "finished"
    assert state_b.scans.count("running") <= log.mid_scan
    print(
        f"resume: {n_items} items, reference {total:.1f} s, start-up {startup:.1f} s, "
        f"{log.mid_scan}/{KILLS} kills mid-scan, {len(leftovers)} leftover vault temp file(s), "
        f"took {time.monotonic() - started:.0f} s; rounds {log.rounds}"
    )


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry.name)) == pgid:
                    members.append(int(entry.name))
    return members


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.timeout(120)
def test_killing_a_pool_scan_leaves_no_helper_processes(tmp_path: Path) -> None:
    material = build_material(tmp_path)
    ws = tmp_path / "ws"
    Workspace.create(ws, PASSPHRASE).close()
    with subprocess.Popen(
        _cmd(ws, material.corpus, 2),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while proc.poll() is None and count_items(ws) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proc.poll() is None, "the scan ended before it could be killed"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            deadline = time.monotonic() + 5
            while _group_members(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            survivors = _group_members(proc.pid)
        finally:
            _reap_group(proc.pid)
    assert survivors == [], f"{len(survivors)} helper process(es) outlived the killed scan"
