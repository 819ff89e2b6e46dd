"""Hash sharing services: export, import into named banks, and matching items against the banks.

Matching: :class:`BankIndex` holds every imported hash (PDQ in a Hamming index, MD5 in a set). The scan's
:class:`~reclaim.matching.service.Matcher` loads one per scan and calls :func:`record_bank_hits` for each
new item; :func:`check_items` runs the banks over items already in the workspace (after an import). A hit
is a :class:`~reclaim.store.models.BankHit` plus a ``bank.hit`` custody event, not a match to a person.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound, UserError
from reclaim.events import log_event
from reclaim.sharing.export import ExportFormat, ExportSelection, render, select_hashes
from reclaim.sharing.importer import parse_hash_list
from reclaim.signals.pdq import MATCH_THRESHOLD, MIN_QUALITY, PdqIndex
from reclaim.store.models import BankHit, ImportedBank, ImportedHash, Item, Signal
from reclaim.store.vault import Vault

BANK_NAME_MAX = 100


class PerceptualRef(Protocol):
    """A stored perceptual hash of an item (``reclaim.matching.service.PdqRef`` is one)."""

    @property
    def signal_type(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def quality(self) -> int | None: ...


# --- export ---------------------------------------------------------------------------------------------


@dataclass
class ExportResult:
    path: Path
    format: ExportFormat
    hashes: int
    selection: ExportSelection

    def to_dict(self) -> dict[str, object]:
        s = self.selection
        return {
            "path": str(self.path),
            "format": self.format,
            "hashes": self.hashes,
            "pdq": sum(1 for h in s.hashes if h.hash_type == "pdq"),
            "md5": sum(1 for h in s.hashes if h.hash_type == "md5"),
            "items": s.items,
            "withheld_minor": s.withheld_minor,
            "skipped_low_quality": s.skipped_low_quality,
            "pdq_from_original": s.pdq_from_original,
            "pdq_from_scan": s.pdq_from_scan,
        }


def export_hashes(
    session: Session,
    *,
    fmt: ExportFormat,
    out: Path,
    person_id: str | None = None,
    vault: Vault | None = None,
    actor: str | None = None,
) -> ExportResult:
    """Write the hashes of confirmed items to ``out`` in ``fmt`` and log a ``hashes.exported`` event.
    Raises UserError when there is nothing to export or the format is not allowed for the person."""
    selection = select_hashes(session, fmt=fmt, person_id=person_id, vault=vault)
    if not selection.hashes:
        reasons = []
        if selection.withheld_minor:
            reasons.append(
                f"{selection.withheld_minor} item(s) of minors are exported only with --format ncmec"
            )
        if selection.skipped_low_quality:
            reasons.append(f"{selection.skipped_low_quality} image(s) are too flat for a usable PDQ hash")
        hint = "; ".join(reasons) or "confirm matches first ('reclaim review')"
        raise UserError(f"no hashes to export: {hint}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(fmt, selection.hashes), encoding="utf-8")
    result = ExportResult(out, fmt, len(selection.hashes), selection)
    detail = {k: v for k, v in result.to_dict().items() if k != "path"}
    log_event(
        session,
        "hashes.exported",
        subject=f"person:{person_id}" if person_id else "hashes",
        detail=detail,
        actor=actor,
    )
    session.commit()
    return result


# --- banks ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankSummary:
    name: str
    pdq: int
    md5: int
    hits: int

    def to_dict(self) -> dict[str, object]:
        return {"bank": self.name, "pdq": self.pdq, "md5": self.md5, "hits": self.hits}


@dataclass
class ImportResult:
    bank: str
    format: str
    added: int
    already_there: int
    skipped: dict[str, int] = field(default_factory=dict)
    existing_items_hit: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "bank": self.bank,
            "format": self.format,
            "added": self.added,
            "already_there": self.already_there,
            "skipped": self.skipped,
            "existing_items_hit": self.existing_items_hit,
        }


def _bank_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > BANK_NAME_MAX or any(c.isspace() and c != " " for c in name):
        raise UserError(f"a bank name is 1 to {BANK_NAME_MAX} characters on one line")
    return name


def import_hashes(session: Session, *, path: Path, bank: str, actor: str | None = None) -> ImportResult:
    """Add the hashes of the list at ``path`` to the bank named ``bank`` (created if new), then check the
    items already in the workspace against the banks. One ``bank.imported`` event; commits."""
    name = _bank_name(bank)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    parsed = parse_hash_list(data)
    target = session.scalar(select(ImportedBank).where(ImportedBank.name == name))
    if target is None:
        target = ImportedBank(name=name)
        session.add(target)
        session.flush()
    existing = {
        (t, v)
        for t, v in session.execute(
            select(ImportedHash.signal_type, ImportedHash.value).where(ImportedHash.bank_id == target.id)
        )
    }
    new = [(t, v) for t, v in parsed.hashes if (t, v) not in existing]
    session.add_all(ImportedHash(bank_id=target.id, signal_type=t, value=v) for t, v in new)
    session.flush()
    result = ImportResult(
        bank=name,
        format=parsed.format,
        added=len(new),
        already_there=len(parsed.hashes) - len(new),
        skipped=dict(parsed.skipped),
    )
    log_event(
        session,
        "bank.imported",
        subject=f"bank:{name}",
        detail={k: v for k, v in result.to_dict().items() if k != "existing_items_hit"},
        actor=actor,
    )
    result.existing_items_hit = len(check_items(session, actor=actor))
    session.commit()
    return result


def list_banks(session: Session) -> list[BankSummary]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for bank_id, signal_type, n in session.execute(
        select(ImportedHash.bank_id, ImportedHash.signal_type, func.count()).group_by(
            ImportedHash.bank_id, ImportedHash.signal_type
        )
    ):
        counts[bank_id][signal_type] = n
    hits = {b: n for b, n in session.execute(select(BankHit.bank_id, func.count()).group_by(BankHit.bank_id))}
    return [
        BankSummary(b.name, counts[b.id].get("pdq", 0), counts[b.id].get("md5", 0), hits.get(b.id, 0))
        for b in session.scalars(select(ImportedBank).order_by(ImportedBank.name))
    ]


# --- matching -------------------------------------------------------------------------------------------


def _bank_names(session: Session) -> dict[int, str]:
    return {bank_id: name for bank_id, name in session.execute(select(ImportedBank.id, ImportedBank.name))}


class BankIndex:
    """Every imported hash: PDQ (standard PDQ only) by Hamming radius, MD5 by equality."""

    def __init__(self) -> None:
        self._pdq = PdqIndex()
        self._pdq_bank: list[int] = []
        self._md5: dict[str, set[int]] = defaultdict(set)

    @classmethod
    def load(cls, session: Session) -> BankIndex:
        index = cls()
        for bank_id, signal_type, value in session.execute(
            select(ImportedHash.bank_id, ImportedHash.signal_type, ImportedHash.value)
        ):
            index.add(bank_id, signal_type, value)
        return index

    def __len__(self) -> int:
        return len(self._pdq) + sum(len(v) for v in self._md5.values())

    def add(self, bank_id: int, signal_type: str, value: str) -> None:
        if signal_type == "pdq":
            self._pdq.add(value, len(self._pdq_bank))
            self._pdq_bank.append(bank_id)
        elif signal_type == "md5":
            self._md5[value].add(bank_id)

    def query(self, md5: str, refs: Iterable[PerceptualRef]) -> dict[int, tuple[int, str]]:
        """Bank id → (smallest distance in bits, "pdq" or "md5"). Only standard PDQ refs (any frame,
        any dihedral variant) of quality ≥ 50 are compared: reclaim's pdq64 is not comparable."""
        best: dict[int, tuple[int, str]] = {bank_id: (0, "md5") for bank_id in self._md5.get(md5, ())}
        if not len(self._pdq):
            return best
        for ref in refs:
            if ref.signal_type != "pdq" or (ref.quality or 0) < MIN_QUALITY:
                continue
            for row, dist in self._pdq.query(ref.value, MATCH_THRESHOLD):
                bank_id = self._pdq_bank[row]
                if bank_id not in best or dist < best[bank_id][0]:
                    best[bank_id] = (dist, "pdq")
        return best


def record_bank_hits(
    session: Session, index: BankIndex, item: Item, refs: Sequence[PerceptualRef], *, actor: str | None = None
) -> list[BankHit]:
    """Record (once per item and bank) that ``item`` is on an imported bank; one ``bank.hit`` event each.
    Call in the item's transaction. Returns the hits created."""
    if not len(index):
        return []
    found = index.query(item.md5, refs)
    if not found:
        return []
    known = set(session.scalars(select(BankHit.bank_id).where(BankHit.item_id == item.id)))
    names = _bank_names(session)
    created: list[BankHit] = []
    for bank_id, (distance, how) in sorted(found.items()):
        if bank_id in known:
            continue
        hit = BankHit(item_id=item.id, bank_id=bank_id, signal_type=how, distance=distance)
        session.add(hit)
        created.append(hit)
        log_event(
            session,
            "bank.hit",
            subject=f"item:{item.sha256}",
            detail={"bank": names.get(bank_id), "by": how, "distance": distance},
            actor=actor,
        )
    if created:
        session.flush()
    return created


@dataclass(frozen=True)
class _Ref:
    signal_type: str
    value: str
    quality: int | None


def _stored_refs(session: Session, item_ids: Sequence[int] | None = None) -> dict[int, list[_Ref]]:
    query = select(Signal.item_id, Signal.value, Signal.quality).where(Signal.signal_type == "pdq")
    if item_ids is not None:
        query = query.where(Signal.item_id.in_(item_ids))
    refs: dict[int, list[_Ref]] = defaultdict(list)
    for item_id, value, quality in session.execute(query):
        refs[item_id].append(_Ref("pdq", value, quality))
    return refs


def bank_hits(session: Session, item: Item, index: BankIndex | None = None) -> dict[str, tuple[int, str]]:
    """Which imported banks ``item`` is on, from its stored hashes: bank name → (distance, how).
    Records nothing."""
    index = index if index is not None else BankIndex.load(session)
    names = _bank_names(session)
    found = index.query(item.md5, _stored_refs(session, [item.id]).get(item.id, []))
    return {names[bank_id]: hit for bank_id, hit in found.items()}


def check_items(session: Session, *, actor: str | None = None) -> list[BankHit]:
    """Run the imported banks over every item in the workspace and record new hits (no commit)."""
    index = BankIndex.load(session)
    if not len(index):
        return []
    refs = _stored_refs(session)
    created: list[BankHit] = []
    for item in session.scalars(select(Item).order_by(Item.id)):
        created += record_bank_hits(session, index, item, refs.get(item.id, []), actor=actor)
    return created


@dataclass(frozen=True)
class HitRow:
    item_sha256: str
    kind: str | None
    bank: str
    by: str
    distance: int

    def to_dict(self) -> dict[str, object]:
        return {
            "item_sha256": self.item_sha256,
            "kind": self.kind,
            "bank": self.bank,
            "by": self.by,
            "distance": self.distance,
        }


def list_hits(session: Session, *, bank: str | None = None) -> list[HitRow]:
    query = (
        select(Item.sha256, Item.kind, ImportedBank.name, BankHit.signal_type, BankHit.distance)
        .join(Item, Item.id == BankHit.item_id)
        .join(ImportedBank, ImportedBank.id == BankHit.bank_id)
        .order_by(ImportedBank.name, BankHit.distance, Item.sha256)
    )
    if bank is not None:
        if session.scalar(select(ImportedBank.id).where(ImportedBank.name == bank)) is None:
            raise NotFound(f"no imported bank named {bank!r} (see 'reclaim hashes banks')")
        query = query.where(ImportedBank.name == bank)
    return [HitRow(sha, kind, name, by, dist) for sha, kind, name, by, dist in session.execute(query)]
