"""Exporting the hashes of confirmed items: which items, which hash, and the three file layouts.

Which items: every item with a *confirmed* match (optionally of one person). An item confirmed for a
minor is exported only in the ``ncmec`` format (NCMEC Take It Down takes images of people under 18);
the ``te`` and ``stopncii`` formats leave such items out, and refuse outright when asked for a minor.

Which hash: images and animations get the standard PDQ hash, videos the MD5 of the file (what StopNCII
and python-threatexchange's ``video_md5`` use) and, in the ``te`` format only, their vPDQ
(python-threatexchange's ``vpdq`` signal type, its own serialisation, as the scan stored it from Meta's
``vpdq`` package: written as-is). StopNCII's and NCMEC's formats have no vPDQ type: they get the MD5.
A PDQ of quality below 50 is not exported (python-threatexchange's ``PdqSignal.hash_from_bytes``
returns no hash for those either).

PDQ parity: a scan hashes a ≤ 1280 px, EXIF-rotated, RGB decode downscaled to ≤ 512 px (fast, and what
matching needs); python-threatexchange hashes the file's pixels as stored, at full size, without EXIF
rotation and with any alpha channel passed through. The two differ for every image larger than 512 px
and for images with alpha. So when the original is in the vault, the exported PDQ is recomputed from
it exactly as python-threatexchange's ``pdq_from_bytes`` does (:func:`te_pdq_from_bytes`): bit-identical
to ``PdqSignal.hash_from_file`` on the same file. When it is not (hash-only scans, a minor's items,
whose media are never stored), the scan's PDQ is exported and counted in ``pdq_from_scan``.

Nothing else is written: no SHA-256, no person, case, chat, message or file name.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pdqhash
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from reclaim.errors import NotFound, UserError
from reclaim.signals import SignalValue, VpdqSignal
from reclaim.signals.index import bits_to_hex
from reclaim.signals.pdq import MIN_QUALITY
from reclaim.signals.vpdq import from_values, to_te
from reclaim.store.models import Item, Match, Person, Signal
from reclaim.store.vault import Vault

ExportFormat = Literal["te", "stopncii", "ncmec"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("te", "stopncii", "ncmec")
HashType = Literal["pdq", "md5", "vpdq"]
MediaType = Literal["image", "video"]

TE_SIGNAL_TYPES: dict[HashType, str] = {"pdq": "pdq", "md5": "video_md5", "vpdq": "vpdq"}
"""reclaim hash type → python-threatexchange ``SignalType.get_name()`` (PdqSignal, VideoMD5Signal,
VPDQSignal)."""
STOPNCII_SIGNAL_TYPES: dict[str, str] = {"pdq": "ImagePDQ", "md5": "VideoMD5"}
"""reclaim hash type → StopNCII's ``signalType`` (python-threatexchange's ``StopNCIISignalType``)."""
NCMEC_FINGERPRINT_TYPES: dict[str, str] = {"pdq": "PDQ", "md5": "MD5"}
"""reclaim hash type → NCMEC's ``fingerprintType`` (python-threatexchange's ``FingerprintType``)."""

STOPNCII_FORMAT = "reclaim-stopncii-submission"
NCMEC_FORMAT = "reclaim-ncmec-take-it-down"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SharedHash:
    """One exported hash: no identity, no media, no item id."""

    hash_type: HashType
    value: str
    media_type: MediaType


@dataclass
class ExportSelection:
    hashes: list[SharedHash] = field(default_factory=list)
    items: int = 0
    withheld_minor: int = 0
    """Items confirmed for a minor, left out of a te / stopncii export."""
    skipped_low_quality: int = 0
    """Images whose PDQ is below quality 50 (flat frames): no hash exported."""
    pdq_from_original: int = 0
    """PDQs recomputed from the original in the vault, exactly as python-threatexchange computes them."""
    pdq_from_scan: int = 0
    """PDQs taken from the scan (original not stored): may differ from threatexchange's for images over
    512 px or with alpha."""


def te_pdq_from_bytes(data: bytes) -> tuple[str, int]:
    """``(hex, quality)``: the PDQ hash exactly as python-threatexchange's ``pdq_from_bytes`` computes
    it (Pillow's pixels as stored: no EXIF rotation, no downscale; LA and I;16 converted to RGB,
    single-channel images repeated into three channels, other modes passed as they are)."""
    with Image.open(io.BytesIO(data)) as opened:
        image: Image.Image = opened
        if image.mode in ("LA", "I;16"):
            image = image.convert("RGB")
        array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., np.newaxis], 3, axis=2)
    bits, quality = pdqhash.compute(array)
    return bits_to_hex(bits), int(quality)


def _pdq_of(
    item: Item, scan_pdq: tuple[str, int | None] | None, vault: Vault | None
) -> tuple[str, int | None, bool] | None:
    """``(hex, quality, from_original)`` of the item's standard PDQ, or None when there is none."""
    limit = Image.MAX_IMAGE_PIXELS
    small_enough = limit is None or (item.width or 0) * (item.height or 0) <= limit
    if vault is not None and item.stored and small_enough and vault.has(item.sha256):
        try:
            value, quality = te_pdq_from_bytes(vault.get(item.sha256))
            return value, quality, True
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            pass  # the scan's hash below
    if scan_pdq is None:
        return None
    return scan_pdq[0], scan_pdq[1], False


def select_hashes(
    session: Session, *, fmt: ExportFormat, person_id: str | None = None, vault: Vault | None = None
) -> ExportSelection:
    """The hashes to export in ``fmt`` (see the module docstring for the rules)."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"unknown format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    minors_only = fmt == "ncmec"
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None:
            raise NotFound(f"no person with id {person_id!r} (see 'reclaim person list')")
        if person.minor and not minors_only:
            raise UserError(
                f"person {person_id} is a minor: their hashes are exported only for NCMEC Take It Down "
                "(--format ncmec), never to StopNCII or a threatexchange list"
            )
        if not person.minor and minors_only:
            raise UserError(
                f"NCMEC Take It Down takes images of people under 18 and person {person_id} is not marked "
                "as a minor: use --format stopncii or --format te"
            )
    confirmed = select(Match.item_id, Person.minor).join(Person, Person.id == Match.person_id)
    confirmed = confirmed.where(Match.status == "confirmed")
    if person_id is not None:
        # the item goes out only if it is confirmed for this person; any minor it is confirmed for counts
        mine = select(Match.item_id).where(Match.status == "confirmed", Match.person_id == person_id)
        confirmed = confirmed.where(Match.item_id.in_(mine.scalar_subquery()))
    minor_of: dict[int, bool] = defaultdict(bool)
    for item_id, minor in session.execute(confirmed):
        minor_of[item_id] |= bool(minor)

    out = ExportSelection()
    wanted = sorted(i for i, minor in minor_of.items() if minor == minors_only)
    if not minors_only:
        out.withheld_minor = sum(1 for minor in minor_of.values() if minor)
    scan_pdqs: dict[int, tuple[str, int | None]] = {}
    if wanted:
        for item_id, value, quality in session.execute(
            select(Signal.item_id, Signal.value, Signal.quality).where(
                Signal.item_id.in_(wanted),
                Signal.signal_type == "pdq",
                Signal.frame_index == 0,
                Signal.variant == 0,
            )
        ):
            scan_pdqs[item_id] = (value, quality)
    videos: dict[int, list[SignalValue]] = defaultdict(list)
    if wanted and fmt == "te":
        for item_id, value, frame_index, quality in session.execute(
            select(Signal.item_id, Signal.value, Signal.frame_index, Signal.quality).where(
                Signal.item_id.in_(wanted), Signal.signal_type == VpdqSignal.name
            )
        ):
            videos[item_id].append(SignalValue(VpdqSignal.name, value, frame_index, 0, quality))
    seen: set[tuple[str, str]] = set()
    for item in session.scalars(select(Item).where(Item.id.in_(wanted)).order_by(Item.id)):
        out.items += 1
        shared: SharedHash | None = None
        if item.kind == "video":
            shared = SharedHash("md5", item.md5, "video")
            if videos.get(item.id):  # te only: python-threatexchange's vpdq, as stored
                vpdq = SharedHash("vpdq", to_te(from_values(videos[item.id])), "video")
                if ("vpdq", vpdq.value) not in seen:
                    seen.add(("vpdq", vpdq.value))
                    out.hashes.append(vpdq)
        else:
            pdq = _pdq_of(item, scan_pdqs.get(item.id), vault)
            if pdq is None or (pdq[1] is not None and pdq[1] < MIN_QUALITY):
                out.skipped_low_quality += 1
                continue
            if pdq[2]:
                out.pdq_from_original += 1
            else:
                out.pdq_from_scan += 1
            shared = SharedHash("pdq", pdq[0], "image")
        key = (shared.hash_type, shared.value)
        if key not in seen:
            seen.add(key)
            out.hashes.append(shared)
    return out


def render(fmt: ExportFormat, hashes: Sequence[SharedHash]) -> str:
    """The file's text in ``fmt``."""
    if fmt == "te":
        return "".join(f"{TE_SIGNAL_TYPES[h.hash_type]} {h.value}\n" for h in hashes)
    if fmt == "stopncii":
        body: dict[str, object] = {
            "format": STOPNCII_FORMAT,
            "version": FORMAT_VERSION,
            "hashes": [
                {"signalType": STOPNCII_SIGNAL_TYPES[h.hash_type], "hashValue": h.value} for h in hashes
            ],
        }
    else:
        body = {
            "format": NCMEC_FORMAT,
            "version": FORMAT_VERSION,
            "destination": "NCMEC Take It Down (https://takeitdown.ncmec.org)",
            "hashes": [
                {
                    "mediaType": h.media_type,
                    "fingerprintType": NCMEC_FINGERPRINT_TYPES[h.hash_type],
                    "value": h.value,
                }
                for h in hashes
            ],
        }
    return json.dumps(body, indent=2) + "\n"
