"""The scan: sources → items (content-addressed, encrypted) → signals → sightings → matches.

Design notes
- Entries are enumerated first (cheap: paths and metadata), in a stable order.
- A file whose SHA-256 is already stored only gains a sighting; nothing is analysed twice. A file read
  before and unchanged since (same path, size, mtime and inode: its ``FileStamp``) is not even read
  again: one indexed look-up names its item, so a rescan costs a ``stat`` and a few queries per file.
- Memory stays flat: nothing per item is kept but ids and counters (the session's identity map holds
  its objects weakly); sightings of known content are committed in batches.
- New content is analysed by an executor (:mod:`reclaim.scan.executors`: in process, a local pool of
  worker processes, or a Dask cluster); results are written in submission order, one
  transaction per item, so an interrupted scan leaves only whole items behind and a rerun resumes
  where it stopped with the same outcome as an uninterrupted run.
- One bad file or message becomes an entry in ``errors``; the scan goes on. Every other file under a
  scanned path that is not material is a counted skip (``skipped``: not media, or an export's own file),
  each named in ``skipped_paths``: nothing under a scanned path vanishes.
- Checks over what the scan added that belong to layers above it (takedown's re-upload check) are
  passed in by the caller (:class:`reclaim.scan.checks.PostScanCheck`); scan does not know them. A
  failing check is a scan error, never an unfinished scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from reclaim.errors import UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.forensics.passes import ForensicsMode
from reclaim.forensics.service import (
    SourcePhotoChecker,
    complete_forensics,
    pixel_findings,
    source_photo_findings,
    store_findings,
)
from reclaim.matching.robust import features_of_bytes, load_item_features, store_item_features
from reclaim.matching.scope import filter_items
from reclaim.matching.service import Matcher
from reclaim.media import MediaLimits
from reclaim.scan.analyze import Analysis, AnalyzeOptions, FaceSearch
from reclaim.scan.checks import PostScanCheck
from reclaim.scan.executors import AnalysisExecutor, ClusterSettings, Ticket, check_address, make_executor
from reclaim.scan.finish import FinishReport, deferred_items, search_deferred, store_faces
from reclaim.signals import VIDEO_SIGNALS, SignalValue
from reclaim.sources import (
    EXPORT_FILE,
    NOT_MEDIA,
    Entry,
    EntryError,
    SightingInfo,
    Skipped,
    Source,
    display_path,
    source_for,
)
from reclaim.sources.web import URL as WEB_URL
from reclaim.store.crypto import DataKey, decrypt_vector
from reclaim.store.models import Face, FileStamp, Item, Match, Scan, Sighting, Signal, utcnow
from reclaim.text import escaped, storable
from reclaim.workspace import Workspace

ProgressFn = Callable[[int, int, str], None]


@dataclass
class ScanError:
    path: str
    error: str


@dataclass
class SkippedFile:
    path: str
    reason: str


def _no_skips() -> dict[str, int]:
    return {NOT_MEDIA: 0, EXPORT_FILE: 0}


@dataclass
class VideoSignalCount:
    """New videos that got a whole-video hash (vPDQ), those that did not, and why not (with a count
    each: the package is not installed, a video it could not read)."""

    hashed: int = 0
    unhashed: int = 0
    problems: dict[str, int] = field(default_factory=dict)


@dataclass
class ScanReport:
    scan_id: int
    items: int = 0
    new_items: int = 0
    sightings: int = 0
    new_sightings: int = 0
    face_matches: int = 0
    hash_matches: int = 0
    new_matches: int = 0
    reuploads: int = 0
    follow_ups: int = 0
    faces_deferred: int = 0
    """Pictures of this scan that had only the quick face search, found no face and still wait for the
    thorough one (``reclaim finish-faces``; see :data:`reclaim.scan.analyze.FaceSearch`)."""
    faces_finished: int = 0
    """Deferred pictures with a match that the scan searched thoroughly itself."""
    errors: list[ScanError] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=_no_skips)
    """Files that are not material, by reason: ``not_media`` (documents, ``.DS_Store``, ...) and
    ``export_file`` (an export's own result.json, HTML, CSS, JS, icons)."""
    skipped_paths: list[SkippedFile] = field(default_factory=list)
    video_signals: dict[str, VideoSignalCount] = field(default_factory=dict)
    """Per whole-video signal type (vPDQ), over the new videos of this scan. Left out of :meth:`to_dict`
    when the scan added no video."""

    def count_video(self, signal_type: str, problem: str | None) -> None:
        counts = self.video_signals.setdefault(signal_type, VideoSignalCount())
        if problem is None:
            counts.hashed += 1
        else:
            counts.unhashed += 1
            counts.problems[problem] = counts.problems.get(problem, 0) + 1

    def skip(self, path: str, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.skipped_paths.append(SkippedFile(path, reason))

    def to_dict(self, *, verbose: bool = False) -> dict[str, object]:
        """Every field; the list of skipped paths only when ``verbose`` (the counts are always there)."""
        out = asdict(self)
        if not verbose:
            del out["skipped_paths"]
        if not self.video_signals:
            del out["video_signals"]
        return out


@dataclass
class _Pending:
    """Entries waiting for one piece of new content to be analysed."""

    sha256: str
    data: bytes
    entries: list[tuple[str, Entry]]
    stamps: list[str] = field(default_factory=list)
    """The :func:`_file_stamp` of each entry read from a file (recorded once the item is written)."""


KNOWN_BATCH = 500
"""Sightings of content already stored are committed this many at a time (and before every new item)."""
IN_BATCH = 5_000
"""Ids per ``IN (...)`` query (SQLite allows 32,766 bound values)."""


def _file_stamp(key: DataKey, entry: Entry, case_id: str | None) -> str | None:
    """A keyed hash of the entry's file as it is now (path, size, mtime, inode and device; and the case),
    or None for an entry not read from a file. Taken before the file is read: a file changed after it
    gets a new stamp and is read again by the next scan."""
    if entry.file is None or entry.read is not None:
        return None
    try:
        st = entry.file.stat()
    except OSError:
        return None
    # The path as its bytes (hex): a file name that is not valid UTF-8 is stamped like any other.
    path = os.fsencode(entry.file).hex()
    value = "\x00".join(
        str(v) for v in (case_id or "", path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    )
    return key.blind("file-stamp", value)


STAMP_BATCH = 500
"""Entries whose stamps are looked up together (two queries per batch)."""


@dataclass(frozen=True)
class _Stamped:
    """What an unchanged file's stamp says: its item, and whether this entry's sighting is stored."""

    item_id: int
    sha256: str
    recorded: bool


class _StampLookahead:
    """The stamps of the entries ahead of the scan, looked up :data:`STAMP_BATCH` at a time: one query
    for their items, one for the sightings already recorded (a rescan's common case)."""

    def __init__(
        self, session: Session, key: DataKey, entries: Sequence[tuple[str, Entry]], case_id: str | None
    ) -> None:
        self.session, self.key, self.entries, self.case_id = session, key, entries, case_id
        self._stamps: dict[int, str | None] = {}
        self._found: dict[int, _Stamped] = {}

    def get(self, index: int) -> tuple[str | None, _Stamped | None]:
        """Entry ``index``'s stamp (None when not a file) and, when a scan read it unchanged, its item."""
        if index not in self._stamps:
            self._fill(index)
        return self._stamps.pop(index), self._found.pop(index, None)

    def _fill(self, start: int) -> None:
        ahead = range(start, min(start + STAMP_BATCH, len(self.entries)))
        stamps = {i: _file_stamp(self.key, self.entries[i][1], self.case_id) for i in ahead}
        self._stamps.update(stamps)
        wanted = [st for st in stamps.values() if st is not None]
        if not wanted:
            return
        items = {
            stamp: (item_id, sha256)
            for stamp, item_id, sha256 in self.session.execute(
                select(FileStamp.stamp, Item.id, Item.sha256)
                .join(Item, Item.id == FileStamp.item_id)
                .where(FileStamp.stamp.in_(wanted))
            )
        }
        keys = {
            i: _sighting_key(self.entries[i][1].sighting, items[st][1], self.case_id)
            for i, st in stamps.items()
            if st is not None and st in items
        }
        recorded = set(
            self.session.scalars(select(Sighting.dedupe_key).where(Sighting.dedupe_key.in_(keys.values())))
        )
        for i, k in keys.items():
            item_id, sha256 = items[stamps[i] or ""]
            self._found[i] = _Stamped(item_id, sha256, k in recorded)


_TEXT_FIELDS: tuple[tuple[str, str, bool], ...] = (
    # (Sighting column, SightingInfo attribute, multi-line)
    ("source_key", "key", False),
    ("path", "path", False),
    ("chat_id", "chat_id", False),
    ("chat_name", "chat_name", False),
    ("chat_type", "chat_type", False),
    ("sender", "sender", False),
    ("sender_id", "sender_id", False),
    ("caption", "caption", True),
    ("forwarded_from", "forwarded_from", False),
    ("media_type", "media_type", False),
)


def _stored_text(info: SightingInfo, placeholder: str | None) -> tuple[dict[str, str | None], dict[str, str]]:
    """A sighting's text columns as stored (:func:`reclaim.text.storable`: no NUL, no control characters,
    no line break in a one-line field), and the exact originals (:func:`reclaim.text.escaped`) of those
    that had to change, for the evidence."""
    values: dict[str, str | None] = {}
    originals: dict[str, str] = {}
    for column, attr, multiline in (*_TEXT_FIELDS, ("placeholder", "", False)):
        raw = placeholder if column == "placeholder" else getattr(info, attr)
        if raw is None:
            values[column] = None
            continue
        clean = storable(raw, multiline=multiline)
        values[column] = clean
        if clean != raw:
            originals[column] = escaped(raw)
    return values, originals


def _sighting_key(info: SightingInfo, sha256: str | None, case_id: str | None = None) -> str:
    """The sighting's identity: rescanning the same material adds nothing; the same file uploaded to two
    cases is a sighting in each (a case's person is matched through their own case's sightings)."""
    scoped = info.key if case_id is None else f"case:{case_id}\x00{info.key}"
    return hashlib.sha256(f"{scoped}\x00{sha256 or '-'}".encode()).hexdigest()


def _entry_name(entry: Entry, default: str) -> str:
    """What to call an entry in errors and progress: its path, else the URL of a web sighting."""
    return entry.sighting.path or entry.sighting.extra.get(WEB_URL) or default


def _join(label: str, rel: str) -> str:
    return rel if label in ("", ".") else f"{label.rstrip('/')}/{rel}"


def _enumerate(
    paths: Sequence[Path], report: ScanReport, source: Source | None = None
) -> list[tuple[str, Entry]]:
    """All entries of all paths, each with the display label of the path it came from; errors and skips
    go into the report. ``source`` reads every path instead of the one :func:`source_for` detects."""
    errors = report.errors
    out: list[tuple[str, Entry]] = []
    for path in paths:
        label = display_path(path)
        try:
            reader = source if source is not None else source_for(path)
        except ValueError as exc:
            errors.append(ScanError(label, str(exc)))
            continue
        base = path if path.is_dir() else path.parent
        # A source handed over by the caller names its entries itself (a capture's files are temporary).
        base_label = display_path(base) if source is None else source.name
        for entry in reader.entries(path):
            if isinstance(entry, EntryError):
                errors.append(ScanError(_join(base_label, entry.path), entry.error))
            elif isinstance(entry, Skipped):
                report.skip(_join(base_label, entry.path), entry.reason)
            else:
                out.append((base_label, entry))
    return out


class _Writer:
    """Writes results into the database, one transaction per item (the single writer)."""

    def __init__(
        self, ws: Workspace, session: Session, scan: Scan, *, hash_only: bool, options: AnalyzeOptions
    ) -> None:
        self.ws = ws
        self.options = options
        self.session = session
        self.scan = scan
        self.hash_only = hash_only
        self.matcher = Matcher(session, ws.key, scope=scan.case_id)
        self.source_photos = SourcePhotoChecker(ws.vault, ws.key)
        self.seen_items: set[int] = set()
        self.stamped: set[str] = set()
        self.report = ScanReport(scan_id=scan.id)

    def add_stamped_sighting(self, label: str, entry: Entry, stamped: _Stamped) -> None:
        """The sighting of an unchanged file (see :class:`_StampLookahead`): counted, and written unless
        it is recorded already, without loading its item."""
        if not stamped.recorded:
            item = self.session.get(Item, stamped.item_id)
            if item is not None:
                self.add_sighting(label, entry, item)
                return
        self.report.sightings += 1
        self.seen_items.add(stamped.item_id)

    def add_sighting(self, label: str, entry: Entry, item: Item | None) -> None:
        info = entry.sighting
        key = _sighting_key(info, item.sha256 if item else None, self.scan.case_id)
        self.report.sightings += 1
        if item is not None:
            self.seen_items.add(item.id)
        if self.session.scalar(select(Sighting.id).where(Sighting.dedupe_key == key)) is not None:
            return
        text, originals = _stored_text(info, entry.placeholder)
        extra: dict[str, object] = {storable(k): storable(v) for k, v in info.extra.items()}
        extra["scanned_root"] = storable(label)
        if originals:
            extra["original_text"] = originals
        self.session.add(
            Sighting(
                dedupe_key=key,
                item_id=item.id if item else None,
                scan_id=self.scan.id,
                source=info.source,
                message_id=info.message_id,
                posted_at=info.posted_at,
                reply_to=info.reply_to,
                extra=extra,
                **text,
            )
        )
        self.report.new_sightings += 1

    def add_item(self, pending: _Pending, analysis: Analysis) -> Item:
        s = self.session
        item = Item(
            sha256=analysis.sha256,
            md5=analysis.md5,
            size=analysis.size,
            mime=analysis.mime,
            kind=analysis.kind,
            width=analysis.width,
            height=analysis.height,
            frame_count=analysis.frame_count,
            stored=False,
            faces_deferred=analysis.faces_deferred,
        )
        s.add(item)
        s.flush()
        if analysis.signals:  # one executemany, not an ORM object per hash
            s.execute(
                insert(Signal),
                [
                    {
                        "item_id": item.id,
                        "signal_type": sig.signal_type,
                        "frame_index": sig.frame_index,
                        "variant": sig.variant,
                        "value": sig.value,
                        "quality": sig.quality,
                    }
                    for sig in analysis.signals
                ],
            )
        refs = analysis.signals  # the perceptual hashes (and a video's vPDQ features)
        if analysis.kind == "video":
            for signal in VIDEO_SIGNALS:
                self.report.count_video(signal.name, analysis.video_problems.get(signal.name))
        faces = store_faces(s, self.ws, item, analysis.faces, analysis.face_model)
        if analysis.forensics:
            store_findings(s, item, analysis.forensics, new_item=True)
        if analysis.robust is not None:
            store_item_features(s, self.ws.key, item, analysis.robust)
        all_created = self.matcher.process_item(s, item, refs, faces, analysis.robust)
        created = [m for m in all_created if m.item_id == item.id]
        carried = [m for m in all_created if m.item_id != item.id]  # earlier items that became reposts
        self._purge_minor_reposts(s, carried)
        if carried and self.options.forensics == "matched":  # their pixel passes, as after an enrolment
            complete_forensics(s, self.ws.vault, list({m.item_id: m.item for m in carried}.values()))
        if created and self.options.forensics == "matched":
            # The pixel passes, for items that match someone (computed from the bytes in hand, so also
            # for a minor's items, whose media are never stored).
            pixel_findings(s, item, pending.data)
        face_matches = [m for m in created if m.kind == "face" and m.person_id not in self.matcher.minor_ids]
        if face_matches and self.options.forensics != "none":
            source_photo_findings(s, self.source_photos, item, pending.data, face_matches)
        # Policy: media of a minor, and hash-only scans, are never stored; only hashes and locations.
        # (A new item has no matches but those just created.)
        minor_hit = any(m.person_id in self.matcher.minor_ids for m in created)
        if not self.hash_only and not minor_hit:
            self.ws.vault.put(pending.data, analysis.sha256)
            item.stored = True
        log_event(
            s,
            EventKind.ITEM_ADDED,
            subject=subject("item", analysis.sha256),
            detail={
                "scan_id": self.scan.id,
                "sha256": analysis.sha256,
                "md5": analysis.md5,
                "size": analysis.size,
                "kind": analysis.kind,
                "pdq": next((r.value for r in refs if r.signal_type == "pdq" and r.variant == 0), None),
                "faces": len(analysis.faces),
                "stored": item.stored,
            },
        )
        self.report.new_items += 1
        return item

    def match_in_scope(self, item: Item, data: bytes) -> None:
        """A known item seen for the first time in this scan's case (its bytes were uploaded to another
        case before): match it against this case's person from what is stored (its faces and hashes), as
        the first scan did for the other case's."""
        s = self.session
        faces = [
            (f, decrypt_vector(self.ws.key, f.vector_ct, kind="face", owner=str(item.id)))
            for f in s.scalars(select(Face).where(Face.item_id == item.id).order_by(Face.id))
        ]
        refs = [
            SignalValue(sig.signal_type, sig.value, sig.frame_index, sig.variant, sig.quality)
            for sig in s.scalars(select(Signal).where(Signal.item_id == item.id).order_by(Signal.id))
        ]
        features = None
        if self.options.robust:  # stored by the scan that added it, else from the bytes in hand (rare)
            features = load_item_features(s, self.ws.key, [item.id]).get(item.id)
            if features is None and (features := features_of_bytes(data)) is not None:
                store_item_features(s, self.ws.key, item, features)
        created = self.matcher.match_item(s, item, refs, faces, features)
        self._after_matches(created)

    def finish_deferred(self, executor: AnalysisExecutor) -> None:
        """After the items: the thorough face search (on ``executor``) of this scan's deferred items that
        have a match (see :mod:`reclaim.scan.finish`); the others are counted in the report."""
        if self.options.faces and self.options.face_search == "quick":
            ids = deferred_items(self.session, self.seen_items, matched_only=True)

            def match(item: Item, faces: list[tuple[Face, np.ndarray]]) -> list[Match]:
                created = self.matcher.match_item(self.session, item, [], faces)
                self._after_matches(created)
                return created

            done = search_deferred(self.session, self.ws, executor, self.options, ids, match)
            self.report.faces_finished = done.searched
            for sha, msg in done.errors:
                self.report.errors.append(ScanError(f"item {sha[:12]}", f"thorough face search: {msg}"))
        self.report.faces_deferred = len(deferred_items(self.session, self.seen_items, matched_only=False))

    def finish_references(self) -> None:
        """After the items: edited reposts of items this scan matched, among every stored item (those
        scanned before the match included: see ``Matcher.finish``)."""
        self._after_matches(self.matcher.finish(self.session))
        self.session.commit()

    def _after_matches(self, created: Sequence[Match]) -> None:
        """Matches made on items already written: the minor policy, and their pixel passes."""
        after_matches(self.session, self.ws, self.matcher, created, self.options.forensics)

    def _purge_minor_reposts(self, s: Session, carried: Sequence[Match]) -> None:
        purge_minor_media(s, self.ws, self.matcher, carried)

    def record_stamp(self, stamp: str | None, item: Item) -> None:
        """Remember that the file ``stamp`` names holds ``item`` (see :func:`_file_stamp`)."""
        if stamp is None or stamp in self.stamped:  # the same file named twice in one scan
            return
        self.stamped.add(stamp)
        if self.session.get(FileStamp, stamp) is None:
            self.session.add(FileStamp(stamp=stamp, item_id=item.id))

    def finish_item(self, pending: _Pending, result: Analysis | str) -> None:
        if isinstance(result, str):
            for label, entry in pending.entries:
                self.report.errors.append(ScanError(_join(label, _entry_name(entry, "?")), result))
            self.session.commit()  # what earlier entries batched is saved here too
            return
        item = self.session.scalar(select(Item).where(Item.sha256 == pending.sha256))
        if item is None:
            item = self.add_item(pending, result)
        for label, entry in pending.entries:
            self.add_sighting(label, entry, item)
        for stamp in pending.stamps:
            self.record_stamp(stamp, item)
        self.session.commit()


def purge_minor_media(s: Session, ws: Workspace, matcher: Matcher, matches: Sequence[Match]) -> None:
    """Policy for a minor, again: an item scanned earlier that one of ``matches`` ties to a minor (a repost
    carried to it, a face found later) loses its stored media (the event first, the bytes after the rows
    say so)."""
    doomed = [m.item for m in matches if m.person_id in matcher.minor_ids and m.item.stored]
    for it in doomed:
        it.stored = False
        log_event(
            s, EventKind.ITEM_MEDIA_PURGED, subject=subject("item", it.sha256), detail={"reason": "minor"}
        )
    if doomed:
        s.flush()
    for it in doomed:
        ws.vault.delete(it.sha256)


def after_matches(
    s: Session, ws: Workspace, matcher: Matcher, created: Sequence[Match], forensics: ForensicsMode
) -> None:
    """Matches made on items already written: the minor policy, and their pixel passes."""
    if not created:
        return
    purge_minor_media(s, ws, matcher, created)
    if forensics == "matched":
        complete_forensics(s, ws.vault, list({m.item_id: m.item for m in created}.values()))


def finish_faces(
    ws: Workspace,
    *,
    case_id: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cluster: ClusterSettings | None = None,
) -> FinishReport:
    """The thorough face search of every item a quick scan deferred (of ``case_id``'s material, when
    given) whose media are stored, on local workers or ``cluster``; the faces found are matched against
    the enrolled persons (of that case) as a scan matches them (see :mod:`reclaim.scan.finish`)."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    with (
        ws.exclusive("the face search"),
        make_executor(workers, cluster, warm_faces=True) as executor,
        ws.session() as session,
    ):
        ids = deferred_items(session, matched_only=False)
        if case_id is not None:
            ids = sorted(filter_items(session, ids, {case_id}))
        matcher = Matcher(session, ws.key, scope=case_id)

        def match(item: Item, faces: list[tuple[Face, np.ndarray]]) -> list[Match]:
            created = matcher.match_item(session, item, [], faces)
            after_matches(session, ws, matcher, created, "matched")
            return created

        options = AnalyzeOptions(faces=True, forensics="none")
        report = search_deferred(session, ws, executor, options, ids, match, progress=progress)
        after_matches(session, ws, matcher, matcher.finish(session), "matched")
        session.commit()
        return report


def _read_entry(entry: Entry, limits: MediaLimits) -> bytes:
    if entry.read is not None:  # a record inside a web archive: read from the archive, never extracted
        data = entry.read(limits.max_bytes)
        if not data:
            raise ValueError("empty image (0 bytes)")
        return data
    assert entry.file is not None
    size = entry.file.stat().st_size
    if size > limits.max_bytes:
        raise ValueError(f"file is {size:,} bytes, above the limit of {limits.max_bytes:,}")
    if size == 0:
        raise ValueError("empty file (0 bytes)")
    return entry.file.read_bytes()


def scan_paths(
    ws: Workspace,
    paths: Sequence[Path],
    *,
    hash_only: bool = False,
    faces: bool = True,
    forensics: ForensicsMode = "matched",
    workers: int | None = None,
    progress: ProgressFn | None = None,
    checks: Sequence[PostScanCheck] = (),
    case_id: str | None = None,
    source: Source | None = None,
    cluster: ClusterSettings | None = None,
    face_search: FaceSearch = "thorough",
) -> ScanReport:
    """Scan files, folders and Telegram exports into the workspace. ``forensics`` says which items get
    the forensic signals (see :data:`reclaim.forensics.passes.ForensicsMode`); findings are stored.
    ``checks`` run in order after the items are written (see :class:`reclaim.scan.checks.PostScanCheck`).
    ``case_id``: the team server's case the material belongs to; only that case's person is matched
    against it (None: the CLI's workspace, see :mod:`reclaim.matching.scope`). ``source``: read every path
    with this source instead of detecting one (a capture hands over the images it received this way).
    ``cluster``: analyse on a Dask cluster's workers instead of local processes (:mod:`reclaim.scan.cluster`);
    the writer, the key and the database stay here. ``face_search``: see
    :data:`reclaim.scan.analyze.FaceSearch` ("quick" is what ``reclaim scan`` runs unless ``--thorough``)."""
    if cluster is not None:
        check_address(cluster)  # refused before anything is opened

    missing = [display_path(p) for p in paths if not p.exists()]
    if missing:
        raise UserError(f"no such file or directory: {', '.join(missing)}")
    workers = workers if workers is not None else (os.cpu_count() or 1)
    with ws.exclusive("the scan"), contextlib.ExitStack() as stack:
        # A cluster is reached before the scan is recorded: an unreachable one is an error, not a scan.
        # A local pool starts its workers now, while the writer opens its indexes and the source is
        # enumerated (≈ 1 s of imports and model loading that no longer waits for the first file).
        remote = stack.enter_context(make_executor(workers, cluster, warm_faces=faces))
        options = AnalyzeOptions(
            faces=faces,
            forensics=forensics,
            c2pa_trust_pem=ws.c2pa_trust_pem() if forensics != "none" else None,
            # Media a hash-only scan does not keep cannot be searched later: search them fully now.
            face_search="thorough" if hash_only else face_search,
        )
        return _scan(
            ws,
            paths,
            hash_only=hash_only,
            options=options,
            workers=workers,
            progress=progress,
            checks=checks,
            case_id=case_id,
            source=source,
            remote=remote,
        )


def _scan(
    ws: Workspace,
    paths: Sequence[Path],
    *,
    hash_only: bool,
    options: AnalyzeOptions,
    workers: int,
    progress: ProgressFn | None,
    checks: Sequence[PostScanCheck],
    case_id: str | None,
    source: Source | None = None,
    remote: AnalysisExecutor | None,
) -> ScanReport:
    limits = MediaLimits()
    with ws.session() as session:
        # We hold the writer lock: a scan still marked running was killed; its work is kept and this
        # scan resumes it.
        session.execute(update(Scan).where(Scan.status == "running").values(status="interrupted"))
        shown = [display_path(p) if source is None else source.name for p in paths]
        scan = Scan(paths={"paths": shown}, status="running", case_id=case_id)
        session.add(scan)
        session.flush()
        log_event(
            session, EventKind.SCAN_STARTED, subject=subject("scan", scan.id), detail={"hash_only": hash_only}
        )
        session.commit()
        writer = _Writer(ws, session, scan, hash_only=hash_only, options=options)
        # The workers compute the robust engine's features only when it has something to match against.
        options = writer.options = replace(options, robust=writer.matcher.wants_features)
        entries = _enumerate(paths, writer.report, source)
        total = len(entries)
        if progress:
            progress(0, total, "")
        executor = remote or make_executor(workers, None)
        lookahead = _StampLookahead(session, ws.key, entries, case_id)
        # Each file in flight, in submission order: results are written in that order.
        inflight: deque[tuple[_Pending, Ticket]] = deque()
        by_sha: dict[str, _Pending] = {}
        done = 0
        unsaved = 0  # sightings of known content not yet committed

        def save_known() -> None:
            nonlocal unsaved
            unsaved += 1
            if unsaved >= KNOWN_BATCH:
                session.commit()
                unsaved = 0

        def tell(name: str) -> None:
            # Not while a batch is uncommitted: this transaction then holds the process's write lock, and a
            # callback that writes (the server's job progress) would wait for it forever on this thread.
            if progress and unsaved == 0:
                progress(done, total, name)

        def drain(limit: int) -> None:
            nonlocal done, unsaved
            while len(inflight) > limit:
                pending, ticket = inflight.popleft()
                result = ticket.result()
                del by_sha[pending.sha256]
                writer.finish_item(pending, result)  # commits, the batch of known content included
                unsaved = 0
                done += len(pending.entries)
                tell(_entry_name(pending.entries[0][1], ""))

        try:
            for index, (label, entry) in enumerate(entries):
                name = _entry_name(entry, entry.sighting.key)
                if not entry.present:
                    writer.add_sighting(label, entry, None)
                    save_known()
                    done += 1
                    tell(name)
                    continue
                stamp, stamped = lookahead.get(index)
                if stamped is not None and (
                    case_id is None or filter_items(session, [stamped.item_id], {case_id})
                ):  # an unchanged file already scanned: neither read nor hashed again
                    writer.add_stamped_sighting(label, entry, stamped)
                    save_known()
                    done += 1
                    tell(name)
                    continue
                try:
                    data = _read_entry(entry, limits)
                except (OSError, ValueError) as exc:
                    msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                    writer.report.errors.append(ScanError(_join(label, name), msg))
                    done += 1
                    continue
                sha = hashlib.sha256(data).hexdigest()
                if sha in by_sha:  # same new content seen twice in flight: one analysis
                    by_sha[sha].entries.append((label, entry))
                    if stamp is not None:
                        by_sha[sha].stamps.append(stamp)
                    continue
                known = session.scalar(select(Item).where(Item.sha256 == sha))
                if known is not None:
                    new_to_case = case_id is not None and not filter_items(session, [known.id], {case_id})
                    writer.add_sighting(label, entry, known)
                    writer.record_stamp(stamp, known)
                    if new_to_case:
                        writer.match_in_scope(known, data)
                        session.commit()
                        unsaved = 0
                    else:
                        save_known()
                    done += 1
                    tell(name)
                    continue
                pending = _Pending(sha, data, [(label, entry)], [stamp] if stamp is not None else [])
                by_sha[sha] = pending
                inflight.append((pending, executor.submit((data, options))))
                drain(executor.window)
            drain(0)
            if unsaved:
                session.commit()
                unsaved = 0
                tell("")
            writer.finish_deferred(executor)
            writer.finish_references()
        except BaseException:
            session.rollback()
            scan.status = "interrupted"
            session.commit()
            raise
        finally:
            executor.close()

        report = writer.report
        report.items = len(writer.seen_items)
        seen = sorted(writer.seen_items)
        counts: dict[str, int] = {}
        for start in range(0, len(seen), IN_BATCH):
            rows = session.execute(
                select(Match.kind, func.count())
                .where(Match.item_id.in_(seen[start : start + IN_BATCH]))
                .group_by(Match.kind)
            ).all()
            for kind, n in rows:
                counts[kind] = counts.get(kind, 0) + n
        report.face_matches = counts.get("face", 0)
        report.hash_matches = counts.get("hash", 0)
        report.new_matches = int(
            session.scalar(select(func.count()).select_from(Match).where(Match.created_at >= scan.started_at))
            or 0
        )
        for check in checks:
            try:
                added = check(session, scan.id)
                session.commit()
            except Exception as exc:  # the scanned items are kept; the check can be repeated by a rescan
                session.rollback()
                report.errors.append(ScanError(check.label, f"{type(exc).__name__}: {exc}"))
            else:
                report.reuploads += added.get("reuploads", 0)
                report.follow_ups += added.get("follow_ups", 0)
        scan.status = "finished"
        scan.finished_at = utcnow()
        summary = report.to_dict()  # the counts of skipped files, not their paths
        summary["errors"] = len(report.errors)
        scan.summary = summary
        log_event(session, EventKind.SCAN_FINISHED, subject=subject("scan", scan.id), detail=summary)
        session.commit()
        return report
