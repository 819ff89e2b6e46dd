"""Hash sharing services: export the confirmed items' hashes, import others' lists into named banks.

Matching items against the imported banks is :mod:`reclaim.matching.banks`' (an import runs it over the
items already in the workspace).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reclaim.errors import UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.matching.banks import check_items
from reclaim.sharing.export import ExportFormat, ExportSelection, render, select_hashes
from reclaim.sharing.importer import parse_hash_list
from reclaim.signals import VpdqSignal
from reclaim.store.crypto import DataKey
from reclaim.store.models import BankHit, ImportedBank, ImportedHash
from reclaim.store.vault import Vault

BANK_NAME_MAX = 100


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
            # only when there are some: exports without videos keep their exact shape
            **({"vpdq": n} if (n := sum(1 for h in s.hashes if h.hash_type == "vpdq")) else {}),
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
        EventKind.HASHES_EXPORTED,
        subject=subject("person", person_id) if person_id else "hashes",
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
    vpdq: int = 0
    """Videos' vPDQ hashes (one per video); in :meth:`to_dict` only when there are some."""

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"bank": self.name, "pdq": self.pdq, "md5": self.md5, "hits": self.hits}
        if self.vpdq:
            out["vpdq"] = self.vpdq
        return out


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


def _bank_key(signal_type: str, value: str) -> str:
    """What an imported hash is stored (and de-duplicated) under: the hash, or for a vPDQ the SHA-256 of
    its serialisation (which is kept beside it)."""
    if signal_type == VpdqSignal.name:
        return hashlib.sha256(value.encode()).hexdigest()
    return value


def import_hashes(
    session: Session, *, path: Path, bank: str, actor: str | None = None, key: DataKey | None = None
) -> ImportResult:
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
    keyed = [(t, v, _bank_key(t, v)) for t, v in parsed.hashes]
    new = [(t, v, k) for t, v, k in keyed if (t, k) not in existing]
    session.add_all(
        ImportedHash(bank_id=target.id, signal_type=t, value=k, vpdq=v if t == VpdqSignal.name else None)
        for t, v, k in new
    )
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
        EventKind.BANK_IMPORTED,
        subject=subject("bank", name),
        detail={k: v for k, v in result.to_dict().items() if k != "existing_items_hit"},
        actor=actor,
    )
    result.existing_items_hit = len(check_items(session, actor=actor, key=key))
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
        BankSummary(
            b.name,
            counts[b.id].get("pdq", 0),
            counts[b.id].get("md5", 0),
            hits.get(b.id, 0),
            counts[b.id].get(VpdqSignal.name, 0),
        )
        for b in session.scalars(select(ImportedBank).order_by(ImportedBank.name))
    ]
