"""Imported first by the command line: for ``reclaim scan`` and ``finish-faces`` it starts the worker
pool's fork server at once, so that the fork server's preload (≈ 0.4 CPU s: the image stack, dlib's
models, the check of the face ResNet's ONNX conversion; :mod:`reclaim.scan.preload`) runs on the second
core while this process imports the command line and opens the workspace (≈ 1 s), instead of after them.
The pool then forks its workers from this fork server. Only the standard library is imported here.

A guess that turns out wrong (``scan --help``, a user error) only costs that idle process, which ends
with this one.

It also keeps every process multiprocessing starts (the pool's workers) from re-running the console
script (:func:`forget_main_script`)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import sys
from collections.abc import Sequence
from pathlib import Path

PRELOAD = "reclaim.scan.preload"
"""The fork server's preload module (the same as :func:`reclaim.scan.executors.make_pool`'s)."""


SCRIPT = "reclaim"
"""The console script's name (``[project.scripts]``)."""


def start(argv: Sequence[str]) -> None:
    """What the ``reclaim`` console script does before its imports (``argv``: ``sys.argv``): nothing when
    the command line is imported another way (``python -m reclaim.cli``, a test, a user's program)."""
    if not argv or Path(argv[0]).name != SCRIPT:
        return
    forget_main_script()
    start_fork_server(argv[1:])


def forget_main_script() -> bool:
    """Every process multiprocessing starts (a pool's worker) first re-runs the parent's ``__main__``
    script, to find what the parent defined there. The ``reclaim`` script defines nothing a worker uses
    (the pool's jobs are library functions, found by module name), but re-running it imports the whole
    command line (typer, rich, the workspace, SQLAlchemy, the evidence and spread modules): ≈ 0.3 CPU s
    and tens of MB in each worker. Without the script's path multiprocessing skips that step (as it does
    for ``python -m``). Returns whether the script was forgotten."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or getattr(main, "__spec__", None) is not None or not path or Path(path).name != SCRIPT:
        return False
    del main.__file__
    return True


POOL_COMMANDS = ("scan", "finish-faces")
"""The commands that analyse on the local worker pool."""


def wants_pool(argv: Sequence[str]) -> bool:
    """Whether these command-line arguments run a command of :data:`POOL_COMMANDS` with a local worker
    pool: not with ``--help``, ``--scheduler`` (a Dask cluster) or ``--workers 1``."""
    args = list(argv)
    command = next((a for a in args if a in POOL_COMMANDS), None)
    if command is None:
        return False
    after = args[args.index(command) + 1 :]
    for i, a in enumerate(after):
        if a in ("--help", "-h") or a.startswith("--scheduler"):
            return False
        if (a == "--workers" and after[i + 1 : i + 2] == ["1"]) or a == "--workers=1":
            return False
    return True


def start_fork_server(argv: Sequence[str]) -> None:
    """Start the fork server (Linux) when :func:`wants_pool`; never raises (the pool starts it later)."""
    if not sys.platform.startswith("linux") or not wants_pool(argv):
        return
    if multiprocessing.parent_process() is not None:  # a worker re-importing the main module
        return
    try:
        multiprocessing.get_context("forkserver").set_forkserver_preload([PRELOAD])
        multiprocessing.forkserver.ensure_running()
    except (OSError, ValueError, RuntimeError):  # the scan's own pool start reports a real problem
        pass
