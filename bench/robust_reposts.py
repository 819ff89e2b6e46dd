"""Robust repost benchmark: do cropped, bordered, captioned, screenshotted and rotated copies of a known
image find it? (issue 11, outcome 2)

Known images are real photographs read at run time from ../shared/data (never copied into the repo):
the scenes (scikit-image / scikit-learn photos, faceless ones included), four public-domain portraits
and the Yale subjects' "normal" photos. Each is enrolled as a known image and edited by every family
below, each copy saved as JPEG at a quality drawn from 55-85:

    crop10 / crop20 / crop30   keep 90 / 80 / 70 % of each side, off-centre (a random position)
    letterbox18                black bars adding 18 % of the height (top and bottom)
    border8                    a white border of 8 % of the shorter side
    banner16                   a caption banner of 16 % of the height, with text, on top or bottom
    screenshot                 inside a phone screenshot: status bar, chat header, the picture scaled
                               to the 540 px width, a caption bubble, the whole 540x1170
    rot5                       rotated by 5° (expanded, black corners)
    crop15_banner              keep 85 % of each side, then a 16 % caption banner

"item-ref": the originals as matched *items* instead of known images (the features a scan keeps of an
item: 6 query regions and keypoints, no crop windows), as ``Matcher.robust_reposts`` uses them.

Columns: "today" is the production path (the item's 8 dihedral PDQ + pdq64 hashes from the scan's
``analyze_bytes`` against the known images' hashes in a ``MatchIndex`` of ``KNOWN_SIGNALS``, as
``Matcher.hash_hits`` does); "engine" is today's path plus ``reclaim.matching.robust`` for what it
did not find. False matches: every copy against every *other* known image (unrelated pairs).

    python bench/robust_reposts.py [--shared ../shared/data] [--json]

``--banks``: the imported-bank part instead. A bank holds the originals' standard PDQ, as a partner would
send it (python-threatexchange's ``PdqSignal.hash_from_bytes`` of the original file). Every copy is looked
up as a scan does (``reclaim.matching.banks.lookup``: its PDQ, all 8 dihedral variants, then its region
hashes from the scan's analysis worker: trimmed of borders, and without a 12/20 % top/bottom band, at
PDQ's threshold of 31 bits). The anchor is python-threatexchange's own ``threatexchange hash photo
--photo-preprocess unletterbox`` (black threshold 15, its default): ``PhotoContent.unletterbox`` then
``PdqSignal.hash_from_bytes``, compared with ``PdqSignal.compare_hash`` (31 bits); "te plain" is the same
without the preprocessing. False hits: every copy against every *other* original.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from reclaim.matching.banks import BankIndex, lookup
from reclaim.matching.index import MatchIndex
from reclaim.matching.robust import RobustIndex, item_features, known_features
from reclaim.matching.service import KNOWN_SIGNALS
from reclaim.media import WORK_SIDE, MediaLimits, decode_media
from reclaim.scan.analyze import analyze_bytes
from reclaim.signals import PERCEPTUAL, PERCEPTUAL_SIGNALS, SignalValue, first_values, hash_media

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
KNOWN_IMAGE_LIMITS = MediaLimits(max_side=WORK_SIDE, max_frames=1)  # as add_person decodes
PORTRAITS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
BAR = 0.90


@dataclass
class Known:
    name: str
    data: bytes
    pixels: np.ndarray


def load_known(shared: Path) -> list[Known]:
    paths = [p for p in sorted((shared / "scenes").iterdir()) if p.suffix.lower() in (".png", ".jpg")]
    paths += [shared / "faces" / "public_domain" / n for n in PORTRAITS]
    paths += sorted((shared / "faces" / "yale").glob("subject*/normal.png"))
    out = []
    for p in paths:
        data = p.read_bytes()
        name = f"{p.parent.name}/{p.stem}" if "yale" in p.parts else p.stem
        out.append(Known(name, data, decode_media(data).frames[0].image))
    return out


# --- the edits ---------------------------------------------------------------------------------------


def _jpeg(img: Image.Image, rng: np.random.Generator) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=int(rng.integers(55, 86)))
    return buf.getvalue()


def _crop(img: Image.Image, keep: float, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * keep), round(h * keep)
    # off-centre: anywhere but the middle third of the possible offsets
    fx, fy = (float(rng.choice([rng.uniform(0, 0.33), rng.uniform(0.67, 1)])) for _ in range(2))
    x, y = round((w - cw) * fx), round((h - ch) * fy)
    return img.crop((x, y, x + cw, y + ch))


CAPTIONS = ("lol look at this", "who is this??", "found it on the group", "share before it's deleted")


def _banner(img: Image.Image, share: float, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    bh = max(12, round(h * share))
    out = Image.new("RGB", (w, h + bh), "white")
    top = bool(rng.integers(0, 2))
    out.paste(img.convert("RGB"), (0, bh if top else 0))
    draw = ImageDraw.Draw(out)
    y = 0 if top else h
    draw.text((8, y + bh // 3), str(rng.choice(CAPTIONS)), fill="black", font_size=max(10, bh // 3))
    return out


def _pad(img: Image.Image, top: int, side: int, colour: str) -> Image.Image:
    w, h = img.size
    out = Image.new("RGB", (w + 2 * side, h + 2 * top), colour)
    out.paste(img.convert("RGB"), (side, top))
    return out


def _screenshot(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    W, H = 540, 1170
    out = Image.new("RGB", (W, H), (236, 229, 221))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, 0, W, 40), fill=(20, 20, 20))
    draw.text((20, 10), "12:4" + str(int(rng.integers(0, 10))), fill="white", font_size=20)
    draw.text((440, 10), "5G 87%", fill="white", font_size=18)
    draw.rectangle((0, 40, W, 130), fill=(7, 94, 84))
    draw.ellipse((15, 55, 75, 115), fill=(200, 200, 200))
    draw.text((90, 65), "Group chat", fill="white", font_size=28)
    w, h = img.size
    scale = min((W - 40) / w, 760 / h)
    pic = img.convert("RGB").resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR)
    x, y = (W - pic.width) // 2, 160
    draw.rounded_rectangle((x - 6, y - 6, x + pic.width + 6, y + pic.height + 70), 10, fill="white")
    out.paste(pic, (x, y))
    draw.text((x + 4, y + pic.height + 15), str(rng.choice(CAPTIONS)), fill="black", font_size=22)
    draw.rectangle((0, H - 80, W, H), fill=(246, 246, 246))
    draw.text((20, H - 55), "Message", fill=(150, 150, 150), font_size=24)
    return out


Edit = Callable[[Image.Image, np.random.Generator], Image.Image]
FAMILIES: dict[str, Edit] = {
    "crop10": lambda im, r: _crop(im, 0.9, r),
    "crop20": lambda im, r: _crop(im, 0.8, r),
    "crop30": lambda im, r: _crop(im, 0.7, r),
    "letterbox18": lambda im, r: _pad(im, round(im.size[1] * 0.09), 0, "black"),
    "border8": lambda im, r: _pad(im, round(min(im.size) * 0.08), round(min(im.size) * 0.08), "white"),
    "banner16": lambda im, r: _banner(im, 0.16, r),
    "screenshot": _screenshot,
    "rot5": lambda im, r: im.convert("RGB").rotate(5, Image.Resampling.BILINEAR, expand=True),
    "crop15_banner": lambda im, r: _banner(_crop(im, 0.85, r), 0.16, r),
}


# --- the run -----------------------------------------------------------------------------------------


def run(shared: Path) -> dict[str, Any]:
    known = load_known(shared)
    today = MatchIndex(KNOWN_SIGNALS)
    robust = RobustIndex()
    ref_index = RobustIndex()  # the originals as matched *items* (their item features: what a scan keeps)
    t0 = time.perf_counter()
    for i, k in enumerate(known):
        media = decode_media(k.data, limits=KNOWN_IMAGE_LIMITS)
        for v in first_values(hash_media(k.data, media, signal_types=PERCEPTUAL_SIGNALS)).values():
            if today.matchable(v):
                today.add(i, v.signal_type, v.value)
        robust.add(i, known_features(media.frames[0].image))
        ref_index.add(i, item_features(media.frames[0].image))
    enrol_ms = (time.perf_counter() - t0) * 1000 / len(known)
    rng = np.random.default_rng(11)
    rows: dict[str, dict[str, Any]] = {}
    for family, edit in FAMILIES.items():
        found_today = found_engine = false_today = false_engine = pairs = 0
        found_ref = false_ref = 0
        ms_today: list[float] = []
        ms_engine: list[float] = []
        via: dict[str, int] = {}
        for i, k in enumerate(known):
            data = _jpeg(edit(Image.fromarray(k.pixels), rng), rng)
            t = time.perf_counter()
            analysis = analyze_bytes(data, faces=False)
            refs = [s for s in analysis.signals if s.signal_type in PERCEPTUAL]
            hits = set(today.query([SignalValue(s.signal_type, s.value, 0, 0, s.quality) for s in refs]))
            ms_today.append((time.perf_counter() - t) * 1000)
            frame = decode_media(data).frames[0].image  # the scan has decoded it already
            t = time.perf_counter()
            # every copy through the engine (to count its false matches), whether or not today found it
            rhits = robust.query(frame)
            ms_engine.append((time.perf_counter() - t) * 1000)
            ref_hits = {h.owner for h in ref_index.query(frame)}
            found_ref += i in ref_hits or i in hits
            false_ref += len(ref_hits - {i})
            pairs += len(known) - 1
            false_today += len(hits - {i})
            false_engine += len({h.owner for h in rhits} - {i})
            found_today += i in hits
            own = [h for h in rhits if h.owner == i]
            if i in hits or own:
                found_engine += 1
                how = "pdq" if i in hits else own[0].by.split(":")[0]
                via[how] = via.get(how, 0) + 1
        n = len(known)
        rows[family] = {
            "copies": n,
            "recall_today": found_today / n,
            "recall_engine": found_engine / n,
            "recall_item_reference": found_ref / n,
            "false_item_reference": false_ref,
            "found_via": via,
            "unrelated_pairs": pairs,
            "false_today": false_today,
            "false_engine": false_engine,
            "ms_today": float(np.median(ms_today)),
            "ms_engine_extra": float(np.median(ms_engine)),
        }
        print(f"  {family}: done", file=sys.stderr)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "known_images": len(known),
        "enrol_ms_per_known_image": enrol_ms,
        "families": rows,
        "total_unrelated_pairs": sum(r["unrelated_pairs"] for r in rows.values()),
        "total_false_today": sum(r["false_today"] for r in rows.values()),
        "total_false_engine": sum(r["false_engine"] for r in rows.values()),
        "total_false_item_reference": sum(r["false_item_reference"] for r in rows.values()),
    }


def run_banks(shared: Path) -> dict[str, Any]:
    import tempfile

    from threatexchange.content_type.photo import PhotoContent
    from threatexchange.signal_type.pdq.signal import PdqSignal as TePdq

    known = load_known(shared)
    bank = BankIndex()
    te_bank: list[str] = []
    for i, k in enumerate(known):
        value = TePdq.hash_from_bytes(k.data)
        te_bank.append(value)
        if value:
            bank.hashes.add(i, "pdq", value)

    def te_hits(value: str) -> set[int]:
        if not value:
            return set()
        return {i for i, b in enumerate(te_bank) if b and TePdq.compare_hash(value, b).match}

    rng = np.random.default_rng(11)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="reclaim-bench-banks-") as tmp:
        for family, edit in FAMILIES.items():
            counts = dict.fromkeys(("plain", "regions", "te_plain", "te_unletterbox"), 0)
            false = dict.fromkeys(counts, 0)
            by_region: dict[str, int] = {}
            ms: list[float] = []
            pairs = 0
            for i, k in enumerate(known):
                data = _jpeg(edit(Image.fromarray(k.pixels), rng), rng)
                t = time.perf_counter()
                analysis = analyze_bytes(data, faces=False, robust=True)
                refs = [s for s in analysis.signals if s.signal_type in PERCEPTUAL]
                plain = {b for b, (_, how, _) in lookup(bank, analysis.md5, refs).items() if how == "pdq"}
                found = lookup(bank, analysis.md5, refs, analysis.robust)
                ms.append((time.perf_counter() - t) * 1000)
                ours = set(found)
                path = Path(tmp) / f"{family}_{i}.jpg"
                path.write_bytes(data)
                te_plain = te_hits(TePdq.hash_from_file(path))
                te_unl = te_hits(TePdq.hash_from_bytes(PhotoContent.unletterbox(path, 15)))
                pairs += len(known) - 1
                for name, hits in (
                    ("plain", plain),
                    ("regions", ours),
                    ("te_plain", te_plain),
                    ("te_unletterbox", te_unl),
                ):
                    counts[name] += i in hits
                    false[name] += len(hits - {i})
                if i in found and found[i][2] is not None:
                    region = str(found[i][2])
                    by_region[region] = by_region.get(region, 0) + 1
            n = len(known)
            rows[family] = {
                "copies": n,
                **{f"recall_{k}": v / n for k, v in counts.items()},
                **{f"false_{k}": v for k, v in false.items()},
                "unrelated_pairs": pairs,
                "found_by_region": by_region,
                "ms_analysis_and_lookup": float(np.median(ms)),
            }
            print(f"  {family}: done", file=sys.stderr)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "bank_hashes": sum(1 for b in te_bank if b),
        "families": rows,
        "total_unrelated_pairs": sum(r["unrelated_pairs"] for r in rows.values()),
        **{
            f"total_false_{k}": sum(r[f"false_{k}"] for r in rows.values())
            for k in ("plain", "regions", "te_plain", "te_unletterbox")
        },
    }


def print_banks(r: dict[str, Any]) -> None:
    print(
        f"bank: the standard PDQ of {r['bank_hashes']} originals (real photographs), "
        f"{r['date']}, {r['machine']}"
    )
    print(
        f"{'family':<15}{'te plain':>9}{'te unlbx':>9}{'pdq':>7}{'+regions':>9}"
        f"  {'false te-unlbx/regions':>23}  {'pairs':>6}  found by region"
    )
    for family, row in r["families"].items():
        print(
            f"{family:<15}{row['recall_te_plain']:>9.1%}{row['recall_te_unletterbox']:>9.1%}"
            f"{row['recall_plain']:>7.1%}{row['recall_regions']:>9.1%}"
            f"  {row['false_te_unletterbox']:>11}/{row['false_regions']:<11}  {row['unrelated_pairs']:>6}"
            f"  {row['found_by_region']}"
        )
    print(
        f"false hits over {r['total_unrelated_pairs']} unrelated pairs: "
        f"te plain {r['total_false_te_plain']}, "
        f"te unletterbox {r['total_false_te_unletterbox']}, pdq {r['total_false_plain']}, "
        f"pdq + regions {r['total_false_regions']}"
    )


def print_report(r: dict[str, Any]) -> None:
    print(f"known images: {r['known_images']} (real photographs), {r['date']}, {r['machine']}")
    print(f"engine enrolment (region hashes + ORB) per known image: {r['enrol_ms_per_known_image']:.1f} ms")
    print(
        f"{'family':<15}{'today':>8}{'engine':>8}  {'false today/engine':>19}  {'pairs':>6}"
        f"  {'ms today':>9}{'ms engine':>10}  {'item-ref':>8} {'false':>5}  found via"
    )
    for family, row in r["families"].items():
        print(
            f"{family:<15}{row['recall_today']:>8.1%}{row['recall_engine']:>8.1%}"
            f"  {row['false_today']:>9}/{row['false_engine']:<9}  {row['unrelated_pairs']:>6}"
            f"  {row['ms_today']:>9.1f}{row['ms_engine_extra']:>10.1f}"
            f"  {row['recall_item_reference']:>8.1%} {row['false_item_reference']:>5}  {row['found_via']}"
        )
    print(
        f"false matches over {r['total_unrelated_pairs']} unrelated pairs: today {r['total_false_today']}, "
        f"engine {r['total_false_engine']}, "
        f"with the originals as matched items {r['total_false_item_reference']}"
    )
    ok = all(row["recall_engine"] >= BAR for row in r["families"].values()) and not r["total_false_engine"]
    print(f"bar (recall ≥ {BAR:.0%} in every family, 0 false matches): {'met' if ok else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--banks", action="store_true", help="the imported-bank part (region hashes vs te unletterbox)"
    )
    args = p.parse_args(argv)
    if not (args.shared / "scenes").is_dir():
        print(f"skipped: {args.shared} (the shared photographs) is absent", file=sys.stderr)
        return 0
    r = run_banks(args.shared) if args.banks else run(args.shared)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        (print_banks if args.banks else print_report)(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
