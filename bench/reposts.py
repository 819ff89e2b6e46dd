"""Repost matching benchmark: do recompressed, resized, flipped and rotated copies find their original?

The bar: "recompressed (q ≥ 30), resized (≥ 50 %), flipped and rotated-by-90° copies found ≥ 99 %".

Everything goes through the production code:

- an original is hashed the way ``reclaim person add --known-image`` hashes it (``decode_media`` with
  the scan's working size, then variant 0 of every perceptual signal type), and put into a
  ``MatchIndex`` of ``KNOWN_SIGNALS`` (only hashes of quality ≥ ``MIN_QUALITY`` are matchable), as
  ``Matcher`` does;
- a repost is analysed by the scan's ``analyze_bytes`` (production decoding, all 8 dihedral hashes);
- it is *found* when any of its hashes of quality ≥ ``MIN_QUALITY`` is within ``MATCH_THRESHOLD`` bits
  of its original's hash of the same type — standard PDQ with exact dihedral variants, or the
  scale-invariant ``pdq64`` (``MatchIndex``, exactly what ``Matcher.hash_hits`` uses). The
  "median/p95/max" columns are standard-PDQ distances, for reference.

False positives: every repost against every *other* original under the same rule. A face composite and
the scene it was built on (and the two composites made from each scene) are related, so those pairs are
reported separately and not counted as false positives.

Originals: ../shared/data/scenes, public-domain and Yale faces from ../shared/data/faces, the rest of
scikit-image's bundled pictures, and the astronaut's face pasted into scenes (reclaim.demo.paste_face).
Without ../shared/data only scikit-image pictures (and composites of them) are used, and the output
says so. All data is benign.

    python bench/reposts.py            # human-readable
    python bench/reposts.py --json     # machine-readable
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
from PIL import Image, ImageOps

from reclaim.demo import paste_face
from reclaim.matching.index import MatchIndex
from reclaim.matching.service import KNOWN_SIGNALS
from reclaim.media import WORK_SIDE, MediaLimits, decode_media
from reclaim.scan.analyze import analyze_bytes
from reclaim.signals import PERCEPTUAL, PERCEPTUAL_SIGNALS, PdqSignal, SignalValue, first_values, hash_media
from reclaim.signals.index import MATCH_THRESHOLD, LinearIndex, bits_to_hex, hex_to_bytes
from reclaim.signals.pdq import MIN_QUALITY

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RECALL_BAR = 0.99
KNOWN_IMAGE_LIMITS = MediaLimits(max_side=WORK_SIDE, max_frames=1)  # as add_person decodes
"""What reclaim.persons.service.add_person uses to hash a known image."""

# scikit-image pictures that are not already among ../shared/data/scenes (cat is chelsea; the rest
# need a download or are too small to be a picture anyone reposts).
SKIMAGE_EXTRA = (
    "binary_blobs",
    "cell",
    "checkerboard",
    "clock",
    "colorwheel",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "shepp_logan_phantom",
)
# The same pictures as ../shared/data/scenes, for the fallback without shared data.
SKIMAGE_SCENES = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)
# Scenes without a face of their own, used as backgrounds for the face composites.
COMPOSITE_BASES = (
    "brick",
    "chelsea",
    "china",
    "coffee",
    "coins",
    "flower",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "moon",
    "motorcycle_left",
    "page",
    "retina",
    "rocket",
    "text",
)
PUBLIC_DOMAIN_FACES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


# --- hashing -----------------------------------------------------------------------------------------

PREPROCESS = ("production", "box64")
"""production: reclaim's own code. box64 (a what-if, not what reclaim does): the decoded frame is
area-averaged to 64x64 by Pillow before PDQ; at 64x64 PDQ's own filter and decimation are the identity,
so the dihedral hashes derived from the DCT are exact for flipped and rotated copies."""


def _box64(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((64, 64), Image.Resampling.BOX))


def hash_known(data: bytes, preprocess: str) -> tuple[str, int]:
    """Standard PDQ variant 0 and quality, as ``add_person`` hashes a ``--known-image``."""
    if preprocess == "box64":
        frame = decode_media(data, limits=KNOWN_IMAGE_LIMITS).frames[0].image
        bits, quality = pdqhash.compute(_box64(frame))
        return bits_to_hex(bits), int(quality)
    first = PdqSignal.hash_frames([(0, known_frame(data))])[0]
    return first.value, int(first.quality or 0)


def known_frame(data: bytes) -> np.ndarray:
    return decode_media(data, limits=KNOWN_IMAGE_LIMITS).frames[0].image


def known_perceptual(data: bytes) -> dict[str, tuple[str, int | None]]:
    """Every perceptual hash ``add_person`` stores for a known image (variant 0 of each type)."""
    media = decode_media(data, limits=KNOWN_IMAGE_LIMITS)
    first = first_values(hash_media(data, media, signal_types=PERCEPTUAL_SIGNALS))
    return {name: (v.value, v.quality) for name, v in first.items()}


def repost_refs(data: bytes) -> list[SignalValue]:
    """All perceptual hashes (every type, 8 dihedral variants) of the first frame, as the scan stores."""
    analysis = analyze_bytes(data, faces=False)
    return [s for s in analysis.signals if s.signal_type in PERCEPTUAL and s.frame_index == 0]


def hash_repost(data: bytes, preprocess: str) -> list[tuple[str, int]]:
    """The 8 standard-PDQ dihedral hashes (and quality) of the first frame, as the scan computes them."""
    if preprocess == "box64":
        frame = decode_media(data, limits=MediaLimits(max_side=WORK_SIDE)).frames[0].image
        hashes, quality = pdqhash.compute_dihedral(_box64(frame))
        return [(bits_to_hex(b), int(quality)) for b in hashes]
    return [(r.value, int(r.quality or 0)) for r in repost_refs(data) if r.signal_type == "pdq"]


# --- originals ---------------------------------------------------------------------------------------


@dataclass
class Original:
    name: str
    group: str
    data: bytes
    """The file as the person would hold it (what ``--known-image`` gets)."""
    base: str | None = None
    """For a composite: the original it was built on (a related, not an unrelated, image)."""
    pdq: str = ""
    quality: int = 0
    dihedral: list[str] = field(default_factory=list)
    """The 8 hashes a scan of this very file computes (for original-vs-original distances)."""
    pixels: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.uint8))


def to_rgb(img: np.ndarray) -> np.ndarray:
    """Any skimage.data picture as (H, W, 3) uint8."""
    a = np.asarray(img)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return np.ascontiguousarray(a[..., :3].astype(np.uint8))


def png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def skimage_picture(name: str) -> np.ndarray:
    from skimage import data

    if name == "binary_blobs":  # generated at random unless seeded
        return to_rgb(data.binary_blobs(rng=0))
    return to_rgb(getattr(data, name)())


def load_originals(shared: Path | None, preprocess: str = "production") -> list[Original]:
    out: list[Original] = []
    if shared is not None:
        for path in sorted((shared / "scenes").iterdir()):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
                out.append(Original(path.stem, "scene", path.read_bytes()))
        for name in PUBLIC_DOMAIN_FACES:
            path = shared / "faces" / "public_domain" / name
            out.append(Original(f"face/{path.stem}", "face", path.read_bytes()))
        for path in sorted((shared / "faces" / "yale").glob("subject*/normal.png")):
            out.append(Original(f"yale/{path.parent.name}", "face", path.read_bytes()))
    else:
        for name in SKIMAGE_SCENES:
            out.append(Original(name, "scene", png(skimage_picture(name))))
    have = {o.name for o in out}
    for name in SKIMAGE_EXTRA:
        if name not in have:
            out.append(Original(name, "skimage", png(skimage_picture(name))))
    for o in out:
        o.pixels = decode_media(o.data).frames[0].image
    # Composites: the astronaut's face pasted into face-free scenes (our stand-in for a deepfake).
    rng = np.random.default_rng(7)
    by_name = {o.name: o for o in out}
    for name in COMPOSITE_BASES:
        if name not in by_name:
            continue
        scene = by_name[name].pixels
        h, w = scene.shape[:2]
        for tag, (lo, hi) in (("a", (0.25, 0.35)), ("b", (0.4, 0.5))):  # face width / shorter side
            width = max(48, round(min(w, h) * rng.uniform(lo, hi)))
            at = (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9)))
            pixels = np.asarray(paste_face(scene, width=width, at=at))
            out.append(
                Original(f"composite/{name}-{tag}", "composite", png(pixels), base=name, pixels=pixels)
            )
    for o in out:
        o.pdq, o.quality = hash_known(o.data, preprocess)
        o.dihedral = [v for v, _ in hash_repost(o.data, preprocess)]
    return out


# --- transforms --------------------------------------------------------------------------------------


def resize(im: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(im.width * factor)), max(1, round(im.height * factor)))
    return im.resize(size, Image.Resampling.BICUBIC)


T = Image.Transpose
TRANSFORMS: dict[str, Callable[[Image.Image], bytes]] = {
    "jpeg_q90": lambda im: jpeg(im, 90),
    "jpeg_q70": lambda im: jpeg(im, 70),
    "jpeg_q50": lambda im: jpeg(im, 50),
    "jpeg_q30": lambda im: jpeg(im, 30),
    "resize75_q75": lambda im: jpeg(resize(im, 0.75), 75),
    "resize50_q75": lambda im: jpeg(resize(im, 0.5), 75),
    "hflip_q90": lambda im: jpeg(ImageOps.mirror(im), 90),
    "vflip_q90": lambda im: jpeg(ImageOps.flip(im), 90),
    "rot90_q90": lambda im: jpeg(im.transpose(T.ROTATE_90), 90),
    "rot180_q90": lambda im: jpeg(im.transpose(T.ROTATE_180), 90),
    "rot270_q90": lambda im: jpeg(im.transpose(T.ROTATE_270), 90),
    "transpose_q90": lambda im: jpeg(im.transpose(T.TRANSPOSE), 90),
    "resize50_q30_hflip": lambda im: jpeg(ImageOps.mirror(resize(im, 0.5)), 30),
    "resize50_q30_rot90": lambda im: jpeg(resize(im, 0.5).transpose(T.ROTATE_90), 30),
    "resize75_q50_vflip": lambda im: jpeg(ImageOps.flip(resize(im, 0.75)), 50),
    "resize50_q50_rot270": lambda im: jpeg(resize(im, 0.5).transpose(T.ROTATE_270), 50),
    "resize50_q30_transverse": lambda im: jpeg(resize(im, 0.5).transpose(T.TRANSVERSE), 30),
}


# --- the benchmark -----------------------------------------------------------------------------------


@dataclass
class VariantResult:
    original: int
    transform: str
    quality: int
    own_distance: int
    """Min over the 8 dihedral hashes vs the original's hash, ignoring quality."""
    found: bool
    """By the production rule (quality gates on both sides, ≤ MATCH_THRESHOLD)."""
    false_hits: list[tuple[int, int]]
    """(other original, distance) found by the production rule, unrelated originals only."""
    related_hits: list[tuple[int, int]]


def _packed(values: list[str]) -> np.ndarray:
    return np.vstack([hex_to_bytes(v) for v in values])


def related(a: Original, b: Original) -> bool:
    return a.base == b.name or b.base == a.name or (a.base is not None and a.base == b.base)


def run(shared: Path | None, preprocess: str = "production") -> dict[str, Any]:
    started = time.monotonic()
    originals = load_originals(shared, preprocess)
    orig_bits = _packed([o.pdq for o in originals])
    index = LinearIndex()  # the what-if rule: standard PDQ only
    known = MatchIndex(KNOWN_SIGNALS)  # production: what Matcher builds from the known images
    for i, o in enumerate(originals):
        if o.quality >= MIN_QUALITY:
            index.add(o.pdq, i)
        if preprocess == "production":
            digest = hashlib.sha256(o.data).hexdigest()
            known.add(i, "sha256", digest)
            known.add(i, "md5", digest)
            for name, (value, quality) in known_perceptual(o.data).items():
                if known.matchable(SignalValue(name, value, quality=quality)):
                    known.add(i, name, value)
    results: list[VariantResult] = []
    for oi, o in enumerate(originals):
        img = Image.fromarray(o.pixels)
        for tname, fn in TRANSFORMS.items():
            repost = fn(img)
            if preprocess == "production":
                refs = repost_refs(repost)
                pdq = [(r.value, int(r.quality or 0)) for r in refs if r.signal_type == "pdq"]
            else:
                pdq = hash_repost(repost, preprocess)
            quality = pdq[0][1]
            dist = np.bitwise_count(np.bitwise_xor(_packed([v for v, _ in pdq])[:, None, :], orig_bits))
            own = int(dist.sum(axis=2).min(axis=0)[oi])
            hits: dict[int, int] = {}  # Matcher.hash_hits, per known image instead of per person
            if preprocess == "production":
                digest = hashlib.sha256(repost).hexdigest()
                exact = [SignalValue("sha256", digest), SignalValue("md5", digest)]
                hits = {k: d for k, (d, _) in known.query([*exact, *refs]).items()}
            else:
                for value, q in pdq:
                    if q < MIN_QUALITY:
                        continue
                    for k, d in index.query(value, MATCH_THRESHOLD):
                        hits[k] = min(d, hits.get(k, 256))
            others = [(k, d) for k, d in sorted(hits.items()) if k != oi]
            results.append(
                VariantResult(
                    original=oi,
                    transform=tname,
                    quality=quality,
                    own_distance=own,
                    found=oi in hits,
                    false_hits=[(k, d) for k, d in others if not related(o, originals[k])],
                    related_hits=[(k, d) for k, d in others if related(o, originals[k])],
                )
            )
    return summarise(originals, results, shared, preprocess, time.monotonic() - started)


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values)
    return {
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95)),
        "max": int(a.max()),
    }


def summarise(
    originals: list[Original],
    results: list[VariantResult],
    shared: Path | None,
    preprocess: str,
    seconds: float,
) -> dict[str, Any]:
    matchable = {i for i, o in enumerate(originals) if o.quality >= MIN_QUALITY}
    low = [
        {"name": o.name, "group": o.group, "quality": o.quality}
        for i, o in enumerate(originals)
        if i not in matchable
    ]
    per_transform: dict[str, dict[str, Any]] = {}
    for tname in TRANSFORMS:
        rs = [r for r in results if r.transform == tname and r.original in matchable]
        found = sum(r.found for r in rs)
        per_transform[tname] = {
            "variants": len(rs),
            "found": found,
            "recall": found / len(rs) if rs else None,
            "distance": _stats([r.own_distance for r in rs]),
            "missed": [
                {"original": originals[r.original].name, "distance": r.own_distance, "quality": r.quality}
                for r in rs
                if not r.found
            ],
        }
    considered = [r for r in results if r.original in matchable]
    found = sum(r.found for r in considered)
    all_found = sum(r.found for r in results)
    # False positives: each variant vs every other matchable original that is not related to it.
    pairs = 0
    for r in considered:
        pairs += sum(
            1 for k in matchable if k != r.original and not related(originals[r.original], originals[k])
        )
    fp_pairs = [(r, k, d) for r in considered for k, d in r.false_hits]
    # Nearest unrelated pair among the originals themselves (min over the 8 dihedral hashes of one).
    nearest: tuple[int, str, str] | None = None
    for i in matchable:
        for j in matchable:
            if i < j and not related(originals[i], originals[j]):
                d = _dihedral_distance(originals[i], originals[j])
                if nearest is None or d < nearest[0]:
                    nearest = (d, originals[i].name, originals[j].name)
    related_rows = []
    for i, o in enumerate(originals):
        if o.base is None:
            continue
        base = next(j for j, b in enumerate(originals) if b.name == o.base)
        rs = [r for r in results if r.original == i]
        related_rows.append(
            {
                "composite": o.name,
                "base": o.base,
                "distance": _dihedral_distance(o, originals[base]),
                "variants_matching_base": sum(any(k == base for k, _ in r.related_hits) for r in rs),
                "variants": len(rs),
            }
        )
    groups: dict[str, int] = {}
    for o in originals:
        groups[o.group] = groups.get(o.group, 0) + 1
    per_group: dict[str, dict[str, Any]] = {}
    for g in groups:
        rs = [r for r in considered if originals[r.original].group == g]
        per_group[g] = {
            "variants": len(rs),
            "found": sum(r.found for r in rs),
            "recall": sum(r.found for r in rs) / len(rs) if rs else None,
        }
    return {
        "benchmark": "reposts",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "data": str(shared) if shared else "skimage only (../shared/data absent)",
        "preprocess": preprocess,
        "threshold": MATCH_THRESHOLD,
        "min_quality": MIN_QUALITY,
        "originals": len(originals),
        "originals_by_group": groups,
        "low_quality_originals": low,
        "transforms": list(TRANSFORMS),
        "variants": len(results),
        "variants_of_matchable": len(considered),
        "low_quality_variants": sum(r.quality < MIN_QUALITY for r in considered),
        "recall": found / len(considered) if considered else None,
        "recall_including_low_quality_originals": all_found / len(results) if results else None,
        "bar": RECALL_BAR,
        "passes": bool(considered) and found / len(considered) >= RECALL_BAR,
        "per_transform": per_transform,
        "per_group": per_group,
        "false_positive_pairs": len(fp_pairs),
        "pairs_tested": pairs,
        "false_positive_rate": len(fp_pairs) / pairs if pairs else None,
        "variants_with_false_positive": len({id(r) for r, _, _ in fp_pairs}),
        "false_positives": [
            {
                "variant_of": originals[r.original].name,
                "transform": r.transform,
                "matched": originals[k].name,
                "distance": d,
            }
            for r, k, d in fp_pairs[:50]
        ],
        "nearest_unrelated_originals": (
            {"distance": nearest[0], "a": nearest[1], "b": nearest[2]} if nearest else None
        ),
        "composites_vs_base": related_rows,
        "seconds": round(seconds, 1),
    }


def _dihedral_distance(a: Original, b: Original) -> int:
    """Min distance between b's known-image hash and the 8 hashes a scan of a computes."""
    return int(np.bitwise_count(np.bitwise_xor(_packed(a.dihedral), hex_to_bytes(b.pdq))).sum(axis=1).min())


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def print_report(r: dict[str, Any]) -> None:
    print(f"reposts benchmark — {r['date']} — {r['machine']}")
    print(f"data: {r['data']}")
    if r["preprocess"] != "production":
        print(f"WHAT-IF, NOT PRODUCTION: PDQ preprocessing '{r['preprocess']}' (see --help)")
    groups = ", ".join(f"{n} {g}" for g, n in r["originals_by_group"].items())
    print(
        f"originals: {r['originals']} ({groups}); {len(r['transforms'])} transforms; {r['variants']} variants"
    )
    print(
        f"rule: min over 8 dihedral hashes ≤ {r['threshold']} bits, "
        f"quality ≥ {r['min_quality']} on both sides"
    )
    low = r["low_quality_originals"]
    print(f"originals with quality < {r['min_quality']} (never matched in production): {len(low)}")
    for o in low:
        print(f"  {o['name']:<28} quality {o['quality']}")
    print()
    print(f"{'transform':<26}{'found':>12}{'recall':>10}{'median':>8}{'p95':>6}{'max':>5}")
    for name, t in r["per_transform"].items():
        d = t["distance"]
        print(
            f"{name:<26}{t['found']:>6}/{t['variants']:<5}{_pct(t['recall']):>10}"
            f"{d.get('median', 0):>8.0f}{d.get('p95', 0):>6.0f}{d.get('max', 0):>5}"
        )
        for m in t["missed"]:
            print(f"    missed {m['original']} (distance {m['distance']}, variant quality {m['quality']})")
    print()
    print(
        f"overall recall (matchable originals): {_pct(r['recall'])} of {r['variants_of_matchable']} variants "
        f"— bar {r['bar']:.0%}: {'PASS' if r['passes'] else 'FAIL'}"
    )
    for g, v in r["per_group"].items():
        print(f"  {g:<10} {v['found']:>5}/{v['variants']:<5} {_pct(v['recall'])}")
    print(
        "recall counting low-quality originals as misses: "
        f"{_pct(r['recall_including_low_quality_originals'])}"
    )
    print(f"variants of matchable originals with quality < {r['min_quality']}: {r['low_quality_variants']}")
    print(
        f"false positives: {r['false_positive_pairs']} of {r['pairs_tested']} (variant, unrelated original) "
        f"pairs = {_pct(r['false_positive_rate'])}; variants with any: {r['variants_with_false_positive']}"
    )
    for fp in r["false_positives"]:
        print(f"  {fp['variant_of']} [{fp['transform']}] ~ {fp['matched']} at {fp['distance']}")
    n = r["nearest_unrelated_originals"]
    if n:
        print(f"nearest unrelated originals: {n['a']} ~ {n['b']} at {n['distance']} bits")
    print("composites vs the scene they were built on (related, not counted as false positives):")
    for c in r["composites_vs_base"]:
        print(
            f"  {c['composite']:<28} distance {c['distance']:>3}; "
            f"{c['variants_matching_base']}/{c['variants']} variants also match the base"
        )
    print(f"({r['seconds']} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared data folder")
    ap.add_argument("--skimage-only", action="store_true", help="ignore the shared data folder")
    ap.add_argument(
        "--preprocess",
        choices=PREPROCESS,
        default="production",
        help="production (default): reclaim's code as is; box64: what-if, area-average frames to 64x64 "
        "before PDQ (exact dihedral hashes)",
    )
    args = ap.parse_args(argv)
    shared: Path | None = args.shared if args.shared.is_dir() and not args.skimage_only else None
    if shared is None and not args.skimage_only:
        print(f"note: {args.shared} is absent: using scikit-image pictures only", file=sys.stderr)
    report = run(shared, args.preprocess)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
