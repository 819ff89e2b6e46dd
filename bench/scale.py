"""Scale benchmark (issue 13, outcome 3): memory flat, linear work, fast rescans.

Generates ``--n`` benign images (default 20,000) into a folder: long sides from 200 to 3,000 px (most
small, a few large), JPEG/PNG/WebP, each a picture of its own (smooth random colour fields under random
shapes: no two share content, so no two are near-duplicates or crops of each other by accident); about 1 in
12 has the astronaut's face pasted in (``reclaim.demo.paste_face``, the project's stand-in for a
deepfake), about 1 in 50 is a near-duplicate (resized and recompressed) of an earlier one, and about 1 in
1,000 is a short benign video (a pan over a scene, PyAV; skipped with the reason printed when PyAV is
missing). The folder is kept between runs with ``--data DIR`` (generated once per ``--n``).

Then ``reclaim scan FOLDER --workers 2 --json`` runs into a fresh workspace, as a user would run it,
while a thread samples /proc every ~100 ms for the whole process tree (the CLI and every descendant:
the pool's workers): the sum of RSS and of PSS (smaps_rollup), and every 0.5 s the number of sightings
the writer has committed (a read-only SQLite connection, WAL), from which the time per thousand images
is taken. Then the same command again: the rescan, which must recognise the unchanged files without
decoding them and record nothing twice.

Bars: peak RSS of the tree ≤ 1 GB, flat (the peak of the last quarter of the scan within 10 % of the
first quarter's); time per thousand images constant within 15 % (first thousand against last); the
rescan ≥ 500 items/s.

    python bench/scale.py --n 2000 --data /tmp/scale-2000
    python bench/scale.py              # 20,000 images
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from reclaim.demo import paste_face, sample_picture

FACE_FREE = ("brick", "chelsea", "coffee", "coins", "rocket", "grass", "gravel", "moon", "page", "horse")
PASSPHRASE = "bench-scale"  # throwaway workspaces only
RSS_BAR_MB = 1024.0
FLAT_BAR = 0.10
PER_THOUSAND_BAR = 0.15
RESCAN_BAR = 500.0

_scenes: dict[str, np.ndarray] = {}


def _scene(name: str) -> np.ndarray:
    if name not in _scenes:
        _scenes[name] = sample_picture(name)
    return _scenes[name]


def _long_side(rng: np.random.Generator) -> int:
    r = rng.random()
    if r < 0.70:
        return int(rng.integers(200, 900))
    if r < 0.95:
        return int(rng.integers(900, 1800))
    return int(rng.integers(1800, 3001))


def _mosaic(rng: np.random.Generator, side: int = 480) -> np.ndarray:
    """A picture of its own: smooth random colour fields (a 4 x 4 grid of random colours, upscaled
    bicubically) under random shapes, with a little grain. No two share content, so neither their
    perceptual hashes nor the robust engine's keypoints (which would rightly call crops of one photo
    reposts of each other) relate them."""
    grid = Image.fromarray(rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8))
    img = grid.resize((side, side), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(8, 16))):
        x0, y0 = int(rng.integers(0, side)), int(rng.integers(0, side))
        x1, y1 = x0 + int(rng.integers(10, side // 2)), y0 + int(rng.integers(10, side // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.chord((x0, y0, x1, y1), int(rng.integers(0, 360)), int(rng.integers(0, 360)), fill=colour)
        else:
            (draw.rectangle if kind == 1 else draw.ellipse)((x0, y0, x1, y1), fill=colour)
    grain = rng.normal(0, 6, size=(side, side, 3))
    return np.clip(np.asarray(img, dtype=np.float32) + grain, 0, 255).astype(np.uint8)


def _picture(i: int, *, face: bool) -> Image.Image:
    """Image ``i``: a picture of its own (see :func:`_mosaic`), a few more shapes, maybe the face."""
    rng = np.random.default_rng(1_000_003 * i + 7)
    base = _mosaic(rng)
    if rng.random() < 0.5:  # landscape or portrait
        aspect = rng.uniform(0.55, 0.8)
        base = np.asarray(Image.fromarray(base).resize((base.shape[1], int(base.shape[0] * aspect))))
    side = _long_side(rng)
    scale = side / max(base.shape[:2])
    size = (max(16, round(base.shape[1] * scale)), max(16, round(base.shape[0] * scale)))
    img = Image.fromarray(base).resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        x1 = x0 + int(rng.integers(size[0] // 8, size[0] // 2 + 2))
        y1 = y0 + int(rng.integers(size[1] // 8, size[1] // 2 + 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x0, y0, x1, y1), fill=colour)
    if face and min(size) >= 200:
        width = int(min(size) * rng.uniform(0.3, 0.5))
        img = paste_face(np.asarray(img), width=width, at=(float(rng.random()), float(rng.random())))
    return img


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpg":
        img.convert("RGB").save(buf, "JPEG", quality=88)
    elif fmt == "png":
        img.save(buf, "PNG", compress_level=1)
    else:
        img.save(buf, "WEBP", quality=80, method=0)
    return buf.getvalue()


@dataclass(frozen=True)
class Plan:
    """What file ``index`` is: a picture (with a face or not), a near-duplicate of ``of``, or a video."""

    index: int
    kind: str  # "picture", "face", "near_dup", "video"
    fmt: str
    of: int = -1


def plan(n: int, *, faces_every: int = 12, videos: bool = True) -> list[Plan]:
    rng = np.random.default_rng(n)
    out: list[Plan] = []
    for i in range(n):
        fmt = str(rng.choice(["jpg", "png", "webp"], p=[0.6, 0.25, 0.15]))
        if videos and i % 1000 == 500:
            out.append(Plan(i, "video", "mp4"))
        elif i > 20 and i % 50 == 17:
            out.append(Plan(i, "near_dup", "jpg", of=i - int(rng.integers(1, 20))))
        elif i % faces_every == 3:
            out.append(Plan(i, "face", fmt))
        else:
            out.append(Plan(i, "picture", fmt))
    return out


def _write_one(args: tuple[Path, Plan, dict[int, Plan]]) -> None:
    folder, p, base = args
    path = folder / f"{p.index // 1000:03d}" / f"img{p.index:06d}.{p.fmt}"
    if path.exists():
        return
    if p.kind == "video":
        from reclaim.demo import encode_video, pan_frames

        frames = pan_frames(FACE_FREE[p.index % len(FACE_FREE)], seconds=2.0, fps=8, size=(160, 120))
        data = encode_video(frames, fps=8)
    elif p.kind == "near_dup":
        src = base[p.of]
        img = _picture(src.index, face=src.kind == "face")
        img = img.resize((max(16, img.width * 9 // 10), max(16, img.height * 9 // 10)))
        data = _encode(img, "jpg")
    else:
        data = _encode(_picture(p.index, face=p.kind == "face"), p.fmt)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.rename(path)


def generate(folder: Path, plans: list[Plan], *, processes: int = 2) -> float:
    """Write the planned files (those not yet there) under ``folder``; returns the seconds it took."""
    t0 = time.monotonic()
    for p in plans:
        (folder / f"{p.index // 1000:03d}").mkdir(parents=True, exist_ok=True)
    by_index = {p.index: p for p in plans}
    with Pool(processes) as pool:
        for _ in pool.imap_unordered(_write_one, [(folder, p, by_index) for p in plans], chunksize=16):
            pass
    return time.monotonic() - t0


def have_video_encoder() -> str | None:
    """None when PyAV can encode the sample videos, else why not."""
    try:
        import av  # noqa: F401  (only to know whether videos can be made)
    except ImportError as exc:
        return f"PyAV is not installed ({exc}): no videos in this run"
    return None


# --- measuring ---------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _kb(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


ROLES = ("writer", "fork_server", "workers", "other")


def _role(pid: int, root: int) -> str:
    """What a process of the scan's tree is: the writer (the command itself), the pool's fork server (its
    child that has children of its own or that multiprocessing started), a worker (the fork server's
    child), or another helper (multiprocessing's resource tracker)."""
    if pid == root:
        return "writer"
    parent = _kb(f"/proc/{pid}/status", "PPid:")
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        cmdline = b""
    if parent == root:
        return "other" if b"resource_tracker" in cmdline else "fork_server"
    return "workers"


@dataclass
class Samples:
    """Per sample: (seconds since start, RSS sum MB, PSS sum MB, processes); the main process's RSS (the
    writer) per sample and the largest RSS any other process reached; sightings over time; per sample,
    the RSS sum of each role (:data:`ROLES`)."""

    memory: list[tuple[float, float, float, int]] = field(default_factory=list)
    main_rss: list[float] = field(default_factory=list)
    worker_peak: float = 0.0
    progress: list[tuple[float, int]] = field(default_factory=list)
    roles: list[dict[str, float]] = field(default_factory=list)


def sample(pid: int, db: Path, stop: threading.Event, out: Samples, t0: float) -> None:
    last_db = 0.0
    conn: sqlite3.Connection | None = None
    roles: dict[int, str] = {}
    while not stop.is_set():
        now = time.monotonic() - t0
        pids = tree(pid)
        each = [_kb(f"/proc/{p}/status", "VmRSS:") / 1024 for p in pids]
        rss = sum(each)
        out.main_rss.append(each[0] if each else 0.0)
        by_role = dict.fromkeys(ROLES, 0.0)
        for p, mb in zip(pids, each, strict=True):
            by_role[roles.setdefault(p, _role(p, pid))] += mb
        out.roles.append(by_role)
        out.worker_peak = max([out.worker_peak, *each[1:]])
        pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids) / 1024
        out.memory.append((now, rss, pss, len(pids)))
        if now - last_db >= 0.5 and db.exists():
            last_db = now
            try:
                if conn is None:
                    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
                (count,) = conn.execute("SELECT count(*) FROM sightings").fetchone()
                out.progress.append((now, int(count)))
            except sqlite3.Error:
                pass
        stop.wait(0.1)
    if conn is not None:
        conn.close()


def run_cli(args: list[str], env: dict[str, str], db: Path | None) -> tuple[dict[str, Any], float, Samples]:
    """Run ``reclaim ARGS --json``; returns its JSON, the wall time and what the sampler saw."""
    samples = Samples()
    stop = threading.Event()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reclaim.cli", *args, "--json"], env=env, stdout=subprocess.PIPE, text=True
    )
    sampler = threading.Thread(
        target=sample, args=(proc.pid, db or Path("/nonexistent"), stop, samples, t0), daemon=True
    )
    sampler.start()
    stdout, _ = proc.communicate()
    wall = time.monotonic() - t0
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"reclaim {' '.join(args)} failed ({proc.returncode})")
    return json.loads(stdout), wall, samples


def per_thousand(progress: list[tuple[float, int]], total: int) -> list[float]:
    """Seconds for each whole thousand of sightings, interpolated from the samples."""
    if not progress:
        return []
    ts = np.array([t for t, _ in progress])
    cs = np.array([c for _, c in progress], dtype=float)
    marks = list(range(0, total + 1, 1000))
    if len(marks) < 2:
        return []
    at = np.interp(marks, cs, ts)
    return [round(float(b - a), 2) for a, b in itertools.pairwise(at)]


def quarter_peaks(memory: list[tuple[float, float, float, int]], end: float) -> tuple[float, float]:
    """Peak RSS in the first and the last quarter of the scan's wall time."""
    first = [r for t, r, _, _ in memory if t <= end / 4] or [0.0]
    last = [r for t, r, _, _ in memory if t >= end * 3 / 4] or [0.0]
    return max(first), max(last)


def role_quarters(s: Samples, end: float) -> dict[str, dict[str, list[int]]]:
    """Per role, the peak and the median RSS (MB, summed over the role's processes) in the first and the
    last quarter of the scan: a peak that moves with the median is memory kept, one that moves alone is
    the pictures in flight at that moment."""
    out: dict[str, dict[str, list[int]]] = {}
    for role in ROLES:
        first = [r[role] for (t, *_), r in zip(s.memory, s.roles, strict=True) if t <= end / 4] or [0.0]
        last = [r[role] for (t, *_), r in zip(s.memory, s.roles, strict=True) if t >= end * 3 / 4] or [0.0]
        out[role] = {
            "peak": [round(max(first)), round(max(last))],
            "median": [round(float(np.median(first))), round(float(np.median(last)))],
        }
    return out


def env_for(ws: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["RECLAIM_WORKSPACE"] = str(ws)
    env["RECLAIM_PASSPHRASE"] = PASSPHRASE
    env.pop("RECLAIM_DATABASE_URL", None)
    return env


def rescan_only(ws: Path, data: Path, workers: int) -> dict[str, Any]:
    """Only the rescan, of a workspace a full run kept (``--workspace``)."""
    rescan, rewall, rs = run_cli(["scan", str(data), "--workers", str(workers)], env_for(ws), None)
    rate = rescan["sightings"] / rewall if rewall else 0.0
    return {
        "rescan": {k: rescan[k] for k in ("items", "new_items", "sightings", "new_sightings", "new_matches")},
        "rescan_s": round(rewall, 2),
        "rescan_items_per_s": round(rate),
        "rescan_peak_rss_mb": round(max((r for _, r, _, _ in rs.memory), default=0.0)),
    }


def run(n: int, data: Path, workers: int, keep: Path | None = None) -> dict[str, Any]:
    reason = have_video_encoder()
    if reason:
        print(reason, flush=True)
    plans = plan(n, videos=reason is None)
    gen_s = generate(data, plans)
    files = sum(1 for _ in data.rglob("*") if _.is_file() and _.suffix != ".part")
    mb = sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) / 2**20
    kinds = {k: sum(1 for p in plans if p.kind == k) for k in ("picture", "face", "near_dup", "video")}
    print(f"material: {files} files, {mb:,.0f} MiB ({kinds}), generated/checked in {gen_s:.0f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="reclaim-bench-scale-", ignore_cleanup_errors=True) as tmp:
        ws = keep or Path(tmp) / "ws"
        env = env_for(ws)
        init = [sys.executable, "-m", "reclaim.cli", "init", "--json"]
        subprocess.run(init, env=env, check=True, capture_output=True)
        load = os.getloadavg()[0]
        scan_args = ["scan", str(data), "--workers", str(workers)]
        first, wall, s = run_cli(scan_args, env, ws / "reclaim.db")
        thousands = per_thousand(s.progress, first["sightings"])
        peak_rss = max((r for _, r, _, _ in s.memory), default=0.0)
        peak_pss = max((p for _, _, p, _ in s.memory), default=0.0)
        q1, q4 = quarter_peaks(s.memory, wall)
        mains = [(t, m, 0.0, 0) for (t, *_), m in zip(s.memory, s.main_rss, strict=True)]
        main_q = quarter_peaks(mains, wall)
        rescan, rewall, rs = run_cli(scan_args, env, ws / "reclaim.db")
        re_rss = max((r for _, r, _, _ in rs.memory), default=0.0)
    drift = (thousands[-1] - thousands[0]) / thousands[0] if len(thousands) >= 2 and thousands[0] else 0.0
    rate = rescan["sightings"] / rewall if rewall else 0.0
    return {
        "n": n,
        "files": files,
        "material_mib": round(mb),
        "kinds": kinds,
        "workers": workers,
        "load_before": round(load, 2),
        "scan": {k: first[k] for k in ("items", "new_items", "sightings", "new_sightings", "new_matches")},
        "scan_errors": len(first["errors"]),
        "scan_s": round(wall, 1),
        "images_per_s": round(first["sightings"] / wall, 2),
        "per_thousand_s": thousands,
        "first_last_drift": round(drift, 3),
        "peak_rss_mb": round(peak_rss),
        "peak_pss_mb": round(peak_pss),
        "rss_first_quarter_mb": round(q1),
        "rss_last_quarter_mb": round(q4),
        "max_processes": max((k for *_, k in s.memory), default=0),
        "main_rss_quarters_mb": [round(main_q[0]), round(main_q[1])],
        "largest_other_process_mb": round(s.worker_peak),
        "rss_quarters_by_role_mb": role_quarters(s, wall),
        "rescan": {k: rescan[k] for k in ("items", "new_items", "sightings", "new_sightings", "new_matches")},
        "rescan_s": round(rewall, 2),
        "rescan_items_per_s": round(rate),
        "rescan_peak_rss_mb": round(re_rss),
        "passes": {
            "rss": peak_rss <= RSS_BAR_MB,
            "flat": q4 <= q1 * (1 + FLAT_BAR),
            "linear": abs(drift) <= PER_THOUSAND_BAR,
            "rescan": rate >= RESCAN_BAR and rescan["new_sightings"] == 0 and rescan["new_items"] == 0,
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--data", type=Path, help="folder for the generated material (kept; default: temporary)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--workspace", type=Path, help="keep the workspace here; if it exists already, only rescan into it"
    )
    args = ap.parse_args(argv)
    if args.workspace is not None and args.workspace.exists():
        assert args.data is not None, "--workspace with an existing workspace needs --data"
        print(json.dumps(rescan_only(args.workspace, args.data, args.workers), indent=2))
        return 0
    if args.data is None:
        with tempfile.TemporaryDirectory(prefix="reclaim-scale-data-") as tmp:
            r = run(args.n, Path(tmp), args.workers, args.workspace)
    else:
        r = run(args.n, args.data, args.workers, args.workspace)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    ok = r["passes"]
    print(
        f"scan of {r['files']} files ({r['material_mib']} MiB, {r['workers']} workers, "
        f"load {r['load_before']}): "
        f"{r['scan_s']} s, {r['images_per_s']} images/s, {r['scan_errors']} errors, {r['scan']}\n"
        f"  seconds per thousand: {r['per_thousand_s']}\n"
        f"  first → last thousand: {r['first_last_drift']:+.1%} (bar ±15 %) — "
        f"{'PASS' if ok['linear'] else 'FAIL'}\n"
        f"  peak RSS of the process tree {r['peak_rss_mb']} MB (PSS {r['peak_pss_mb']} MB, up to "
        f"{r['max_processes']} processes; bar 1,024 MB) — {'PASS' if ok['rss'] else 'FAIL'}\n"
        f"  writer (main process) RSS peak: first quarter {r['main_rss_quarters_mb'][0]} MB, last "
        f"{r['main_rss_quarters_mb'][1]} MB; largest other process {r['largest_other_process_mb']} MB\n"
        f"  by role, first → last quarter (peak; median): "
        + ", ".join(
            f"{role} {v['peak'][0]} → {v['peak'][1]}; {v['median'][0]} → {v['median'][1]}"
            for role, v in r["rss_quarters_by_role_mb"].items()
        )
        + "\n"
        f"  flat: first quarter's peak {r['rss_first_quarter_mb']} MB, last quarter's "
        f"{r['rss_last_quarter_mb']} MB (bar +10 %) — {'PASS' if ok['flat'] else 'FAIL'}\n"
        f"rescan: {r['rescan_s']} s, {r['rescan_items_per_s']} items/s, {r['rescan']}, peak RSS "
        f"{r['rescan_peak_rss_mb']} MB (bar 500/s, nothing new) — {'PASS' if ok['rescan'] else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
