"""Export a person's evidence as one signed ZIP that anyone can check offline (see ``verify.py``).

Layout (members in this order)::

    originals/<sha256><ext>   each matched item's bytes exactly as received (ZIP_STORED)
    report/...                extra members from the ``report`` hook (the future PDF report)
    public_key.txt            the workspace's Ed25519 public key, hex
    custody.json              the WHOLE custody log, event 1 to the export event (verifies from GENESIS)
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

import hashlib
import json
import mimetypes
import os
import secrets
import zipfile
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reclaim.custody import GENESIS
from reclaim.errors import NotFound, UserError
from reclaim.events import log_event
from reclaim.evidence.timestamp import list_tokens
from reclaim.evidence.verify import (
    CUSTODY,
    EXPORT_EVENT,
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
from reclaim.forensics.service import face_boxes, item_findings, statements
from reclaim.matching.queries import _sighting_dict
from reclaim.store.models import Event, Finding, Item, Match, Person, Sighting, Signal, utcnow
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
        .where(Event.kind == EXPORT_EVENT, Event.subject == f"person:{person_id}")
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
    from reclaim.forensics.pictures import pixel_pictures, source_photo_picture

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


def export_package(
    ws: Workspace,
    *,
    person_id: str,
    out: Path,
    confirmed_only: bool = False,
    report: ReportBuilder | None = None,
) -> ExportResult:
    """Write ``person_id``'s evidence package to ``out`` (atomically). Includes candidate and confirmed
    matches (rejected ones are never evidence), or only confirmed ones. Raises NotFound for an unknown
    person, UserError when there is nothing to export or ``out`` cannot be written."""
    out = out.expanduser()
    if out.is_dir():
        raise UserError(f"{out} is a directory: give the path of the .zip file to write")
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: the directory {out.parent} does not exist")
    statuses = ("confirmed",) if confirmed_only else ("candidate", "confirmed")
    warnings: list[str] = []

    with ws.session() as s:
        person = s.get(Person, person_id)
        if person is None:
            raise NotFound(f"no person with id {person_id!r} (see 'reclaim person list')")
        where = (Match.person_id == person_id, Match.status.in_(statuses))
        matches = s.scalars(select(Match).where(*where).order_by(Match.kind, Match.distance, Match.id)).all()
        if not matches:
            what = "confirmed matches" if confirmed_only else "matches (candidate or confirmed)"
            raise UserError(f"{person.name} ({person_id}) has no {what}: there is nothing to export")
        # One query per table, whatever the number of items.
        item_ids = select(Match.item_id).where(*where)
        items = s.scalars(select(Item).where(Item.id.in_(item_ids)).order_by(Item.sha256)).all()
        signal_rows = s.scalars(
            select(Signal)
            .where(Signal.item_id.in_(item_ids), Signal.frame_index == 0, Signal.signal_type.in_(_SIGNALS))
            .order_by(Signal.item_id, Signal.signal_type, Signal.variant)
        ).all()
        sighting_rows = s.scalars(select(Sighting).where(Sighting.item_id.in_(item_ids))).all()
        events = s.scalars(select(Event).order_by(Event.id)).all()

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
            if ev.kind == "item.added" and ev.subject:
                added_event.setdefault(ev.subject, ev)
            elif ev.kind == "item.media_purged" and ev.subject:
                purged_event[ev.subject] = ev

        head_id, head_hash = (events[-1].id, events[-1].hash or GENESIS) if events else (0, GENESIS)
        created_at = utcnow()
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
        try:
            with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
                files: dict[str, str] = {}
                pictures: dict[str, bytes] = {}
                manifest_items: list[dict[str, Any]] = []
                for item in items:
                    member: str | None = None
                    reason: str | None = None
                    subject = f"item:{item.sha256}"
                    forensics = _forensics(s, item, person)
                    if item.stored:
                        try:
                            data = ws.vault.get(item.sha256)  # decrypts and checks the SHA-256
                        except (OSError, ValueError) as exc:
                            reason = f"the vault copy could not be read ({exc})"
                            warnings.append(f"item {item.sha256}: {reason}")
                        else:
                            member = f"{ORIGINALS_DIR}{item.sha256}{extension_for(item.mime)}"
                            zf.writestr(_zip_info(member, created_at, compress=False), data)
                            files[member] = hashlib.sha256(data).hexdigest()
                            del data
                    else:
                        reason = _withheld_reason(person, added_event.get(subject), purged_event.get(subject))
                    sightings = sorted(
                        sightings_of.get(item.id, []),
                        key=lambda sg: (
                            sg.posted_at is None,
                            sg.posted_at.isoformat() if sg.posted_at else "",
                            sg.id,
                        ),
                    )
                    manifest_items.append(
                        {
                            "sha256": item.sha256,
                            "md5": item.md5,
                            "size": item.size,
                            "mime": item.mime,
                            "kind": item.kind,
                            "width": item.width,
                            "height": item.height,
                            "frame_count": item.frame_count,
                            "signals": signals_of.get(item.id) or {name: [] for name in _SIGNALS},
                            "original": member,
                            "original_sha256": files[member] if member else None,
                            "original_reason": reason,
                            "matches": [
                                {
                                    "match_id": m.id,
                                    "kind": m.kind,
                                    "status": m.status,
                                    "distance": round(m.distance, 4),
                                    "detail": m.detail,
                                }
                                for m in matches_of[item.id]
                            ],
                            "sightings": [_sighting_dict(sg) for sg in sightings],
                            "forensics": forensics,
                        }
                    )

                # Pictures behind the findings, after the originals (which stay first, in order): the
                # two face crops for "face copied", the indicator maps and ELA for "indicators of editing"
                # (not for weak indicators, which are not evidence).
                for item, entry in zip(items, manifest_items, strict=True):
                    fx = entry["forensics"]
                    codes = {st["code"] for st in fx["statements"]} & set(PICTURED)
                    if not entry["original"] or not codes:
                        continue
                    try:
                        data = ws.vault.get(item.sha256)
                    except (OSError, ValueError):
                        continue  # already reported above, when the original could not be read
                    for name, picture in sorted(_forensic_pictures(ws, s, item, data, person, codes).items()):
                        rel = f"{FORENSICS_DIR}{item.sha256}-{name}.png"
                        zf.writestr(_zip_info(rel, created_at, compress=False), picture)
                        files[rel] = hashlib.sha256(picture).hexdigest()
                        fx["pictures"][name] = rel
                        if name != "ela":  # the report shows the small pictures; ELA stays in the package
                            pictures[rel] = picture
                    del data

                manifest: dict[str, Any] = {
                    "format": FORMAT,
                    "created_at": created_at.isoformat(timespec="microseconds"),
                    "person": {"person_id": person.id, "name": person.name},
                    "confirmed_only": confirmed_only,
                    "statuses": list(statuses),
                    "workspace_public_key": ws.signer.public_hex,
                    "items": manifest_items,
                    "custody": {
                        "first_event_id": 1,
                        "last_event_id": head_id + 1,
                        "start_hash": GENESIS,
                        "export_prev_hash": head_hash,
                        "note": "custody.json is the whole log from GENESIS; its last event is this export",
                    },
                }
                if report is not None:
                    sha_of = {it["original"]: it["sha256"] for it in manifest_items if it["original"]}

                    def read_original(rel: str) -> bytes | None:
                        if rel in pictures:
                            return pictures[rel]
                        sha = sha_of.get(rel)
                        return ws.vault.get(sha) if sha else None

                    for name, data in sorted(report(manifest, read_original).items()):
                        if not name.startswith(REPORT_DIR) or name.endswith("/") or ".." in name.split("/"):
                            raise ValueError(f"report members go under {REPORT_DIR}, not {name!r}")
                        zf.writestr(_zip_info(name, created_at, compress=True), data)
                        files[name] = hashlib.sha256(data).hexdigest()
                # RFC 3161 tokens of custody heads (reclaim timestamp), each tied to its event.
                for _event_id, token_path in list_tokens(ws):
                    name = f"{TIMESTAMPS_DIR}{token_path.name}"
                    data = token_path.read_bytes()
                    zf.writestr(_zip_info(name, created_at, compress=True), data)
                    files[name] = hashlib.sha256(data).hexdigest()
                key_bytes = ws.signer.public_hex.encode()
                zf.writestr(_zip_info(PUBLIC_KEY, created_at, compress=True), key_bytes)
                files[PUBLIC_KEY] = hashlib.sha256(key_bytes).hexdigest()
                manifest["files"] = dict(sorted(files.items()))

                manifest_bytes = _json_bytes(manifest)
                manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
                export_event = log_event(
                    s,
                    EXPORT_EVENT,
                    subject=f"person:{person.id}",
                    detail={
                        "person_id": person.id,
                        "items": len(manifest_items),
                        "matches": len(matches),
                        "manifest_sha256": manifest_sha,
                        "confirmed_only": confirmed_only,
                    },
                )
                event_id = export_event.id
                if event_id != head_id + 1 or export_event.prev_hash != head_hash:
                    raise UserError(
                        "the custody log changed during the export (another reclaim process is writing): "
                        "run the export again"
                    )
                custody = [custody_record(ev) for ev in [*events, export_event]]
                zf.writestr(_zip_info(CUSTODY, created_at, compress=True), dump_custody(custody))
                zf.writestr(_zip_info(MANIFEST, created_at, compress=True), manifest_bytes)
                zf.writestr(
                    _zip_info(SIGNATURE, created_at, compress=True), ws.signer.sign(manifest_sha).encode()
                )
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            try:
                s.commit()
            except IntegrityError as exc:
                raise UserError(
                    "the custody log changed during the export (another reclaim process is writing): "
                    "run the export again"
                ) from exc
            os.replace(tmp, out)
        except OSError as exc:
            raise UserError(f"cannot write the evidence package {out}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    withheld = sum(1 for it in manifest_items if it["original"] is None)
    return ExportResult(
        path=out,
        person_id=person_id,
        items=len(manifest_items),
        matches=len(matches),
        originals=len(manifest_items) - withheld,
        withheld=withheld,
        events=len(custody),
        event_id=event_id,
        manifest_sha256=manifest_sha,
        warnings=warnings,
    )
