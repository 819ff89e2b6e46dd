"""Start-up cost of ``reclaim scan`` (issue 13, outcome 1): CPU seconds of the whole process tree.

A scan of a few images is mostly start-up: the interpreter and imports, the fork server's preload (the
image stack, dlib's models, the face ResNet in ONNX), opening the workspace (migrations check, scrypt key
derivation), the matcher's indexes, the pool's workers. This bench runs the ``reclaim`` console script as
a user does, each command ``--rounds`` times into a fresh workspace, and prints the median wall and CPU
seconds of the command and ALL its descendants: this process becomes a child subreaper
(``PR_SET_CHILD_SUBREAPER``), so the fork server and the pool workers, which outlive their parent by a
moment, are reparented here and reaped, and ``getrusage(RUSAGE_CHILDREN)`` then counts every one of them
exactly (no sampling).

    python bench/startup.py                   # scan --help, and scans of 0 and 10 images, 3 rounds
    python bench/startup.py --n 10 --rounds 5 --json

Commands measured: ``reclaim scan --help``; ``reclaim scan EMPTY_DIR``; ``reclaim scan DIR`` of ``--n``
1-megapixel JPEGs (as bench/throughput.py makes them: a third without a face). The difference between the
last two is the per-image work; the empty scan is the start-up a user pays on every scan.

Measured on the 2-core machine (load 1.1-1.4, 5 rounds, medians of the whole tree's CPU seconds), before
and after the start-up round of issue 13: ``scan --help`` 0.93 -> 0.23; empty scan 3.25 -> 1.90; scan of
10 images 4.28 -> 3.04 (walls 0.82 -> 0.23, 1.97 -> 1.36, 2.48 -> 1.97 s). Of the empty scan's 1.9 s the
command's own process takes ≈ 1.25 (≈ 0.85 imports: SQLAlchemy, numpy, the models; 0.09 scrypt, kept as
strong as before), the fork server ≈ 0.36 and each worker ≈ 0.1 (its onnxruntime session).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import DEFAULT_SHARED, PASSPHRASE, _tool, generate

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphaned descendants are reparented to this process (Linux), so their CPU time is counted."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_all() -> None:
    """Wait for every child (reparented orphans included) so their usage lands in RUSAGE_CHILDREN."""
    while True:
        try:
            pid, _status = os.waitpid(-1, 0)
        except ChildProcessError:
            return
        if pid == 0:
            return


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of ``cmd`` and all its descendants, and its stdout."""
    cpu0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    reap_all()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, children_cpu() - cpu0, done.stdout


def run(n: int, rounds: int, workers: int, shared: Path | None) -> dict[str, Any]:
    exact = become_subreaper()
    reclaim = _tool("reclaim")
    out: dict[str, Any] = {
        "benchmark": "startup",
        "exact_tree_cpu": exact,
        "n": n,
        "rounds": rounds,
        "workers": workers,
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="reclaim-bench-startup-") as tmp:
        folder, empty = Path(tmp) / "images", Path(tmp) / "empty"
        empty.mkdir()
        generate(folder, n, shared, 1 / 3)
        base = dict(os.environ, RECLAIM_PASSPHRASE=PASSPHRASE)
        base.pop("RECLAIM_DATABASE_URL", None)
        commands = {
            "scan_help": ["scan", "--help"],
            "scan_empty": ["scan", str(empty), "--workers", str(workers), "--json"],
            f"scan_{n}": ["scan", str(folder), "--workers", str(workers), "--json"],
        }
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for r in range(rounds):
            for name, args in commands.items():
                env = dict(base, RECLAIM_WORKSPACE=str(Path(tmp) / f"ws-{name}-{r}"))
                timed([reclaim, "init"], env)  # a user's one-off set-up: not counted
                wall, cpu, _ = timed([reclaim, *args], env)
                samples[name].append((wall, cpu))
                shutil.rmtree(env["RECLAIM_WORKSPACE"], ignore_errors=True)
    for name, rows in samples.items():
        out[name] = {
            "wall_s": round(statistics.median(w for w, _ in rows), 3),
            "cpu_s": round(statistics.median(c for _, c in rows), 3),
            "cpu_s_all": [round(c, 3) for _, c in rows],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10, help="images in the non-empty scan (default 10)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each command; medians are printed")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED if DEFAULT_SHARED.exists() else None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = run(args.n, args.rounds, args.workers, args.shared)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"load {r['load_avg_1min']}; whole-tree CPU exact: {r['exact_tree_cpu']}; {r['rounds']} rounds")
    for key in ("scan_help", "scan_empty", f"scan_{args.n}"):
        row = r[key]
        print(f"{key:>12}: wall {row['wall_s']:6.2f} s   CPU {row['cpu_s']:6.2f} s   ({row['cpu_s_all']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
