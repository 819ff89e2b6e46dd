"""Per-stage CPU cost of a scan worker's analysis (issue 13, outcome 1).

Generates ``--n`` 1 MP JPEGs (bench/throughput.py's ``generate``: 1152x864, q90, a third faceless) and
times, per image, with ``time.process_time`` in one process: decode, the byte hashes, the working copy,
PDQ's 8 exact dihedral variants, pdq64, the robust engine's features, the cheap metadata forensics,
pickling the Analysis; then ``analyze_bytes(faces=False)`` whole, with and without ``robust=True``, and the
worker's whole default job (``robust=True``, the quick face search: detection and descriptors included).
Prints the median and mean CPU ms per image of each stage. Not part of the test suite.

    python bench/analysis_cost.py --n 60
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reclaim.forensics.passes import CHEAP_PASSES, ForensicInput, run_file_forensics
from reclaim.matching.robust import item_features, one_thread
from reclaim.media import WORK_SIDE, MediaLimits, decode_media
from reclaim.scan.analyze import analyze_bytes
from reclaim.signals.base import working_copy
from reclaim.signals.pdq import Pdq64Signal, PdqSignal
from throughput import generate


def _cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best = float("inf")
    out: Any = None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return best * 1000.0, out


def _stages(data: bytes, repeat: int) -> dict[str, float]:
    """CPU ms of each stage for one file (best of ``repeat``)."""
    out: dict[str, float] = {}
    limits = MediaLimits(max_side=WORK_SIDE)
    out["decode"], media = _cpu(lambda: decode_media(data, limits=limits), repeat)
    out["sha256+md5"], _ = _cpu(lambda: (hashlib.sha256(data).digest(), hashlib.md5(data).digest()), repeat)
    image = media.frames[0].image
    out["working_copy"], small = _cpu(lambda: working_copy(image), repeat)
    out["pdq x8"], _ = _cpu(lambda: PdqSignal.hash_working(0, small), repeat)
    out["pdq64"], _ = _cpu(lambda: Pdq64Signal.hash_working(0, small), repeat)
    out["robust features"], _ = _cpu(lambda: item_features(small), repeat)

    def forensics() -> Any:
        return run_file_forensics(ForensicInput(data=data, mime=media.mime, kind=media.kind), CHEAP_PASSES)

    out["cheap forensics"], _ = _cpu(forensics, repeat)
    out["analyze (no faces)"], plain = _cpu(
        lambda: analyze_bytes(data, faces=False, forensics="matched"), repeat
    )
    out["pickle"], _ = _cpu(lambda: pickle.dumps(plain, pickle.HIGHEST_PROTOCOL), repeat)
    out["analyze robust (no faces)"], rob = _cpu(
        lambda: analyze_bytes(data, faces=False, forensics="matched", robust=True), repeat
    )
    out["pickle robust"], _ = _cpu(lambda: pickle.dumps(rob, pickle.HIGHEST_PROTOCOL), repeat)
    # what a scan's worker runs for this file by default: the quick face search (detection and
    # descriptors) on top of the robust analysis
    out["analyze quick (the worker's job)"], _ = _cpu(
        lambda: analyze_bytes(data, forensics="matched", robust=True, face_search="quick"), repeat
    )
    return out


def measure(paths: list[Path], repeat: int) -> dict[str, dict[str, float]]:
    one_thread()  # as in a scan's worker
    stages: dict[str, list[float]] = {}
    for path in paths:
        for name, ms in _stages(path.read_bytes(), repeat).items():
            stages.setdefault(name, []).append(ms)
    return {
        k: {"median_ms": round(statistics.median(v), 2), "mean_ms": round(statistics.mean(v), 2)}
        for k, v in stages.items()
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs per stage and image")
    ap.add_argument("--shared", type=Path, default=None, help="the shared data folder (scenes)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        generate(folder, args.n, args.shared, faceless_fraction=1 / 3)
        paths = sorted(folder.glob("*.jpg"))
        analyze_bytes(paths[0].read_bytes(), robust=True, face_search="quick")  # imports, models, tables
        result = measure(paths, args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, r in result.items():
            print(f"{name:28s} median {r['median_ms']:7.2f} ms   mean {r['mean_ms']:7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
