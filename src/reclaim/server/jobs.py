"""Background jobs of the team server: scans of uploaded material, with visible progress.

A web request never waits for a scan: :func:`submit_upload_scan` stores the uploaded files under the
workspace (``uploads/<job_id>/``), records a ``Job`` row and returns its id at once; one worker thread
(``app.state.jobs``, a :class:`JobRunner`) then extracts ZIP uploads (Telegram Desktop exports) with
path, size and file-count limits, runs :func:`reclaim.scan.service.scan_paths` and writes its progress
(``done``/``total``) into the row, which the UI and ``GET /api/jobs/{id}`` poll.

A job ends ``finished`` (its ``result`` is the scan report; the uploaded files are deleted: the scan
stored what policy allows in the encrypted vault) or ``failed`` (its ``error`` says why; the uploaded
files are kept, so nothing is lost and :func:`retry_job` can run it again). Items the scan completed
before a failure stay: a scan commits item by item and a rerun resumes. Jobs a stopped server left
queued or running are marked failed (interrupted) when the next server starts.

Events: ``job.submitted``, ``job.finished``, ``job.failed`` (the scan logs its own).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
import time
import traceback
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reclaim.errors import NotFound, ReclaimError, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.scan.executors import ClusterSettings, check_address
from reclaim.scan.service import scan_paths
from reclaim.server.auth import Principal, actor_name, case_for, principal_for_user_id
from reclaim.store.models import Job, new_id, utcnow
from reclaim.takedown.reupload import ReuploadCheck
from reclaim.workspace import HELD_FILE, WORK_TMP, Held, Workspace, sweep_unheld

UPLOADS_DIR = "uploads"
FILES = "files"
"""``uploads/<job_id>/files``: the uploaded files as received (names sanitised)."""
MATERIAL = "material"
"""``uploads/<job_id>/material``: what is scanned (plain uploads, and each ZIP extracted in a folder)."""
TMP_DIR = WORK_TMP
"""``tmp/``: short-lived plaintext (an enrolment's uploaded photos), each folder held while in use."""
PROGRESS_EVERY_S = 0.25
NO_JOB = "no such job"

Upload = tuple[str, "bytes | IO[bytes]"]
"""(file name as the client sent it, the bytes or a readable binary stream)."""


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 2 * 1024**3
    """All uploaded files of a job together, and separately all members of its ZIPs once extracted."""
    max_files: int = 50_000
    """Uploaded files plus ZIP members."""
    max_name_bytes: int = 240
    max_depth: int = 32


class UploadError(UserError):
    """An upload was refused (too large, too many files, an unsafe ZIP)."""


class JobOut(BaseModel):
    job_id: str
    case_id: str | None
    kind: str
    status: str
    """queued | running | finished | failed"""
    done: int
    total: int | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def job_out(job: Job) -> JobOut:
    return JobOut(
        job_id=job.id,
        case_id=job.case_id,
        kind=job.kind,
        status=job.status,
        done=job.done,
        total=job.total,
        result=job.result,
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


# --- names and ZIPs ---------------------------------------------------------------------------------------


def safe_filename(name: str, *, max_bytes: int = 200) -> str:
    """A file name that is safe to create in a folder we own: the last component of whatever path the
    client sent, without control characters or separators, not a dot name, at most ``max_bytes`` UTF-8
    bytes (the extension kept). Never empty."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    base = base.strip().lstrip(".").strip()
    if not base:
        return "upload"
    stem, dot, ext = base.rpartition(".")
    if not dot or len(ext) > 10:
        stem, ext = base, ""
    suffix = f".{ext}" if ext else ""
    while len((stem + suffix).encode()) > max_bytes and stem:
        stem = stem[:-1]
    return (stem + suffix) or "upload"


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
"""A ZIP archive starts with a local file header (or, empty, with the end of central directory)."""


def is_archive(path: Path) -> bool:
    """An upload is extracted only when it is *named* ``.zip`` and *starts* like a ZIP. (``zipfile``'s
    ``is_zipfile`` looks for a central directory at the end: a JPEG with a ZIP appended passes it and was
    unpacked instead of scanned.) A ``.zip`` that is not a ZIP goes to extraction and fails there with a
    named error. A ``.wacz`` (a web archive, itself a ZIP) is scanned as one, record by record, never
    unpacked."""
    if path.suffix.lower() == ".zip":
        return True
    if path.suffix.lower() == ".wacz":
        return False
    with open(path, "rb") as fh:
        return fh.read(4) in ZIP_MAGIC


def _relative(path: str, root: Path) -> str:
    """``path`` below the job's material folder as the user knows it (their file names, not ours)."""
    base = str(root) + "/"
    if path.startswith(base):
        return path[len(base) :]
    return path


def _unique(folder: Path, name: str) -> Path:
    path = folder / name
    n = 1
    while path.exists():
        stem, dot, ext = name.rpartition(".")
        path = folder / (f"{stem}-{n}.{ext}" if dot and stem else f"{name}-{n}")
        n += 1
    return path


def _member_parts(info: zipfile.ZipInfo, limits: UploadLimits) -> list[str]:
    """The path components of a ZIP member, or UploadError for anything that could escape the target
    folder (absolute paths, drive letters, ``..``, empty components, NUL, over-long names)."""
    raw = info.filename.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UploadError(f"refusing the ZIP: member {raw[:200]!r} has an absolute path")
    parts = [p for p in raw.rstrip("/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise UploadError(f"refusing the ZIP: member {raw[:200]!r} points outside the archive")
    if len(parts) > limits.max_depth:
        raise UploadError(f"refusing the ZIP: member {raw[:200]!r} is nested too deeply")
    for p in parts:
        if "\x00" in p or len(p.encode("utf-8", "surrogateescape")) > limits.max_name_bytes:
            raise UploadError(f"refusing the ZIP: member {raw[:200]!r} has an invalid name")
    return parts


def _is_dir(info: zipfile.ZipInfo) -> bool:
    """``ZipInfo.is_dir`` without its IndexError on a member with an empty name (found by fuzzing); such a
    member is refused by :func:`_member_parts`."""
    return info.filename.endswith("/")


def extract_zip(archive: Path, target: Path, limits: UploadLimits, *, budget: list[int]) -> int:
    """Extract ``archive`` into ``target`` (created), refusing path traversal, symbolic links, encrypted
    members, more than the remaining file count and more bytes than the remaining size (counted while
    writing, not taken from the headers). ``budget`` is ``[bytes left, files left]``, shared by all ZIPs
    of a job. Returns the number of files written. Raises UploadError."""
    target.mkdir(parents=True, exist_ok=False)
    root = target.resolve()
    written = 0
    try:
        zf = zipfile.ZipFile(archive)
    except Exception as exc:
        # zipfile raises a zoo of types on a malformed central directory (BadZipFile, OSError, EOFError,
        # UnicodeDecodeError for a name flagged UTF-8 that is not, NotImplementedError for an unknown
        # version, ...: found by fuzzing); all mean the same to the uploader
        raise UploadError(
            f"{archive.name}: not a readable ZIP archive ({type(exc).__name__}: {exc})"
        ) from exc
    with zf:
        infos = zf.infolist()
        files = [i for i in infos if not _is_dir(i)]
        if len(files) > budget[1]:
            raise UploadError(
                f"{archive.name}: {len(files):,} files, above the limit of {limits.max_files:,}"
            )
        if sum(i.file_size for i in files) > budget[0]:
            raise UploadError(
                f"{archive.name}: expands beyond the upload limit of {limits.max_bytes:,} bytes"
            )
        for info in infos:
            parts = _member_parts(info, limits)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UploadError(f"refusing the ZIP: member {info.filename[:200]!r} is a symbolic link")
            if info.flag_bits & 0x1:
                raise UploadError(f"refusing the ZIP: member {info.filename[:200]!r} is encrypted")
            dest = target.joinpath(*parts)
            if not dest.resolve().is_relative_to(root):
                raise UploadError(
                    f"refusing the ZIP: member {info.filename[:200]!r} points outside the archive"
                )
            try:
                if _is_dir(info):
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
            except OSError:  # e.g. both 'x' (a file) and 'x/y.jpg'
                raise UploadError(
                    f"refusing the ZIP: member {info.filename[:200]!r} needs a folder where the archive has "
                    "a file of the same name"
                ) from None
            if dest.exists():
                raise UploadError(f"refusing the ZIP: member {info.filename[:200]!r} appears twice")
            try:
                with zf.open(info) as src, open(dest, "xb") as out:
                    while chunk := src.read(1024 * 1024):
                        budget[0] -= len(chunk)
                        if budget[0] < 0:
                            raise UploadError(f"{archive.name}: expands beyond the upload limit")
                        out.write(chunk)
            except UploadError:
                raise
            except Exception as exc:  # a corrupt member (BadZipFile, zlib.error, LZMAError, EOFError, ...)
                raise UploadError(f"{archive.name}: cannot extract {info.filename[:200]!r} ({exc})") from exc
            budget[1] -= 1
            written += 1
    return written


# --- the runner -------------------------------------------------------------------------------------------


class JobRunner:
    """One worker thread running jobs in submission order (one scan at a time: a scan holds the
    workspace's writer lock anyway)."""

    def __init__(
        self,
        ws: Workspace,
        *,
        workers: int | None = None,
        limits: UploadLimits | None = None,
        cluster: ClusterSettings | None = None,
    ) -> None:
        self.ws = ws
        self.workers = workers
        self.cluster = cluster
        self.limits = limits or UploadLimits()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reclaim-job")
        self._futures: dict[str, Future[None]] = {}
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()

    def uploads(self, job_id: str) -> Path:
        return self.ws.root / UPLOADS_DIR / job_id

    def hold(self, job_id: str) -> Held:
        """Hold the job's uploads folder (created) for this process until the job ends: another server
        process on the same workspace then leaves the job alone. UserError when another process holds
        it."""
        try:
            held = Held(self.uploads(job_id))
        except BlockingIOError:
            raise UserError("this job is being handled by another server process") from None
        with self._lock:
            self._held[job_id] = held
        return held

    def submit(self, job_id: str) -> None:
        """Queue a job whose uploads this runner holds (:meth:`hold`)."""
        future = self._executor.submit(self._run, job_id)
        with self._lock:
            self._futures[job_id] = future
        future.add_done_callback(lambda _: self._forget(job_id))

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._futures.pop(job_id, None)
            held = self._held.pop(job_id, None)
        if held is not None:
            held.release()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no job is queued or running (tests, and a graceful stop). True when idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._futures.values())
            if not pending:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            with contextlib.suppress(Exception):  # a job records its own failure
                pending[0].result(timeout=left)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking jobs: queued ones are cancelled (marked failed at the next start; their uploads are
        kept), the running one is waited for when ``wait``."""
        self._executor.shutdown(wait=wait, cancel_futures=True)

    # -- the job itself --

    def _set(self, job_id: str, **values: Any) -> None:
        with self.ws.session() as s:
            s.execute(update(Job).where(Job.id == job_id).values(**values))
            s.commit()

    def _run(self, job_id: str) -> None:
        with self.ws.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.status != "queued":
                return
            job.status = "running"
            s.info["actor"] = _actor(s, job.created_by)
            s.commit()
            actor = s.info["actor"]
        try:
            result = self._scan(job_id)
        except Exception as exc:
            error = str(exc) if isinstance(exc, ReclaimError) else f"{type(exc).__name__}: {exc}"
            error = error.replace(str(self.uploads(job_id)), "upload")  # no server paths in what users see
            if not isinstance(exc, ReclaimError):
                traceback.print_exc()
            # What was extracted is plaintext and is made again by a retry: it does not stay at rest.
            shutil.rmtree(self.uploads(job_id) / MATERIAL, ignore_errors=True)
            with self.ws.session() as s:
                job = s.get(Job, job_id)
                assert job is not None
                job.status = "failed"
                job.error = error[:5000]
                job.finished_at = utcnow()
                log_event(
                    s,
                    EventKind.JOB_FAILED,
                    subject=subject("job", job_id),
                    detail={"error": error[:500]},
                    actor=actor,
                )
                s.commit()
            return
        with self.ws.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.status = "finished"
            job.result = result
            job.finished_at = utcnow()
            if job.total is not None:
                job.done = job.total
            summary = {k: v for k, v in result.items() if k != "errors"}
            summary["errors"] = len(result.get("errors") or [])
            log_event(s, EventKind.JOB_FINISHED, subject=subject("job", job_id), detail=summary, actor=actor)
            # The scan stored what policy allows (encrypted); plaintext uploads do not stay at rest. Removed
            # before the job shows as finished, so nobody sees a finished job whose plaintext is still there.
            shutil.rmtree(self.uploads(job_id), ignore_errors=True)
            s.commit()

    def _scan(self, job_id: str) -> dict[str, Any]:
        base = self.uploads(job_id)
        files, material = base / FILES, base / MATERIAL
        if material.exists():  # a retry: extract again from the files as received
            shutil.rmtree(material)
        material.mkdir(mode=0o700)
        budget = [self.limits.max_bytes, self.limits.max_files]
        refused: list[dict[str, str]] = []
        for path in sorted(p for p in files.iterdir() if p.name != HELD_FILE):
            if not is_archive(path):
                os.link(path, _unique(material, path.name))
                continue
            target = _unique(material, path.stem or "archive")
            try:
                extract_zip(path, target, self.limits, budget=budget)
            except UploadError as exc:
                # One bad archive is one named error; the other uploads are still scanned.
                shutil.rmtree(target, ignore_errors=True)
                refused.append({"path": path.name, "error": str(exc)})
        last = [0.0]

        def progress(done: int, total: int, label: str) -> None:
            now = time.monotonic()
            if done in (0, total) or now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                self._set(job_id, done=done, total=total)

        with self.ws.session() as s:
            job = s.get(Job, job_id)
            case_id = job.case_id if job is not None else None
        report = scan_paths(
            self.ws,
            [material],
            workers=self.workers,
            progress=progress,
            checks=[ReuploadCheck()],
            case_id=case_id,
            cluster=self.cluster,
        )
        result = report.to_dict()
        scanned: list[dict[str, str]] = result.get("errors") or []  # type: ignore[assignment]
        errors = [*refused, *scanned]
        for e in errors:  # paths as the user uploaded them, never the server's folders
            e["path"] = _relative(str(e["path"]), material)
        result["errors"] = errors
        return result


def _actor(session: Session, user_id: int | None) -> str:
    if user_id is None:
        return "server"
    try:
        return actor_name(principal_for_user_id(session, user_id).username)
    except Exception:
        return f"user-id:{user_id}"


def cluster_from_env() -> ClusterSettings | None:
    """The Dask cluster the server's scans use: ``RECLAIM_DASK_SCHEDULER`` (e.g. ``tls://10.0.0.5:8786``,
    TLS from Dask's configuration), with ``RECLAIM_DASK_INSECURE=1`` to allow plain TCP to another machine.
    None when unset. A refused address stops the server from starting (:class:`UserError`)."""
    address = os.environ.get("RECLAIM_DASK_SCHEDULER", "").strip()
    if not address:
        return None
    cluster = ClusterSettings(address, insecure=os.environ.get("RECLAIM_DASK_INSECURE") == "1")
    check_address(cluster)
    return cluster


def install_jobs(
    app: FastAPI,
    *,
    workers: int | None = None,
    limits: UploadLimits | None = None,
    cluster: ClusterSettings | None = None,
) -> JobRunner:
    """Attach a :class:`JobRunner` as ``app.state.jobs`` (the app's lifespan shuts it down) and mark
    jobs a previous server left queued or running as failed (interrupted; their uploads are kept).
    ``workers``: scan worker processes (default: $RECLAIM_SCAN_WORKERS, else one per CPU; 1 analyses in
    the job thread). ``cluster``: analyse on a Dask cluster instead (default: $RECLAIM_DASK_SCHEDULER,
    see :func:`cluster_from_env`)."""
    ws: Workspace = app.state.workspace
    if workers is None and os.environ.get("RECLAIM_SCAN_WORKERS", "").isdigit():
        workers = max(1, int(os.environ["RECLAIM_SCAN_WORKERS"]))
    if cluster is None:
        cluster = cluster_from_env()
    if limits is None:
        limits = UploadLimits(max_bytes=app.state.settings.upload_max_bytes)
    runner = JobRunner(ws, workers=workers, limits=limits, cluster=cluster)
    with ws.session() as s:
        stale = []
        for job in s.scalars(select(Job).where(Job.status.in_(("queued", "running")))):
            folder = runner.uploads(job.id)
            held = Held.attempt(folder) if folder.is_dir() else None
            if folder.is_dir() and held is None:
                continue  # another live server process on this workspace is running it
            if held is not None:
                held.release()
            stale.append(job)
        for job in stale:
            job.status = "failed"
            job.error = (
                "interrupted: the server stopped before the job finished (the uploads are kept; retry it)"
            )
            job.finished_at = utcnow()
            log_event(
                s,
                EventKind.JOB_FAILED,
                subject=subject("job", job.id),
                detail={"error": "interrupted"},
                actor="server",
            )
        s.commit()
    sweep_plaintext(ws)
    app.state.jobs = runner
    return runner


FAILED_UPLOADS_KEPT_S = 24 * 3600
"""A failed job's uploads (plaintext, as received) are kept this long for a retry, then swept."""


def sweep_plaintext(ws: Workspace, *, now: datetime | None = None) -> list[str]:
    """Remove plaintext work files that no live process holds (see :class:`reclaim.workspace.Held`):
    uploads of finished jobs and of uploads that never became a job (a server killed mid-upload), what
    failed jobs had extracted, failed jobs' uploads older than :data:`FAILED_UPLOADS_KEPT_S`, and photos
    of enrolments a killed server left in ``tmp/``. Run when the server starts. Returns what was removed
    (folder names)."""
    now = now or utcnow()
    statuses: dict[str, tuple[str, datetime | None]] = {}
    with ws.session() as s:
        for job_id, status, finished in s.execute(select(Job.id, Job.status, Job.finished_at)):
            statuses[job_id] = (status, finished)

    def remove_upload(folder: Path) -> bool:
        status, finished = statuses.get(folder.name, ("none", None))
        if status == "failed":
            shutil.rmtree(folder / MATERIAL, ignore_errors=True)
            if finished is not None and finished.tzinfo is None:
                finished = finished.replace(tzinfo=now.tzinfo)
            return finished is None or (now - finished).total_seconds() > FAILED_UPLOADS_KEPT_S
        return status not in ("queued", "running")  # a stale queued/running job is marked failed first

    removed = sweep_unheld(ws.root / UPLOADS_DIR, remove=remove_upload)
    removed += sweep_unheld(ws.root / TMP_DIR)
    return [f"{p.parent.name}/{p.name}" for p in removed]


def jobs_for(app: FastAPI) -> JobRunner:
    """The app's runner (installed with the defaults on first use)."""
    runner = getattr(app.state, "jobs", None)
    if isinstance(runner, JobRunner):
        return runner
    return install_jobs(app)


# --- services ---------------------------------------------------------------------------------------------


def submit_upload_scan(app: FastAPI, *, case_id: str, user_id: int, files: Sequence[Upload]) -> str:
    """Store uploaded files for a case and queue their scan; returns the job id at once (the scan runs
    in the background). The user must be an admin or an advocate of the case (NotFound / Forbidden
    otherwise, as :func:`reclaim.server.auth.case_for`). ZIPs (e.g. a zipped Telegram Desktop export)
    are extracted by the job. Raises UploadError when there are no files, too many or too large ones;
    nothing is kept then. No database transaction is open while the files are written (a large upload
    must not hold SQLite's write lock): the job's row is added once they are all on disk."""
    runner = jobs_for(app)
    limits = runner.limits
    if not files:
        raise UploadError("no files uploaded")
    if len(files) > limits.max_files:
        raise UploadError(f"{len(files):,} files, above the limit of {limits.max_files:,}")
    ws = runner.ws
    with ws.session() as s:
        principal = principal_for_user_id(s, user_id)
        case_for(s, principal, case_id, write=True)
    job_id = new_id()
    runner.hold(job_id)
    total = 0
    try:
        folder = runner.uploads(job_id) / FILES
        folder.mkdir(mode=0o700)
        for name, content in files:
            path = _unique(folder, safe_filename(name))
            with open(path, "xb") as out:
                for chunk in _chunks(content):
                    total += len(chunk)
                    if total > limits.max_bytes:
                        raise UploadError(f"the upload is above the limit of {limits.max_bytes:,} bytes")
                    out.write(chunk)
        with ws.session() as s:
            s.info["actor"] = f"user:{principal.username}"
            s.add(Job(id=job_id, case_id=case_id, kind="scan", status="queued", done=0, created_by=user_id))
            log_event(
                s,
                EventKind.JOB_SUBMITTED,
                subject=subject("job", job_id),
                detail={"case_id": case_id, "files": len(files), "bytes": total},
            )
            s.commit()
    except BaseException:
        shutil.rmtree(runner.uploads(job_id), ignore_errors=True)
        runner._forget(job_id)
        raise
    runner.submit(job_id)
    return job_id


def _chunks(content: bytes | IO[bytes]) -> Iterator[bytes]:
    if isinstance(content, bytes | bytearray):
        yield bytes(content)
        return
    while chunk := content.read(1024 * 1024):
        yield chunk


def get_job(session: Session, principal: Principal, job_id: str) -> JobOut:
    """A job of a case ``principal`` may see (NotFound "no such job" otherwise)."""
    job = session.get(Job, job_id)
    if job is None or job.case_id is None:
        raise NotFound(NO_JOB)
    try:
        case_for(session, principal, job.case_id)
    except NotFound:
        raise NotFound(NO_JOB) from None
    return job_out(job)


def case_jobs(session: Session, principal: Principal, case_id: str) -> list[JobOut]:
    """The case's jobs, newest first."""
    case = case_for(session, principal, case_id)
    rows = session.scalars(select(Job).where(Job.case_id == case.id).order_by(Job.created_at.desc(), Job.id))
    return [job_out(j) for j in rows]


def retry_job(app: FastAPI, principal: Principal, job_id: str) -> JobOut:
    """Run a failed job again from its kept uploads (admin, or an advocate of its case)."""
    runner = jobs_for(app)
    with runner.ws.session() as s:
        s.info["actor"] = f"user:{principal.username}"
        job = s.get(Job, job_id)
        if job is None or job.case_id is None:
            raise NotFound(NO_JOB)
        try:
            case_for(s, principal, job.case_id, write=True)
        except NotFound:
            raise NotFound(NO_JOB) from None
        if job.status != "failed":
            raise UserError(f"only a failed job can be retried (this one is {job.status})")
        if not (runner.uploads(job_id) / FILES).is_dir():
            raise UserError("the uploads of this job are gone; upload the material again")
        runner.hold(job_id)
        job.status, job.error, job.done, job.total, job.finished_at = "queued", None, 0, None, None
        log_event(s, EventKind.JOB_RETRIED, subject=subject("job", job_id))
        s.commit()
        out = job_out(job)
    runner.submit(job_id)
    return out
