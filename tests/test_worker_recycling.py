"""Scan workers are recycled after their share of files (issue 13, outcome 3: flat memory): the results
do not change, a recycled pool's replacement is used for the next files, and a crashing worker still
costs only its own file when pools are being recycled."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reclaim.demo import SampleExport, build_sample_export
from reclaim.scan.analyze import Analysis, AnalyzeOptions
from reclaim.scan.executors import (
    InlineExecutor,
    LocalPoolExecutor,
    analyze_and_trim,
    trim_heap,
    worker_tasks,
)


def picture(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, 96, dtype=np.float64)
    pixels = (ramp[None, :, None] + rng.normal(0, 20, (72, 96, 3))).clip(0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def summary(result: Analysis | str) -> tuple[str, list[tuple[str, str]]]:
    assert isinstance(result, Analysis), result
    return result.sha256, sorted((v.signal_type, str(v.value)) for v in result.signals)


def test_recycled_pools_give_the_same_results() -> None:
    options = AnalyzeOptions(faces=False, forensics="none")
    jobs = [(picture(i), options) for i in range(9)]
    expected = [summary(InlineExecutor().submit(job).result()) for job in jobs]
    with LocalPoolExecutor(2, warm_faces=False, recycle_after=2) as pool:
        tickets = [pool.submit(job) for job in jobs]
        got = [summary(t.result()) for t in tickets]
        assert pool.recycled == 2  # 4 files a pool of 2: recycled before the 5th and the 9th
    assert got == expected


def test_workers_trim_their_heap() -> None:
    assert trim_heap() == sys.platform.startswith("linux")
    job = (picture(1), AnalyzeOptions(faces=False, forensics="none"))
    assert [summary(analyze_and_trim(job)) for _ in range(9)] == [
        summary(InlineExecutor().submit(job).result())
    ] * 9


def test_the_number_of_files_a_worker_takes_can_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLAIM_WORKER_TASKS", "7")
    assert worker_tasks() == 7
    monkeypatch.setenv("RECLAIM_WORKER_TASKS", "lots")
    assert worker_tasks() == 250


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


def test_a_crashing_worker_costs_one_file_while_workers_are_recycled(
    tmp_path: Path, sample: SampleExport
) -> None:
    files = sorted((sample.root / "chats" / "chat_002" / "photos").glob("*.jpg"))
    victim = hashlib.sha256(files[1].read_bytes()).hexdigest()
    env = dict(
        os.environ, RECLAIM_PASSPHRASE="pw", RECLAIM_FAULT_CRASH_SHA256=victim, RECLAIM_WORKER_TASKS="1"
    )
    ws = tmp_path / "ws"
    run = [sys.executable, "-m", "reclaim.cli", "--workspace", str(ws)]
    assert subprocess.run([*run, "init"], env=env, capture_output=True, check=False).returncode == 0
    proc = subprocess.run(
        [*run, "scan", str(sample.root), "--json", "--workers", "2"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    crashed = [e for e in report["errors"] if "crashed its worker" in e["error"]]
    assert [e["path"].rsplit("/", 1)[-1] for e in crashed] == [files[1].name]
    assert report["new_items"] == 8
