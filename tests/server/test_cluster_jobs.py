"""The server's background scans on the Dask cluster named by RECLAIM_DASK_SCHEDULER (issue 13)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi import FastAPI
from PIL import Image

from reclaim.demo import jpeg, paste_face, sample_picture
from reclaim.errors import UserError
from reclaim.server.auth import principal_for_user_id
from reclaim.server.cases import create_case
from reclaim.server.jobs import install_jobs, submit_upload_scan
from reclaim.store.models import Job
from reclaim.workspace import Workspace

from ..dask_cluster import DaskCluster
from .conftest import Account


def executed(cluster: DaskCluster) -> int:
    """Tasks the cluster's workers have run so far."""

    def count(dask_worker: Any) -> int:
        return int(dask_worker.state.executed_count)

    with cluster.client() as c:
        return sum(c.run(count).values())


def test_background_scans_use_the_cluster_from_the_environment(
    app: FastAPI, accounts: dict[str, Account], dask_cluster: DaskCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECLAIM_DASK_SCHEDULER", dask_cluster.address)
    runner = install_jobs(app)
    assert runner.cluster is not None and runner.cluster.address == dask_cluster.address
    ws: Workspace = app.state.workspace
    admin = accounts["admin"]
    with ws.session() as s:
        s.info["actor"] = "user:admin"
        case_id = create_case(s, ws, principal_for_user_id(s, admin.user_id), title="c").case_id
    files = [
        ("a.jpg", jpeg(paste_face(sample_picture("coffee"), width=120, at=(0.4, 0.3)))),
        ("b.jpg", jpeg(Image.fromarray(sample_picture("horse")))),
        ("c.png", io.BytesIO(b"not an image")),
    ]
    before = executed(dask_cluster)
    job_id = submit_upload_scan(app, case_id=case_id, user_id=admin.user_id, files=files)
    assert runner.wait(300)
    runner.shutdown()
    with ws.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == "finished", job and job.error
        assert job.result is not None and job.result["new_items"] == 2
    assert executed(dask_cluster) - before >= 2, "the analysis ran on the cluster's workers"


def test_a_plain_tcp_scheduler_elsewhere_stops_the_server_from_starting(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECLAIM_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    with pytest.raises(UserError, match="unencrypted TCP"):
        install_jobs(app)
    monkeypatch.setenv("RECLAIM_DASK_INSECURE", "1")
    runner = install_jobs(app)
    assert runner.cluster is not None and runner.cluster.insecure
    runner.shutdown()
