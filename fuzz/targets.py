"""Fuzz targets: each takes bytes and calls a library entry point exactly as the product does. A target
returns normally or raises a project error (:class:`reclaim.errors.ReclaimError`); anything else escaping it
is a crash to fix in the library. Used by ``fuzz/run.py`` (atheris, ``make fuzz``) and by
``tests/test_fuzz_properties.py`` (a short hypothesis run in ``make test``)."""

from __future__ import annotations

import atexit
import contextlib
import io
import re
import shutil
import sqlite3
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reclaim.workspace import Workspace

from reclaim.errors import ReclaimError

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

Target = Callable[[bytes], None]


def telegram(data: bytes) -> None:
    """A Telegram Desktop export whose result.json is ``data`` (with a photo the messages may name)."""
    from reclaim.sources.telegram import TelegramExportSource

    with tempfile.TemporaryDirectory(prefix="fuzz-tg-") as tmp:
        root = Path(tmp)
        (root / "result.json").write_bytes(data)
        (root / "photos").mkdir()
        (root / "photos" / "photo_1@20-11-2025_10-00-00.jpg").write_bytes(_tiny_jpeg())
        for _ in TelegramExportSource().entries(root):
            pass


def telegram_html(data: bytes) -> None:
    """A Telegram Desktop HTML export whose messages.html is ``data`` (with a photo a message may link)."""
    from reclaim.sources.telegram_html import TelegramHtmlExportSource

    with tempfile.TemporaryDirectory(prefix="fuzz-tgh-") as tmp:
        root = Path(tmp)
        (root / "messages.html").write_bytes(data)
        (root / "photos").mkdir()
        (root / "photos" / "photo_2@03-12-2026_21-01-00.jpg").write_bytes(_tiny_jpeg())
        for _ in TelegramHtmlExportSource().entries(root):
            pass


def media(data: bytes) -> None:
    """Decoding as the scan does (the scan's limits, every frame it would take)."""
    from reclaim.media import WORK_SIDE, MediaLimits, decode_media

    decode_media(data, limits=MediaLimits(max_side=WORK_SIDE))


def zip_upload(data: bytes) -> None:
    """An uploaded archive, extracted as the server's job does."""
    from reclaim.server.jobs import UploadLimits, extract_zip, is_archive

    with tempfile.TemporaryDirectory(prefix="fuzz-zip-") as tmp:
        archive = Path(tmp) / "upload.zip"
        archive.write_bytes(data)
        limits = UploadLimits(max_bytes=20 * 2**20, max_files=2000)
        if is_archive(archive):
            extract_zip(archive, Path(tmp) / "out", limits, budget=[limits.max_bytes, limits.max_files])


def evidence(data: bytes) -> None:
    """``reclaim evidence verify`` on a (mutated) package."""
    from reclaim.evidence.verify import verify_package

    with tempfile.TemporaryDirectory(prefix="fuzz-ev-") as tmp:
        path = Path(tmp) / "case.zip"
        path.write_bytes(data)
        report = verify_package(path)
    for problem in report.problems:
        stopped = _STOPPED.search(problem)
        if stopped and stopped.group(1) not in _project_errors():
            raise StoppedEarly(problem)


class StoppedEarly(Exception):
    """``verify_package`` never raises: an unexpected exception inside it becomes one report line,
    "checking stopped early: <type>: ...", and the checks after it do not run. Unless the type is one of
    the project's errors, that is a crash (the harness raises this so the fuzzer sees it)."""


_STOPPED = re.compile(r": checking stopped early: (\w+): ")


def _project_errors() -> set[str]:
    names: set[str] = set()
    todo: list[type[BaseException]] = [ReclaimError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def custody(data: bytes) -> None:
    """A real package whose custody log (custody.json) is ``data``: its parsing and chain verification."""
    base = _base_package()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            out.writestr(info, data if info.filename == "custody.json" else src.read(info))
    evidence(buf.getvalue())


def custody_db(data: bytes) -> None:
    """``reclaim custody verify`` on a workspace whose custody log rows a hostile insider edited in the
    database file (any value of any type in any column, rows deleted or copied): ``data`` is a list of such
    edits (see :func:`_edit_rows`), applied to a fresh copy of a real workspace's log."""
    from reclaim.evidence.timestamp import verify_stored

    ws, rows, db = _custody_workspace()
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("BEGIN")
        con.execute("DELETE FROM events")
        con.executemany(
            f"INSERT INTO events ({','.join(EVENT_COLUMNS)}) VALUES ({','.join('?' * len(EVENT_COLUMNS))})",
            rows,
        )
        _edit_rows(con, len(rows), data)
        con.execute("COMMIT")
    finally:
        con.close()
    ws.verify_custody() + verify_stored(ws)


TARGETS: dict[str, Target] = {
    "telegram": telegram,
    "telegram_html": telegram_html,
    "media": media,
    "zip": zip_upload,
    "evidence": evidence,
    "custody": custody,
    "custody_db": custody_db,
}


def run_one(target: Target, data: bytes) -> None:
    """Call ``target``; a project error is a clean refusal, anything else propagates (a crash)."""
    with contextlib.suppress(ReclaimError):
        target(data)


def seeds(name: str) -> list[bytes]:
    folder = CORPUS / name
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()] if folder.is_dir() else []


_BASE: list[bytes] = []


def _base_package() -> bytes:
    if not _BASE:
        _BASE.extend(seeds("evidence")[:1] or [b""])
    return _BASE[0]


def _tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 120, 30)).save(buf, "JPEG")
    return buf.getvalue()


EVENT_COLUMNS = (
    "id",
    "at",
    "actor",
    "kind",
    "subject",
    "detail",
    "prev_hash",
    "hash",
    "signature",
    "tool",
    "host",
)
TEXTS = [
    "9999-12-31 23:59:59.999999-05:00",
    "0001-01-01 00:00:00.000000+05:00",
    "2026-02-30 10:00:00",
    "not a time",
    "[1, 2]",
    '"text"',
    "{not json",
    '{"a": NaN, "b": 1e999}',
    "[" * 5000 + "]" * 5000,
    '{"event_id": "x", "token_sha256": 5}',
    '{"event_id": 1, "token_sha256": "00"}',
    "0" * 64,
    "zz",
    "",
]
"""Values an insider might write over a field, besides the fuzzer's own bytes."""


def _edit_rows(con: sqlite3.Connection, nrows: int, data: bytes) -> None:
    """Apply ``data`` as edits to the ``events`` table: each edit is 4 bytes (what, row, column, length)
    and ``length`` bytes of value. What: 0 text, 1 blob, 2 integer, 3 real, 4 NULL, 5 a text from TEXTS,
    6 delete the row, 7 copy the row (as the next id). An edit the database refuses (a text id, a duplicate
    hash) is skipped: SQLite's own constraints are not what is fuzzed."""
    pos = 0
    while pos + 4 <= len(data):
        what, row, col, size = data[pos : pos + 4]
        value_bytes = data[pos + 4 : pos + 4 + size]
        pos += 4 + size
        rowid = row % (nrows + 1) + 1
        column = EVENT_COLUMNS[col % len(EVENT_COLUMNS)]
        value: Any
        kind = what % 8
        if kind == 0:
            value = value_bytes.decode("utf-8", "replace")
        elif kind == 1:
            value = value_bytes
        elif kind == 2:
            value = int.from_bytes(value_bytes[:8], "little", signed=True)
        elif kind == 3:
            value = struct.unpack("<d", value_bytes[:8].ljust(8, b"\0"))[0]
        elif kind == 4:
            value = None
        elif kind == 5:
            value = TEXTS[size % len(TEXTS)]
        with contextlib.suppress(sqlite3.Error):
            if kind == 6:
                con.execute("DELETE FROM events WHERE id = ?", (rowid,))
            elif kind == 7:
                cols = ",".join(c if c != "id" else "(SELECT max(id) + 1 FROM events)" for c in EVENT_COLUMNS)
                con.execute(f"INSERT INTO events SELECT {cols} FROM events WHERE id = ?", (rowid,))
            else:
                con.execute(f"UPDATE events SET {column} = ? WHERE id = ?", (value, rowid))


_WORKSPACE: list[tuple[Workspace, list[tuple[Any, ...]], Path]] = []


def _custody_workspace() -> tuple[Workspace, list[tuple[Any, ...]], Path]:
    """One real workspace per process, with a custody log of a few kinds of events (its rows as stored)."""
    if not _WORKSPACE:
        from reclaim.events import EventKind, log_event, subject
        from reclaim.workspace import Workspace

        tmp = Path(tempfile.mkdtemp(prefix="fuzz-custody-ws-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        ws = Workspace.create(tmp / "ws", "fuzz workspace passphrase")
        with ws.session() as session:
            log_event(session, EventKind.SCAN_STARTED, subject=subject("scan", 1), detail={"paths": 1})
            log_event(session, EventKind.ITEM_ADDED, subject=subject("item", 1), detail=None)
            log_event(
                session,
                EventKind.CUSTODY_TIMESTAMPED,
                subject=subject("event", 2),
                detail={"event_id": 2, "token_sha256": "ab" * 32, "note": {"nested": [1, 2.5, None]}},
            )
            session.commit()
        db = Path(str(ws.engine.url.database))
        con = sqlite3.connect(db)
        try:
            rows = con.execute(f"SELECT {','.join(EVENT_COLUMNS)} FROM events ORDER BY id").fetchall()
        finally:
            con.close()
        _WORKSPACE.append((ws, rows, db))
    return _WORKSPACE[0]
