"""Check an evidence package with nothing but the ZIP: no workspace, no passphrase, no database.

What is checked (each failure is one sentence naming the member, event, item or match):

* the ZIP opens and every member reads back (CRC) and no name appears twice;
* ``manifest.json`` parses and has the expected shape; ``manifest.sig`` is a valid Ed25519 signature of
  its SHA-256 by ``public_key.txt``, and that key is the manifest's ``workspace_public_key``;
* every member listed in ``files`` exists with that SHA-256, and no member is unlisted (only
  manifest.json, manifest.sig and custody.json are not listed: see ``package.py`` for why);
* each original's SHA-256 is its item's SHA-256, and every ``originals/`` member belongs to an item;
* ``custody.json`` is in canonical form, its chain verifies from GENESIS with the package key, its first
  event (``workspace.created``) names that key, it ends with the ``evidence.exported`` event that names
  this manifest's SHA-256, and that event follows the head the signed manifest pinned;
* every item has an ``item.added`` event, every match a ``match.created`` event (same person and kind)
  and its status agrees with the last review event of that match.

A forger holding a different key can build a package that is consistent with itself; what ties a
package to a workspace is its public key (printed by ``reclaim`` and in the log's first event).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from reclaim.custody import GENESIS, ChainEvent, canonical_json, recorded_by, timestamp, verify_chain
from reclaim.errors import ReclaimError, UserError
from reclaim.events import EventKind, subject
from reclaim.evidence.timestamp import TimestampError, verify_token

FORMAT = "reclaim-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.txt"
CUSTODY = "custody.json"
ORIGINALS_DIR = "originals/"
REPORT_DIR = "report/"
FORENSICS_DIR = "report/forensics/"
"""PNG pictures behind forensic findings: already compressed, so stored like the originals (a deflate
stream of incompressible data is made of stored blocks, whose header padding bits inflate ignores)."""
CAPTURES_DIR = "captures/"
"""The WACZ web archive of every capture (``reclaim capture``) that saw a packaged item: already a ZIP, so
stored."""
STORED_DIRS = (ORIGINALS_DIR, FORENSICS_DIR, CAPTURES_DIR)
NETWORK_DIR = "network/"
"""The spread network (``evidence export --network``): listed in ``files`` like every data member."""
NETWORK_GRAPHML = f"{NETWORK_DIR}network.graphml"
NETWORK_SENDERS = f"{NETWORK_DIR}senders.csv"
NETWORK_TIMELINE = f"{NETWORK_DIR}timeline.csv"
TIMESTAMPS_DIR = "timestamps/"
UNLISTED = frozenset({MANIFEST, SIGNATURE, CUSTODY})
"""Members that ``files`` does not (and cannot) list."""
_SMALL = frozenset({MANIFEST, SIGNATURE, PUBLIC_KEY, CUSTODY})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_CHUNK = 1 << 20
MEMBER_MODE = 0o600 << 16
"""``external_attr`` of every member (Unix permissions rw-------)."""
UNIX = 3
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s4B4H3L5H2L")
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = b"PK\x06\x07"


def custody_record(ev: ChainEvent) -> dict[str, Any]:
    """An event as custody.json holds it; ``tool`` and ``host`` only when the event has them (events
    written before they were recorded keep their exact form)."""
    record: dict[str, Any] = {
        "id": ev.id,
        "at": timestamp(ev.at),
        "actor": ev.actor,
        "kind": ev.kind,
        "subject": ev.subject,
        "detail": ev.detail,
        "prev_hash": ev.prev_hash,
        "hash": ev.hash,
        "signature": ev.signature,
    }
    if ev.tool is not None:
        record["tool"] = ev.tool
    if ev.host is not None:
        record["host"] = ev.host
    return record


def dump_custody(records: list[dict[str, Any]]) -> bytes:
    """The one serialisation of custody.json: one canonical JSON event per line."""
    return ("[\n" + ",\n".join(canonical_json(r) for r in records) + "\n]\n").encode("utf-8")


@dataclass(frozen=True)
class ManifestFacts:
    """What a package's manifest says about itself, read without checking the package (see
    :func:`verify_package` for that): the SHA-256 of its manifest bytes, which the export event and
    takedown notices cite, and whose package it is."""

    manifest_sha256: str
    person_id: str


def manifest_facts(path: Path) -> ManifestFacts:
    """The :class:`ManifestFacts` of the package at ``path``; UserError when it is not a package."""
    try:
        with zipfile.ZipFile(path) as zf:
            data = zf.read(MANIFEST)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not an evidence package ({exc})") from None
    try:
        manifest = json.loads(data)
        owner = manifest["person"]["person_id"]
    except (ValueError, KeyError, TypeError):
        owner = None
    if not isinstance(owner, str):
        raise UserError(f"{path}: {MANIFEST} names no person")
    return ManifestFacts(manifest_sha256=hashlib.sha256(data).hexdigest(), person_id=owner)


@dataclass
class LoggedEvent:
    """An event read back from custody.json (satisfies ``ChainEvent``)."""

    id: int
    at: datetime
    actor: str
    kind: str
    subject: str | None
    detail: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None
    signature: str | None
    tool: str | None = None
    host: str | None = None


@dataclass
class VerifyReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    public_key: str | None = None
    """The key that signed the package (compare it with the workspace's to tie the two together)."""
    recorded_by: dict[str, dict[str, int]] = field(default_factory=dict)
    """Who and what wrote the custody log's events (:func:`reclaim.custody.recorded_by`)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_package(path: Path) -> VerifyReport:
    """Check the package at ``path``; never raises on a damaged package (each defect is a problem)."""
    report = VerifyReport(path=path)
    try:
        _Checker(path, report).run()
    except Exception as exc:  # a damaged package is a finding, never a crash
        report.problems.append(f"{path.name}: checking stopped early: {type(exc).__name__}: {exc}")
    return report


def _inflate(data: bytes) -> bytes | None:
    """The raw deflate stream ``data`` inflated, or None unless it is exactly one complete stream."""
    try:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        out = inflater.decompress(data)
    except zlib.error:
        return None
    return out if inflater.eof and not inflater.unused_data else None


def _deflate_is_clean(data: bytes) -> bool:
    """Inflate ignores the padding bits after a deflate stream's last code, so flipping one would go
    unnoticed by the CRC; zlib always writes them as 0. A set bit of the last byte that inflate ignores
    is therefore an edit."""
    reference = _inflate(data)
    if reference is None or not data:
        return False
    last = data[-1]
    for bit in range(8):
        if last >> bit & 1 and _inflate(data[:-1] + bytes([last ^ (1 << bit)])) == reference:
            return False
    return True


def _str_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


_RECORDED_BY = {"tool", "host"}


def _parse_event(rec: Any) -> LoggedEvent:
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    expected = {"id", "at", "actor", "kind", "subject", "detail", "prev_hash", "hash", "signature"}
    if not expected <= set(rec) <= expected | _RECORDED_BY:
        raise ValueError(f"fields are {sorted(rec)}, expected {sorted(expected)} (and tool, host)")
    if not all(_str_or_none(rec.get(k)) for k in _RECORDED_BY):
        raise ValueError("tool and host must be strings")
    if not isinstance(rec["id"], int) or isinstance(rec["id"], bool):
        raise ValueError("id is not an integer")
    if (
        not isinstance(rec["at"], str)
        or not isinstance(rec["actor"], str)
        or not isinstance(rec["kind"], str)
    ):
        raise ValueError("at, actor and kind must be strings")
    if not all(_str_or_none(rec[k]) for k in ("subject", "prev_hash", "hash", "signature")):
        raise ValueError("subject, prev_hash, hash and signature must be strings or null")
    if rec["detail"] is not None and not isinstance(rec["detail"], dict):
        raise ValueError("detail must be an object or null")
    at = datetime.fromisoformat(rec["at"])
    if at.tzinfo is None:
        raise ValueError("at has no time zone")
    try:
        at.astimezone(UTC)  # what the event's hash covers: a time past year 9999 in UTC has none
    except OverflowError as exc:
        raise ValueError(f"at {rec['at']!r} is out of range in UTC") from exc
    return LoggedEvent(
        id=rec["id"],
        at=at,
        actor=rec["actor"],
        kind=rec["kind"],
        subject=rec["subject"],
        detail=rec["detail"],
        prev_hash=rec["prev_hash"],
        hash=rec["hash"],
        signature=rec["signature"],
        tool=rec.get("tool"),
        host=rec.get("host"),
    )


class _Checker:
    def __init__(self, path: Path, report: VerifyReport) -> None:
        self.path = path
        self.report = report
        self.digests: dict[str, str] = {}
        self.small: dict[str, bytes] = {}

    def problem(self, text: str) -> None:
        self.report.problems.append(text)

    def run(self) -> None:
        try:
            zf = zipfile.ZipFile(self.path)
        except Exception as exc:
            # zipfile raises a zoo of types on a malformed central directory (BadZipFile, OSError,
            # EOFError, UnicodeDecodeError, NotImplementedError for an unknown version: found by fuzzing);
            # all mean the same here
            self.problem(f"{self.path.name}: is not a readable ZIP archive ({type(exc).__name__}: {exc})")
            return
        with zf:
            self.read_members(zf)
        manifest, manifest_sha = self.check_manifest()
        self.check_container(manifest.get("created_at") if manifest else None)
        if manifest is None:
            return
        self.check_files(manifest)
        self.check_network(manifest)
        self.check_originals(manifest)
        self.check_custody(manifest, manifest_sha)

    def read_members(self, zf: zipfile.ZipFile) -> None:
        infos = zf.infolist()
        self.report.checked["members"] = len(infos)
        for name, count in sorted(Counter(i.filename for i in infos).items()):
            if count > 1:
                self.problem(f"{name}: appears {count} times in the archive (a member was added)")
        for info in infos:
            digest = hashlib.sha256()
            keep = info.filename in _SMALL or info.filename.startswith(TIMESTAMPS_DIR)
            buf = bytearray()
            try:
                with zf.open(info) as fh:
                    while chunk := fh.read(_CHUNK):
                        digest.update(chunk)
                        if keep:
                            buf += chunk
            except Exception as exc:  # zipfile raises many types on damaged data (CRC, zlib, EOF...)
                self.problem(f"{info.filename}: cannot be read back from the archive ({exc})")
                continue
            self.digests.setdefault(info.filename, digest.hexdigest())
            if keep:
                self.small.setdefault(info.filename, bytes(buf))

    def check_container(self, created_at: Any) -> None:
        """Every byte of the ZIP structure is as export writes it: no data before, between or after the
        members, local headers equal to the central directory, fixed attributes and timestamps. (So even
        a byte of ZIP bookkeeping cannot change unnoticed.) ZIP64 archives (over 4 GiB or 65,535
        members) are not held to this layout check; their members are still checked in full."""
        when: tuple[int, int] | None = None
        if isinstance(created_at, str):
            try:
                dt = datetime.fromisoformat(created_at).astimezone(UTC)
                when = (
                    dt.hour << 11 | dt.minute << 5 | dt.second // 2,
                    (dt.year - 1980) << 9 | dt.month << 5 | dt.day,
                )
            except ValueError:
                self.problem(f"{MANIFEST}: created_at {created_at!r} is not an ISO date")
        size = self.path.stat().st_size
        with open(self.path, "rb") as fh:
            fh.seek(max(size - _EOCD.size - 20, 0))
            tail = fh.read()
            if tail.startswith(_ZIP64_LOCATOR):
                self.report.checked["container"] = 0
                return
            sig, disk, cd_disk, n_here, n_total, cd_size, cd_offset, comment = _EOCD.unpack(
                tail[-_EOCD.size :]
            )
            if (
                (sig, disk, cd_disk, comment) != (b"PK\x05\x06", 0, 0, 0)
                or n_here != n_total
                or (cd_offset + cd_size != size - _EOCD.size)
            ):
                self.problem(
                    f"{self.path.name}: the ZIP end record is not as written (the archive was edited)"
                )
                return
            fh.seek(cd_offset)
            cd = fh.read(cd_size)
            pos = entries = 0
            expected_offset = 0
            while pos < len(cd):
                if pos + _CENTRAL.size > len(cd):
                    self.problem(f"{self.path.name}: the ZIP central directory is cut short")
                    return
                (sig, cver, csys, xver, reserved, flags, method, t, d, crc, csize, usize, nlen, elen, clen,
                 disk, iattr, eattr, offset) = _CENTRAL.unpack_from(cd, pos)  # fmt: skip
                raw_name = cd[pos + _CENTRAL.size : pos + _CENTRAL.size + nlen]
                pos += _CENTRAL.size + nlen + elen + clen
                entries += 1
                name = raw_name.decode("utf-8", "replace")
                wrong = []
                if sig != b"PK\x01\x02":
                    wrong.append("directory signature")
                if (cver, csys, xver, reserved, flags) != (20, UNIX, 20, 0, 0):
                    wrong.append("versions or flags")
                if method != (zipfile.ZIP_STORED if name.startswith(STORED_DIRS) else zipfile.ZIP_DEFLATED):
                    wrong.append("compression method")
                if when is not None and (t, d) != when:
                    wrong.append("timestamp")
                if (elen, clen, disk, iattr, eattr) != (0, 0, 0, 0, MEMBER_MODE):
                    wrong.append("attributes, extra field or comment")
                if offset != expected_offset:
                    wrong.append("position (data before or between members)")
                fh.seek(offset)
                local = fh.read(_LOCAL.size + nlen)
                if (
                    len(local) < _LOCAL.size
                    or _LOCAL.unpack_from(local)
                    != (b"PK\x03\x04", xver, flags, method, t, d, crc, csize, usize, nlen, 0)
                    or local[_LOCAL.size :] != raw_name
                ):
                    wrong.append("local header differs from the central directory")
                elif method == zipfile.ZIP_DEFLATED:
                    fh.seek(offset + _LOCAL.size + nlen)
                    if not _deflate_is_clean(fh.read(csize)):
                        wrong.append("the compressed data carries bits that are not part of it")
                if wrong:
                    self.problem(f"{name}: its ZIP header is not as written ({', '.join(wrong)})")
                expected_offset = offset + _LOCAL.size + nlen + csize
            if entries != n_total:
                self.problem(
                    f"{self.path.name}: the ZIP end record counts {n_total} members, the directory {entries}"
                )
            if expected_offset != cd_offset:
                self.problem(
                    f"{self.path.name}: there are bytes between the last member and the ZIP directory"
                )
        self.report.checked["container"] = entries

    def check_manifest(self) -> tuple[dict[str, Any] | None, str]:
        raw = self.small.get(MANIFEST)
        if raw is None:
            self.problem(f"{MANIFEST}: missing from the package; nothing else can be checked")
            return None, ""
        manifest_sha = hashlib.sha256(raw).hexdigest()
        key_raw = self.small.get(PUBLIC_KEY)
        key: str | None = None
        if key_raw is None:
            self.problem(f"{PUBLIC_KEY}: missing from the package")
        elif not _HEX64.fullmatch(key_raw.decode("latin-1")):
            self.problem(f"{PUBLIC_KEY}: is not a 64-digit lowercase hex Ed25519 public key")
        else:
            key = key_raw.decode("ascii")
        self.report.public_key = key
        sig_raw = self.small.get(SIGNATURE)
        if sig_raw is None:
            self.problem(f"{SIGNATURE}: missing from the package")
        elif not _HEX128.fullmatch(sig_raw.decode("latin-1")):
            self.problem(f"{SIGNATURE}: is not a 128-digit lowercase hex Ed25519 signature")
        elif key is not None:
            try:
                Ed25519PublicKey.from_public_bytes(bytes.fromhex(key)).verify(
                    bytes.fromhex(sig_raw.decode("ascii")), bytes.fromhex(manifest_sha)
                )
            except (InvalidSignature, ValueError):
                self.problem(
                    f"{SIGNATURE}: is not a valid signature of {MANIFEST} (SHA-256 {manifest_sha}) by the "
                    f"key in {PUBLIC_KEY}"
                )
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self.problem(f"{MANIFEST}: is not valid UTF-8 JSON ({exc})")
            return None, manifest_sha
        shape = self.manifest_shape(manifest)
        if shape:
            self.problem(f"{MANIFEST}: is malformed: {shape}")
            return None, manifest_sha
        if manifest["format"] != FORMAT:
            self.problem(f"{MANIFEST}: format is {manifest['format']!r}, expected {FORMAT!r}")
        if key is not None and manifest["workspace_public_key"] != key:
            self.problem(
                f"{MANIFEST}: workspace_public_key {manifest['workspace_public_key']!r} is not the key in "
                f"{PUBLIC_KEY} ({key})"
            )
        return manifest, manifest_sha

    @staticmethod
    def manifest_shape(m: Any) -> str | None:
        if not isinstance(m, dict):
            return "not a JSON object"
        want: dict[str, type] = {
            "format": str,
            "workspace_public_key": str,
            "person": dict,
            "items": list,
            "files": dict,
            "custody": dict,
        }
        for k, typ in want.items():
            if not isinstance(m.get(k), typ):
                return f"{k!r} is missing or not a {typ.__name__}"
        if not isinstance(m["person"].get("person_id"), str):
            return "person.person_id is missing"
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in m["files"].items()):
            return "files must map member names to SHA-256 strings"
        for k in ("first_event_id", "last_event_id"):
            if not isinstance(m["custody"].get(k), int):
                return f"custody.{k} is missing or not an integer"
        for k in ("start_hash", "export_prev_hash"):
            if not isinstance(m["custody"].get(k), str):
                return f"custody.{k} is missing or not a string"
        for n, item in enumerate(m["items"]):
            if not isinstance(item, dict) or not isinstance(item.get("sha256"), str):
                return f"items[{n}] has no sha256"
            if not _str_or_none(item.get("original")) or not _str_or_none(item.get("original_sha256")):
                return f"items[{n}] ({item['sha256']}): original and original_sha256 must be strings or null"
            if not isinstance(item.get("matches"), list) or not all(
                isinstance(x, dict) and isinstance(x.get("match_id"), str) for x in item["matches"]
            ):
                return f"items[{n}] ({item['sha256']}): matches must be a list of objects with a match_id"
        return None

    def check_files(self, manifest: dict[str, Any]) -> None:
        files: dict[str, str] = manifest["files"]
        self.report.checked["files"] = len(files)
        for name, expected in sorted(files.items()):
            if name in UNLISTED:
                self.problem(f"{MANIFEST}: files lists {name}, which the package format never lists")
            elif name not in self.digests:
                self.problem(f"{name}: listed in {MANIFEST} but missing from the package (or unreadable)")
            elif self.digests[name] != expected:
                self.problem(
                    f"{name}: has been changed (SHA-256 {self.digests[name]}, the manifest says {expected})"
                )
        for name in sorted(self.digests):
            if name not in files and name not in UNLISTED:
                self.problem(f"{name}: is in the package but not listed in {MANIFEST} (added after export)")

    def check_network(self, manifest: dict[str, Any]) -> None:
        """A package with a network section lists each of its members (whose SHA-256 check_files checks)."""
        section = manifest.get("network")
        if section is None:
            return
        members = section.get("members") if isinstance(section, dict) else None
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            self.problem(f"{MANIFEST}: 'network' has no list of members")
            return
        for name in members:
            if not name.startswith(NETWORK_DIR) or name not in manifest["files"]:
                self.problem(f"{name}: a network member that {MANIFEST} does not list in files")
        self.report.checked["network"] = len(members)

    def check_originals(self, manifest: dict[str, Any]) -> None:
        referenced: set[str] = set()
        count = 0
        for item in manifest["items"]:
            sha = item["sha256"]
            original = item.get("original")
            if original is None:
                if not isinstance(item.get("original_reason"), str):
                    self.problem(f"item {sha}: has no original and no reason why")
                continue
            count += 1
            referenced.add(original)
            if original != f"{ORIGINALS_DIR}{sha}{Path(original).suffix}":
                self.problem(f"item {sha}: its original is named {original!r}, not after its SHA-256")
            if item.get("original_sha256") != sha:
                self.problem(f"item {sha}: original_sha256 {item.get('original_sha256')} is not the item's")
            actual = self.digests.get(original)
            if actual is None:
                self.problem(f"{original}: the original of item {sha} is missing from the package")
            elif actual != sha:
                self.problem(f"{original}: its SHA-256 is {actual}, not the item's {sha}")
        for name in sorted(self.digests):
            if name.startswith(ORIGINALS_DIR) and name not in referenced:
                self.problem(f"{name}: is not the original of any item in {MANIFEST}")
        self.report.checked["originals"] = count
        self.report.checked["items"] = len(manifest["items"])
        self.report.checked["matches"] = sum(len(item["matches"]) for item in manifest["items"])

    def load_custody(self) -> list[LoggedEvent] | None:
        raw = self.small.get(CUSTODY)
        if raw is None:
            self.problem(f"{CUSTODY}: missing from the package (or unreadable)")
            return None
        try:
            records = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self.problem(f"{CUSTODY}: is not valid UTF-8 JSON ({exc})")
            return None
        if not isinstance(records, list) or not records:
            self.problem(f"{CUSTODY}: is not a non-empty list of events")
            return None
        events: list[LoggedEvent] = []
        for n, rec in enumerate(records):
            try:
                events.append(_parse_event(rec))
            except (ValueError, TypeError) as exc:
                self.problem(f"{CUSTODY}: record {n} is not a custody event ({exc})")
                return None
        if dump_custody([custody_record(ev) for ev in events]) != raw:
            self.problem(f"{CUSTODY}: is not in its canonical form (its bytes were edited after export)")
        return events

    def check_custody(self, manifest: dict[str, Any], manifest_sha: str) -> None:
        events = self.load_custody()
        if events is None:
            return
        self.report.checked["events"] = len(events)
        self.report.recorded_by = recorded_by(events)
        custody = manifest["custody"]
        key = self.report.public_key
        if custody["start_hash"] != GENESIS or custody["first_event_id"] != 1:
            self.problem(f"{MANIFEST}: custody must start at event 1 from GENESIS (the whole log)")
        if key is not None:
            self.report.problems.extend(f"{CUSTODY}: {p}" for p in verify_chain(events, key))
        first, last = events[0], events[-1]
        if first.id != custody["first_event_id"]:
            self.problem(
                f"{CUSTODY}: starts at event {first.id}, the manifest says {custody['first_event_id']}"
            )
        if last.id != custody["last_event_id"]:
            self.problem(f"{CUSTODY}: ends at event {last.id}, the manifest says {custody['last_event_id']}")
        signing = (first.detail or {}).get("signing_key")
        signing_key = signing.get("public_key") if isinstance(signing, dict) else None
        if first.kind != EventKind.WORKSPACE_CREATED or (key is not None and signing_key != key):
            self.problem(
                f"{CUSTODY}: event {first.id} is not the workspace.created event naming the package key"
            )
        name = f"event {last.id} ({last.kind})"
        detail = last.detail or {}
        if last.kind != EventKind.EVIDENCE_EXPORTED:
            self.problem(
                f"{CUSTODY}: the last event, {name}, is not the "
                f"{EventKind.EVIDENCE_EXPORTED} event of this package"
            )
        elif detail.get("manifest_sha256") != manifest_sha:
            self.problem(
                f"{CUSTODY}: {name} names manifest SHA-256 {detail.get('manifest_sha256')}, but "
                f"{MANIFEST} has SHA-256 {manifest_sha}"
            )
        if last.prev_hash != custody["export_prev_hash"]:
            self.problem(f"{CUSTODY}: {name} does not follow the log head pinned in {MANIFEST}")
        person_id = manifest["person"]["person_id"]
        if last.kind == EventKind.EVIDENCE_EXPORTED and (
            detail.get("person_id") != person_id or detail.get("items") != len(manifest["items"])
        ):
            self.problem(f"{CUSTODY}: {name} records another person or item count than {MANIFEST}")
        self.check_backing(manifest, events)
        self.check_timestamps(events)

    def check_timestamps(self, events: list[LoggedEvent]) -> None:
        """Each RFC 3161 token must be a valid token for the hash of the event its name gives."""
        by_id = {ev.id: ev for ev in events}
        count = 0
        for name, data in self.small.items():
            if not name.startswith(TIMESTAMPS_DIR):
                continue
            count += 1
            stem = name[len(TIMESTAMPS_DIR) :].split("-", 1)[0]
            # ASCII digits only ("²".isdigit() is true, int("²") fails), and few of them (int() refuses
            # over 4,300): anything else names no event
            event = by_id.get(int(stem)) if re.fullmatch(r"[0-9]{1,19}", stem) else None
            if event is None or not event.hash:
                self.problem(f"{name}: names no event of {CUSTODY}")
                continue
            try:
                info = verify_token(data, bytes.fromhex(event.hash))
            except (TimestampError, ReclaimError, ValueError) as exc:
                self.problem(f"{name}: not a valid timestamp of event {event.id}: {exc}")
                continue
            stamped = [
                e
                for e in events
                if e.kind == EventKind.CUSTODY_TIMESTAMPED and (e.detail or {}).get("event_id") == event.id
            ]
            if not stamped:
                self.problem(f"{name}: no custody.timestamped event records this token")
            elif info.gen_time < event.at:
                self.problem(f"{name}: the token's time is before event {event.id} was written")
        self.report.checked["timestamps"] = count

    def check_backing(self, manifest: dict[str, Any], events: list[LoggedEvent]) -> None:
        added: set[str] = set()
        created: dict[str, LoggedEvent] = {}
        decided: dict[str, str] = {}
        for ev in events:
            if ev.subject is None:
                continue
            if ev.kind == EventKind.ITEM_ADDED:
                added.add(ev.subject)
            elif ev.kind == EventKind.MATCH_CREATED:
                created.setdefault(ev.subject, ev)
            elif ev.kind in (EventKind.MATCH_CONFIRMED, EventKind.MATCH_REJECTED):
                decided[ev.subject] = ev.kind.removeprefix("match.")
        person_id = manifest["person"]["person_id"]
        for item in manifest["items"]:
            sha = item["sha256"]
            if subject("item", sha) not in added:
                self.problem(f"item {sha}: no item.added event in {CUSTODY} records it")
            for m in item["matches"]:
                mid = m["match_id"]
                made = created.get(subject("match", mid))
                if made is None:
                    self.problem(f"match {mid} (item {sha}): no match.created event in {CUSTODY} records it")
                    continue
                detail = made.detail or {}
                if detail.get("person_id") != person_id or detail.get("kind") != m.get("kind"):
                    self.problem(
                        f"match {mid} (item {sha}): event {made.id} created it for person "
                        f"{detail.get('person_id')} kind {detail.get('kind')}, the manifest says "
                        f"{person_id} kind {m.get('kind')}"
                    )
                status = decided.get(subject("match", mid), "candidate")
                if m.get("status") != status:
                    self.problem(
                        f"match {mid} (item {sha}): status is {m.get('status')!r} in {MANIFEST}, but the "
                        f"custody log says {status!r}"
                    )
