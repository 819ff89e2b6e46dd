"""vPDQ video benchmark: are re-encoded, trimmed, resized and cropped copies of a known video found, and
are unrelated videos left alone? (issue 11, part 4; bar: a re-encoded and a 2-second-trimmed copy found)

Videos are benign sample footage made at run time (``reclaim.demo.pan_frames``): a slow pan and zoom
over a scikit-image picture without people, 320x240 at 12 fps, encoded with PyAV (H.264). Every copy is
hashed the way a scan hashes it (``reclaim.signals.vpdq.hash_video``: Meta's ``vpdq`` package on the
bytes) and compared with the original by ``match_percentages`` (python-threatexchange's brute-force
matcher: dedupe, quality ≥ 50, distance ≤ 31). A match is either percentage ≥ 80 %.

    reencode_h264_150k   H.264 at 150 kbit/s          reencode_mpeg4   MPEG-4 part 2 at 400 kbit/s
    trim_start_2s        first 2 s cut                trim_start_2.5s  first 2.5 s cut (sampling shifted)
    trim_end_2s          last 2 s cut                 resize_0.5       160x120
    resize_1.5           480x360                      crop_10          10 % cut from each side
    crop_20              20 % cut from each side      unrelated        every other scene's original

Hashing time: the ``vpdq`` package on a 30 s 640x480 H.264 clip, per second of video (one thread).
Matching time: one 60-feature (one-minute) query against 10,000 stored one-minute videos (600,000 random
features) in ``VpdqIndex``, brute force (``--quick``: 1,000 videos).

    python bench/vpdq.py [--quick] [--json]        # writes docs/vpdq.md unless --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# this file is called vpdq.py: its folder must not shadow the vpdq package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(REPO / "src") not in sys.path:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))

from reclaim.demo import encode_video, pan_frames  # noqa: E402
from reclaim.signals.vpdq import (  # noqa: E402
    MATCH_PERCENT,
    VpdqFeature,
    VpdqIndex,
    hash_video,
    match_percentages,
    unavailable_reason,
)

SCENES = ("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "coins")
QUICK_SCENES = ("coffee", "chelsea", "rocket")
FPS = 12
SECONDS = 10.0
DOC = REPO / "docs" / "vpdq.md"


def _crop(frames: list[np.ndarray], frac: float) -> list[np.ndarray]:
    out = []
    for f in frames:
        h, w = f.shape[:2]
        dy, dx = int(h * frac), int(w * frac)
        out.append(np.asarray(Image.fromarray(f[dy : h - dy, dx : w - dx]).resize((w, h))))
    return out


COPIES: dict[str, Callable[[list[np.ndarray]], bytes]] = {
    "reencode_h264_150k": lambda f: encode_video(f, fps=FPS, bit_rate=150_000),
    "reencode_mpeg4": lambda f: encode_video(f, fps=FPS, codec="mpeg4", bit_rate=400_000),
    "trim_start_2s": lambda f: encode_video(f[2 * FPS :], fps=FPS),
    "trim_start_2.5s": lambda f: encode_video(f[int(2.5 * FPS) :], fps=FPS),
    "trim_end_2s": lambda f: encode_video(f[: -2 * FPS], fps=FPS),
    "resize_0.5": lambda f: encode_video(f, fps=FPS, size=(160, 120)),
    "resize_1.5": lambda f: encode_video(f, fps=FPS, size=(480, 360)),
    "crop_10": lambda f: encode_video(_crop(f, 0.10), fps=FPS),
    "crop_20": lambda f: encode_video(_crop(f, 0.20), fps=FPS),
}
BAR_COPIES = ("reencode_h264_150k", "reencode_mpeg4", "trim_start_2s")


def index_cost(videos: int, per_video: int = 60) -> dict[str, Any]:
    """Seconds for one query of ``per_video`` features against ``videos`` stored videos (random hashes)."""
    rng = np.random.default_rng(11)
    raw = rng.integers(0, 256, (videos * per_video, 32), dtype=np.uint8)
    index = VpdqIndex()
    for v in range(videos):
        rows = raw[v * per_video : (v + 1) * per_video]
        index.add_features(v, [VpdqFeature(bytes(r).hex(), 100, i, float(i)) for i, r in enumerate(rows)])
    query = [VpdqFeature(bytes(r).hex(), 100, i, float(i)) for i, r in enumerate(raw[:per_video])]
    times = []
    for _ in range(3):
        start = time.perf_counter()
        found = index.search(query)
        times.append(time.perf_counter() - start)
    assert [m.ident for m in found] == [0]
    return {"stored_videos": videos, "stored_features": videos * per_video, "query_features": per_video,
            "query_s": round(min(times), 3)}  # fmt: skip


def run(scenes: tuple[str, ...], videos: int) -> dict[str, Any]:
    originals = {}
    for scene in scenes:
        frames = pan_frames(scene, seconds=SECONDS, fps=FPS)
        originals[scene] = (frames, hash_video(encode_video(frames, fps=FPS)))
    rows: list[dict[str, Any]] = []
    for scene, (frames, known) in originals.items():
        for name, make in COPIES.items():
            m = match_percentages(hash_video(make(frames)), known)
            rows.append(_row(scene, name, m))
        for other, (_, other_hash) in originals.items():
            if other != scene:
                rows.append(_row(scene, f"unrelated:{other}", match_percentages(other_hash, known)))
    # hashing cost per second of video
    long_frames = pan_frames("coffee", seconds=30.0, fps=30, size=(640, 480))
    clip = encode_video(long_frames, fps=30)
    start = time.process_time()
    wall = time.perf_counter()
    features = hash_video(clip)
    cpu_s, wall_s = time.process_time() - start, time.perf_counter() - wall
    summary: dict[str, dict[str, int]] = {}
    for r in rows:
        kind = "unrelated" if r["copy"].startswith("unrelated") else r["copy"]
        s = summary.setdefault(kind, {"pairs": 0, "matched": 0})
        s["pairs"] += 1
        s["matched"] += int(r["match"])
    bar_met = all(summary[c]["matched"] == summary[c]["pairs"] for c in BAR_COPIES) and (
        summary["unrelated"]["matched"] == 0
    )
    return {
        "scenes": list(scenes),
        "rows": rows,
        "summary": summary,
        "bar_met": bar_met,
        "matching": index_cost(videos),
        "hashing": {
            "clip": "30 s, 640x480, 30 fps, H.264",
            "features": len(features),
            "cpu_ms_per_video_second": round(1000 * cpu_s / 30, 2),
            "wall_ms_per_video_second": round(1000 * wall_s / 30, 2),
        },
    }


def _row(scene: str, copy: str, m: Any) -> dict[str, Any]:
    q = 0.0 if m is None else m.query_match_percent
    c = 0.0 if m is None else m.compared_match_percent
    return {
        "scene": scene,
        "copy": copy,
        "query_pct": round(q, 1),
        "compared_pct": round(c, 1),
        "match": max(q, c) >= MATCH_PERCENT,
    }


def render(result: dict[str, Any]) -> str:
    lines = ["| copy | pairs | found | share |", "|---|---|---|---|"]
    for kind, s in result["summary"].items():
        share = 100.0 * s["matched"] / s["pairs"]
        label = "unrelated (false matches)" if kind == "unrelated" else kind
        lines.append(f"| {label} | {s['pairs']} | {s['matched']} | {share:.0f} % |")
    lines += ["", "| scene | copy | query-match % | compared-match % | match |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        if r["copy"].startswith("unrelated") and r["query_pct"] == 0 and r["compared_pct"] == 0:
            continue
        lines.append(
            f"| {r['scene']} | {r['copy']} | {r['query_pct']} | {r['compared_pct']} | "
            f"{'yes' if r['match'] else 'no'} |"
        )
    h, m = result["hashing"], result["matching"]
    lines += [
        "",
        f"Unrelated pairs not listed above had 0 % both ways. Hashing ({h['clip']}, {h['features']} "
        f"features): {h['cpu_ms_per_video_second']} ms CPU, {h['wall_ms_per_video_second']} ms wall per "
        f"second of video. Matching (brute force): a {m['query_features']}-feature query against "
        f"{m['stored_videos']:,} stored videos ({m['stored_features']:,} features) in {m['query_s']} s.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="three scenes; does not write docs/vpdq.md")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        sys.exit(f"vpdq benchmark: {reason}")
    start = time.perf_counter()
    result = run(QUICK_SCENES if args.quick else SCENES, 1000 if args.quick else 10_000)
    result["seconds"] = round(time.perf_counter() - start, 1)
    table = render(result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table)
        print(f"\nbar (re-encoded and 2 s-trimmed copies found, no false match): "
              f"{'met' if result['bar_met'] else 'NOT met'}; {result['seconds']} s")  # fmt: skip
    if not args.quick:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        head = DOC.read_text().split("<!-- bench -->")[0] if DOC.exists() else "# vPDQ\n\n"
        DOC.write_text(
            f"{head}<!-- bench -->\nMeasured {stamp} by `python bench/vpdq.py` ({platform.machine()}, "
            f"{result['seconds']} s); bar {'met' if result['bar_met'] else 'NOT met'}.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
