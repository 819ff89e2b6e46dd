"""Run one fuzz target under atheris (coverage-guided), seeded with fuzz/corpus/TARGET.

    python fuzz/run.py media --seconds 600

Anything other than a project error (reclaim.errors.ReclaimError) escaping the target is a crash: atheris
stops and writes the input to fuzz/crashes/. Memory is capped twice: the address space (RLIMIT_AS, so one
huge allocation fails at once with MemoryError, a crash) and the resident size (-rss_limit_mb, checked by
libFuzzer); every input has a time limit (-timeout). So a decompression bomb or a hang is found, not the
machine stalled."""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["reclaim"]):
    # the library's modules the targets reach, imported here so that atheris instruments them (coverage)
    from targets import CORPUS, TARGETS, run_one

    import reclaim.custody
    import reclaim.evidence.timestamp
    import reclaim.evidence.verify
    import reclaim.media
    import reclaim.server.jobs
    import reclaim.sources.telegram
    import reclaim.workspace  # noqa: F401


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--rss-mb", type=int, default=3072)
    parser.add_argument(
        "--as-mb",
        type=int,
        default=8192,
        help="address space limit (RLIMIT_AS); above --rss-mb: threads and libraries map more than they use",
    )
    parser.add_argument("--timeout", type=int, default=30, help="seconds per input")
    args, rest = parser.parse_known_args()
    target = TARGETS[args.target]
    limit = args.as_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    crashes = HERE / "crashes" / args.target
    crashes.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"fuzz-{args.target}-corpus-"))  # grows; the seeds stay as they are
    argv = [
        sys.argv[0],
        str(work),
        str(CORPUS / args.target),
        f"-max_total_time={args.seconds}",
        f"-rss_limit_mb={args.rss_mb}",
        f"-timeout={args.timeout}",
        f"-artifact_prefix={crashes}/",
        "-print_final_stats=1",
        *rest,
    ]
    atheris.Setup(argv, lambda data: run_one(target, data))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
