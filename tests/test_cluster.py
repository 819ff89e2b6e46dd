"""Scans on a real Dask cluster (issue 13, outcome 2): a ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1 (and a TLS one with a self-signed certificate), reclaim importable on them.

What is shown: the same items, signals, faces, sightings, findings, matches (with distances) and clusters
as a local scan of the same generated material; a worker killed mid-scan costs only a retry; a plain-TCP
scheduler on another machine is refused (exit 2) unless --insecure; workers do not spill results to disk;
the server's background jobs use the cluster named by RECLAIM_DASK_SCHEDULER."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim.cli import app as cli
from reclaim.demo import SampleExport, build_sample_export, jpeg, paste_face, sample_picture
from reclaim.matching.queries import list_matches
from reclaim.persons.service import add_person
from reclaim.scan.executors import WORKER_CRASHED, ClusterSettings, check_address, is_loopback, make_executor
from reclaim.scan.service import ScanReport, scan_paths
from reclaim.store.crypto import decrypt_vector
from reclaim.store.models import Face, Finding, Item, Match, Scan, Sighting, Signal
from reclaim.workspace import Workspace

from .conftest import PASSPHRASE
from .dask_cluster import DaskCluster, self_signed, start_cluster

dask = pytest.importorskip("dask", reason="the cluster extra (pip install 'reclaim[cluster]')")
pytestmark = pytest.mark.timeout(900)

SCENES = ("coffee", "rocket", "chelsea", "astronaut", "camera", "horse", "coins", "moon", "page")


@pytest.fixture
def cluster(dask_cluster: DaskCluster) -> DaskCluster:
    return dask_cluster


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> tuple[SampleExport, Path]:
    """The demo's Telegram export (face and hash matches, reposts, a broken file, a GIF) and a folder of
    24 more: the demo face pasted into scenes at varying sizes and places, and faceless scenes."""
    root = tmp_path_factory.mktemp("material")
    sample = build_sample_export(root / "ChatExport")
    folder = root / "folder"
    folder.mkdir()
    for i in range(24):
        scene = sample_picture(SCENES[i % len(SCENES)])
        if i % 3 == 2:  # a third without a face
            img = Image.fromarray(scene).rotate(i * 7, expand=False)
        else:
            img = paste_face(scene, width=90 + 5 * i, at=((i * 0.13) % 1.0, 0.25))
        (folder / f"img_{i:02d}.jpg").write_bytes(jpeg(img, 80 + i % 15))
    (folder / "notes.txt").write_text("not media")
    return sample, folder


def enrol(ws: Workspace, sample: SampleExport) -> None:
    with ws.session() as s:
        add_person(
            s,
            ws.key,
            name="P",
            photos=sample.enrol_photos,
            known_images=[sample.known_image],
            consent="test consent",
            vault=ws.vault,
        )


def snapshot(ws: Workspace) -> dict[str, Any]:
    """Everything a scan stored, without what is random per workspace (ids, keys, times)."""
    with ws.session() as s:
        sha = {i.id: i.sha256 for i in s.scalars(select(Item))}
        clusters: dict[int, set[str]] = {}
        for item in s.scalars(select(Item)):
            if item.cluster_id is not None:
                clusters.setdefault(item.cluster_id, set()).add(item.sha256)
        matches = list_matches(s)
        ids = {m["match_id"]: f"m{n}" for n, m in enumerate(matches)}
        return {
            "items": [
                (i.sha256, i.md5, i.size, i.mime, i.kind, i.width, i.height, i.frame_count, i.stored)
                for i in s.scalars(select(Item).order_by(Item.id))
            ],
            "signals": sorted(
                (sha[g.item_id], g.signal_type, g.frame_index, g.variant, g.value, g.quality or -1)
                for g in s.scalars(select(Signal))
            ),
            "faces": sorted(
                (
                    sha[f.item_id],
                    f.frame_index,
                    f.model,
                    json.dumps(f.box, sort_keys=True),
                    decrypt_vector(ws.key, f.vector_ct, kind="face", owner=str(f.item_id)).tobytes(),
                )
                for f in s.scalars(select(Face))
            ),
            "sightings": sorted(
                (x.dedupe_key, sha.get(x.item_id or -1, "-"), x.path or "", x.source)
                for x in s.scalars(select(Sighting))
            ),
            "findings": sorted(
                (sha[f.item_id], f.signal, f.verdict, f.strength, f.summary)
                for f in s.scalars(select(Finding))
            ),
            "matches": sorted(
                (sha[m.item_id], m.kind, m.status, round(m.distance, 6)) for m in s.scalars(select(Match))
            ),
            "matches_json": [_normalised(m, ids) for m in matches],
            "clusters": sorted(sorted(c) for c in clusters.values()),
        }


def _normalised(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: "<time>" if k.endswith("_at") and k != "posted_at" else _normalised(v, ids)
            for k, v in value.items()
            if k != "person_id"
        }
    if isinstance(value, list):
        return [_normalised(v, ids) for v in value]
    if isinstance(value, str):
        return ids.get(value, value)
    return value


def scanned(root: Path, material: tuple[SampleExport, Path], **kw: Any) -> tuple[ScanReport, dict[str, Any]]:
    sample, folder = material
    ws = Workspace.create(root, PASSPHRASE)
    try:
        enrol(ws, sample)
        report = scan_paths(ws, [sample.root, folder], **kw)
        return report, snapshot(ws)
    finally:
        ws.close()


@pytest.fixture(scope="module")
def local_scan(
    tmp_path_factory: pytest.TempPathFactory, material: tuple[SampleExport, Path]
) -> tuple[ScanReport, dict[str, Any]]:
    return scanned(tmp_path_factory.mktemp("local") / "ws", material, workers=2)


def same_report(a: ScanReport, b: ScanReport) -> None:
    da, db = a.to_dict(verbose=True), b.to_dict(verbose=True)
    del da["scan_id"], db["scan_id"]
    assert da == db


def test_a_cluster_scan_stores_what_a_local_scan_stores(
    tmp_path: Path,
    cluster: DaskCluster,
    material: tuple[SampleExport, Path],
    local_scan: tuple[ScanReport, dict[str, Any]],
) -> None:
    report, snap = scanned(tmp_path / "ws", material, cluster=ClusterSettings(cluster.address))
    local_report, local_snap = local_scan
    assert report.new_items == local_report.new_items == 33  # 9 of the export + 24
    assert report.face_matches > 0 and report.hash_matches > 0 and snap["clusters"]
    same_report(report, local_report)
    for key in local_snap:
        assert snap[key] == local_snap[key], key


def test_workers_keep_results_in_memory_and_load_the_model_once(
    tmp_path: Path, cluster: DaskCluster, material: tuple[SampleExport, Path]
) -> None:
    scanned(tmp_path / "ws", material, cluster=ClusterSettings(cluster.address))

    def memory(dask_worker: Any) -> tuple[Any, Any, float]:
        m = dask_worker.memory_manager
        return m.memory_target_fraction, m.memory_spill_fraction, float(getattr(m.data, "n", math.inf))

    def model_seconds() -> float:  # loaded when the worker joined: asking again costs a lookup, not a load
        import time

        from reclaim.signals import get_face_model

        start = time.perf_counter()
        get_face_model()
        return time.perf_counter() - start

    with cluster.client() as c:
        assert set(c.run(memory).values()) == {(False, False, math.inf)}, "spilling is off on every worker"
        assert max(c.run(model_seconds).values()) < 0.01
    for w in ("w0", "w1"):  # nothing under the workers' local directories but Dask's own lock files
        spilled = [p for p in (cluster_dir(cluster) / w).rglob("storage/*") if p.is_file()]
        assert spilled == []


def cluster_dir(cluster: DaskCluster) -> Path:
    assert cluster.processes[0].args is not None
    args = list(cluster.processes[0].args)  # type: ignore[arg-type]
    return Path(args[args.index("--scheduler-file") + 1]).parent


def test_a_worker_killed_mid_scan_costs_only_a_retry(
    tmp_path: Path,
    cluster: DaskCluster,
    material: tuple[SampleExport, Path],
    local_scan: tuple[ScanReport, dict[str, Any]],
) -> None:
    pids = cluster.worker_pids()
    assert len(pids) == 2
    victim = sorted(pids.values())[0]
    killed: list[int] = []

    def progress(done: int, total: int, label: str) -> None:
        if done >= 6 and not killed:  # the window holds files on both workers now
            os.kill(victim, signal.SIGKILL)
            killed.append(done)

    report, snap = scanned(
        tmp_path / "ws", material, cluster=ClusterSettings(cluster.address), progress=progress
    )
    assert killed and killed[0] < report.sightings, "killed mid-scan"
    local_report, local_snap = local_scan
    same_report(report, local_report)
    assert snap == local_snap
    with cluster.client() as c:  # the nanny restarts the worker: the cluster is whole again
        c.wait_for_workers(2, timeout=120)
    assert victim not in cluster.worker_pids().values()


def test_a_file_that_kills_every_worker_is_one_error(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, workspace: Workspace
) -> None:
    """A crashing decoder on a cluster: the scheduler retries the file on other workers, then gives up on
    it (allowed-failures); the scan reports that one file and stores the others."""
    folder = tmp_path / "folder"
    folder.mkdir()
    poison = jpeg(Image.fromarray(sample_picture("coins")))
    (folder / "poison.jpg").write_bytes(poison)
    for i, name in enumerate(("horse", "camera", "moon")):
        (folder / f"ok_{i}.jpg").write_bytes(jpeg(Image.fromarray(sample_picture(name))))
    crash = {"RECLAIM_FAULT_CRASH_SHA256": hashlib.sha256(poison).hexdigest()}
    cluster = start_cluster(tmp_path_factory.mktemp("dask-crash"), env_extra=crash)
    try:
        report = scan_paths(workspace, [folder], cluster=ClusterSettings(cluster.address), faces=False)
    finally:
        cluster.stop()
    assert report.new_items == 3
    assert [(Path(e.path).name, e.error) for e in report.errors] == [("poison.jpg", WORKER_CRASHED)]


def test_a_tls_cluster_gives_the_cli_the_same_matches(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    material: tuple[SampleExport, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tls = self_signed(tmp_path / "tls")
    cluster = start_cluster(tmp_path_factory.mktemp("dask-tls"), workers=1, tls=tls)
    try:
        assert cluster.address.startswith("tls://127.0.0.1:")
        sample, folder = material
        runner = CliRunner()
        out: dict[str, Any] = {}
        for name, extra in (("local", []), ("tls", ["--scheduler", cluster.address])):
            monkeypatch.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
            monkeypatch.setenv("RECLAIM_WORKSPACE", str(tmp_path / name))
            for k, v in tls.env().items():
                monkeypatch.setenv(k, v)
            dask.config.refresh()  # Dask reads its variables at import: as a fresh `reclaim` process would
            assert runner.invoke(cli, ["init"]).exit_code == 0
            photos = [a for p in sample.enrol_photos for a in ("--photo", str(p))]
            known = ["--known-image", str(sample.known_image)]
            r = runner.invoke(cli, ["person", "add", "P", *photos, *known, "--consent", "test consent"])
            assert r.exit_code == 0, r.output
            r = runner.invoke(cli, ["scan", str(sample.root), str(folder), "--json", *extra])
            assert r.exit_code == 0, r.output
            scan = json.loads(r.stdout)
            del scan["scan_id"]
            r = runner.invoke(cli, ["matches", "--json"])
            assert r.exit_code == 0, r.output
            rows = json.loads(r.stdout)
            ids = {m["match_id"]: f"m{n}" for n, m in enumerate(rows)}
            out[name] = (scan, _normalised(rows, ids))
        assert out["tls"] == out["local"]
        assert out["tls"][0]["face_matches"] > 0 and out["tls"][1]
    finally:
        monkeypatch.undo()
        dask.config.refresh()
        cluster.stop()


def test_plain_tcp_to_another_machine_is_refused(cli_env: Path, material: tuple[SampleExport, Path]) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    r = runner.invoke(cli, ["scan", str(material[1]), "--scheduler", "tcp://192.0.2.10:8786"])
    assert r.exit_code == 2
    assert "refusing to send media to tcp://192.0.2.10:8786 over unencrypted TCP" in r.output
    assert "--insecure" in r.output
    ws = Workspace.open(cli_env, PASSPHRASE)
    try:
        with ws.session() as s:
            assert s.scalars(select(Scan)).all() == [], "refused before anything was recorded"
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("address", "insecure", "ok"),
    [
        ("tcp://127.0.0.1:8786", False, True),
        ("127.0.0.1:8786", False, True),
        ("tcp://localhost:8786", False, True),
        ("tcp://[::1]:8786", False, True),
        ("tcp://127.8.9.1:8786", False, True),
        ("tls://10.0.0.5:8786", False, True),
        ("tls://scheduler.internal:8786", False, True),
        ("tcp://10.0.0.5:8786", False, False),
        ("tcp://scheduler.internal:8786", False, False),
        ("10.0.0.5:8786", False, False),
        ("tcp://10.0.0.5:8786", True, True),
        ("ucx://10.0.0.5:8786", True, False),
        ("inproc://x", False, False),
        ("tls://10.0.0.5", False, False),
    ],
)
def test_which_schedulers_are_accepted(address: str, insecure: bool, ok: bool) -> None:
    from reclaim.errors import UserError

    settings = ClusterSettings(address, insecure=insecure)
    if ok:
        check_address(settings)
    else:
        with pytest.raises(UserError):
            check_address(settings)
    assert is_loopback("127.0.0.1") and not is_loopback("example.org")


def test_no_dask_import_on_the_local_path(tmp_path: Path) -> None:
    """The local scan's start-up does not pay for distributed."""
    import subprocess

    code = (
        "import sys; from reclaim.scan import service, executors; "
        "executors.make_executor(1, None).close(); print('distributed' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert make_executor(1, None).name == "inline"


def test_an_unreachable_scheduler_is_one_clear_error(
    workspace: Workspace, material: tuple[SampleExport, Path]
) -> None:
    from reclaim.errors import UserError

    settings = ClusterSettings("tcp://127.0.0.1:9", connect_timeout_s=2)
    with pytest.raises(UserError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        scan_paths(workspace, [material[1]], cluster=settings)
    with workspace.session() as s:
        assert s.scalars(select(Scan)).all() == []
