"""Cost of field-level encryption (store.fields): a Telegram export with many sightings, scanned, then
``reclaim matches --json`` over them; and the one-time upgrade of a workspace written in plaintext.

The export is the demo's (build_sample_export) with ``--n`` extra messages spread over 20 chats that
repost its images with a caption, a sender and a forwarded-from: few items, thousands of sightings, so the
scan's cost is mostly the writer's (rows, matches, custody events), where encryption adds its work, not
face detection. Run it with this tree and with the tree before field encryption to compare:

    PYTHONPATH=src python bench/field_encryption.py --n 3000 --json > /tmp/after.json
    PYTHONPATH=/path/to/old/src python bench/field_encryption.py --n 3000 --json > /tmp/before.json
    PYTHONPATH=src python bench/field_encryption.py --before /tmp/before*.json --after /tmp/after*.json \
        --doc docs/field-encryption.md

Times are wall clock on a shared 2-core machine (the 1-minute load average is printed with each run);
the median of ``--repeat`` runs of ``matches --json`` is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.demo import build_sample_export
from reclaim.persons.service import add_person
from reclaim.scan.service import scan_paths
from reclaim.workspace import Workspace

PASSPHRASE = "bench passphrase"


def many_sightings(root: Path, n: int) -> Path:
    sample = build_sample_export(root / "export")
    doc_path = sample.root / "result.json"
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    photos = [
        m["photo"]
        for c in doc["chats"]["list"]
        for m in c["messages"]
        if isinstance(m.get("photo"), str) and m["photo"].startswith("chats/")
    ]
    for c in range(20):
        doc["chats"]["list"].append(
            {
                "name": f"bench chat {c} 채팅방",
                "type": "private_supergroup",
                "id": 50_000 + c,
                "messages": [
                    {
                        "id": i,
                        "type": "message",
                        "date": "2025-11-21T10:00:00",
                        "date_unixtime": str(1_763_700_000 + i),
                        "from": f"sender {i % 97}",
                        "from_id": f"user{i % 97}",
                        "forwarded_from": f"origin channel {i % 13}",
                        "photo": photos[i % len(photos)],
                        "width": 512,
                        "height": 400,
                        "text": f"caption number {i} of a repost, 게시물 {i}",
                    }
                    for i in range(c, n, 20)
                ],
            }
        )
    doc_path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return sample.root


def run(n: int, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n_messages": n, "load_1min": os.getloadavg()[0]}
    try:
        from reclaim.store import fields
    except ImportError:
        fields = None  # type: ignore[assignment]
    out["field_encryption"] = fields is not None
    with tempfile.TemporaryDirectory(prefix="reclaim-bench-fields-") as tmp:
        root = Path(tmp)
        export = many_sightings(root, n)
        sample = build_sample_export(root / "enrol")
        ws = Workspace.create(root / "ws", PASSPHRASE)
        try:
            with ws.session() as s:
                add_person(s, ws.key, name="Bench Person", photos=sample.enrol_photos, consent="bench")
            t0 = time.perf_counter()
            report = scan_paths(ws, [export], workers=1)
            out["scan_s"] = round(time.perf_counter() - t0, 2)
            out["sightings"] = report.sightings if hasattr(report, "sightings") else None
            out["new_items"] = report.new_items
        finally:
            ws.close()
        out["scan_sightings_per_s"] = round(n / out["scan_s"], 1)
        env = {"RECLAIM_PASSPHRASE": PASSPHRASE}
        times, size = [], 0
        runner = CliRunner()
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = runner.invoke(app, ["--workspace", str(root / "ws"), "matches", "--json"], env=env)
            times.append(time.perf_counter() - t0)
            assert result.exit_code == 0, result.output
            size = len(result.stdout)
            rows = json.loads(result.stdout)
        out["matches_json_s"] = round(statistics.median(times), 3)
        out["matches"] = len(rows)
        out["matches_sightings"] = sum(len(r["sightings"]) for r in rows)
        out["matches_json_bytes"] = size
        out["db_bytes"] = sum(p.stat().st_size for p in (root / "ws").glob("reclaim.db*"))
        if fields is not None:
            out.update(upgrade_cost(root / "ws", fields))
            out.update(micro(fields))
    return out


def upgrade_cost(root: Path, fields: Any) -> dict[str, Any]:
    """Time the one-time pass on this workspace turned back into plaintext (what an older reclaim wrote)."""
    import sqlalchemy as sa

    from reclaim.store.models import Base, EncryptionPass

    ws = Workspace.open(root, PASSPHRASE)
    try:
        count = 0
        with ws.engine.begin() as conn:
            for table, pk, column, as_json in fields.encrypted_columns(Base.metadata):
                t = sa.table(table, sa.column(pk), sa.column(column, sa.JSON() if as_json else sa.Text()))
                for row_id, stored in conn.execute(sa.select(t.c[pk], t.c[column])).all():
                    if stored is None:
                        continue
                    plain = fields.unseal(ws.key, f"{table}.{column}", stored)
                    value = json.loads(plain) if as_json else plain
                    conn.execute(sa.update(t).where(t.c[pk] == row_id).values({column: value}))
                    count += 1
            conn.execute(sa.delete(EncryptionPass.__table__))
        t0 = time.perf_counter()
        encrypted = fields.encrypt_plaintext_fields(ws.engine, ws.key, Base.metadata)
        took = time.perf_counter() - t0
    finally:
        ws.close()
    assert encrypted == count, (encrypted, count)
    return {"upgrade_values": encrypted, "upgrade_s": round(took, 2)}


def micro(fields: Any) -> dict[str, Any]:
    from reclaim.store.crypto import DataKey

    key = DataKey(b"k" * 32)
    text = "caption number 1234 of a repost, 게시물 1234"
    reps = 20_000
    t0 = time.perf_counter()
    sealed = [fields.seal(key, "sightings.caption", text) for _ in range(reps)]
    seal_us = (time.perf_counter() - t0) / reps * 1e6
    t0 = time.perf_counter()
    for s in sealed:
        fields.unseal(key, "sightings.caption", s)
    unseal_us = (time.perf_counter() - t0) / reps * 1e6
    return {
        "seal_us": round(seal_us, 2),
        "unseal_us": round(unseal_us, 2),
        "stored_chars_for_45_char_caption": len(sealed[0]),
    }


ROWS = [
    ("scan_s", "scan of the export (s, one worker)"),
    ("scan_sightings_per_s", "scan: messages per second"),
    ("matches_json_s", "`reclaim matches --json` (s, median)"),
    ("matches_sightings", "sightings in the `matches --json` output"),
    ("matches_json_bytes", "`matches --json` output (bytes)"),
    ("db_bytes", "database files (bytes)"),
    ("load_1min", "1-minute load average at start"),
]


def table(before: dict[str, Any], after: dict[str, Any]) -> str:
    lines = ["| measure | before (plaintext) | after (encrypted) | change |", "|---|---|---|---|"]
    for key, label in ROWS:
        b, a = before.get(key), after.get(key)
        change = f"{(a / b - 1) * 100:+.0f} %" if isinstance(a, int | float) and b else ""
        lines.append(f"| {label} | {b} | {a} | {change} |")
    return "\n".join(lines)


def median_of(paths: list[Path]) -> dict[str, Any]:
    runs = [json.loads(p.read_text()) for p in paths]
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [r[key] for r in runs if key in r]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        out[key] = round(statistics.median(values), 3) if numeric else values[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="extra messages (sightings) in the export")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--before", nargs="+", type=Path, help="--json outputs of the old tree (medians)")
    ap.add_argument("--after", nargs="+", type=Path, help="--json outputs of this tree")
    ap.add_argument("--doc", type=Path, help="with --before/--after: replace the measured block of this file")
    args = ap.parse_args()
    if args.before and args.after:
        before, after = median_of(args.before), median_of(args.after)
        block = table(before, after)
        block += f"\n\nMedians of {len(args.before)} runs before and {len(args.after)} after, alternated. "
        block += "One-time upgrade and per-value cost (after): "
        block += ", ".join(
            f"{k} {after[k]}" for k in ("upgrade_values", "upgrade_s", "seal_us", "unseal_us") if k in after
        )
        print(block)
        if args.doc:
            doc = args.doc.read_text(encoding="utf-8")
            start, end = "<!-- measured:start -->", "<!-- measured:end -->"
            head, _, rest = doc.partition(start)
            _, _, tail = rest.partition(end)
            args.doc.write_text(f"{head}{start}\n{block}\n{end}{tail}", encoding="utf-8")
        return
    result = run(args.n, args.repeat)
    print(json.dumps(result, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
