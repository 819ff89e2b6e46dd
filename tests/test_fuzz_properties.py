"""The fuzz targets (fuzz/targets.py), briefly, in `make test`: mutations of the seed corpus and random bytes
through the Telegram parsers (JSON and HTML), media decoding, ZIP extraction, evidence verify, and custody
verify of an exported log and of edited rows in the workspace's database; only the project's own errors may
escape. `make fuzz` runs each under atheris for 10 minutes (docs/fuzzing.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
from targets import TARGETS, run_one, seeds

EDGES = [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"]
"""Sizes and counts at their limits, written over a field."""
EXAMPLES = {
    "telegram": 60,
    "telegram_html": 40,
    "media": 80,
    "zip": 60,
    "evidence": 40,
    "custody": 60,
    "custody_db": 60,
}


@st.composite
def mutated(draw: st.DrawFn, name: str) -> bytes:
    corpus = seeds(name)
    assert corpus, f"fuzz/corpus/{name} is empty: run fuzz/make_corpus.py"
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2048))
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "splice"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "splice" and data:
            data[pos : pos + 4] = draw(
                st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"])
            )
    return bytes(data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_only_project_errors_escape(name: str) -> None:
    @settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=mutated(name))
    def check(data: bytes) -> None:
        run_one(TARGETS[name], data)

    check()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_seeds_themselves_pass(name: str) -> None:
    for data in seeds(name):
        run_one(TARGETS[name], data)


REGRESSIONS = Path(__file__).resolve().parents[1] / "fuzz" / "regressions"


@pytest.mark.parametrize(
    "path",
    sorted(REGRESSIONS.glob("*/*")),
    ids=lambda p: f"{p.parent.name}/{p.name[:20]}",
)
def test_inputs_that_once_crashed_are_clean_errors_now(path: Path) -> None:
    """Every crash a fuzz run found, kept as found; each now ends in a project error."""
    run_one(TARGETS[path.parent.name], path.read_bytes())


def _package_with_custody(custody: bytes, tmp: Path) -> Path:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(seeds("evidence")[0])) as src, zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            out.writestr(info, custody if info.filename == "custody.json" else src.read(info))
    path = tmp / "case.zip"
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # found by a structure-aware run of the custody target: each stopped the checking early
        ({"at": "9999-12-31T23:59:59.999999-05:00"}, "custody.json: record 1 is not a custody event (at "),
        ({"detail": {"signing_key": "x"}}, "is not the workspace.created event naming the package key"),
    ],
)
def test_a_damaged_custody_record_is_one_problem_and_checking_goes_on(
    tmp_path: Path, edit: dict[str, object], expected: str
) -> None:
    from reclaim.evidence.verify import dump_custody, verify_package

    records = json.loads(seeds("custody")[0])
    n = 1 if "at" in edit else 0
    records[n] = {**records[n], **edit}
    report = verify_package(_package_with_custody(dump_custody(records), tmp_path))
    assert any(expected in p for p in report.problems), report.problems
    assert not any("stopped early" in p for p in report.problems), report.problems
    assert report.checked["originals"] == 1  # the checks before and after the custody log ran
