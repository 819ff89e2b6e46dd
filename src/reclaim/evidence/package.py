"""Export a person's evidence as one signed ZIP that anyone can check offline (see ``verify.py``).

Layout (members in this order)::

    originals/<sha256><ext>   each matched item's bytes exactly as received (ZIP_STORED)
    report/...                extra members from the ``report`` hook (report.pdf, evidence/report.py)
    captures/<sha256>.wacz    the web archive of every capture that saw a packaged item (reclaim capture)
    public_key.txt            the workspace's Ed25519 public key, hex
    custody.json              the WHOLE custody log, event 1 to the export event (verifies from GENESIS);
                              events about other persons, cases and material keep their place in the
                              chain but their details are reduced to digests (see _for_package)
    manifest.json             items, signals, matches, sightings, SHA-256 of every member above but
                              custody.json, and the custody range
    manifest.sig              Ed25519 signature (hex) of SHA-256(manifest.json bytes), workspace key

The export event. ``evidence.exported`` records the SHA-256 of manifest.json, so it is logged *after*
the manifest is built, and custody.json (written after it) ends with that event. Listing custody.json's
hash in the manifest would then be circular, so custody.json is the one data member not in ``files``. It
is authenticated instead by the chain itself: the signed manifest pins the hash of the event before the
export (``custody.export_prev_hash``), which fixes events 1..n byte for byte; the export event follows
it, is signed by the workspace key and names the manifest's SHA-256; and custody.json must be in its
canonical serialisation, so no byte of it can change unnoticed.

The event is logged in the export's transaction and committed only once the ZIP is complete; the ZIP
is then renamed into place. A failed export leaves neither a package nor an event (a crash between the
commit and the rename leaves the event without the file).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import mimetypes
import os
import secrets
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reclaim.custody import GENESIS, erased
from reclaim.errors import NotFound, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.evidence.spread import network_members
from reclaim.evidence.timestamp import list_tokens
from reclaim.evidence.verify import (
    CAPTURES_DIR,
    CUSTODY,
    FORENSICS_DIR,
    FORMAT,
    MANIFEST,
    MEMBER_MODE,
    ORIGINALS_DIR,
    PUBLIC_KEY,
    REPORT_DIR,
    SIGNATURE,
    TIMESTAMPS_DIR,
    UNIX,
    custody_record,
    dump_custody,
)
from reclaim.forensics.pictures import pixel_pictures, source_photo_picture
from reclaim.forensics.service import face_boxes, item_findings, statements
from reclaim.matching.queries import sighting_dict
from reclaim.matching.scope import scopes_of, sightings_in
from reclaim.sources.web import ARCHIVE, ARCHIVE_SHA256, PAGE_URL, WEB_SOURCE
from reclaim.store.models import Event, Finding, Item, Match, Notice, Person, Sighting, Signal, utcnow
from reclaim.workspace import Workspace

OriginalReader = Callable[[str], bytes | None]
ReportBuilder = Callable[[Mapping[str, Any], OriginalReader], Mapping[str, bytes]]
"""Hook for the evidence report (the PDF): called with the draft manifest (everything but ``files``) and
a reader of originals by member path (``originals/<sha><ext>`` → bytes, None when not in the package);
returns extra members as {name under ``report/``: bytes}, hashed into ``files`` and so covered by the
manifest signature like the originals. E.g. ``lambda m, read: {"report/report.pdf": render_report(m,
originals=read)}``."""

_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
}
_SIGNALS = ("pdq", "pdq64")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    person_id: str
    items: int
    matches: int
    originals: int
    """Items whose original bytes are in the package."""
    withheld: int
    """Items listed with ``"original": null`` (hash-only, a minor's media, or unreadable in the vault)."""
    events: int
    """Custody events in custody.json, the export event included."""
    event_id: int
    manifest_sha256: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportRecord:
    """One export of a person's package, as its custody event records it."""

    event_id: int
    manifest_sha256: str


def latest_export(session: Session, *, person_id: str) -> ExportRecord | None:
    """The person's latest exported evidence package (its ``evidence.exported`` event), or None."""
    events = session.scalars(
        select(Event)
        .where(Event.kind == EventKind.EVIDENCE_EXPORTED, Event.subject == subject("person", person_id))
        .order_by(Event.id.desc())
    )
    for event in events:
        sha = (event.detail or {}).get("manifest_sha256")
        if isinstance(sha, str) and len(sha) == 64:
            return ExportRecord(event_id=event.id, manifest_sha256=sha)
    return None


def extension_for(mime: str | None) -> str:
    if mime is None:
        return ".bin"
    return _EXTENSIONS.get(mime) or mimetypes.guess_extension(mime) or ".bin"


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _zip_info(name: str, when: datetime, *, compress: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = MEMBER_MODE
    info.create_system = UNIX
    return info


def _withheld_reason(person: Person, added: Event | None, purged: Event | None) -> str:
    if purged is not None:
        why = (purged.detail or {}).get("reason")
        if why == "minor":
            return "media purged: it matched a person enrolled as a minor (never kept)"
        return f"media purged from the vault ({why or 'no reason recorded'})"
    if person.minor:
        return "the person is a minor: their media is never kept (hashes and locations only)"
    if added is not None and (added.detail or {}).get("stored") is False:
        return "never stored: scanned hash-only, or matched a person enrolled as a minor"
    return "not stored in the vault"


def _forensics(session: Session, item: Item, person: Person) -> dict[str, Any]:
    """The item's forensic findings for this person's package (findings about the file, and those tied
    to this person; never another person's), with the statements they support."""
    pairs = [(row, r) for row, r in item_findings(session, item) if row.person_id in (None, person.id)]
    results = [r for _, r in pairs]
    return {
        "statements": [st.to_dict() for st in statements(results)] if results else [],
        "findings": [r.to_dict() for r in results],
        "pictures": {},
    }


PICTURED = ("face_copied", "editing_indicator")
"""Statements whose pictures go into the package (see _forensic_pictures)."""


def _forensic_pictures(
    ws: Workspace, session: Session, item: Item, data: bytes, person: Person, codes: set[str]
) -> dict[str, bytes]:
    """PNG pictures behind the statements in ``codes``: the face crops side by side ("face_copied"),
    the indicator maps and the ELA picture ("editing_indicator")."""
    out: dict[str, bytes] = {}
    copied = session.scalar(
        select(Finding).where(
            Finding.item_id == item.id,
            Finding.person_id == person.id,
            Finding.signal == "source-photo",
            Finding.verdict == "face_copied_from_reference",
        )
    )
    if "face_copied" in codes and copied is not None:
        picture = source_photo_picture(session, ws.vault, ws.key, item, data, person)
        if picture is not None:
            out["source-photo"] = picture
    if "editing_indicator" in codes and item.kind == "image":
        out.update(pixel_pictures(data, face_boxes(item)))
    return out


# --- collect: the rows the package states -----------------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    """The person's rows for the package, read with one query per table whatever the number of items."""

    person: Person
    statuses: tuple[str, ...]
    matches: Sequence[Match]
    items: Sequence[Item]
    events: Sequence[Event]
    """The whole custody log, oldest first (custody.json holds it all)."""
    matches_of: Mapping[int, list[Match]]
    signals_of: Mapping[int, dict[str, list[str]]]
    sightings_of: Mapping[int, list[Sighting]]
    added_event: Mapping[str, Event]
    purged_event: Mapping[str, Event]

    @property
    def head(self) -> tuple[int, str]:
        """The id and hash of the last event before the export (0 and GENESIS for an empty log)."""
        return (self.events[-1].id, self.events[-1].hash or GENESIS) if self.events else (0, GENESIS)


def _collect(session: Session, *, person_id: str, confirmed_only: bool) -> _Case:
    """Read what the package states (NotFound for an unknown person, UserError without matches)."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id!r} (see 'reclaim person list')")
    statuses = ("confirmed",) if confirmed_only else ("candidate", "confirmed")
    where = (Match.person_id == person_id, Match.status.in_(statuses))
    matches = session.scalars(
        select(Match).where(*where).order_by(Match.kind, Match.distance, Match.id)
    ).all()
    if not matches:
        what = "confirmed matches" if confirmed_only else "matches (candidate or confirmed)"
        raise UserError(f"{person.name} ({person_id}) has no {what}: there is nothing to export")
    item_ids = select(Match.item_id).where(*where)
    items = session.scalars(select(Item).where(Item.id.in_(item_ids)).order_by(Item.sha256)).all()
    signal_rows = session.scalars(
        select(Signal)
        .where(Signal.item_id.in_(item_ids), Signal.frame_index == 0, Signal.signal_type.in_(_SIGNALS))
        .order_by(Signal.item_id, Signal.signal_type, Signal.variant)
    ).all()
    sighting_rows = session.scalars(
        select(Sighting).where(
            Sighting.item_id.in_(item_ids),
            Sighting.id.in_(sightings_in(scopes_of(session, person.id))),  # never another case's
        )
    ).all()
    events = session.scalars(select(Event).order_by(Event.id)).all()

    matches_of: dict[int, list[Match]] = defaultdict(list)
    for m in matches:
        matches_of[m.item_id].append(m)
    signals_of: dict[int, dict[str, list[str]]] = defaultdict(lambda: {name: [] for name in _SIGNALS})
    for sig in signal_rows:
        signals_of[sig.item_id][sig.signal_type].append(sig.value)
    sightings_of: dict[int, list[Sighting]] = defaultdict(list)
    for sg in sighting_rows:
        sightings_of[sg.item_id or 0].append(sg)
    added_event: dict[str, Event] = {}
    purged_event: dict[str, Event] = {}
    for ev in events:
        if ev.kind == EventKind.ITEM_ADDED and ev.subject:
            added_event.setdefault(ev.subject, ev)
        elif ev.kind == EventKind.ITEM_MEDIA_PURGED and ev.subject:
            purged_event[ev.subject] = ev
    return _Case(
        person,
        statuses,
        matches,
        items,
        events,
        matches_of,
        signals_of,
        sightings_of,
        added_event,
        purged_event,
    )


# --- write members: originals, pictures, report, timestamps, key ------------------------------------------


class _Members:
    """The ZIP being written: every member gets the same time and mode; a listed member's SHA-256 goes into
    ``files`` (the manifest's list of members)."""

    def __init__(self, zf: zipfile.ZipFile, when: datetime) -> None:
        self.zf = zf
        self.when = when
        self.files: dict[str, str] = {}

    def add(self, name: str, data: bytes, *, compress: bool, listed: bool = True) -> None:
        self.zf.writestr(_zip_info(name, self.when, compress=compress), data)
        if listed:
            self.files[name] = hashlib.sha256(data).hexdigest()


def _item_entry(
    ws: Workspace, session: Session, case: _Case, item: Item, members: _Members, warnings: list[str]
) -> dict[str, Any]:
    """The item's manifest entry; writes its original (stored, uncompressed) when the vault has it."""
    member: str | None = None
    reason: str | None = None
    item_subject = subject("item", item.sha256)
    forensics = _forensics(session, item, case.person)
    if item.stored:
        try:
            data = ws.vault.get(item.sha256)  # decrypts and checks the SHA-256
        except (OSError, ValueError) as exc:
            reason = f"the vault copy could not be read ({exc})"
            warnings.append(f"item {item.sha256}: {reason}")
        else:
            member = f"{ORIGINALS_DIR}{item.sha256}{extension_for(item.mime)}"
            members.add(member, data, compress=False)
            del data
    else:
        reason = _withheld_reason(
            case.person, case.added_event.get(item_subject), case.purged_event.get(item_subject)
        )
    sightings = sorted(
        case.sightings_of.get(item.id, []),
        key=lambda sg: (sg.posted_at is None, sg.posted_at.isoformat() if sg.posted_at else "", sg.id),
    )
    return {
        "sha256": item.sha256,
        "md5": item.md5,
        "size": item.size,
        "mime": item.mime,
        "kind": item.kind,
        "width": item.width,
        "height": item.height,
        "frame_count": item.frame_count,
        "signals": case.signals_of.get(item.id) or {name: [] for name in _SIGNALS},
        "original": member,
        "original_sha256": members.files[member] if member else None,
        "original_reason": reason,
        "matches": [
            {
                "match_id": m.id,
                "kind": m.kind,
                "status": m.status,
                "distance": round(m.distance, 4),
                "detail": m.detail,
            }
            for m in case.matches_of[item.id]
        ],
        "sightings": [sighting_dict(sg) for sg in sightings],
        "forensics": forensics,
    }


def _add_pictures(
    ws: Workspace, session: Session, case: _Case, entries: list[dict[str, Any]], members: _Members
) -> dict[str, bytes]:
    """Pictures behind the findings, after the originals (which stay first, in order): the two face crops
    for "face copied", the indicator maps and ELA for "indicators of editing" (not for weak indicators,
    which are not evidence). Returns the ones the report shows, by member name."""
    pictures: dict[str, bytes] = {}
    for item, entry in zip(case.items, entries, strict=True):
        fx = entry["forensics"]
        codes = {st["code"] for st in fx["statements"]} & set(PICTURED)
        if not entry["original"] or not codes:
            continue
        try:
            data = ws.vault.get(item.sha256)
        except (OSError, ValueError):
            continue  # already reported, when the original could not be read
        for name, picture in sorted(_forensic_pictures(ws, session, item, data, case.person, codes).items()):
            rel = f"{FORENSICS_DIR}{item.sha256}-{name}.png"
            members.add(rel, picture, compress=False)
            fx["pictures"][name] = rel
            if name != "ela":  # the report shows the small pictures; ELA stays in the package
                pictures[rel] = picture
        del data
    return pictures


def _add_report(
    ws: Workspace,
    report: ReportBuilder,
    manifest: Mapping[str, Any],
    pictures: Mapping[str, bytes],
    members: _Members,
) -> None:
    """The members the ``report`` hook builds from the draft manifest, under ``report/``."""
    sha_of = {it["original"]: it["sha256"] for it in manifest["items"] if it["original"]}

    def read_original(rel: str) -> bytes | None:
        if rel in pictures:
            return pictures[rel]
        sha = sha_of.get(rel)
        return ws.vault.get(sha) if sha else None

    for name, data in sorted(report(manifest, read_original).items()):
        if not name.startswith(REPORT_DIR) or name.endswith("/") or ".." in name.split("/"):
            raise ValueError(f"report members go under {REPORT_DIR}, not {name!r}")
        members.add(name, data, compress=True)


def _add_captures(ws: Workspace, case: _Case, members: _Members, warnings: list[str]) -> list[dict[str, Any]]:
    """The WACZ of every capture that produced a sighting of a packaged item (``archive_sha256`` of its web
    sightings), once each, stored under ``captures/`` and listed in the manifest's ``captures``."""
    wanted: dict[str, dict[str, Any]] = {}
    for item in case.items:
        for sg in case.sightings_of.get(item.id, []):
            extra = sg.extra or {}
            sha = extra.get(ARCHIVE_SHA256)
            if sg.source != WEB_SOURCE or not isinstance(sha, str) or sha in wanted:
                continue
            wanted[sha] = {"sha256": sha, "archive": extra.get(ARCHIVE), "page_url": extra.get(PAGE_URL)}
    out: list[dict[str, Any]] = []
    for sha, entry in sorted(wanted.items()):
        if not ws.vault.has(sha):  # an archive read by a scan (not a capture), or a minor's, withheld
            continue
        try:
            data = ws.vault.get(sha)
        except (OSError, ValueError) as exc:
            warnings.append(f"capture {sha}: the vault copy could not be read ({exc})")
            continue
        name = str(entry["archive"] or "")
        suffix = next((x for x in (".warc.gz", ".warc", ".wacz") if name.endswith(x)), ".wacz")
        member = f"{CAPTURES_DIR}{sha}{suffix}"
        members.add(member, data, compress=False)
        out.append({**entry, "member": member})
    return out


def _add_network(session: Session, case: _Case, members: _Members, *, confirmed_only: bool) -> dict[str, Any]:
    """The spread network's members under ``network/``; returns the manifest's ``network`` section."""
    files, section = network_members(session, case.person.id, confirmed_only=confirmed_only)
    for name, data in files.items():
        members.add(name, data, compress=True)
    return section


def _add_timestamps_and_key(ws: Workspace, members: _Members) -> None:
    """The RFC 3161 tokens of custody heads (reclaim timestamp), each tied to its event; the public key."""
    for _event_id, token_path in list_tokens(ws):
        members.add(f"{TIMESTAMPS_DIR}{token_path.name}", token_path.read_bytes(), compress=True)
    members.add(PUBLIC_KEY, ws.signer.public_hex.encode(), compress=True)


def _draft_manifest(
    ws: Workspace, case: _Case, entries: list[dict[str, Any]], *, confirmed_only: bool, created_at: datetime
) -> dict[str, Any]:
    """The manifest but its ``files`` (what the report hook sees)."""
    head_id, head_hash = case.head
    return {
        "format": FORMAT,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "person": {"person_id": case.person.id, "name": case.person.name},
        "confirmed_only": confirmed_only,
        "statuses": list(case.statuses),
        "workspace_public_key": ws.signer.public_hex,
        "items": entries,
        "custody": {
            "first_event_id": 1,
            "last_event_id": head_id + 1,
            "start_hash": GENESIS,
            "export_prev_hash": head_hash,
            "note": "custody.json is the whole log from GENESIS; its last event is this export",
        },
    }


# --- seal: the export event, custody.json, the manifest and its signature ---------------------------------

_WORKSPACE_EVENTS = frozenset({EventKind.WORKSPACE_CREATED, EventKind.CUSTODY_TIMESTAMPED})
"""Events about the log itself, shown in full in every package (the verifier reads their details: the
signing key, and which event an RFC 3161 token covers)."""


def _own_subjects(session: Session, case: _Case) -> frozenset[str]:
    """The event subjects this package is about: its person, their items, matches and notices, and the web
    captures that saw their items."""
    notices = session.scalars(select(Notice.id).where(Notice.person_id == case.person.id))
    captures = {
        (sg.extra or {}).get(ARCHIVE_SHA256)
        for item in case.items
        for sg in case.sightings_of.get(item.id, [])
        if sg.source == WEB_SOURCE
    }
    return frozenset(
        [subject("person", case.person.id)]
        + [subject("item", item.sha256) for item in case.items]
        + [subject("match", m.id) for m in case.matches]
        + [subject("notice", n) for n in notices]
        + [subject("capture", sha) for sha in captures if isinstance(sha, str)]
    )


def _for_package(record: dict[str, Any], own: frozenset[str]) -> dict[str, Any]:
    """A custody record as this package carries it. The chain must be whole to verify from GENESIS, but
    the events about other persons, other cases' scans, uploads and accounts are not this person's
    business (nor the recipient's): their detail values become ``{"erased_sha256": ...}``, which the
    event's hash covers as it covers the value itself (``custody.value_digest``), so the chain and every
    signature still verify while no other victim's file names, notes or counts leave the workspace. Their
    kind, time, actor and subject (an opaque id or a SHA-256) stay, so a reader sees that something happened
    and when."""
    detail = record.get("detail")
    if not detail or record.get("subject") in own or record.get("kind") in _WORKSPACE_EVENTS:
        return record
    return {**record, "detail": {k: erased(v) for k, v in detail.items()}}


def _network_counts(section: Mapping[str, Any]) -> dict[str, Any]:
    """What the export event says of the network: counts by kind, never names."""
    return {"nodes": section["nodes"], "edges": section["edges"]}


_RACE = "the custody log changed during the export (another reclaim process is writing): run the export again"


@dataclass(frozen=True)
class _Seal:
    event_id: int
    events: int
    manifest_sha256: str


def _seal(ws: Workspace, session: Session, case: _Case, manifest: dict[str, Any], members: _Members) -> _Seal:
    """List the members in the manifest, log the export event naming its SHA-256 (not committed), then
    write custody.json (ending with that event), manifest.json and manifest.sig."""
    manifest["files"] = dict(sorted(members.files.items()))
    manifest_bytes = _json_bytes(manifest)
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    export_event = log_event(
        session,
        EventKind.EVIDENCE_EXPORTED,
        subject=subject("person", case.person.id),
        detail={
            "person_id": case.person.id,
            "items": len(manifest["items"]),
            "matches": len(case.matches),
            "manifest_sha256": manifest_sha,
            "confirmed_only": manifest["confirmed_only"],
            **({"network": _network_counts(manifest["network"])} if "network" in manifest else {}),
        },
    )
    head_id, head_hash = case.head
    if export_event.id != head_id + 1 or export_event.prev_hash != head_hash:
        raise UserError(_RACE)
    own = _own_subjects(session, case)
    custody = [_for_package(custody_record(ev), own) for ev in [*case.events, export_event]]
    members.add(CUSTODY, dump_custody(custody), compress=True, listed=False)
    members.add(MANIFEST, manifest_bytes, compress=True, listed=False)
    members.add(SIGNATURE, ws.signer.sign(manifest_sha).encode(), compress=True, listed=False)
    return _Seal(export_event.id, len(custody), manifest_sha)


PARTIAL_STALE_S = 3600


def _remove_stale_partials(out: Path) -> None:
    """Remove partial packages (``.NAME.xxxxxxxx.tmp``, with originals in them) that an export to the same
    path left when it was killed, an hour or more ago (a concurrent export's partial is younger)."""
    now = time.time()
    for partial in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if partial.is_file() and now - partial.stat().st_mtime >= PARTIAL_STALE_S:
                partial.unlink()


def export_package(
    ws: Workspace,
    *,
    person_id: str,
    out: Path,
    confirmed_only: bool = False,
    report: ReportBuilder | None = None,
    network: bool = False,
) -> ExportResult:
    """Write ``person_id``'s evidence package to ``out`` (atomically). Includes candidate and confirmed
    matches (rejected ones are never evidence), or only confirmed ones. ``network``: add the spread network
    (``network/``: GraphML, senders.csv, timeline.csv; the manifest's ``network`` section, which the report
    draws). Raises NotFound for an unknown person, UserError when there is nothing to export or ``out``
    cannot be written."""
    out = out.expanduser()
    if out.is_dir():
        raise UserError(f"{out} is a directory: give the path of the .zip file to write")
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: the directory {out.parent} does not exist")
    warnings: list[str] = []

    with ws.session() as s:
        case = _collect(s, person_id=person_id, confirmed_only=confirmed_only)
        created_at = utcnow()
        _remove_stale_partials(out)
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
        try:
            with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
                members = _Members(zf, created_at)
                entries = [_item_entry(ws, s, case, item, members, warnings) for item in case.items]
                pictures = _add_pictures(ws, s, case, entries, members)
                captures = _add_captures(ws, case, members, warnings)
                manifest = _draft_manifest(
                    ws, case, entries, confirmed_only=confirmed_only, created_at=created_at
                )
                if captures:  # only when there are: a package without captures is as before
                    manifest["captures"] = captures
                if network:
                    manifest["network"] = _add_network(s, case, members, confirmed_only=confirmed_only)
                if report is not None:
                    _add_report(ws, report, manifest, pictures, members)
                _add_timestamps_and_key(ws, members)
                sealed = _seal(ws, s, case, manifest, members)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            try:
                s.commit()
            except IntegrityError as exc:
                raise UserError(_RACE) from exc
            os.replace(tmp, out)
        except OSError as exc:
            raise UserError(f"cannot write the evidence package {out}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    withheld = sum(1 for it in entries if it["original"] is None)
    return ExportResult(
        path=out,
        person_id=person_id,
        items=len(entries),
        matches=len(case.matches),
        originals=len(entries) - withheld,
        withheld=withheld,
        events=sealed.events,
        event_id=sealed.event_id,
        manifest_sha256=sealed.manifest_sha256,
        warnings=warnings,
    )
