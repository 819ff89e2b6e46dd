"""The safety net of issue 10 (one-way layers): what the CLI prints and what an older evidence package
holds must not change while the code moves.

* Golden JSON: the whole loop on the demo sample export through the real CLI (init, person add, scan,
  matches, explain of every match, review, hashes export, evidence export and verify, takedown draft,
  list and show, custody verify), each command's stdout compared byte for byte with a file under
  tests/golden/. Only what legitimately differs between runs is normalised: the temporary folder
  (``<tmp>``), random ids, signing keys and manifest hashes (``<person-1>``, ``<match-3>``, ``<key-1>``,
  ... numbered in order of first appearance, after checking their shape), and timestamps of the run
  itself (``<now:...>`` keeping the format, ``<today>``). Every key, its order and every other value
  stay. ``RECLAIM_UPDATE_GOLDEN=1`` rewrites the files (review the diff: it is a contract change). A new
  Pillow, libjpeg or face model can legitimately change hashes, boxes and distances.
* tests/data/evidence-0.1.zip: the package this loop's ``evidence export --confirmed-only`` step wrote
  with reclaim 0.1.0 (commit 0cd7454, before the refactor); it must keep verifying, and changing one
  byte of any member must make verification fail.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.demo import build_sample_export

from .conftest import PASSPHRASE

GOLDEN = Path(__file__).parent / "golden"
PACKAGE_0_1 = Path(__file__).parent / "data" / "evidence-0.1.zip"
UPDATE = os.environ.get("RECLAIM_UPDATE_GOLDEN") == "1"

runner = CliRunner()

RANDOM_KEYS = {
    "person_id": "person",
    "match_id": "match",
    "notice_id": "notice",
    "parent_id": "notice",
    "manifest_sha256": "manifest",
    "evidence_sha256": "manifest",
    "public_key": "key",
}
"""Keys whose values are random per run: ids (secrets.token_hex), the workspace's signing key, and the
hash of a manifest that records its export time. Their values are replaced wherever they occur."""
SHAPES = {
    "person": re.compile(r"[0-9a-f]{16}"),
    "match": re.compile(r"[0-9a-f]{16}"),
    "notice": re.compile(r"[0-9a-f]{16}"),
    "manifest": re.compile(r"[0-9a-f]{64}"),
    "key": re.compile(r"[0-9a-f]{64}"),
}
PACKAGE_0_1_KEY = "27888a5f59aba7211c61a5dd9dc748d84c729df11e05c860a6456d44f1a6c156"
"""The signing key of the workspace that exported tests/data/evidence-0.1.zip (its log's first event)."""
ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?")


@dataclass
class Step:
    name: str
    text: str
    is_json: bool = True


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"reclaim {' '.join(args)}: {result.stderr or result.exception!r}"
    return result.stdout


def _loop(base: Path) -> list[Step]:
    """Run the whole loop once in ``base``; return every command's stdout in order."""
    sample = build_sample_export(base / "sample" / "ChatExport")
    steps: list[Step] = []

    def run(name: str, *args: str) -> Any:
        steps.append(Step(name, _invoke(*args)))
        return json.loads(steps[-1].text)

    run("init", "init", "--json")
    photos = [a for p in sample.enrol_photos for a in ("--photo", str(p))]
    consent = "signed consent form, 2026-11-20"
    pid = run("person-add", "person", "add", "Client 07", *photos, "--known-image", str(sample.known_image),
              "--consent", consent, "--keep-photos", "--json")["person_id"]  # fmt: skip
    run("person-list", "person", "list", "--json")
    run("scan", "scan", str(sample.root), "--json", "--workers", "1")
    # The scan's quick face search left the pictures without a match for later: search them now.
    run("finish-faces", "finish-faces", "--json", "--workers", "1")
    rows = run("matches", "matches", "--json")
    for n, row in enumerate(rows, 1):
        run(f"explain-match-{n}", "explain", row["match_id"], "--json")

    def match_on(message_id: int, kind: str) -> str:
        return str(
            next(
                r["match_id"]
                for r in rows
                if r["kind"] == kind and any(s["message_id"] == message_id for s in r["sightings"])
            )
        )

    # The traded copy (message 20): a face and a hash match on one small item, so the package stays small.
    run("review-traded-face", "review", match_on(20, "face"), "--confirm", "--json")
    note = "her own photo"
    run("review-traded-hash", "review", match_on(20, "hash"), "--confirm", "--note", note, "--json")
    package = str(base / "evidence.zip")
    run("evidence-export", "evidence", "export", "--person", pid, "--confirmed-only", "--out", package,
        "--json")  # fmt: skip
    run("evidence-verify", "evidence", "verify", package, "--json")
    run("review-cluster", "review", match_on(2, "face"), "--confirm", "--cluster", "--json")
    run("review-reject", "review", match_on(12, "face"), "--reject", "--note", "not her", "--json")
    run("matches-reviewed", "matches", "--json")
    for fmt in ("stopncii", "te"):
        out = base / f"hashes-{fmt}"
        run(f"hashes-export-{fmt}", "hashes", "export", "--format", fmt, "--person", pid, "--out", str(out),
            "--json")  # fmt: skip
        steps.append(Step(f"hashes-file-{fmt}", out.read_text(encoding="utf-8"), is_json=fmt != "te"))
    drafted = run("takedown-draft", "takedown", "draft", "--person", pid, "--json")
    run("takedown-list", "takedown", "list", "--json")
    run("takedown-show", "takedown", "show", drafted["notices"][0]["notice_id"], "--json")
    run("custody-verify", "custody", "verify", "--json")
    return steps


def _random_values(value: Any, found: dict[str, str], key: str | None = None) -> None:
    """Collect the random values under RANDOM_KEYS, in order of first appearance."""
    if isinstance(value, dict):
        for k, v in value.items():
            _random_values(v, found, k)
    elif isinstance(value, list):
        for v in value:
            _random_values(v, found, key)
    elif isinstance(value, str) and key in RANDOM_KEYS and value not in found:
        kind = RANDOM_KEYS[key]
        assert SHAPES[kind].fullmatch(value), f"{key} {value!r} lost its shape"
        found[value] = f"<{kind}-{sum(p.startswith(f'<{kind}-') for p in found.values()) + 1}>"


def _normalise(steps: list[Step], *, base: Path, started: datetime, ended: datetime) -> dict[str, str]:
    found: dict[str, str] = {}
    for step in steps:
        if step.is_json:
            _random_values(json.loads(step.text), found)
    today = {started.date(), ended.date()}

    def now(m: re.Match[str]) -> str:
        text = m.group(0)
        if len(text) == 10:
            return "<today>" if date.fromisoformat(text) in today else text
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if started - timedelta(seconds=2) <= at <= ended + timedelta(seconds=2):
            return "<now:" + re.sub(r"\d", "#", text) + ">"
        return text

    out: dict[str, str] = {}
    for step in steps:
        text = step.text.replace(str(base), "<tmp>")
        for value in sorted(found, key=len, reverse=True):
            text = text.replace(value, found[value])
        out[step.name] = ISO.sub(now, text)
    return out


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Step], dict[str, str]]]:
    base = tmp_path_factory.mktemp("golden")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
        mp.setenv("RECLAIM_WORKSPACE", str(base / "ws"))
        mp.setenv("RECLAIM_ACTOR", "local:golden")  # the operator and machine every event names
        mp.setenv("RECLAIM_HOSTNAME", "golden-host")
        started = datetime.now(UTC)
        steps = _loop(base)
        ended = datetime.now(UTC)
    yield steps, _normalise(steps, base=base, started=started, ended=ended)


def _golden_name(n: int, step: Step) -> str:
    return f"{n:02d}-{step.name}.{'json' if step.is_json else 'txt'}"


def test_cli_json_matches_golden(golden_run: tuple[list[Step], dict[str, str]]) -> None:
    steps, normalised = golden_run
    expected = {_golden_name(n, s): normalised[s.name] for n, s in enumerate(steps, 1)}
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        for stale in set(p.name for p in GOLDEN.iterdir()) - expected.keys():
            (GOLDEN / stale).unlink()
        for name, text in expected.items():
            (GOLDEN / name).write_bytes(text.encode("utf-8"))
    present = {p.name for p in GOLDEN.iterdir()}
    problems = [f"missing golden file {n}" for n in sorted(expected.keys() - present)]
    problems += [f"golden file {n} belongs to no step" for n in sorted(present - expected.keys())]
    for name, text in expected.items():
        if name not in present:
            continue
        want = (GOLDEN / name).read_bytes().decode("utf-8")
        if want != text:
            diff = difflib.unified_diff(want.splitlines(), text.splitlines(), name, "this run", lineterm="")
            problems.append("\n".join(list(diff)[:60]))
    hint = "\n(RECLAIM_UPDATE_GOLDEN=1 rewrites tests/golden/ if the change is meant to be a contract change)"
    assert not problems, "\n\n".join(problems) + hint


def _verify(package: Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["evidence", "verify", str(package), "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_package_0_1_still_verifies() -> None:
    assert PACKAGE_0_1.stat().st_size < 100_000
    code, report = _verify(PACKAGE_0_1)
    assert code == 0, report["problems"]
    assert report == {
        "path": str(PACKAGE_0_1),
        "ok": True,
        "public_key": PACKAGE_0_1_KEY,
        "checked": {"members": 6, "container": 6, "files": 3, "originals": 1, "items": 1, "matches": 2,
                    "events": 23, "timestamps": 0},
        "problems": [],
        # written before events named their tool and machine: still verifies, and says so
        "recorded_by": {"tools": {"not recorded": 23}, "operators": {"local:root": 23},
                        "machines": {"not recorded": 23}},
    }  # fmt: skip


def _rewrite(src: Path, dst: Path, *, flip: str | None) -> None:
    """Copy a package member by member as export writes it (same names, order, compression, dates and
    attributes), flipping one byte in the middle of member ``flip``; the ZIP's CRCs stay consistent."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = bytearray(zin.read(info))
            if info.filename == flip:
                data[len(data) // 2] ^= 0x01
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.compress_type = info.compress_type
            copy.external_attr = info.external_attr
            copy.create_system = info.create_system
            zout.writestr(copy, bytes(data))


def _members() -> list[str]:
    with zipfile.ZipFile(PACKAGE_0_1) as zf:
        return zf.namelist()


def test_package_0_1_rewritten_unchanged_verifies(tmp_path: Path) -> None:
    """The control for the next test: copying the package the way it does changes nothing."""
    copy = tmp_path / "copy.zip"
    _rewrite(PACKAGE_0_1, copy, flip=None)
    assert copy.read_bytes() == PACKAGE_0_1.read_bytes()
    assert _verify(copy)[0] == 0


@pytest.mark.parametrize("member", _members())
def test_package_0_1_one_changed_byte_fails(tmp_path: Path, member: str) -> None:
    damaged = tmp_path / "damaged.zip"
    _rewrite(PACKAGE_0_1, damaged, flip=member)
    code, report = _verify(damaged)
    assert code == 1 and report["ok"] is False
    assert any(member in problem for problem in report["problems"]), report["problems"]


@pytest.mark.parametrize("member", _members())
def test_package_0_1_one_flipped_archive_byte_fails(tmp_path: Path, member: str) -> None:
    """The same at the ZIP level: one byte of the member's (stored or deflated) data flipped in place,
    so the ZIP's own CRC no longer holds either."""
    data = bytearray(PACKAGE_0_1.read_bytes())
    with zipfile.ZipFile(PACKAGE_0_1) as zf:
        info = zf.getinfo(member)
    name_len, extra_len = struct.unpack_from("<2H", data, info.header_offset + 26)
    data[info.header_offset + 30 + name_len + extra_len + info.compress_size // 2] ^= 0x01
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    code, report = _verify(damaged)
    assert code == 1 and report["ok"] is False
    assert any(member in problem for problem in report["problems"]), report["problems"]
