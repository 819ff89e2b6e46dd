"""Analysis on a Dask distributed cluster (``reclaim scan --scheduler tls://HOST:8786``).

The coordinating machine keeps the single writer, the workspace's key, its database and its vault; the
cluster's workers get a file's bytes and the analysis options, and return what
:func:`reclaim.scan.analyze.analyze_job` returns (hashes, face vectors, forensic findings, robust
features) or the file's error message. Nothing a worker gets can decrypt anything.

- **Retries.** A worker that dies mid-task (killed, out of memory) costs a retry: the scheduler reruns
  its tasks on another worker. A file that kills ``distributed.scheduler.allowed-failures`` + 1 workers
  in turn (default 4) is reported as :data:`reclaim.scan.executors.WORKER_CRASHED`, like a local crash.
- **No victim material on the workers' disks.** Dask spills task results to the worker's local directory
  under memory pressure; :class:`ReclaimWorkerPlugin` turns spilling off on every worker that joins
  (workers then pause, not spill, when memory is short). The bytes travel inside the task (never a
  scattered, spillable key), wrapped so that Dask's "Compute Failed" log line cannot print them.
- **Models once per worker process.** The plugin loads the face model when a worker joins; every task
  in that process reuses it (:func:`reclaim.signals.get_face_model` caches per process).

Only imported when a scheduler is given: ``distributed`` costs ≈ 0.5 s of start-up.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import zict
from distributed import Client, Future
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.scheduler import KilledWorker
from distributed.security import Security
from distributed.worker import Worker

from reclaim.errors import ReclaimError, UserError
from reclaim.scan.analyze import Analysis, AnalyzeOptions, analyze_job
from reclaim.scan.executors import (
    WORKER_CRASHED,
    AnalysisExecutor,
    AnalyzeJob,
    ClusterSettings,
    Ticket,
    check_address,
)
from reclaim.signals import get_face_model

TLS_SETTINGS = (
    "DASK_DISTRIBUTED__COMM__TLS__CA_FILE, DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT and "
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY (or distributed.comm.tls in Dask's YAML configuration)"
)


@dataclass
class RemoteJob:
    """One file's analysis as it travels to a worker. Its repr names only the size: Dask logs a failed
    task's arguments."""

    data: bytes
    options: AnalyzeOptions

    def __repr__(self) -> str:
        return f"RemoteJob({len(self.data)} bytes)"


def analyze_remote(job: RemoteJob) -> Analysis | str:
    """The task a worker runs: :func:`analyze_job` on the bytes it was sent."""
    return analyze_job((job.data, job.options))


def disable_spilling(worker: Worker) -> None:
    """Keep every result of this worker in memory: never written to its local directory."""
    memory = worker.memory_manager
    memory.memory_target_fraction = False  # no eviction to disk when data is stored
    memory.memory_spill_fraction = False  # no eviction by the memory monitor
    if isinstance(memory.data, zict.Buffer):  # the SpillBuffer made at start-up
        memory.data.n = math.inf


class ReclaimWorkerPlugin(WorkerPlugin):
    """Set up every worker that joins the cluster while reclaim uses it: no spilling, models loaded."""

    name = "reclaim"

    def setup(self, worker: Worker) -> None:
        disable_spilling(worker)
        with contextlib.suppress(ReclaimError):  # a missing model is reported per file by the task
            get_face_model()


@dataclass
class _DaskTicket:
    future: Future[Analysis | str]
    address: str

    def result(self) -> Analysis | str:
        try:
            result: Analysis | str = self.future.result()
            return result
        except KilledWorker:  # the file took down allowed-failures + 1 workers: a crashing decoder
            return WORKER_CRASHED
        except (FutureCancelledError, CommClosedError, OSError) as exc:
            raise UserError(
                f"lost the Dask scheduler at {self.address} ({type(exc).__name__}); the items written so "
                "far are kept: run the scan again to resume"
            ) from exc
        finally:
            self.future.release()


class DaskExecutor(AnalysisExecutor):
    """The workers of a Dask distributed cluster."""

    name = "dask"

    def __init__(self, settings: ClusterSettings) -> None:
        scheme, _ = check_address(settings)
        self.address = settings.address
        security = settings.security
        if scheme == "tls" and security is None:
            security = Security()  # Dask's configuration (YAML or DASK_DISTRIBUTED__COMM__TLS__*)
            if not getattr(security, "tls_ca_file", None):
                raise UserError(f"{settings.address}: tls:// needs Dask's settings: {TLS_SETTINGS}")
        try:
            self.client = Client(
                settings.address,
                security=security,
                timeout=settings.connect_timeout_s,
                set_as_default=False,
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserError(f"cannot reach the Dask scheduler at {settings.address}: {exc}") from exc
        try:
            self.client.register_plugin(ReclaimWorkerPlugin(), name=ReclaimWorkerPlugin.name)
            self.client.wait_for_workers(1, timeout=settings.worker_timeout_s)
        except TimeoutError as exc:
            self.client.close()
            raise UserError(
                f"no worker joined the Dask scheduler at {settings.address} within "
                f"{settings.worker_timeout_s:g} s"
            ) from exc
        threads: int = sum(self.client.nthreads().values())
        self._window = max(2, 4 * threads)

    @property
    def window(self) -> int:
        return self._window

    def submit(self, job: AnalyzeJob) -> Ticket:
        data, options = job
        future = self.client.submit(analyze_remote, RemoteJob(data, options), pure=False)
        return _DaskTicket(future, self.address)

    def close(self) -> None:
        self.client.close()
