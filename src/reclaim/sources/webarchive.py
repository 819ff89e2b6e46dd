"""Web archives as a source: WARC (ISO 28500, plain or ``.warc.gz``) and WACZ files written by other tools
(``wget --warc-file``, warcio, ArchiveWeb.page, Browsertrix).

Every image or video *response* in the archive (HTTP status 200, media by its content, not by its
Content-Type header alone) becomes an :class:`~reclaim.sources.base.Entry` whose sighting is a web sighting
(:func:`reclaim.sources.web.web_sighting`): the image URL (``WARC-Target-URI``), the capture time
(``WARC-Date``), the HTTP status, the page it sat on (the ``Referer`` of the matching request record, an
ArchiveWeb.page/Browsertrix ``urn:pageinfo:`` record, or a WACZ's only page in ``pages/pages.jsonl``) and
the archive's file name and SHA-256. Other responses (HTML, CSS, JS, fonts, redirects, 404s) are counted as
:data:`~reclaim.sources.base.NOT_MEDIA` skips. A ``revisit`` record (a deduplicated capture) is resolved to
the response that holds its payload when the archive has it.

Nothing is extracted to disk: an entry carries a reader (:attr:`Entry.read`) that seeks back to its record
when the scan needs the bytes, so no plaintext copy of the material is left anywhere.

Archives are hostile input. Decompressed bytes are capped per record and per archive, a gzip member that
inflates far past its compressed size is refused as a bomb, WARC and HTTP header blocks are capped, and one
bad record (truncated, not WARC, a bomb) is one named error (``name@offset``); reading goes on at the next
gzip member where there is one.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, ClassVar

from reclaim.media import sniff_mime
from reclaim.sources.base import EXPORT_FILE, NOT_MEDIA, Entry, EntryError, Skipped, Source, display_path
from reclaim.sources.web import web_sighting

WARC_SUFFIXES = (".warc", ".warc.gz")
WACZ_SUFFIX = ".wacz"
GZIP_MAGIC = b"\x1f\x8b"
SNIFF = 512
CHUNK = 256 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """What one web archive may cost to read."""

    max_record_bytes: int = 512 * 2**20
    """A media payload larger than this (decompressed) is refused (the scan's own per-file limit)."""
    max_archive_bytes: int = 32 * 2**30
    """Decompressed bytes read from one archive's WARCs in one pass; past it the rest is not read."""
    max_header_bytes: int = 64 * 2**10
    """A WARC or HTTP header block larger than this is refused."""
    max_ratio: int = 200
    """A gzip member may inflate to at most this many times its compressed size (past the first MiB)."""
    max_json_bytes: int = 16 * 2**20
    """``urn:pageinfo:`` records, ``pages.jsonl`` and ``datapackage.json`` larger than this are not read."""


LIMITS = ArchiveLimits()


class ArchiveError(Exception):
    """One record (or the whole archive) cannot be read; the message names what and why."""


class _Bomb(ArchiveError):
    pass


class _Truncated(ArchiveError):
    pass


class _Exhausted(ArchiveError):
    pass


# --- a byte stream over a plain or gzip (multi-member) file ---------------------------------------------


class _Stream:
    """Buffered reading of a WARC's records from ``fh`` starting at byte ``start``: plain, or gzip with any
    number of members. ``tell()`` is the decompressed position; :meth:`location` maps one back to a
    (compressed offset of its gzip member, decompressed bytes into that member) pair a new stream can seek
    to."""

    def __init__(
        self, fh: IO[bytes], start: int, *, gz: bool, limits: ArchiveLimits, spent: list[int]
    ) -> None:
        fh.seek(start)
        self.fh, self.gz, self.limits, self.spent = fh, gz, limits, spent
        self.buf = bytearray()
        self.pos = 0  # decompressed position of buf[0]
        self.eof = False
        self.raw_off = start  # file offset of the next compressed byte not yet given to the inflater
        self.pending = b""
        self.inflater: zlib._Decompress | None = None
        self.member_start = start
        self.member_out = 0
        self.members: list[tuple[int, int]] = [(0, start)]  # (decompressed start, compressed start)

    def location(self, pos: int) -> tuple[int, int]:
        if not self.gz:
            return self.members[0][1] + pos, 0
        i = bisect.bisect_right(self.members, (pos, float("inf"))) - 1
        out_start, raw_start = self.members[i]
        return raw_start, pos - out_start

    def tell(self) -> int:
        return self.pos

    def _more(self) -> bool:
        """Append some bytes to the buffer; False at the end of the file."""
        if self.eof:
            return False
        if not self.gz:
            data = self.fh.read(CHUNK)
            if not data:
                self.eof = True
                return False
            self.raw_off += len(data)
            self.buf += data
            return True
        while True:
            if not self.pending:
                self.pending = self.fh.read(CHUNK)
                if not self.pending:
                    self.eof = True
                    if self.inflater is not None and not self.inflater.eof:
                        raise _Truncated("the gzip stream ends in the middle of a member")
                    return False
            if self.inflater is None or self.inflater.eof:
                if self.inflater is not None:
                    self.members.append((self.pos + len(self.buf), self.raw_off))
                self.inflater = zlib.decompressobj(31)
                self.member_start, self.member_out = self.raw_off, 0
            before = len(self.pending)
            try:
                out = self.inflater.decompress(self.pending, CHUNK)
            except zlib.error as exc:
                raise ArchiveError(f"corrupt gzip data ({exc})") from None
            rest = self.inflater.unconsumed_tail or self.inflater.unused_data
            self.raw_off += before - len(rest)
            self.pending = rest
            self.member_out += len(out)
            self.spent[0] += len(out)
            if self.spent[0] > self.limits.max_archive_bytes:
                raise _Exhausted(
                    f"the archive inflates past {self.limits.max_archive_bytes:,} bytes: the rest is not read"
                )
            packed = max(1, self.raw_off - self.member_start)
            if self.member_out > 2**20 and self.member_out > self.limits.max_ratio * packed:
                raise _Bomb(
                    f"a gzip member inflates more than {self.limits.max_ratio} times its size "
                    "(a decompression bomb)"
                )
            if out:
                self.buf += out
                return True

    def peek(self, n: int) -> bytes:
        while len(self.buf) < n and self._more():
            pass
        return bytes(self.buf[:n])

    def readline(self, limit: int) -> bytes:
        """One line (with its end), at most ``limit`` bytes; b"" at the end; ArchiveError if longer."""
        start = 0
        while True:
            nl = self.buf.find(b"\n", start)
            if nl >= 0:
                if nl + 1 > limit:
                    break
                line = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                self.pos += nl + 1
                return line
            if len(self.buf) > limit:
                break
            start = len(self.buf)
            if not self._more():
                line = bytes(self.buf)
                self.pos += len(line)
                self.buf.clear()
                return line
        raise ArchiveError(f"a header line longer than {limit:,} bytes")

    def read(self, n: int) -> bytes:
        while len(self.buf) < n and self._more():
            pass
        data = bytes(self.buf[:n])
        del self.buf[:n]
        self.pos += len(data)
        return data

    def skip(self, n: int) -> int:
        """Skip ``n`` bytes; returns how many there were."""
        done = 0
        while done < n:
            if not self.buf:
                if not self.gz and not self.eof:  # plain: seek over what is not buffered
                    here = self.fh.tell()
                    end = self.fh.seek(0, 2)
                    step = min(n - done, end - here)
                    self.fh.seek(here + step)
                    self.raw_off = here + step
                    self.pos += step
                    done += step
                    if done < n:
                        self.eof = True
                    return done
                if not self._more():
                    return done
            step = min(n - done, len(self.buf))
            del self.buf[:step]
            self.pos += step
            done += step
        return done

    def resync(self) -> bool:
        """After a bad gzip member, look for the next member that starts a WARC record; False if none."""
        if not self.gz:
            return False
        at = self.member_start + 1
        while True:
            self.fh.seek(at)
            window = self.fh.read(CHUNK)
            if len(window) < 3:
                return False
            i = window.find(b"\x1f\x8b\x08")
            if i < 0:
                at += len(window) - 2
                continue
            cand = at + i
            self.fh.seek(cand)
            try:
                head = zlib.decompressobj(31).decompress(self.fh.read(4096), 16)
            except zlib.error:
                head = b""
            if head.startswith(b"WARC/"):
                self.fh.seek(cand)
                self.buf.clear()
                self.pending = b""
                self.inflater = None
                self.raw_off = self.member_start = cand
                self.members.append((self.pos, cand))
                self.eof = False
                return True
            at = cand + 1


# --- records ----------------------------------------------------------------------------------------------


def _header_block(s: _Stream, limits: ArchiveLimits, what: str) -> list[tuple[str, str]]:
    """Header lines up to the blank line, as (lower-case name, value)."""
    out: list[tuple[str, str]] = []
    used = 0
    while True:
        try:
            line = s.readline(limits.max_header_bytes - used + 2)
        except ArchiveError:
            raise ArchiveError(f"{what} headers larger than {limits.max_header_bytes:,} bytes") from None
        used += len(line)
        if used > limits.max_header_bytes:
            raise ArchiveError(f"{what} headers larger than {limits.max_header_bytes:,} bytes")
        if not line:
            raise _Truncated(f"the archive ends inside the {what} headers")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            return out
        if text[0] in " \t" and out:  # a folded continuation line
            out[-1] = (out[-1][0], out[-1][1] + " " + text.strip())
            continue
        name, sep, value = text.partition(":")
        if sep:
            out.append((name.strip().lower(), value.strip()))


@dataclass
class _Http:
    status: int | None
    headers: dict[str, str]


def _http_head(s: _Stream, limits: ArchiveLimits, length: int) -> tuple[_Http, int]:
    """The HTTP status line and headers at the start of a block; returns them and the bytes they took."""
    start = s.tell()
    first = s.readline(min(limits.max_header_bytes, length))
    parts = first.decode("latin-1").split()
    status: int | None = None
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        status = int(parts[1])
    elif len(parts) >= 3 and parts[2].startswith("HTTP/"):  # a request line: GET /x HTTP/1.1
        status = None
    else:
        raise ArchiveError("the record's HTTP block has no status line")
    headers = dict(_header_block(s, limits, "HTTP"))
    used = s.tell() - start
    if used > length:
        raise ArchiveError("the HTTP headers run past the record's Content-Length")
    return _Http(status, headers), used


@dataclass
class _Record:
    offset: str
    """Display name of where the record starts: ``name@offset`` (``name!member@offset`` in a WACZ)."""
    loc: tuple[str, int, int]
    """(WACZ member or "", compressed offset of its gzip member, decompressed bytes into it)."""
    kind: str
    uri: str
    date: str
    record_id: str
    headers: dict[str, str]
    http: _Http | None = None
    payload_len: int = 0
    head: bytes = b""
    error: str | None = None


def _records(
    fh: IO[bytes], display: str, member: str, limits: ArchiveLimits, spent: list[int]
) -> Iterator[_Record]:
    """Every record of one WARC (plain or gzip) with what enumeration needs; a bad record is yielded with
    ``error`` set, and reading goes on where it can."""
    fh.seek(0)
    magic = fh.read(2)
    gz = magic == GZIP_MAGIC
    s = _Stream(fh, 0, gz=gz, limits=limits, spent=spent)
    try:
        head = s.peek(5)
    except ArchiveError as exc:
        head = b""
        problem = f"not a WARC file ({exc})"
    else:
        problem = f"not a WARC file (it starts with {head!r})"
    if not head.startswith(b"WARC/"):
        yield _Record(offset=f"{display}@0", loc=(member, 0, 0), kind="", uri="", date="", record_id="",
                      headers={}, error=problem)  # fmt: skip
        return
    while True:
        # Records are separated by CRLF CRLF; be lenient about how many blank lines there are.
        start = s.tell()
        block_end: int | None = None  # once the WARC headers are read, where the record ends
        try:
            line = s.readline(limits.max_header_bytes)
            while line in (b"\r\n", b"\n"):
                start = s.tell()
                line = s.readline(limits.max_header_bytes)
            if not line:
                return
            raw, into = s.location(start)
            where = f"{display}@{raw}" if not gz or into == 0 else f"{display}@{raw}+{into}"
            if not line.startswith(b"WARC/"):
                raise ArchiveError("not a WARC record (no 'WARC/' version line)")
            headers = dict(_header_block(s, limits, "WARC"))
            length_text = headers.get("content-length", "")
            if not length_text.isdigit():
                raise ArchiveError("the record has no valid Content-Length")
            length = int(length_text)
            block_end = s.tell() + length
            rec = _Record(
                offset=where,
                loc=(member, raw, into),
                kind=headers.get("warc-type", "").lower(),
                uri=headers.get("warc-target-uri", "").strip("<>"),
                date=headers.get("warc-date", ""),
                record_id=headers.get("warc-record-id", ""),
                headers=headers,
            )
            used = 0
            block_type = headers.get("content-type", "").lower()
            is_http = block_type.startswith("application/http")
            if rec.kind in ("response", "revisit", "request") and is_http and length:
                rec.http, used = _http_head(s, limits, length)
            rec.payload_len = length - used
            if rec.kind in ("response", "resource") or _is_pageinfo(rec):
                want = SNIFF if not _is_pageinfo(rec) else min(rec.payload_len, limits.max_json_bytes)
                rec.head = s.read(min(want, rec.payload_len))
                used += len(rec.head)
            got = s.skip(length - used)
            if used + got < length:
                raise _Truncated(f"the record is truncated: {used + got:,} of {length:,} bytes")
            yield rec
        except ArchiveError as exc:
            raw, into = s.location(start)
            where = f"{display}@{raw}" if not gz or into == 0 else f"{display}@{raw}+{into}"
            yield _Record(offset=where, loc=(member, raw, into), kind="", uri="", date="", record_id="",
                          headers={}, error=str(exc))  # fmt: skip
            if isinstance(exc, _Truncated | _Exhausted):
                return
            if block_end is not None and not isinstance(exc, _Bomb):
                # A bad HTTP block in a well-formed record: the record's length says where the next is.
                need = block_end - s.tell()
                try:
                    if need >= 0 and s.skip(need) == need:
                        continue
                    return  # the file ends inside the record
                except ArchiveError:
                    pass
            if not s.resync():
                return


def _is_pageinfo(rec: _Record) -> bool:
    return rec.kind in ("resource", "metadata") and rec.uri.startswith("urn:pageinfo:")


def read_payload(fh: IO[bytes], raw: int, into: int, limit: int, limits: ArchiveLimits = LIMITS) -> bytes:
    """The HTTP payload (or resource block) of the record at (``raw``, ``into``), at most ``limit`` bytes,
    with a chunked transfer coding and a gzip/deflate content coding undone."""
    fh.seek(0)
    gz = fh.read(2) == GZIP_MAGIC
    s = _Stream(fh, raw, gz=gz, limits=limits, spent=[0])
    if s.skip(into) < into or not s.readline(limits.max_header_bytes).startswith(b"WARC/"):
        raise ArchiveError("the record is no longer where the archive had it (was the archive changed?)")
    headers = dict(_header_block(s, limits, "WARC"))
    length = int(headers.get("content-length", "0") or 0)
    used = 0
    http: _Http | None = None
    if headers.get("content-type", "").lower().startswith("application/http"):
        http, used = _http_head(s, limits, length)
    size = length - used
    hdrs = http.headers if http else {}
    chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
    raw_cap = limit + limit // 8 + 65536 if chunked else limit  # chunk-size lines add a little
    if size > raw_cap:
        raise ArchiveError(f"the image is {size:,} bytes, above the limit of {limit:,}")
    body = s.read(size)
    if len(body) < size:
        raise ArchiveError("the record is truncated")
    if chunked:
        body = _dechunk(body, raw_cap)
    coding = hdrs.get("content-encoding", "").lower().strip()
    if coding and sniff_mime(body[:SNIFF]) is not None:
        # Browser-based archivers (ArchiveWeb.page, Browsertrix) store the decoded body and may keep the
        # Content-Encoding header: the bytes are already the image.
        coding = ""
    if coding in ("gzip", "x-gzip", "deflate"):
        d = zlib.decompressobj(31 if "gzip" in coding else 15)
        try:
            body = d.decompress(body, limit + 1)
        except zlib.error as exc:
            raise ArchiveError(f"the image's {coding} content coding is corrupt ({exc})") from None
        if len(body) <= limit and not d.eof:
            raise ArchiveError(f"the image's {coding} content coding is truncated")
    elif coding not in ("", "identity"):
        raise ArchiveError(f"the image has a content coding reclaim does not undo ({coding[:20]!r})")
    if len(body) > limit:
        raise ArchiveError(f"the image is more than {limit:,} bytes, above the limit of {limit:,}")
    return body


def _dechunk(body: bytes, limit: int) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        nl = body.find(b"\n", i)
        if nl < 0:
            break
        size_text = body[i:nl].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ArchiveError("the image's chunked transfer coding is corrupt") from None
        if size == 0:
            break
        out += body[nl + 1 : nl + 1 + size]
        if len(out) > limit:
            raise ArchiveError(f"the image is more than {limit:,} bytes, above the limit")
        i = nl + 1 + size + 2
    return bytes(out)


def _captured_at(value: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- the source -------------------------------------------------------------------------------------------


@dataclass
class _Archive:
    """What one pass over an archive's WARCs found."""

    records: list[_Record] = field(default_factory=list)
    referers: dict[str, str] = field(default_factory=dict)  # request record id / target URI -> Referer
    pages: dict[str, str] = field(default_factory=dict)  # resource URL -> page URL (urn:pageinfo:)
    originals: dict[str, _Record] = field(default_factory=dict)  # payload digest / record id -> response


Opener = Callable[[str], AbstractContextManager[IO[bytes]]]


class WebArchiveSource(Source):
    """A ``.warc``, ``.warc.gz`` or ``.wacz`` file."""

    name: ClassVar[str] = "webarchive"
    limits: ClassVar[ArchiveLimits] = LIMITS

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_file() and is_web_archive_name(path.name)

    def entries(self, path: Path) -> Iterator[Entry | EntryError | Skipped]:
        name = display_path(path.name)
        try:
            digest = _sha256(path)
        except OSError as exc:
            yield EntryError(path=name, error=f"cannot read the archive ({exc.strerror or exc})")
            return
        if path.name.lower().endswith(WACZ_SUFFIX):
            yield from self._wacz(path, name, digest)
        else:
            yield from self._warc(path, name, digest)

    # -- a WARC file --------------------------------------------------------------------------------------

    def _warc(self, path: Path, name: str, digest: str) -> Iterator[Entry | EntryError | Skipped]:
        found = _Archive()
        spent = [0]
        with path.open("rb") as fh:
            yield from self._collect(fh, name, "", found, spent)

        @contextmanager
        def opener(_member: str) -> Iterator[IO[bytes]]:
            with path.open("rb") as fh:
                yield fh

        yield from self._emit(found, name, digest, opener, single_page=None)

    # -- a WACZ file --------------------------------------------------------------------------------------

    def _wacz(self, path: Path, name: str, digest: str) -> Iterator[Entry | EntryError | Skipped]:
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            yield EntryError(path=name, error=f"not a WACZ (ZIP) file ({exc})")
            return
        found = _Archive()
        spent = [0]
        pages: list[str] = []
        with zf:
            declared = self._datapackage(zf)
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                member = info.filename
                where = f"{name}!{display_path(member)}"
                if member.startswith("/") or ".." in member.replace("\\", "/").split("/") or "\x00" in member:
                    yield EntryError(
                        path=where, error="member name escapes the archive (absolute or '..'), refused"
                    )
                    continue
                if info.is_dir():
                    continue
                lower = member.lower()
                is_warc = lower.startswith("archive/") and lower.endswith(WARC_SUFFIXES)
                if member in declared and (is_warc or lower.endswith(".jsonl")):
                    problem = self._check_hash(zf, info, declared[member])
                    if problem:
                        yield EntryError(path=where, error=problem)
                if is_warc and spent[0] > self.limits.max_archive_bytes:
                    continue  # the cap was reached in an earlier member, and said so once
                if is_warc:
                    try:
                        with zf.open(info) as fh:
                            yield from self._collect(fh, where, member, found, spent)
                    except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as exc:
                        yield EntryError(path=where, error=f"cannot read this member of the WACZ ({exc})")
                    continue
                if lower.startswith("pages/") and lower.endswith(".jsonl"):
                    pages += self._pages(zf, info)
                yield Skipped(path=where, reason=EXPORT_FILE)

        @contextmanager
        def opener(member: str) -> Iterator[IO[bytes]]:
            with zipfile.ZipFile(path) as archive, archive.open(member) as fh:
                yield fh

        single = pages[0] if len(set(pages)) == 1 else None
        yield from self._emit(found, name, digest, opener, single_page=single)

    def _datapackage(self, zf: zipfile.ZipFile) -> dict[str, str]:
        """``path -> "sha256:..."`` from datapackage.json (empty when absent or unreadable)."""
        try:
            info = zf.getinfo("datapackage.json")
        except KeyError:
            return {}
        if info.file_size > self.limits.max_json_bytes:
            return {}
        try:
            doc = json.loads(zf.read(info))
            return {
                str(r["path"]): str(r["hash"])
                for r in doc.get("resources", [])
                if isinstance(r, dict) and "path" in r and "hash" in r
            }
        except (ValueError, TypeError, AttributeError, zipfile.BadZipFile, OSError):
            return {}

    def _check_hash(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, declared: str) -> str | None:
        algo, _, want = declared.partition(":")
        if algo.lower() not in ("sha256", "md5") or not want:
            return None
        h = hashlib.new(algo.lower())
        try:
            with zf.open(info) as fh:
                while chunk := fh.read(CHUNK):
                    h.update(chunk)
        except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as exc:
            return f"cannot read this member of the WACZ ({exc})"
        if h.hexdigest() != want.lower():
            return (
                f"its {algo} does not match datapackage.json: the WACZ was changed after it was packaged "
                "(its records are scanned all the same)"
            )
        return None

    def _pages(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[str]:
        if info.file_size > self.limits.max_json_bytes:
            return []
        out: list[str] = []
        for line in zf.read(info).splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and isinstance(doc.get("url"), str) and "format" not in doc:
                out.append(doc["url"])
        return out

    # -- both ---------------------------------------------------------------------------------------------

    def _collect(
        self, fh: IO[bytes], display: str, member: str, found: _Archive, spent: list[int]
    ) -> Iterator[EntryError | Skipped]:
        for rec in _records(fh, display, member, self.limits, spent):
            if rec.error is not None:
                yield EntryError(path=rec.offset, error=rec.error)
                continue
            if rec.kind == "request" and rec.http is not None:
                referer = rec.http.headers.get("referer")
                if referer:
                    found.referers[rec.record_id] = referer
                    concurrent = rec.headers.get("warc-concurrent-to")
                    if concurrent:  # Browsertrix: the request names its response
                        found.referers[concurrent] = referer
                    found.referers.setdefault(rec.uri, referer)
            elif _is_pageinfo(rec):
                self._pageinfo(rec, found)
                yield Skipped(
                    path=rec.offset, reason=EXPORT_FILE
                )  # the archiver's list of a page's resources
            elif rec.kind in ("response", "resource", "revisit"):
                found.records.append(rec)
                if rec.kind != "revisit" and rec.uri and not rec.uri.startswith("urn:"):
                    found.originals[rec.record_id] = rec
                    digest = rec.headers.get("warc-payload-digest")
                    if digest:
                        found.originals.setdefault(digest, rec)

    def _pageinfo(self, rec: _Record, found: _Archive) -> None:
        try:
            doc = json.loads(rec.head)
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        page = doc.get("url") or rec.uri.removeprefix("urn:pageinfo:")
        urls = doc.get("urls")
        if isinstance(page, str) and isinstance(urls, dict):
            for url in urls:
                if isinstance(url, str):
                    found.pages.setdefault(url, page)

    def _emit(
        self, found: _Archive, name: str, digest: str, opener: Opener, single_page: str | None
    ) -> Iterator[Entry | EntryError | Skipped]:
        limit = self.limits.max_record_bytes
        for rec in found.records:
            source = rec
            if rec.kind == "revisit":
                ref = rec.headers.get("warc-refers-to", "")
                original = found.originals.get(ref) or found.originals.get(
                    rec.headers.get("warc-payload-digest", "")
                )
                if original is None:
                    yield Skipped(
                        path=rec.offset, reason=NOT_MEDIA
                    )  # nothing to read: its original is elsewhere
                    continue
                source = original
            status = rec.http.status if rec.http is not None else None
            if rec.kind == "resource" and not rec.uri.lower().startswith(("http://", "https://")):
                yield Skipped(path=rec.offset, reason=EXPORT_FILE)  # screenshots, text: the archiver's own
                continue
            ok = status in (200, None) or (rec.kind == "revisit" and status == 304)
            hdrs = source.http.headers if source.http is not None else {}
            coded = hdrs.get("content-encoding", "").lower() not in ("", "identity")
            chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
            mime = sniff_mime(source.head) if ok else None
            if (
                ok
                and mime is None
                and (coded or chunked)
                and hdrs.get("content-type", "").lower().startswith("image/")
            ):
                # The head is compressed or chunked: undo that first. A header that says image and a payload
                # that cannot be read is a named error, not a skip.
                try:
                    mime = self._sniff_decoded(source, opener)
                except ValueError as exc:
                    yield EntryError(path=rec.offset, error=str(exc))
                    continue
            if mime is None:
                yield Skipped(path=rec.offset, reason=NOT_MEDIA)
                continue
            if source.payload_len > limit and not chunked:
                yield EntryError(
                    path=rec.offset,
                    error=f"the image is {source.payload_len:,} bytes, above the limit of {limit:,}",
                )
                continue
            at = _captured_at(rec.date)
            if at is None:
                yield EntryError(
                    path=rec.offset, error=f"the record's WARC-Date is not a date ({rec.date[:40]!r})"
                )
                continue
            page = self._page_of(rec, found) or single_page
            sighting = web_sighting(
                url=rec.uri,
                page_url=page if page != rec.uri else None,
                captured_at=at,
                http_status=status,
                archive=name,
                archive_sha256=digest,
            )
            sighting = replace(sighting, path=rec.offset)
            if mime.startswith("video/"):
                sighting = replace(sighting, media_type="video_file")
            member, raw, into = source.loc
            yield Entry(
                sighting=sighting, file=None, read=functools.partial(_read, opener, member, raw, into)
            )

    def _page_of(self, rec: _Record, found: _Archive) -> str | None:
        concurrent = rec.headers.get("warc-concurrent-to", "")
        return (
            found.referers.get(concurrent)
            or found.referers.get(rec.record_id)
            or found.referers.get(rec.uri)
            or found.pages.get(rec.uri)
        )

    def _sniff_decoded(self, rec: _Record, opener: Opener) -> str | None:
        member, raw, into = rec.loc
        return sniff_mime(_read(opener, member, raw, into, self.limits.max_record_bytes)[:SNIFF])


def _read(opener: Opener, member: str, raw: int, into: int, limit: int) -> bytes:
    """An entry's reader: the payload of one record, read again from the archive when the scan needs it."""
    try:
        with opener(member) as fh:
            return read_payload(fh, raw, into, limit)
    except ArchiveError as exc:
        raise ValueError(str(exc)) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"cannot read the record again ({exc})") from None


def is_web_archive_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(WARC_SUFFIXES) or lower.endswith(WACZ_SUFFIX)
