"""Shared fixtures. Tests use real SQLite workspaces in tmp_path and images they generate or that
installed packages ship; tests that need ../shared/data skip with a reason when it is absent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reclaim.workspace import Workspace

from .dask_cluster import DaskCluster, start_cluster

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PASSPHRASE = "test-passphrase"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data not present (it is beside the repo in CI)")
    return SHARED_DATA


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A Dask scheduler and two workers (processes on 127.0.0.1), started once for the tests that ask."""
    pytest.importorskip("distributed", reason="the cluster extra (pip install 'reclaim[cluster]')")
    cluster = start_cluster(tmp_path_factory.mktemp("dask"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for CLI tests: a passphrase and a workspace path (not yet initialised)."""
    monkeypatch.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
    ws = tmp_path / "cli-ws"
    monkeypatch.setenv("RECLAIM_WORKSPACE", str(ws))
    return ws
