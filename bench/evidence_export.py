"""Evidence export benchmark: the bar is "export of 1,000 items completes in ≤ 60 s on this machine".

Builds a real workspace: N distinct 1-MP JPEGs with the astronaut's face pasted in (the throughput
benchmark's generator), a person enrolled from the sample portraits, a full scan, so that every image
is a face match. Then times ``reclaim evidence export`` (originals, manifest, custody log, report.pdf
with blurred thumbnails) and the offline ``verify``, and prints what it measured.

    python bench/evidence_export.py [--n 1000] [--lang en] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reclaim.demo import build_sample_export
from reclaim.evidence.package import export_package
from reclaim.evidence.report import pdf_report
from reclaim.evidence.verify import verify_package
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.workspace import Workspace
from throughput import generate

BAR_S = 60.0


def run(n: int, lang: str, shared: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="reclaim-bench-export-") as tmp:
        root = Path(tmp)
        generate(root / "images", n, shared)
        sample = build_sample_export(root / "sample")
        ws = Workspace.create(root / "ws", "bench")
        try:
            with ws.session() as s:
                person = add_person(
                    s, ws.key, name="Bench", photos=sample.enrol_photos, consent="benchmark", vault=ws.vault
                )
            t0 = time.monotonic()
            report = scan_paths(ws, [root / "images"])
            scan_s = time.monotonic() - t0
            out = root / "case.zip"
            t0 = time.monotonic()
            result = export_package(
                ws,
                person_id=person.person_id,
                out=out,
                report=pdf_report("ko" if lang == "ko" else "en", blur=True),
            )
            export_s = time.monotonic() - t0
        finally:
            ws.close()
        t0 = time.monotonic()
        verified = verify_package(out)
        verify_s = time.monotonic() - t0
        with zipfile.ZipFile(out) as zf:
            pdf = zf.getinfo("report/report.pdf").file_size
        return {
            "n": n,
            "lang": lang,
            "face_matches": report.face_matches,
            "items_exported": result.items,
            "originals": result.originals,
            "package_mib": round(out.stat().st_size / 2**20, 1),
            "report_pdf_mib": round(pdf / 2**20, 1),
            "scan_s": round(scan_s, 1),
            "export_s": round(export_s, 1),
            "verify_s": round(verify_s, 1),
            "verify_ok": verified.ok,
            "bar_s": BAR_S,
            "passes": export_s <= BAR_S and verified.ok,
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--lang", choices=["en", "ko"], default="en")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = run(args.n, args.lang, args.shared if args.shared.is_dir() else None)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(
        f"evidence export: {r['items_exported']} items ({r['face_matches']} face matches from a scan of "
        f"{r['n']} images in {r['scan_s']} s)\n"
        f"  export {r['export_s']} s (package {r['package_mib']} MiB, report.pdf {r['report_pdf_mib']} MiB, "
        f"lang {r['lang']})\n"
        f"  verify {r['verify_s']} s, ok={r['verify_ok']}\n"
        f"bar: export of {r['n']} items ≤ {r['bar_s']:.0f} s — {'PASS' if r['passes'] else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
