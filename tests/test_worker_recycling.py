"""Scan workers are recycled after their share of files (issue 13, outcome 3: flat memory): the results
do not change, a recycled pool's replacement is used for the next files, and a crashing worker still
costs only its own file when pools are being recycled."""

from __future__ import annotations

import io
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
from tests.test_scan import scan_with_a_crashing_file


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
    """As test_scan's crashing-worker test, with the pool recycled after every file a worker."""
    scan_with_a_crashing_file(tmp_path, sample, env={"RECLAIM_WORKER_TASKS": "1"}, timeout=180)
