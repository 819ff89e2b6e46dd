"""Storing forensic findings and turning them into the honest statements a report makes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from reclaim.errors import MediaError, NotFound, UserError
from reclaim.forensics.base import ForensicResult
from reclaim.forensics.passes import PIXEL_PASSES, ForensicInput, run_file_forensics
from reclaim.forensics.source_photo import (
    FaceSample,
    compare,
    face_samples,
    sample_for_box,
    source_photo_result,
)
from reclaim.media import WORK_SIDE, MediaLimits, decode_media
from reclaim.store.crypto import DataKey, decrypt_vector
from reclaim.store.models import Face, Finding, Item, Match, Person
from reclaim.store.vault import Vault

REFERENCE_SIDE = 1600
"""Kept photos are decoded as enrolment decodes them."""

NO_INDICATORS = "no indicators found — this does not show the image is authentic"
NO_INDICATORS_BUT_WEAK = (
    "no reliable indicators found (only weak ones, listed below) — this does not show the image is authentic"
)

SIGNAL_ORDER = ("c2pa", "declarations", "sd-watermark", "source-photo", "jpeg-dq", "noise")


def store_findings(
    session: Session,
    item: Item,
    results: Iterable[ForensicResult],
    *,
    person_id: str | None = None,
    new_item: bool = False,
) -> list[Finding]:
    """Insert or replace the item's findings (one per signal and scope). ``new_item``: the item was added
    in this transaction and has no findings yet (no lookups: the scan's writer, once per new item)."""
    scope = f"person:{person_id}" if person_id else ""
    rows = []
    for r in results:
        row = (
            None
            if new_item
            else session.scalar(
                select(Finding).where(
                    Finding.item_id == item.id, Finding.signal == r.signal, Finding.scope == scope
                )
            )
        )
        if row is None:
            row = Finding(item_id=item.id, signal=r.signal, scope=scope, person_id=person_id)
            session.add(row)
        row.verdict = r.verdict
        row.strength = r.strength
        row.summary = r.summary
        row.detail = r.detail
        row.caveats = list(r.caveats)
        row.error = r.error
        rows.append(row)
    session.flush()
    return rows


def delete_person_findings(session: Session, person_id: str) -> int:
    result = session.execute(delete(Finding).where(Finding.person_id == person_id))
    return int(getattr(result, "rowcount", 0) or 0)


def _order(signal: str) -> int:
    return SIGNAL_ORDER.index(signal) if signal in SIGNAL_ORDER else len(SIGNAL_ORDER)


def item_findings(session: Session, item: Item) -> list[tuple[Finding, ForensicResult]]:
    rows = session.scalars(select(Finding).where(Finding.item_id == item.id)).all()
    out = [
        (
            row,
            ForensicResult(
                signal=row.signal,
                verdict=row.verdict,
                strength=row.strength,  # type: ignore[arg-type]
                summary=row.summary,
                detail=dict(row.detail or {}),
                caveats=list(row.caveats or []),
                error=row.error,
            ),
        )
        for row in rows
    ]
    out.sort(key=lambda pair: (_order(pair[0].signal), pair[0].scope))
    return out


@dataclass(frozen=True)
class Statement:
    """One headline a report may make about an item, with the signal behind it."""

    code: str
    text: str
    signal: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "signal": self.signal}


STATEMENT_KO: dict[str, str] = {
    # The Korean headline of each statement code (the evidence report and takedown notices use these).
    "declared_ai_c2pa": "C2PA 매니페스트에 AI 생성물로 선언됨",
    "declared_ai_metadata": "메타데이터에 AI 생성물로 선언됨 (서명 없음)",
    "sd_watermark": "AI 이미지 생성기의 비가시 워터마크 발견",
    "face_copied": "보관된 참조 사진에서 얼굴이 복사됨",
    "editing_indicator": "이 부분에 편집 흔적 지표 (증거가 아닌 지표)",
    "weak_indicator": "약한 지표만 있음 — 단독으로는 편집의 증거가 아님",
    "no_indicators": "신뢰할 만한 지표 없음 — 이것이 이미지가 진본임을 보여주지는 않습니다",
}

_C2PA_AI = {
    "ai_declared": "AI-generated",
    "ai_composite_declared": "a composite with AI-generated content",
    "ai_ingredient_declared": "to contain an AI-generated ingredient",
}


def statements(results: Sequence[ForensicResult]) -> list[Statement]:
    """The headlines the evidence supports, strongest first; "no indicators found — this does not show
    the image is authentic" when none does. Never "real", never a blended probability."""
    out: list[Statement] = []
    weak: list[Statement] = []
    for r in sorted(results, key=lambda r: _order(r.signal)):
        d = r.detail
        if r.signal == "c2pa" and r.verdict in _C2PA_AI:
            state = d.get("state")
            if state == "trusted":
                sig = "signature trusted"
            elif state == "valid_untrusted":
                sig = "signature valid but its certificate is not on the trust list"
            else:
                sig = "signature does not verify"
            text = f"declared {_C2PA_AI[r.verdict]} in its C2PA manifest ({sig})"
            out.append(Statement("declared_ai_c2pa", text, r.signal))
        elif r.signal == "declarations" and r.verdict in ("ai_declared", "ai_composite_declared"):
            what = "AI-generated" if r.verdict == "ai_declared" else "a composite with AI-generated content"
            gen = f", generator: {d['generator']}" if d.get("generator") else ""
            out.append(
                Statement(
                    "declared_ai_metadata", f"declared {what} in its metadata (unsigned{gen})", r.signal
                )
            )
        elif r.signal == "sd-watermark" and r.verdict == "watermark_very_likely":
            which = d.get("best") or "Stable Diffusion"
            bits = f" ({d.get('matched')}/{d.get('bits')} bits)" if d.get("bits") else ""
            out.append(
                Statement(
                    "sd_watermark",
                    f"carries the {which} invisible watermark of AI image generators{bits}",
                    r.signal,
                )
            )
        elif r.signal == "source-photo" and r.verdict == "face_copied_from_reference":
            ref = d.get("reference_label") or d.get("reference") or "a kept reference photo"
            out.append(Statement("face_copied", f"face copied from {ref}", r.signal))
        elif r.signal in ("jpeg-dq", "noise") and r.verdict == "indicator_here":
            name = "double-JPEG inconsistency" if r.signal == "jpeg-dq" else "noise inconsistency"
            pct = d.get("percentile")
            auc = d.get("measured_auc")
            at = f"{name} at the face, percentile {pct:.0f}" if isinstance(pct, int | float) else name
            measured = f"; measured AUC {auc:.2f}" if isinstance(auc, int | float) else ""
            if r.strength in ("strong", "moderate"):
                text = f"indicators of editing here ({at}{measured}) — an indicator, not proof"
                out.append(Statement("editing_indicator", text, r.signal))
            else:
                # The wording follows the measured strength (docs/pixel-indicators.md): a weak indicator
                # is listed, but never as evidence of editing.
                text = f"a weak indicator only ({at}{measured}): not evidence of editing on its own"
                weak.append(Statement("weak_indicator", text, r.signal))
    if not out and weak:
        out.append(Statement("no_indicators", NO_INDICATORS_BUT_WEAK, ""))
    out.extend(weak)
    if not out:
        out.append(Statement("no_indicators", NO_INDICATORS, ""))
    return out


def resolve_item(session: Session, ref: str) -> Item:
    """An item by match id, SHA-256 (or a prefix of at least 8 hex digits), or item number."""
    ref = ref.strip().lower()
    match = session.get(Match, ref)
    if match is not None:
        return match.item
    if ref.isdigit() and len(ref) < 8:
        item = session.get(Item, int(ref))
        if item is None:
            raise NotFound(f"no item number {ref}")
        return item
    if len(ref) < 8 or any(c not in "0123456789abcdef" for c in ref):
        raise UserError(
            f"{ref!r} is not a match id, an item number or a SHA-256 prefix of at least 8 hex digits"
        )
    found = session.scalars(select(Item).where(Item.sha256.startswith(ref)).limit(2)).all()
    if not found:
        raise NotFound(f"no item or match {ref!r} (see 'reclaim matches')")
    if len(found) > 1:
        raise UserError(f"{ref!r} matches more than one item; give more digits")
    return found[0]


def explain_item(session: Session, item: Item, *, persons: Collection[str] | None = None) -> dict[str, Any]:
    """Everything reclaim can say about how an item was made, as JSON-safe data. With ``persons``, only
    what concerns them: other persons' matches and person-dependent findings (a source-photo finding
    names a reference photo of the person it compares with) are left out, and the statements are made
    from what is left."""
    pairs = [
        (row, r)
        for row, r in item_findings(session, item)
        if persons is None or row.person_id is None or row.person_id in persons
    ]
    results = [r for _, r in pairs]
    names = {
        p.id: p.name
        for p in session.scalars(
            select(Person).where(Person.id.in_({row.person_id for row, _ in pairs if row.person_id}))
        )
    }
    matches = [
        m
        for m in session.scalars(select(Match).where(Match.item_id == item.id).order_by(Match.kind))
        if persons is None or m.person_id in persons
    ]
    return {
        "item": {
            "id": item.id,
            "sha256": item.sha256,
            "mime": item.mime,
            "kind": item.kind,
            "width": item.width,
            "height": item.height,
            "stored": item.stored,
            "sightings": len(item.sightings),
        },
        "matches": [
            {"match_id": m.id, "person_id": m.person_id, "kind": m.kind, "status": m.status} for m in matches
        ],
        "statements": [s.to_dict() for s in statements(results)],
        "findings": [
            {
                **r.to_dict(),
                "person_id": row.person_id,
                "person_name": names.get(row.person_id) if row.person_id else None,
            }
            for row, r in pairs
        ],
        "computed": bool(pairs),
        "not_computed": (
            [n for n in ("sd-watermark", "jpeg-dq", "noise") if n not in {r.signal for r in results}]
            if pairs and item.kind == "image"
            else []
        ),
        "note": (
            "Each finding stands on its own, with its own strength; reclaim gives no blended "
            "'fake probability'. No finding shows that an image is authentic."
        ),
    }


# --- source-photo match ------------------------------------------------------------------------------


def _reference_label(kind: str, n: int, label: str) -> str:
    return f"{'reference photo' if kind == 'reference' else 'known image'} {n} ({label})"


class SourcePhotoChecker:
    """Compares matched faces with the person's kept photos (decoded once per person)."""

    def __init__(self, vault: Vault, key: DataKey) -> None:
        self.vault = vault
        self.key = key
        self._refs: dict[str, list[tuple[str, str, FaceSample]]] = {}

    def references(self, person: Person) -> list[tuple[str, str, FaceSample]]:
        """(label, sha256, sample) for every face in the person's kept photos."""
        if person.id not in self._refs:
            out: list[tuple[str, str, FaceSample]] = []
            counters = {"reference": 0, "known": 0}
            for ref in sorted(person.reference_photos, key=lambda r: r.id):
                counters[ref.kind] = counters.get(ref.kind, 0) + 1
                label = _reference_label(ref.kind, counters[ref.kind], ref.label)
                try:
                    data = self.vault.get(ref.sha256)
                    media = decode_media(data, limits=MediaLimits(max_side=REFERENCE_SIDE, max_frames=1))
                except (OSError, ValueError, MediaError):
                    continue  # a missing or unreadable kept photo is skipped, not fatal
                out.extend((label, ref.sha256, s) for s in face_samples(media.frames[0].image))
            self._refs[person.id] = out
        return self._refs[person.id]

    def item_sample(self, item: Item, data: bytes, face: Face) -> FaceSample | None:
        """The matched ``face`` of a still image as a sample to compare with kept photos, or None when
        it cannot be taken (not a still image, undecodable, face not found again)."""
        if item.kind != "image" or face.frame_index != 0:
            return None
        try:
            media = decode_media(data, limits=MediaLimits(max_side=WORK_SIDE, max_frames=1))
        except MediaError:
            return None
        image = media.frames[0].image
        scale = media.width / image.shape[1]
        b = face.box
        box = tuple(round(b[k] / scale) for k in ("left", "top", "right", "bottom"))
        try:
            if int(b.get("rotation", 0)):
                return sample_for_box(image, box)
            vector = decrypt_vector(self.key, face.vector_ct, kind="face", owner=str(item.id))
            return sample_for_box(image, box, vector=vector)
        except ValueError:
            return None

    def check(self, session: Session, item: Item, data: bytes, match: Match) -> ForensicResult | None:
        """The source-photo finding for a face match (stored), or None when it cannot apply (no kept
        photos, not a still image, face not found again)."""
        person = match.person
        if not person.reference_photos:
            return None
        face_id = (match.detail or {}).get("face_id")
        face = session.get(Face, face_id) if face_id is not None else None
        if face is None:
            return None
        refs = self.references(person)
        if not refs:
            return None
        sample = self.item_sample(item, data, face)
        if sample is None:
            return None
        result = source_photo_result([(label, compare(sample, ref)) for label, _, ref in refs])
        store_findings(session, item, [result], person_id=person.id)
        return result


def source_photo_findings(
    session: Session, checker: SourcePhotoChecker, item: Item, data: bytes, matches: Sequence[Match]
) -> list[ForensicResult]:
    out = []
    for m in matches:
        if m.kind == "face":
            r = checker.check(session, item, data, m)
            if r is not None:
                out.append(r)
    return out


def source_photo_for_person(session: Session, vault: Vault, key: DataKey, person: Person) -> int:
    """After enrolment with kept photos: check the person's face matches on stored items."""
    checker = SourcePhotoChecker(vault, key)
    done = 0
    for m in session.scalars(select(Match).where(Match.person_id == person.id, Match.kind == "face")):
        if not m.item.stored:
            continue
        try:
            data = vault.get(m.item.sha256)
        except (OSError, ValueError):
            continue
        if checker.check(session, m.item, data, m) is not None:
            done += 1
    return done


def face_boxes(item: Item) -> list[tuple[int, int, int, int]]:
    return [
        (int(f.box["left"]), int(f.box["top"]), int(f.box["right"]), int(f.box["bottom"]))
        for f in item.faces
        if f.frame_index == 0
    ]


def pixel_findings(session: Session, item: Item, data: bytes) -> list[ForensicResult]:
    """Run and store the pixel passes (SD watermark, jpeg-dq, noise) for one item."""
    inp = ForensicInput(
        data=data, mime=item.mime or "", kind=item.kind or "image", face_boxes=face_boxes(item)
    )
    results, _ = run_file_forensics(inp, PIXEL_PASSES)
    store_findings(session, item, results)
    return results


def complete_forensics(session: Session, vault: Vault, items: Sequence[Item]) -> int:
    """Add the pixel passes to stored items that lack them (items that were not matched when scanned
    and now are, after an enrolment). Returns the number of items completed."""
    done = 0
    for item in items:
        have = {f.signal for f in item.findings}
        if not item.stored or not have or {"jpeg-dq", "noise", "sd-watermark"} <= have:
            continue  # not stored, scanned without forensics, or already complete
        try:
            data = vault.get(item.sha256)
        except (OSError, ValueError):
            continue
        pixel_findings(session, item, data)
        done += 1
    return done


def refresh_item(
    session: Session, vault: Vault, key: DataKey, item: Item, *, c2pa_trust_pem: str | None = None
) -> list[ForensicResult]:
    """Recompute every forensic signal of a stored item from its media (the faces stored by the scan
    are reused)."""
    if not item.stored:
        raise UserError(
            f"item {item.sha256[:12]}…: its media are not stored (hash-only scan, or it matched a minor), "
            "so its forensic signals cannot be recomputed"
        )
    try:
        data = vault.get(item.sha256)
    except (OSError, ValueError) as exc:
        raise UserError(f"item {item.sha256[:12]}…: the stored media cannot be read ({exc})") from exc
    inp = ForensicInput(
        data=data,
        mime=item.mime or "",
        kind=item.kind or "image",
        face_boxes=face_boxes(item),
        c2pa_trust_pem=c2pa_trust_pem,
    )
    results, _ = run_file_forensics(inp)
    store_findings(session, item, results)
    matches = session.scalars(select(Match).where(Match.item_id == item.id, Match.kind == "face")).all()
    results += source_photo_findings(session, SourcePhotoChecker(vault, key), item, data, matches)
    return results
