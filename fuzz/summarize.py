"""Summarise fuzz/run.py logs as the table in docs/fuzzing.md: one row per log (its target from the name).

python fuzz/run.py media --seconds 600 > /tmp/fuzz/media.log 2>&1
python fuzz/summarize.py /tmp/fuzz/*.log
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_LAST = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_STAT = re.compile(r"stat::(\w+):\s+(\d+)")
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def summary(log: Path) -> dict[str, str]:
    text = log.read_text(encoding="utf-8", errors="replace")
    last = _LAST.findall(text)
    stats = dict(_STAT.findall(text))
    done = _DONE.search(text)
    crash = re.search(
        r"^==\d+== ERROR: libFuzzer: (.*)$|^=== Uncaught Python exception: ===\n(.*)$", text, re.M
    )
    artifact = re.search(r"Test unit written to (\S+)", text)
    return {
        "target": log.stem,
        "seconds": done.group(2) if done else "(cut short)",
        "executions": stats.get("number_of_executed_units", last[-1][0] if last else "0"),
        "exec/s": stats.get("average_exec_per_sec", "?"),
        "cov": last[-1][1] if last else "?",
        "ft": last[-1][2] if last else "?",
        "corpus": last[-1][3] if last else "?",
        "peak rss MB": stats.get("peak_rss_mb", "?"),
        "crash": (next(g for g in crash.groups() if g) if crash else "none")
        + (f" ({Path(artifact.group(1)).name})" if artifact else ""),
    }


def main() -> None:
    rows = [summary(Path(p)) for p in sys.argv[1:]]
    if not rows:
        raise SystemExit(__doc__)
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(row[c] for c in cols) + " |")


if __name__ == "__main__":
    main()
