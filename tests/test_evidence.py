"""Evidence packages: export from a real workspace, verify with only the ZIP, and detect every tampering:
a byte changed in any member (several offsets each), a member deleted or added, the manifest, the
signature, the key or the custody log edited."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from reclaim.custody import GENESIS, canonical_json, event_hash
from reclaim.demo import SampleExport, build_sample_export
from reclaim.errors import UserError
from reclaim.evidence.package import export_package
from reclaim.evidence.verify import dump_custody, verify_package
from reclaim.persons.service import add_person
from reclaim.review.service import review_match
from reclaim.scan.service import scan_paths
from reclaim.store.models import Match
from reclaim.workspace import Workspace
from tests.conftest import PASSPHRASE

Members = list[tuple[zipfile.ZipInfo, bytes]]


@dataclass
class Exported:
    ws_root: Path
    public_key: str
    person_id: str
    package: Path
    confirmed: Path
    confirmed_match: str


def _report(manifest: Mapping[str, Any], originals: Callable[[str], bytes | None]) -> Mapping[str, bytes]:
    """Stands in for the PDF report: the hook sees the manifest and can read every original."""
    for item in manifest["items"]:
        data = originals(item["original"])
        assert data is not None and hashlib.sha256(data).hexdigest() == item["sha256"]
    assert originals("originals/nothing.jpg") is None
    return {"report/summary.txt": f"{len(manifest['items'])} items\n".encode()}


def _enrol(ws: Workspace, sample: SampleExport) -> str:
    with ws.session() as s:
        return add_person(
            s, ws.key, name="P", photos=sample.enrol_photos, known_images=[sample.known_image],
            consent="test consent", vault=ws.vault,
        ).person_id  # fmt: skip


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, sample: SampleExport) -> Iterator[Exported]:
    tmp = tmp_path_factory.mktemp("evidence")
    ws = Workspace.create(tmp / "ws", PASSPHRASE)
    try:
        person_id = _enrol(ws, sample)
        scan_paths(ws, [sample.root], workers=1)
        with pytest.raises(UserError, match="no confirmed matches"):
            export_package(ws, person_id=person_id, out=tmp / "none.zip", confirmed_only=True)
        assert not (tmp / "none.zip").exists()
        with ws.session() as s:
            match_id = s.scalars(select(Match.id).order_by(Match.distance, Match.id)).first()
            assert match_id is not None
            review_match(s, match_id=match_id, decision="confirmed")
            matched_items = len(set(s.scalars(select(Match.item_id))))
        package = export_package(ws, person_id=person_id, out=tmp / "evidence.zip", report=_report)
        confirmed = export_package(ws, person_id=person_id, out=tmp / "confirmed.zip", confirmed_only=True)
        assert (
            package.items == matched_items == 6
            and package.originals == package.items
            and package.withheld == 0
        )
        assert confirmed.items == confirmed.matches == 1 and confirmed.event_id == package.event_id + 1
        assert ws.verify_custody() == []
        yield Exported(tmp / "ws", ws.signer.public_hex, person_id, package.path, confirmed.path, match_id)
    finally:
        ws.close()


# -- rewriting packages ------------------------------------------------------------------------------


def read_members(path: Path) -> Members:
    with zipfile.ZipFile(path) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


def write_members(path: Path, members: Members) -> Path:
    with zipfile.ZipFile(path, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate name is one of the tamperings
        for info, data in members:
            zf.writestr(info, data)
    return path


def replace(members: Members, name: str, data: bytes) -> Members:
    assert any(info.filename == name for info, _ in members)
    return [(info, data if info.filename == name else old) for info, old in members]


def member(members: Members, name: str) -> bytes:
    return next(data for info, data in members if info.filename == name)


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


_HEX_VALUE = re.compile(rb'"([0-9a-f]{16,})"')
_NUMBER = re.compile(rb":[ ]?(\d+)")


def parseable_flips(data: bytes) -> list[bytes]:
    """Edits inside JSON values that keep the document valid JSON: a hex digit of a hash, key or
    signature (first, middle and last such value), and a digit of a number."""
    out = []
    hexes = list(_HEX_VALUE.finditer(data))
    for m in {hexes[0], hexes[len(hexes) // 2], hexes[-1]}:
        pos = (m.start(1) + m.end(1)) // 2
        digit = b"0" if data[pos : pos + 1] != b"0" else b"1"
        out.append(data[:pos] + digit + data[pos + 1 :])
    pos = next(_NUMBER.finditer(data)).start(1)
    digit = b"7" if data[pos : pos + 1] != b"7" else b"8"
    out.append(data[:pos] + digit + data[pos + 1 :])
    for variant in out:
        json.loads(variant)
    return out


class Forger:
    """Someone with a key of their own, re-signing what they changed."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_hex = raw.hex()

    def sign(self, digest_hex: str) -> str:
        return self.private.sign(bytes.fromhex(digest_hex)).hex()


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def resign(members: Members, signer: Forger, edit: Callable[[dict[str, Any]], None]) -> Members:
    """Edit the manifest, refresh its file hashes and sign it with ``signer``'s key."""
    manifest = json.loads(member(members, "manifest.json"))
    edit(manifest)
    manifest["files"] = {
        info.filename: hashlib.sha256(data).hexdigest()
        for info, data in members
        if info.filename in manifest["files"]
    }
    raw = manifest_bytes(manifest)
    members = replace(members, "manifest.json", raw)
    return replace(members, "manifest.sig", signer.sign(hashlib.sha256(raw).hexdigest()).encode())


def custody_edit(members: Members, edit: Callable[[list[dict[str, Any]]], None]) -> Members:
    records = json.loads(member(members, "custody.json"))
    edit(records)
    return replace(members, "custody.json", dump_custody(records))


# -- tests -------------------------------------------------------------------------------------------


def test_untouched_package_verifies_without_the_workspace(exported: Exported) -> None:
    report = verify_package(exported.package)
    assert report.problems == [] and report.ok
    assert report.public_key == exported.public_key
    assert report.checked["items"] == report.checked["originals"] == 6
    members = read_members(exported.package)
    names = [info.filename for info, _ in members]
    pictures = [n for n in names if n.startswith("report/forensics/")]
    # the pictures behind forensic findings are members, hashed and signed like the rest
    manifest = json.loads(dict((i.filename, d) for i, d in members)["manifest.json"])
    assert all(it["forensics"]["statements"] for it in manifest["items"])
    assert sorted(pictures) == sorted(
        p for it in manifest["items"] for p in it["forensics"]["pictures"].values()
    )
    assert all(n.endswith(("-maps.png", "-ela.png", "-source-photo.png")) for n in pictures)
    # originals, forensic pictures, report/summary.txt, public_key.txt
    assert report.checked["files"] == 6 + len(pictures) + 2
    assert names[-4:] == ["public_key.txt", "custody.json", "manifest.json", "manifest.sig"]
    assert names[:6] == sorted(names[:6]) and all(n.startswith("originals/") for n in names[:6])
    for info, data in members:
        stored = info.filename.startswith(("originals/", "report/forensics/"))
        assert info.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        if info.filename.startswith("originals/"):
            assert hashlib.sha256(data).hexdigest() == Path(info.filename).stem
    manifest = json.loads(member(members, "manifest.json"))
    assert (
        manifest["format"] == "reclaim-evidence/1" and manifest["person"]["person_id"] == exported.person_id
    )
    for it in manifest["items"]:
        assert len(it["signals"]["pdq"]) == len(it["signals"]["pdq64"]) == 8
        assert Path(it["original"]).suffix == {"image/jpeg": ".jpg", "image/gif": ".gif"}[it["mime"]]
    assert all(s["chat_name"] for it in manifest["items"] for s in it["sightings"])
    custody = json.loads(member(members, "custody.json"))
    assert [e["id"] for e in custody] == list(range(1, len(custody) + 1))
    assert custody[0]["prev_hash"] == GENESIS and custody[-1]["kind"] == "evidence.exported"
    digest = hashlib.sha256(member(members, "manifest.json")).hexdigest()
    assert custody[-1]["detail"]["manifest_sha256"] == digest
    assert custody[-1]["id"] == manifest["custody"]["last_event_id"]


def test_confirmed_only_holds_only_confirmed_matches(exported: Exported) -> None:
    assert verify_package(exported.confirmed).ok
    manifest = json.loads(member(read_members(exported.confirmed), "manifest.json"))
    matches = [m for it in manifest["items"] for m in it["matches"]]
    assert [(m["match_id"], m["status"]) for m in matches] == [(exported.confirmed_match, "confirmed")]
    everything = json.loads(member(read_members(exported.package), "manifest.json"))
    statuses = {m["status"] for it in everything["items"] for m in it["matches"]}
    assert statuses == {"candidate", "confirmed"}


def tampered_variants(exported: Exported) -> Iterator[tuple[str, Members | bytes]]:
    """Every tampering, named; a ``bytes`` value is a whole (damaged) archive file."""
    members = read_members(exported.package)
    for info, data in members:
        name = info.filename
        n = len(data)
        for offset in sorted({0, 1, n // 3, n // 2, 2 * n // 3, n - 2, n - 1}):
            yield f"{name}: byte {offset} of {n} changed", replace(members, name, flip(data, offset))
        if name.endswith(".json"):
            for k, variant in enumerate(parseable_flips(data)):
                yield f"{name}: value edit {k} (still valid JSON)", replace(members, name, variant)
            yield f"{name}: unparseable", replace(members, name, b"{" + data)
        yield f"{name}: truncated", replace(members, name, data[: n // 2])
        yield f"{name}: emptied", replace(members, name, b"")
        yield f"{name}: deleted", [(i, d) for i, d in members if i.filename != name]
        if name not in ("manifest.json", "manifest.sig"):
            # the forger also updates the hash in the manifest but cannot sign it with the workspace key
            forger = Forger()
            changed = replace(members, name, flip(data, n // 2))
            yield (
                f"{name}: changed and manifest re-signed by another key",
                resign(changed, forger, lambda m: None),
            )

    extra = zipfile.ZipInfo("originals/" + "0" * 64 + ".jpg")
    yield "extra original added", [*members, (extra, b"\xff\xd8\xff extra")]
    yield "extra file added", [*members, (zipfile.ZipInfo("notes.txt"), b"hello")]
    sig_info = next(i for i, _ in members if i.filename == "manifest.sig")
    yield "a second manifest.sig", [*members, (sig_info, member(members, "manifest.sig"))]

    other = Forger()
    manifest_raw = member(members, "manifest.json")
    other_sig = other.sign(hashlib.sha256(manifest_raw).hexdigest()).encode()
    yield "manifest.sig made by another key", replace(members, "manifest.sig", other_sig)
    swapped_key = replace(
        replace(members, "manifest.sig", other_sig), "public_key.txt", other.public_hex.encode()
    )
    yield "public_key.txt and manifest.sig swapped for another key", swapped_key

    def new_key(m: dict[str, Any]) -> None:
        m["workspace_public_key"] = other.public_hex

    rekeyed = replace(members, "public_key.txt", other.public_hex.encode())
    yield "everything but the custody log re-signed with another key", resign(rekeyed, other, new_key)

    def drop_item(m: dict[str, Any]) -> None:
        m["items"].pop()

    def rename(m: dict[str, Any]) -> None:
        m["person"]["name"] = "Someone Else"

    def promote(m: dict[str, Any]) -> None:
        for it in m["items"]:
            for match in it["matches"]:
                match["status"] = "confirmed"

    def invent_match(m: dict[str, Any]) -> None:
        m["items"][0]["matches"].append({**m["items"][0]["matches"][0], "match_id": "f" * 16})

    for label, edit in [("item dropped", drop_item), ("name", rename), ("statuses", promote),
                        ("match invented", invent_match)]:  # fmt: skip
        yield (
            f"manifest edited ({label})",
            replace(members, "manifest.json", manifest_bytes(_edited(members, edit))),
        )

    yield (
        "statuses edited, manifest re-signed with another key",
        resign(rekeyed, other, lambda m: (new_key(m), promote(m))),
    )

    yield "custody event deleted", custody_edit(members, lambda r: r.pop(3))
    yield "custody events swapped", custody_edit(members, lambda r: r.insert(3, r.pop(4)))
    yield "custody event duplicated", custody_edit(members, lambda r: r.insert(3, dict(r[3])))
    yield "export event dropped", custody_edit(members, lambda r: r.pop())
    yield "first event dropped", custody_edit(members, lambda r: r.pop(0))

    def rewrite_actor(records: list[dict[str, Any]]) -> None:
        records[2]["actor"] = "someone else"

    yield "custody actor changed", custody_edit(members, rewrite_actor)

    def rehash_without_key(records: list[dict[str, Any]]) -> None:
        # change an event and recompute every hash after it: only the signatures can tell
        records[2]["actor"] = "someone else"
        _rechain(records[2:], None, records[1]["hash"])

    yield "custody rehashed after an edit", custody_edit(members, rehash_without_key)
    custody_raw = member(members, "custody.json")
    pretty = json.dumps(json.loads(custody_raw), indent=1).encode()
    yield "custody.json reformatted", replace(members, "custody.json", pretty)
    compact = canonical_json(json.loads(custody_raw)).encode()
    yield "custody.json re-serialised", replace(members, "custody.json", compact)

    raw = exported.package.read_bytes()
    yield "archive truncated", raw[: len(raw) // 2]
    yield "archive missing its last byte", raw[:-1]
    yield "not an archive", b"garbage" * 100
    yield "empty file", b""
    for info, data in members:  # a byte of a member changed inside the archive itself (CRC mismatch)
        pos = (
            raw.find(data[:64]) + min(len(data) // 2, 63) if info.compress_type == zipfile.ZIP_STORED else -1
        )
        if pos > 0:
            yield f"archive byte in {info.filename} changed", flip(raw, pos)


def _edited(members: Members, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(member(members, "manifest.json"))
    edit(manifest)
    return manifest


def test_every_tampering_is_detected(exported: Exported, tmp_path: Path) -> None:
    total = detected = 0
    missed = []
    for label, variant in tampered_variants(exported):
        path = tmp_path / "t.zip"
        if isinstance(variant, bytes):
            path.write_bytes(variant)
        else:
            write_members(path, variant)
        report = verify_package(path)
        total += 1
        if report.ok:
            missed.append(label)
        else:
            detected += 1
            assert all(isinstance(p, str) and p for p in report.problems)
    print(f"tampered variants: {total}, detected: {detected} ({100 * detected // total} %)")
    assert missed == []
    assert total > 150


def forge(members: Members, forger: Forger, edit: Callable[[dict[str, Any]], None]) -> Members:
    """A package made wholly consistent with ``forger``'s key: log re-signed, manifest edited by
    ``edit`` and re-signed, export event re-made for the new manifest."""
    records = json.loads(member(members, "custody.json"))
    records[0]["detail"]["signing_key"]["public_key"] = forger.public_hex
    _rechain(records[:-1], forger, GENESIS)

    def rekey(m: dict[str, Any]) -> None:
        m["workspace_public_key"] = forger.public_hex
        m["custody"]["export_prev_hash"] = records[-2]["hash"]
        edit(m)

    members = resign(replace(members, "public_key.txt", forger.public_hex.encode()), forger, rekey)
    records[-1]["detail"]["manifest_sha256"] = hashlib.sha256(member(members, "manifest.json")).hexdigest()
    _rechain(records[-1:], forger, records[-2]["hash"])
    return replace(members, "custody.json", dump_custody(records))


def test_a_forger_with_their_own_key_is_told_apart_by_the_key(exported: Exported, tmp_path: Path) -> None:
    """Re-signing everything, custody log included, with another key gives a self-consistent package:
    what ties a package to its workspace is the public key the report shows (and the log's first event).
    Even then, matches and items the log does not back are found."""
    forger = Forger()
    members = read_members(exported.package)
    forged = verify_package(write_members(tmp_path / "f.zip", forge(members, forger, lambda m: None)))
    assert forged.ok and forged.public_key == forger.public_hex != exported.public_key

    def promote(m: dict[str, Any]) -> None:
        for it in m["items"]:
            for match in it["matches"]:
                match["status"] = "confirmed"

    def invent(m: dict[str, Any]) -> None:
        m["items"][0]["matches"].append({**m["items"][0]["matches"][0], "match_id": "f" * 16})
        m["items"][1]["sha256"] = "e" * 64
        m["items"][1]["original"] = None
        m["items"][1]["original_reason"] = "invented"

    promoted = verify_package(write_members(tmp_path / "p.zip", forge(members, forger, promote)))
    assert promoted.problems and all("the custody log says 'candidate'" in p for p in promoted.problems)
    invented = verify_package(write_members(tmp_path / "i.zip", forge(members, forger, invent)))
    assert any("match ffffffffffffffff" in p and "no match.created" in p for p in invented.problems)
    assert any(f"item {'e' * 64}: no item.added" in p for p in invented.problems)


def _rechain(records: list[dict[str, Any]], signer: Forger | None, prev: str) -> None:
    """Recompute the hashes (and, with ``signer``, the signatures) of ``records`` after ``prev``."""
    for r in records:
        r["prev_hash"] = prev
        r["hash"] = event_hash(
            seq=r["id"], at=datetime.fromisoformat(r["at"]), actor=r["actor"], kind=r["kind"],
            subject=r["subject"], detail=r["detail"], prev_hash=prev, tool=r.get("tool"), host=r.get("host"),
        )  # fmt: skip
        if signer is not None:
            r["signature"] = signer.sign(r["hash"])
        prev = r["hash"]


def test_nothing_to_export_and_hash_only_items(tmp_path: Path, sample: SampleExport) -> None:
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        person_id = _enrol(ws, sample)
        with pytest.raises(UserError, match="nothing to export"):
            export_package(ws, person_id=person_id, out=tmp_path / "e.zip")
        scan_paths(ws, [sample.root], workers=1, hash_only=True)
        result = export_package(ws, person_id=person_id, out=tmp_path / "e.zip")
    finally:
        ws.close()
    assert result.originals == 0 and result.withheld == result.items == 6
    report = verify_package(result.path)
    assert report.ok, report.problems
    manifest = json.loads(member(read_members(result.path), "manifest.json"))
    assert all(it["original"] is None and "hash-only" in it["original_reason"] for it in manifest["items"])
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_every_byte_class_of_the_archive_itself(exported: Exported, tmp_path: Path) -> None:
    """Bit flips in the raw ZIP: local headers, central directory, end record, the tail of each deflate
    stream (where inflate ignores padding bits) and data bytes of every member."""
    raw = exported.package.read_bytes()
    with zipfile.ZipFile(exported.package) as zf:
        infos = zf.infolist()
        cd_start = zf.start_dir  # type: ignore[attr-defined]
    positions = set(range(cd_start, len(raw)))  # the central directory and the end record
    for n, info in enumerate(infos):
        data_at = info.header_offset + 30 + len(info.filename)
        if n in (0, len(infos) - 1) or not info.filename.startswith("originals/"):
            positions |= set(range(info.header_offset, data_at))  # local header
        end = data_at + info.compress_size
        positions |= {data_at, (data_at + end) // 2, *range(max(data_at, end - 4), end)}
    path = tmp_path / "t.zip"
    missed = []
    for pos in sorted(positions):
        bit = pos % 8  # every bit position, spread over the bytes
        path.write_bytes(raw[:pos] + bytes([raw[pos] ^ (1 << bit)]) + raw[pos + 1 :])
        if verify_package(path).ok:
            missed.append((pos, bit))
    print(f"raw archive bit flips: {len(positions)}, undetected: {len(missed)}")
    assert missed == []


def test_cli_export_and_verify(tmp_path: Path, sample: SampleExport, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from reclaim import __version__
    from reclaim.cli import app
    from reclaim.store.models import Event

    monkeypatch.setenv("RECLAIM_PASSPHRASE", "pw")
    monkeypatch.setenv("RECLAIM_HOSTNAME", "evidence-host")
    ws = Workspace.create(tmp_path / "ws", "pw")
    try:
        person_id = _enrol(ws, sample)
        scan_paths(ws, [sample.root], workers=1)
    finally:
        ws.close()
    runner = CliRunner()
    base = ["--workspace", str(tmp_path / "ws"), "evidence"]
    out = tmp_path / "case.zip"
    result = runner.invoke(
        app, [*base, "export", "--person", person_id, "--out", str(out), "--no-blur", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    exported = json.loads(result.stdout)
    assert exported["items"] >= 6 and exported["originals"] == exported["items"]
    with zipfile.ZipFile(out) as zf:
        assert "report/report.pdf" in zf.namelist()
    ws = Workspace.open(tmp_path / "ws", "pw")
    try:
        with ws.session() as s:
            kinds = list(s.scalars(select(Event.kind).order_by(Event.id)))
    finally:
        ws.close()
    assert kinds[-2:] == ["media.unblurred", "evidence.exported"]
    result = runner.invoke(app, ["evidence", "verify", str(out), "--json"])
    verified = json.loads(result.stdout)
    assert result.exit_code == 0 and verified["ok"] is True
    # who and what wrote each event: in custody.json and in verify's output
    with zipfile.ZipFile(out) as zf:
        records = json.loads(zf.read("custody.json"))
    assert all(r["tool"] == f"reclaim {__version__}" and r["host"] == "evidence-host" for r in records)
    assert verified["recorded_by"]["tools"] == {f"reclaim {__version__}": len(records)}
    assert verified["recorded_by"]["machines"] == {"evidence-host": len(records)}
    assert sum(verified["recorded_by"]["operators"].values()) == len(records)
    shown = " ".join(runner.invoke(app, ["evidence", "verify", str(out)]).stdout.split())
    assert f"tools: reclaim {__version__} ({len(records)})" in shown
    members = read_members(out)
    name = next(info.filename for info, _ in members if info.filename.startswith("originals/"))
    bad = write_members(tmp_path / "bad.zip", replace(members, name, flip(member(members, name), 100)))
    result = runner.invoke(app, ["evidence", "verify", str(bad)])
    assert result.exit_code == 1 and name in result.stderr
    result = runner.invoke(app, [*base, "export", "--person", "nobody", "--out", str(tmp_path / "x.zip")])
    assert result.exit_code == 2 and "no person" in result.stderr
