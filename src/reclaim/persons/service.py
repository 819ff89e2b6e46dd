"""Enrolment and erasure of persons: consent, face templates, known images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reclaim.custody import ERASED, erased
from reclaim.errors import MediaError, NotFound, UserError
from reclaim.events import EventKind, current_actor, log_event, subject
from reclaim.forensics.service import complete_forensics, delete_person_findings, source_photo_for_person
from reclaim.matching.robust import KnownFeatures, encrypt_features, known_features
from reclaim.matching.service import match_person_against_items
from reclaim.media import WORK_SIDE, MediaLimits, decode_media
from reclaim.signals import VpdqSignal, first_values, get_face_model, hash_media, hash_video
from reclaim.signals.face import DEFAULT_FACE_MODEL
from reclaim.signals.vpdq import from_values, to_te
from reclaim.sources import display_path
from reclaim.store.crypto import DataKey, encrypt_vector
from reclaim.store.models import (
    Consent,
    Event,
    FaceTemplate,
    Item,
    KnownImage,
    Match,
    Person,
    ReferencePhoto,
)
from reclaim.store.vault import Vault

MIN_FACE_PX = 40
"""An enrolment photo's face must be at least this many pixels wide: smaller faces make poor templates."""


@dataclass(frozen=True)
class PersonSummary:
    person_id: str
    name: str
    templates: int
    known_images: int
    minor: bool
    matches_created: int = 0
    kept_photos: int = 0
    known_videos: int = 0
    """Known images that are videos (they also get a vPDQ where the ``vpdq`` package is installed)."""
    video_problems: dict[str, int] = field(default_factory=dict)
    """Why known videos got no vPDQ, with a count each (the package is missing, an unreadable video)."""


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise UserError(f"{display_path(path)}: no such file") from exc
    except OSError as exc:
        raise UserError(f"{display_path(path)}: cannot read ({exc.strerror})") from exc


def _template_from_photo(path: Path) -> np.ndarray:
    return _template_from_bytes(_read(path), display_path(path))


def _template_from_bytes(data: bytes, label: str) -> np.ndarray:
    try:
        media = decode_media(data, limits=MediaLimits(max_side=1600, max_frames=1))
    except MediaError as exc:
        raise UserError(f"{label}: {exc}") from exc
    frame = media.frames[0].image
    # first_pass only: an enrolment photo needs a clear face, not the weak boxes a scan also tries
    faces, _ = get_face_model().first_pass(frame, budget_s=4.0)
    if not faces:
        raise UserError(f"{label}: no face found; use a clear photo of the person's face")
    if len(faces) > 1:
        raise UserError(f"{label}: {len(faces)} faces found; use a photo showing only the person enrolled")
    left, _, right, _ = faces[0].box
    if right - left < MIN_FACE_PX:
        raise UserError(
            f"{label}: the face is only {right - left} px wide (need ≥ {MIN_FACE_PX}); "
            "use a closer or larger photo"
        )
    return np.asarray(faces[0].vector, dtype=np.float32)


def reembed_templates(session: Session, key: DataKey, vault: Vault, person_id: str) -> tuple[int, int]:
    """Bring a person's templates to the current face model (:data:`DEFAULT_FACE_MODEL`) from the
    reference photos kept at enrolment (``--keep-photos``): a template made by an older model (e.g. the
    plain ``dlib-resnet-v1`` descriptor, before flip-averaging) whose photo was kept is computed again
    and re-encrypted in place. Templates without a kept photo stay as they are: older descriptors are
    still compared (see ``COMPATIBLE_FACE_MODELS``), only without the newer model's gain.

    Returns (templates re-embedded, templates left on an older model)."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person {person_id}")
    photos = {
        p.label: p.sha256
        for p in session.scalars(
            select(ReferencePhoto).where(
                ReferencePhoto.person_id == person_id, ReferencePhoto.kind == "reference"
            )
        )
    }
    done, left = 0, 0
    for tpl in person.templates:
        if tpl.model == DEFAULT_FACE_MODEL:
            continue
        digest = photos.get(tpl.photo_label)
        if digest is None or not vault.has(digest):
            left += 1
            continue
        vector = _template_from_bytes(vault.get(digest), tpl.photo_label)
        tpl.vector_ct = encrypt_vector(key, vector.tobytes(), kind="template", owner=str(tpl.id))
        tpl.model = DEFAULT_FACE_MODEL
        done += 1
    if done:
        session.flush()
        log_event(
            session,
            EventKind.PERSON_TEMPLATES_REEMBEDDED,
            subject=subject("person", person.id),
            detail={"templates": done, "left_on_older_model": left, "model": DEFAULT_FACE_MODEL},
        )
    return done, left


def add_person(
    session: Session,
    key: DataKey,
    *,
    name: str,
    photos: Sequence[Path],
    consent: str,
    known_images: Sequence[Path] = (),
    minor: bool = False,
    recorded_by: str | None = None,
    vault: Vault | None = None,
    keep_photos: bool = False,
    case_id: str | None = None,
) -> PersonSummary:
    """Enrol a consenting person. Every photo is checked before anything is stored: one bad photo
    stores nothing. Photos are not kept unless ``keep_photos`` (the person agreed): then the photos
    and known images are stored encrypted in ``vault``, only to show a face was copied from one of
    them (source-photo match), and deleted when the person is forgotten. Otherwise only encrypted
    templates and the known images' hashes are kept.

    For a minor, the media of stored items that match are removed from ``vault`` (hashes, faces and
    sightings stay): holding them would itself be an offence for the advocate."""
    if (minor or keep_photos) and vault is None:
        raise ValueError("enrolling a minor or keeping photos needs the vault")
    name = name.strip()
    if not name:
        raise UserError("a person needs a name (a pseudonym such as 'Client 07' is fine)")
    if not consent or not consent.strip():
        raise UserError("a consent statement is required (--consent): who consented, how, when")
    if not photos:
        raise UserError("at least one --photo with the person's face is required")
    vectors = [_template_from_photo(p) for p in photos]
    kept: list[tuple[str, str, bytes]] = []  # (kind, label, bytes)
    if keep_photos:
        kept += [("reference", display_path(p.name), _read(p)) for p in photos]
    known: list[KnownImage] = []
    known_robust: list[KnownFeatures] = []  # the robust repost engine's features, encrypted below
    known_videos = 0
    video_problems: dict[str, int] = {}
    for path in known_images:
        data = _read(path)
        if keep_photos:
            kept.append(("known", display_path(path.name), data))
        try:
            # decoded exactly as a scan decodes, so the hashes are comparable
            media = decode_media(data, limits=MediaLimits(max_side=WORK_SIDE, max_frames=1))
        except MediaError as exc:
            raise UserError(f"{display_path(path)}: {exc}") from exc
        hashes = first_values(hash_media(data, media))
        pdq, pdq64 = hashes["pdq"], hashes["pdq64"]
        vpdq: str | None = None
        if media.kind == "video":  # a known video: its first frame's hashes as above, and its vPDQ
            known_videos += 1
            video = hash_video(data, media)
            video_features = from_values(video.values)
            vpdq = to_te(video_features) if video_features else None
            problem = video.problems.get(VpdqSignal.name)
            if problem is not None:
                video_problems[problem] = video_problems.get(problem, 0) + 1
        known.append(
            KnownImage(
                label=display_path(path.name),
                sha256=hashes["sha256"].value,
                md5=hashes["md5"].value,
                pdq=pdq.value,
                pdq_quality=pdq.quality,
                pdq64=pdq64.value,
                pdq64_quality=pdq64.quality,
                vpdq=vpdq,
            )
        )
        known_robust.append(known_features(media.frames[0].image))
    person = Person(name=name, minor=minor, keep_photos=keep_photos)
    session.add(person)
    session.flush()
    session.add(
        Consent(person_id=person.id, statement=consent.strip(), recorded_by=recorded_by or current_actor())
    )
    for path, vector in zip(photos, vectors, strict=True):
        tpl = FaceTemplate(
            person_id=person.id, model=DEFAULT_FACE_MODEL, vector_ct=b"", photo_label=display_path(path.name)
        )
        session.add(tpl)
        session.flush()
        tpl.vector_ct = encrypt_vector(key, vector.tobytes(), kind="template", owner=str(tpl.id))
    for k, features in zip(known, known_robust, strict=True):
        k.person_id = person.id
        session.add(k)
        session.flush()
        k.features_ct = encrypt_features(key, features, k.id)
    for kind, label, data in kept:
        assert vault is not None
        digest = vault.put(data)
        session.add(ReferencePhoto(person_id=person.id, kind=kind, label=label, sha256=digest))
    session.flush()
    log_event(
        session,
        EventKind.PERSON_ENROLLED,
        subject=subject("person", person.id),
        detail={
            "templates": len(vectors),
            "known_images": len(known),
            "minor": minor,
            "kept_photos": len(kept),
            **({"known_videos": known_videos} if known_videos else {}),
        },
    )
    session.refresh(person)
    # A person enrolled for a team-server case is matched against that case's material only.
    created = match_person_against_items(
        session, key, person, scopes={case_id} if case_id is not None else None, vault=vault
    )
    if created and vault is not None:
        matched = session.scalars(
            select(Item).join(Match, Match.item_id == Item.id).where(Match.person_id == person.id)
        )
        complete_forensics(session, vault, matched.unique().all())
    if minor and vault is not None:
        _purge_media_of(session, vault, person)
    if kept and vault is not None:
        source_photo_for_person(session, vault, key, person)
    session.commit()
    counts = (len(vectors), len(known), minor, created, len(kept), known_videos, video_problems)
    return PersonSummary(person.id, person.name, *counts)


def _purge_media_of(session: Session, vault: Vault, person: Person) -> None:
    items = session.scalars(
        select(Item).join(Match, Match.item_id == Item.id).where(Match.person_id == person.id, Item.stored)
    ).all()
    for item in items:
        item.stored = False
        log_event(
            session,
            EventKind.ITEM_MEDIA_PURGED,
            subject=subject("item", item.sha256),
            detail={"reason": "minor"},
        )
    session.flush()
    for item in items:  # after the rows say so: a crash in between leaves bytes that are already unused
        vault.delete(item.sha256)


ERASABLE = ("note",)
"""Free-text detail values that may hold personal data; the custody log keeps only their hashes after
an erasure. (Names are never written to the log; ids are opaque.)"""


def _erase_from_log(session: Session, person_id: str) -> int:
    """Replace the person's free-text values in custody events by their hashes (the chain stays valid)."""
    erased_count = 0
    for event in session.scalars(select(Event).where(Event.detail.is_not(None))):
        detail = event.detail or {}
        if detail.get("person_id") != person_id:
            continue
        changed = dict(detail)
        for key in ERASABLE:
            value = changed.get(key)
            if value is not None and not (isinstance(value, dict) and ERASED in value):
                changed[key] = erased(value)
                erased_count += 1
        if changed != detail:
            event.detail = changed
    return erased_count


def list_persons(session: Session) -> list[PersonSummary]:
    out = []
    for person in session.scalars(select(Person).order_by(Person.created_at, Person.id)):
        out.append(
            PersonSummary(
                person.id, person.name, len(person.templates), len(person.known_images), person.minor
            )
        )
    return out


def get_person(session: Session, person_id: str) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id!r} (see 'reclaim person list')")
    return person


def forget_person(session: Session, person_id: str, vault: Vault | None = None) -> dict[str, int]:
    """Erase a person: templates, known-image hashes, kept photos (deleted from ``vault``), findings that
    depend on them, consents, matches and the person record. In the custody log their free-text values
    (review notes) are replaced by hashes, which keeps the signed chain valid, and the erasure itself is
    logged under the opaque id."""
    person = get_person(session, person_id)
    kept = [r.sha256 for r in person.reference_photos]
    if kept and vault is None:
        raise ValueError("forgetting a person with kept photos needs the vault")
    counts = {
        "templates": len(person.templates),
        "known_images": len(person.known_images),
        "kept_photos": len(kept),
        "matches": session.scalar(select(func.count()).select_from(Match).where(Match.person_id == person_id))
        or 0,
        "findings": delete_person_findings(session, person_id),
    }
    session.delete(person)  # cascades to consents, templates, known images, kept photos and matches
    session.flush()
    counts["erased_log_values"] = _erase_from_log(session, person_id)
    log_event(session, EventKind.PERSON_FORGOTTEN, subject=subject("person", person_id), detail=counts)
    # Blobs another record still needs stay: a stored item or someone else's kept photo with the same
    # bytes (the vault is content-addressed).
    doomed = [
        sha
        for sha in set(kept)
        if session.scalar(
            select(func.count()).select_from(ReferencePhoto).where(ReferencePhoto.sha256 == sha)
        )
        == 0
        and session.scalar(
            select(func.count()).select_from(Item).where(Item.sha256 == sha, Item.stored.is_(True))
        )
        == 0
    ]
    session.commit()
    for sha in doomed:  # after the commit: a crash in between leaves an unreferenced blob, never a hole
        assert vault is not None
        vault.delete(sha)
    return counts
