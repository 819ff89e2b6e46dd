"""Hostile uploads and plaintext left behind (issue 12: D9, D10, D13, D14, D16). Real app, real workspace
(SQLite, and PostgreSQL when CI provides it), real scans; a second server process is a real process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from reclaim.evidence.package import PARTIAL_STALE_S, export_package
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.server.auth import principal_for_user_id
from reclaim.server.cases import create_case
from reclaim.server.jobs import (
    FAILED_UPLOADS_KEPT_S,
    FILES,
    MATERIAL,
    UPLOADS_DIR,
    install_jobs,
    submit_upload_scan,
    sweep_plaintext,
)
from reclaim.store.models import Job, utcnow
from reclaim.workspace import Held, Workspace

from .conftest import Account

SRC = Path(__file__).resolve().parents[2] / "src"


def jpeg(seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((160, 120), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def run_upload(app: FastAPI, admin: Account, files: list[tuple[str, bytes]]) -> Job:
    ws: Workspace = app.state.workspace
    runner = install_jobs(app, workers=1)
    with ws.session() as s:
        s.info["actor"] = "user:admin"
        case_id = create_case(s, ws, principal_for_user_id(s, admin.user_id), title="c").case_id
    job_id = submit_upload_scan(app, case_id=case_id, user_id=admin.user_id, files=files)
    assert runner.wait(120)
    with ws.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        s.expunge(job)
        return job


def no_server_paths(app: FastAPI, job: Job) -> None:
    root = str(app.state.workspace.root)
    text = json.dumps({"result": job.result, "error": job.error}, default=str)
    assert root not in text and "/tmp/" not in text, text


def test_a_jpeg_with_a_zip_appended_is_scanned_not_unpacked(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    polyglot = jpeg(3) + zip_bytes([("hidden.jpg", jpeg(4))])
    assert zipfile.is_zipfile(io.BytesIO(polyglot)), "the old check took it for a ZIP"
    job = run_upload(app, accounts["admin"], [("photo.jpg", polyglot)])
    assert job.status == "finished", job.error
    assert job.result is not None and job.result["items"] == 1 and job.result["errors"] == []


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("random.zip", os.urandom(3000), "not a readable ZIP"),
        ("cut.zip", zip_bytes([("a.jpg", jpeg(5)), ("b.jpg", jpeg(6))])[:-60], "not a readable ZIP"),
        ("clash.zip", zip_bytes([("x", b"a file"), ("x/y.jpg", jpeg(7))]), "needs a folder"),
    ],
    ids=["random-bytes", "truncated", "file-and-folder"],
)
def test_a_bad_archive_is_one_named_error_and_the_rest_is_scanned(
    app: FastAPI, accounts: dict[str, Account], name: str, data: bytes, message: str
) -> None:
    job = run_upload(app, accounts["admin"], [(name, data), ("good.jpg", jpeg(8))])
    assert job.status == "finished", job.error
    assert job.result is not None
    errors: list[dict[str, Any]] = job.result["errors"]
    assert [e["path"] for e in errors] == [name] and message in errors[0]["error"], errors
    assert job.result["items"] == 1, "the other upload is scanned"
    no_server_paths(app, job)


def _hold_in_another_process(folder: Path) -> subprocess.Popen[bytes]:
    code = (
        "import sys, time; from pathlib import Path; from reclaim.workspace import Held; "
        f"h = Held(Path({str(folder)!r})); print('held', flush=True); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
    return proc


def test_a_second_server_leaves_a_live_servers_job_alone(app: FastAPI) -> None:
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        live, dead = Job(kind="scan", status="running", done=1), Job(kind="scan", status="running", done=1)
        s.add_all([live, dead])
        s.commit()
        live_id, dead_id = live.id, dead.id
    (ws.root / UPLOADS_DIR / dead_id / FILES).mkdir(parents=True)  # its server was killed: no one holds it
    other = _hold_in_another_process(ws.root / UPLOADS_DIR / live_id)
    try:
        install_jobs(app, workers=1).shutdown()
        with ws.session() as s:
            assert s.get(Job, live_id).status == "running"  # type: ignore[union-attr]
            assert s.get(Job, dead_id).status == "failed"  # type: ignore[union-attr]
        assert (ws.root / UPLOADS_DIR / live_id).is_dir()
    finally:
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()
    install_jobs(app, workers=1).shutdown()  # the other server is gone: now its job is stale
    with ws.session() as s:
        assert s.get(Job, live_id).status == "failed"  # type: ignore[union-attr]


def test_the_start_up_sweep_removes_plaintext_no_live_process_holds(app: FastAPI) -> None:
    ws: Workspace = app.state.workspace
    uploads = ws.root / UPLOADS_DIR
    now = utcnow()
    with ws.session() as s:
        recent = Job(kind="scan", status="failed", done=0, finished_at=now - timedelta(hours=1))
        old = Job(
            kind="scan",
            status="failed",
            done=0,
            finished_at=now - timedelta(seconds=FAILED_UPLOADS_KEPT_S + 60),
        )
        done = Job(kind="scan", status="finished", done=1, finished_at=now)
        s.add_all([recent, old, done])
        s.commit()
        ids = {"recent": recent.id, "old": old.id, "done": done.id}
    for name in (*ids.values(), "orphan-killed-mid-upload"):
        (uploads / name / FILES).mkdir(parents=True)
        (uploads / name / FILES / "p.jpg").write_bytes(jpeg(9))
        (uploads / name / MATERIAL).mkdir()
        (uploads / name / MATERIAL / "p.jpg").write_bytes(jpeg(9))
    (ws.root / "tmp" / "enrol-dead").mkdir(parents=True)
    (ws.root / "tmp" / "enrol-dead" / "face.jpg").write_bytes(jpeg(10))
    busy = Held(ws.root / "tmp" / "enrol-busy")
    (ws.root / "tmp" / "enrol-busy" / "face.jpg").write_bytes(jpeg(11))
    try:
        removed = sweep_plaintext(ws)
    finally:
        busy.release()
    assert sorted(removed) == sorted(
        [
            f"uploads/{ids['old']}",
            f"uploads/{ids['done']}",
            "uploads/orphan-killed-mid-upload",
            "tmp/enrol-dead",
        ]
    )
    kept = uploads / ids["recent"]
    assert (kept / FILES / "p.jpg").exists(), "a recent failed job keeps its uploads for a retry"
    assert not (kept / MATERIAL).exists(), "what it had extracted is gone"
    assert (ws.root / "tmp" / "enrol-busy" / "face.jpg").exists(), "a live enrolment's photos stay"


def test_a_killed_exports_partial_package_is_removed_by_the_next_export(
    workspace: Workspace, tmp_path: Path
) -> None:
    from reclaim.demo import build_sample_export

    sample = build_sample_export(tmp_path / "export")
    with workspace.session() as s:
        pid = add_person(
            s, workspace.key, name="P", photos=sample.enrol_photos, consent="test", recorded_by="test"
        ).person_id
    scan_paths(workspace, [sample.root])
    out = tmp_path / "case.zip"
    stale = tmp_path / ".case.zip.0badf00d.tmp"
    young = tmp_path / ".case.zip.1badf00d.tmp"
    stale.write_bytes(b"PK partial with originals")
    young.write_bytes(b"PK a concurrent export")
    old = time.time() - PARTIAL_STALE_S - 5
    os.utime(stale, (old, old))
    export_package(workspace, person_id=pid, out=out)
    assert out.exists() and not stale.exists() and young.exists()


def _warc_gz(url: str, image: bytes) -> bytes:
    """One image response written by warcio, as a .warc.gz."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "image/jpeg")], protocol="HTTP/1.1")
    rec = writer.create_warc_record(
        url, "response", payload=io.BytesIO(image), length=len(image), http_headers=http
    )
    writer.write_record(rec)
    return buf.getvalue()


def test_uploaded_web_archives_are_scanned_record_by_record_not_unpacked(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    """A .wacz is a ZIP, but it is scanned as a web archive (its records), like an uploaded .warc.gz."""
    wacz = zip_bytes([("archive/data.warc.gz", _warc_gz("https://x.test/a.jpg", jpeg(11)))])
    warc = _warc_gz("https://x.test/b.jpg", jpeg(12))
    job = run_upload(app, accounts["admin"], [("capture.wacz", wacz), ("site.warc.gz", warc)])
    assert job.status == "finished", job.error
    assert job.result is not None and job.result["errors"] == [], job.result
    assert job.result["items"] == 2 and job.result["skipped"]["not_media"] == 0, job.result
    no_server_paths(app, job)
