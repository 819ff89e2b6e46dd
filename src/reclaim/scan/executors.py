"""Where a scan's analysis runs: one interface, three places.

The scan (:mod:`reclaim.scan.service`) reads each new file, hands its bytes to an
:class:`AnalysisExecutor` and writes the results in submission order (the single writer). The executor
only decides where :func:`reclaim.scan.analyze.analyze_job` runs:

- ``inline``: in the scan's own process, one file at a time (``workers=1``);
- ``local``: a pool of worker processes on this machine (the default);
- ``dask``: the workers of a Dask distributed cluster (``--scheduler``; :mod:`reclaim.scan.cluster`).

Every executor gets the bytes and the :class:`AnalyzeOptions` (no key, no database) and returns an
:class:`Analysis` or the error message for that file. The workspace's key, database and vault stay with
the writer.
"""

from __future__ import annotations

import ctypes
import ipaddress
import multiprocessing
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from reclaim.errors import UserError
from reclaim.scan.analyze import Analysis, AnalyzeOptions, analyze_job, warm_up

AnalyzeJob = tuple[bytes, AnalyzeOptions]

WORKER_CRASHED = "analysing this file crashed its worker process (a decoder or model failure); skipped"


class Ticket(Protocol):
    """One submitted file: :meth:`result` waits for its analysis (or its error message)."""

    def result(self) -> Analysis | str: ...


class AnalysisExecutor(ABC):
    """Runs :func:`analyze_job` somewhere; results are collected in the order the scan asks for them."""

    name: ClassVar[str]
    """Stable name (``inline``, ``local``, ``dask``)."""

    @property
    @abstractmethod
    def window(self) -> int:
        """How many files the scan keeps in flight (0: each result is taken at once)."""

    @abstractmethod
    def submit(self, job: AnalyzeJob) -> Ticket: ...

    def close(self) -> None:  # noqa: B027  (nothing to release by default)
        """Stop the workers this executor started (pending work is dropped)."""

    def __enter__(self) -> AnalysisExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass
class Done:
    """A result already in hand."""

    value: Analysis | str

    def result(self) -> Analysis | str:
        return self.value


class InlineExecutor(AnalysisExecutor):
    """Analysis in the scan's own process, one file at a time."""

    name = "inline"

    @property
    def window(self) -> int:
        return 0

    def submit(self, job: AnalyzeJob) -> Ticket:
        return Done(analyze_job(job))


M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc() -> bool:
    """A worker's memory stays flat (issue 13, outcome 3): glibc serves allocations above a threshold with
    mmap and gives them back when freed, but raises that threshold (up to 32 MiB) after the first large
    free, after which decoded frames come from the heap and the worker keeps the high-water mark of its
    largest picture. Fixing the threshold at 1 MiB (and at most two arenas) returns every frame's memory.
    Returns whether it applied (glibc only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)) and bool(libc.mallopt(M_ARENA_MAX, 2))
    except (OSError, AttributeError):  # another C library: its own defaults
        return False


TRIM_EVERY = 8
"""A pool worker gives the C heap's free pages back to the system after this many files."""

_done_here = 0
"""Files this worker process analysed (:func:`analyze_and_trim`)."""


def trim_heap() -> bool:
    """``malloc_trim(0)``: glibc returns the free pages inside its arenas (the memory small allocations of
    a large picture leave behind), not only the top of the heap. Returns whether it applied (glibc only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def analyze_and_trim(job: AnalyzeJob) -> Analysis | str:
    """A pool worker's job: :func:`analyze_job`, and every :data:`TRIM_EVERY` files :func:`trim_heap`."""
    global _done_here
    try:
        return analyze_job(job)
    finally:
        _done_here += 1
        if _done_here % TRIM_EVERY == 0:
            trim_heap()


def _watch_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker when the scan process is gone (e.g. killed), so no orphaned
    workers with loaded models linger; and keep its memory flat (:func:`tune_malloc`)."""
    tune_malloc()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # pid reused by another user's process: ours is gone
                os._exit(0)

    threading.Thread(target=watch, name="reclaim-parent-watch", daemon=True).start()


def _make_pool(size: int) -> Executor:
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["reclaim.scan.preload"])  # as reclaim.cli.early.PRELOAD
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=size,
        mp_context=context,
        initializer=_watch_parent,
        initargs=(os.getpid(),),
    )


@dataclass
class _PoolTicket:
    pool: LocalPoolExecutor
    job: AnalyzeJob
    future: Future[Analysis | str]
    generation: int

    def result(self) -> Analysis | str:
        try:
            return self.future.result()
        except BrokenProcessPool:
            return self.pool.recover(self)


WORKER_TASKS = 250
"""Files a pool worker analyses before it is replaced by a fresh one (``RECLAIM_WORKER_TASKS``; 0: never)."""


def worker_tasks() -> int:
    """:data:`WORKER_TASKS`, or the ``RECLAIM_WORKER_TASKS`` environment variable if a whole number."""
    value = os.environ.get("RECLAIM_WORKER_TASKS", "").strip()
    return int(value) if value.isdigit() else WORKER_TASKS


class LocalPoolExecutor(AnalysisExecutor):
    """Worker processes on this machine (a fork server that preloads the models, on Linux).

    Memory stays flat (issue 13, outcome 3): each worker trims its C heap every :data:`TRIM_EVERY` files,
    and the workers are recycled: after ``recycle_after`` files a worker (``recycle_after * size`` for the
    pool) the pool finishes the files it holds, its workers exit (giving back whatever their largest
    pictures left in glibc's arenas), and a fresh pool, warmed up the same way, takes the next files. A new
    worker is forked from the fork server, which holds the models: ≈ 0.1 CPU s each."""

    name = "local"

    def __init__(
        self, size: int, *, warm_faces: bool | None = None, recycle_after: int | None = None
    ) -> None:
        self.size = size
        self._warm_faces = warm_faces
        self._recycle_after = worker_tasks() if recycle_after is None else recycle_after
        self._submitted = 0
        """Files sent to the current pool."""
        self.recycled = 0
        """How many times the pool was replaced by a fresh one after its share of files."""
        self._generation = 0
        """Bumped when the pool is replaced (broken or recycled): a job tells whether it went to the current
        one."""
        self._pool = self._start_pool()

    def _start_pool(self) -> Executor:
        pool = _make_pool(self.size)
        self._submitted = 0
        if self._warm_faces is not None:
            # start every worker now (the pool starts them on demand), each loading what it needs
            for _ in range(self.size):
                pool.submit(warm_up, self._warm_faces)
        return pool

    @property
    def window(self) -> int:
        return 4 * self.size  # a few files in flight per worker

    def _recycle(self) -> None:
        """Retire the current pool once it has finished its files in flight (their results wait in their
        tickets), then start a fresh one for the next files: never both pools' workers at once."""
        self._pool.shutdown(wait=True)
        self._pool = self._start_pool()
        self._generation += 1
        self.recycled += 1

    def submit(self, job: AnalyzeJob) -> Ticket:
        """When a worker died before the scan noticed, the pool refuses new jobs: the job then fails like
        the ones in flight, and is rerun alone when its turn comes."""
        if self._recycle_after > 0 and self._submitted >= self._recycle_after * self.size:
            self._recycle()
        self._submitted += 1
        try:
            future = self._pool.submit(analyze_and_trim, job)
        except BrokenProcessPool as exc:
            future = Future()
            future.set_exception(exc)
        return _PoolTicket(self, job, future, self._generation)

    def recover(self, ticket: _PoolTicket) -> Analysis | str:
        """A worker died (a decoder crash, the OOM killer). Every job in flight failed with it: each is
        rerun alone to find the file that did it; the others go on normally. The first of them replaces
        the pool; jobs already sent to its replacement stay."""
        if ticket.generation == self._generation:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start_pool()
            self._generation += 1
        alone = _make_pool(1)
        try:
            return alone.submit(analyze_job, ticket.job).result()
        except BrokenProcessPool:
            return WORKER_CRASHED
        finally:
            alone.shutdown(wait=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# --- the cluster's address (checked here: no dask import needed to refuse one) ----------------------------

SCHEMES = ("tcp", "tls")


@dataclass(frozen=True)
class ClusterSettings:
    """A Dask scheduler to send the analysis to.

    ``security``: a ``distributed.security.Security`` for ``tls://`` (None: Dask's own configuration,
    ``distributed.comm.tls.*`` in its YAML files or ``DASK_DISTRIBUTED__COMM__TLS__…`` variables).
    ``insecure``: allow a plain ``tcp://`` scheduler on another machine (media would cross the network
    unencrypted)."""

    address: str
    insecure: bool = False
    security: Any = None
    connect_timeout_s: float = 20.0
    worker_timeout_s: float = 60.0
    """How long to wait for the first worker to join before the scan gives up."""

    def __repr__(self) -> str:
        return f"ClusterSettings({self.address!r}, insecure={self.insecure})"


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal. Names are not resolved (no lookup the user did not ask
    for): any other name counts as another machine."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_address(settings: ClusterSettings) -> tuple[str, str]:
    """(scheme, host) of the scheduler's address; a :class:`UserError` for an address reclaim will not
    send media to: an unknown scheme, or plain TCP to another machine without ``insecure``."""
    address = settings.address.strip()
    if "://" not in address:
        address = f"tcp://{address}"
    parts = urlsplit(address)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UserError(
            f"--scheduler {settings.address!r}: unsupported protocol {scheme!r} (use tls:// or, on this "
            "machine, tcp://)"
        )
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UserError(f"--scheduler {settings.address!r}: {exc}") from exc
    if not host or port is None:
        raise UserError(f"--scheduler {settings.address!r}: give HOST:PORT, e.g. tls://10.0.0.5:8786")
    if scheme == "tcp" and not is_loopback(host) and not settings.insecure:
        raise UserError(
            f"refusing to send media to {settings.address} over unencrypted TCP: the scan ships image "
            "bytes to the workers. Use tls:// (see docs/cluster.md), or --insecure on a private network "
            "you trust."
        )
    return scheme, host


def make_executor(
    workers: int, cluster: ClusterSettings | None, *, warm_faces: bool | None = None
) -> AnalysisExecutor:
    """The executor for a scan: the cluster's when one is given, else a local pool (or inline for 1).
    ``warm_faces``: start a local pool's workers at once (not on the first file), loading the face
    model's session too when true."""
    if cluster is not None:
        check_address(cluster)
        # Imported here, not at the top: distributed costs ≈ 0.5 s of start-up, paid only with --scheduler.
        from reclaim.scan.cluster import DaskExecutor

        return DaskExecutor(cluster)
    if workers > 1:
        return LocalPoolExecutor(workers, warm_faces=warm_faces)
    return InlineExecutor()
