"""Structure-aware mutation of an evidence package's JSON (its manifest.json and custody.json): parse the
seed package's document, swap 1-3 values anywhere in it for values of other types (or remove them), put it
back and run the evidence / custody target. Byte-level mutation rarely gets past JSON syntax and the
package's ZIP checks; this reaches the verifier's checks of each field.

    python fuzz/structured.py --runs 1500 --seed 1

Prints each distinct crash (exception type and the line it came from) and a count; exits 1 if any."""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import traceback
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from targets import custody, evidence, run_one, seeds  # noqa: E402

VALUES: list[Any] = [
    None, 0, -1, 2**70, 1.5, float("nan"), "", "x", "../../etc/passwd", [], {}, [1], {"a": 1}, True,
    "9999-12-31T23:59:59-05:00", "²",
]  # fmt: skip


def _paths(obj: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*at, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*at, i))


def mutate(doc: Any, rng: random.Random) -> Any:
    doc = json.loads(json.dumps(doc))
    paths = list(_paths(doc))[1:]
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if rng.random() < 0.8:
                parent[path[-1]] = rng.choice(VALUES)
            else:
                del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            pass  # an earlier swap removed the path
    return doc


def _with_member(package: bytes, name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as src, zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            out.writestr(info, data if info.filename == name else src.read(info))
    return buf.getvalue()


def main() -> None:
    from reclaim.evidence.verify import dump_custody

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    package = seeds("evidence")[0]
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        log = json.loads(zf.read("custody.json"))
    crashes: Counter[str] = Counter()
    for _ in range(args.runs):
        if rng.random() < 0.5:
            doc = mutate(manifest, rng)
            data = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False).encode()
            target, data = evidence, _with_member(package, "manifest.json", data)
        else:
            doc = mutate(log, rng)
            canonical = isinstance(doc, list) and all(isinstance(r, dict) for r in doc)
            target, data = custody, dump_custody(doc) if canonical else json.dumps(doc).encode()
        try:
            run_one(target, data)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            key = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}: {str(exc)[:120]}"
            if key not in crashes:
                print(key)
            crashes[key] += 1
    print(f"{args.runs} runs, {sum(crashes.values())} crashes, {len(crashes)} distinct")
    if crashes:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
