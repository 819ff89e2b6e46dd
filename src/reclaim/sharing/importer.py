"""Reading hash lists: python-threatexchange signal lists and the StopNCII-style / NCMEC files this package
writes (or any JSON list of such records).

- Text: one ``<signal_type> <signal>`` per line, split at the first space as python-threatexchange's
  ``LocalFileSignalExchangeAPI`` does. ``pdq``, ``video_md5`` (and plain ``md5``) and ``vpdq`` (a
  video's vPDQ in python-threatexchange's serialisation, a JSON list on the line) are kept; other
  signal types (``url``, ``tmk_pdqf``, ...) are counted as skipped. Blank lines and ``#`` comments are
  ignored.
- JSON: an object with a ``hashes`` (or StopNCII's ``hashRecords``) list, or a bare list, of records
  ``{"signalType": "ImagePDQ" | "VideoMD5", "hashValue": ...}`` (StopNCII) or
  ``{"fingerprintType": "PDQ" | "MD5", "value": ...}`` (NCMEC).

A malformed hash of a known type rejects the whole file (nothing is imported), naming the line or record.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reclaim.errors import UserError
from reclaim.sharing.export import HashType
from reclaim.signals import Md5Signal, PdqSignal, VpdqSignal

MAX_LIST_BYTES = 256 * 1024 * 1024
"""Hash lists larger than this are refused (a million PDQ lines are ≈ 70 MB)."""

_TE_TYPES: dict[str, HashType] = {"pdq": "pdq", "video_md5": "md5", "md5": "md5", "vpdq": "vpdq"}
_STOPNCII_TYPES: dict[str, HashType] = {"ImagePDQ": "pdq", "VideoMD5": "md5"}
_NCMEC_TYPES: dict[str, HashType] = {"PDQ": "pdq", "MD5": "md5"}
_VALIDATE = {"pdq": PdqSignal.validate, "md5": Md5Signal.validate, "vpdq": VpdqSignal.validate}


@dataclass
class ParsedList:
    format: str
    hashes: list[tuple[HashType, str]] = field(default_factory=list)
    """Validated, lower-case, de-duplicated, in file order."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Entries of signal types reclaim does not match on, by type."""


def _add(out: ParsedList, seen: set[tuple[HashType, str]], hash_type: HashType, raw: str, where: str) -> None:
    try:
        value = _VALIDATE[hash_type](raw)
    except ValueError as exc:
        raise UserError(f"{where}: {exc} (got {raw[:80]!r}); nothing was imported") from None
    if (hash_type, value) not in seen:
        seen.add((hash_type, value))
        out.hashes.append((hash_type, value))


def _parse_te(text: str) -> ParsedList:
    out = ParsedList("te")
    seen: set[tuple[HashType, str]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        signal_type, _, signal = stripped.partition(" ")
        hash_type = _TE_TYPES.get(signal_type)
        if hash_type is None:
            out.skipped[signal_type] += 1
            continue
        _add(out, seen, hash_type, signal.strip(), f"line {number}")
    return out


def _parse_json(data: Any) -> ParsedList:
    records: Any = data
    fmt = "json"
    if isinstance(data, dict):
        fmt = str(data.get("format") or "json")
        records = data.get("hashes", data.get("hashRecords"))
    if not isinstance(records, list):
        raise UserError("a JSON hash list needs a 'hashes' list of records; nothing was imported")
    out = ParsedList(fmt)
    seen: set[tuple[HashType, str]] = set()
    for number, record in enumerate(records, start=1):
        where = f"record {number}"
        if not isinstance(record, dict):
            raise UserError(f"{where}: not an object; nothing was imported")
        if "signalType" in record:
            kind, raw, table = record.get("signalType"), record.get("hashValue"), _STOPNCII_TYPES
        elif "fingerprintType" in record:
            kind, raw, table = record.get("fingerprintType"), record.get("value"), _NCMEC_TYPES
        else:
            raise UserError(f"{where}: needs signalType/hashValue or fingerprintType/value")
        hash_type = table.get(str(kind))
        if hash_type is None:
            out.skipped[str(kind)] += 1
            continue
        if not isinstance(raw, str):
            raise UserError(f"{where}: the hash must be a string; nothing was imported")
        _add(out, seen, hash_type, raw, where)
    return out


def parse_hash_list(data: bytes) -> ParsedList:
    """Parse a hash list file's bytes (the format is recognised from the content)."""
    if len(data) > MAX_LIST_BYTES:
        raise UserError(f"the hash list is larger than {MAX_LIST_BYTES // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError("the hash list is not UTF-8 text") from None
    head = text.lstrip()
    if head.startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise UserError(f"the hash list looks like JSON but is not: {exc}") from None
        return _parse_json(parsed)
    return _parse_te(text)
