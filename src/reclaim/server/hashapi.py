"""The platforms' hash API, shaped like hasher-matcher-actioner's: ``/h`` hashes, ``/m`` matches.

- ``POST /h/hash``: a multipart ``file`` -> its SHA-256, MD5 and PDQ (frame 0, the standard variant, as
  the library computes it). Nothing is stored or logged: the file is the platform's, not evidence.
- ``GET /m/lookup?signal_type=pdq&signal=<hex>`` / ``POST /m/lookup`` / ``POST /m/lookup/batch``: matches
  in the confirmed hash bank (PDQ within 31 bits; MD5 equal; ``signal_type=vpdq`` with
  python-threatexchange's vPDQ serialisation: videos by its rule, with both match percentages), each
  ``{bank_id, signal_type, distance}``.
- ``GET /m/bank``: the bank's hashes (JSON, JSON lines, or python-threatexchange's ``pdq <hex>`` lines).

Platforms never see media, persons or cases: a bank id is the SHA-256 of a confirmed item's content.
Roles: ``/h`` admin, advocate, platform; ``/m`` admin, platform. See docs/hash-api.md and bank.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Receive, Scope, Send

from reclaim.errors import MediaError, ReclaimError
from reclaim.media import WORK_SIDE, MediaLimits, decode_media
from reclaim.server.auth import AuthError, Forbidden, Principal, principal_for_token
from reclaim.server.bank import BankMatch, BankSignalType, HashBank, workspace_bank_file
from reclaim.server.deps import current_principal, http_error, multipart_body, optional_principal
from reclaim.signals import (
    SIGNALS_BY_NAME,
    Md5Signal,
    PdqSignal,
    Sha256Signal,
    first_values,
    hash_media,
    hash_video,
)
from reclaim.signals.vpdq import from_values, to_te
from reclaim.workspace import Workspace

log = logging.getLogger(__name__)

HASH_MAX_BYTES = 64 * 2**20
"""The largest file ``/h/hash`` accepts (also capped by the server's upload limit)."""
MULTIPART_OVERHEAD = 64 * 1024
BATCH_MAX = 1000
LOOKUP_MAX_CHARS = 80 * 3600 * 2
"""The longest signal a lookup takes: a vPDQ of two hours of video at one feature (≤ 80 characters) per
second (a GET's URL is bounded by the server before that; POST takes it)."""

HASH_ROLES = ("admin", "advocate", "platform")
MATCH_ROLES = ("admin", "platform")

hasher = APIRouter(prefix="/h", tags=["hash API"])
matcher = APIRouter(prefix="/m", tags=["hash API"])

TOKEN_TTL_S = 5.0
"""How long a checked API token is trusted on ``/h`` and ``/m`` without asking the database again."""


class TokenCache:
    """Principals of recently checked API tokens (keyed by the token's SHA-256), for ``TOKEN_TTL_S``.

    The app's token check costs ≈ 1.2 ms of CPU per request (two queries and a commit of
    ``last_used_at``): more than the lookup itself, and the difference between ≈ 330 and ≥ 500 lookups/s.
    So a revoked token or a deactivated account still works here for up to ``TOKEN_TTL_S`` seconds, and
    ``last_used_at`` is updated at most that often. Failures are never cached; session cookies (the UI)
    take the app's usual path every time.

    Past half its time an entry is re-checked in the background (:func:`recheck_later`) while it keeps
    answering, so a busy token's requests never wait for the database (nor for another worker's write
    of ``last_used_at``). An entry's time counts from the moment its check began, so a revoked token
    stops working within ``TOKEN_TTL_S``."""

    MAX = 10_000

    def __init__(self, ttl_s: float = TOKEN_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self._rechecking: set[bytes] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # the background re-checks (kept from the GC)

    def get(self, key: bytes) -> Principal | None:
        hit = self._entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: bytes, principal: Principal, checked_at: float | None = None) -> None:
        """Cache ``principal`` for ``ttl_s`` from ``checked_at`` (``time.monotonic()`` when its check
        began; now by default)."""
        start = time.monotonic() if checked_at is None else checked_at
        with self._lock:
            if len(self._entries) >= self.MAX:
                self._entries.clear()
            self._entries[key] = (start + self.ttl_s, principal)

    def claim_recheck(self, key: bytes) -> bool:
        """Whether the caller should re-check this entry now: it is past half its time and no re-check of
        it is running (the caller then owns it until :meth:`recheck_done`)."""
        hit = self._entries.get(key)
        if hit is None or hit[0] - time.monotonic() > self.ttl_s / 2:
            return False
        with self._lock:
            if key in self._rechecking:
                return False
            self._rechecking.add(key)
            return True

    def recheck_done(self, key: bytes, principal: Principal | None, checked_at: float) -> None:
        """The outcome of a re-check: renewed, or (``None``: the token is no longer valid) dropped."""
        if principal is None:
            with self._lock:
                self._entries.pop(key, None)
        else:
            self.put(key, principal, checked_at)
        with self._lock:
            self._rechecking.discard(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def recheck_later(state: Any, token: str, key: bytes) -> None:
    """Re-check a cached token against the database in a worker thread (from the event loop), leaving its
    cached principal to answer meanwhile."""
    cache: TokenCache = state.hash_api_tokens

    async def recheck() -> None:
        checked_at = time.monotonic()
        principal: Principal | None = None
        try:
            principal = await run_in_threadpool(_check_token, state.workspace, token)
        except AuthError:
            pass
        except Exception:  # e.g. the database is busy: dropped, so the next request checks it itself
            log.exception("re-checking an API token failed")
            cache.recheck_done(key, None, checked_at)
            return
        cache.recheck_done(key, principal, checked_at)

    task = asyncio.get_running_loop().create_task(recheck())
    cache.tasks.add(task)
    task.add_done_callback(cache.tasks.discard)


def _check_token(ws: Workspace, token: str) -> Principal:
    with ws.session() as session:
        principal = principal_for_token(session, token)
        session.commit()  # last_used_at
        return principal


def allow(*roles: str) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """Like the app's ``require(*roles)``, with API tokens checked through the :class:`TokenCache`."""

    async def check(request: Request) -> Principal:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        principal: Principal | None
        if auth and scheme.lower() == "bearer" and token:
            cache: TokenCache = request.app.state.hash_api_tokens
            key = hashlib.sha256(token.encode()).digest()
            principal = cache.get(key)
            if principal is None:
                checked_at = time.monotonic()
                principal = await run_in_threadpool(_check_token, request.app.state.workspace, token)
                cache.put(key, principal, checked_at)
            elif cache.claim_recheck(key):
                recheck_later(request.app.state, token, key)
        else:
            ws: Workspace = request.app.state.workspace
            with ws.session() as session:
                principal = await current_principal(await optional_principal(request, session))
        if principal.role not in roles:
            raise Forbidden(f"a {principal.role} account cannot do this")
        return principal

    return check


Hasher = Annotated[Principal, Depends(allow(*HASH_ROLES))]
Matcher = Annotated[Principal, Depends(allow(*MATCH_ROLES))]


class HashOut(BaseModel):
    sha256: str
    md5: str
    pdq: str | None = Field(description="PDQ of the first frame (64 hex digits); None if it has no frame")
    pdq_quality: int | None = Field(description="0-100; below 50 the hash is not used for matching")
    vpdq: str | None = Field(
        default=None,
        description="Videos only: the vPDQ in python-threatexchange's serialisation (null where the vpdq "
        "package is not installed); absent for images",
    )


class LookupIn(BaseModel):
    signal_type: BankSignalType = "pdq"
    signal: str = Field(
        max_length=LOOKUP_MAX_CHARS,
        description="PDQ: 64 hex digits; MD5: 32 hex digits; vPDQ: python-threatexchange's serialisation "
        '(a JSON list of "<pdq hex>,<quality>,<timestamp>" strings)',
    )

    @model_validator(mode="after")
    def _valid(self) -> LookupIn:
        self.signal = SIGNALS_BY_NAME[self.signal_type].validate(self.signal)
        return self


class MatchOut(BaseModel):
    bank_id: str = Field(description="The SHA-256 of the banked content")
    signal_type: BankSignalType
    distance: int = Field(
        description="PDQ: Hamming distance in bits (≤ 31); MD5: 0; vPDQ: 100 − the larger match percentage"
    )
    query_match_percent: float | None = Field(
        default=None, description="vPDQ only: % of the query's frames found in the banked video"
    )
    compared_match_percent: float | None = Field(
        default=None, description="vPDQ only: % of the banked video's frames found in the query"
    )


class LookupOut(BaseModel):
    matches: list[MatchOut]


class BatchIn(BaseModel):
    queries: list[LookupIn] = Field(max_length=BATCH_MAX)


class BatchOut(BaseModel):
    results: list[LookupOut] = Field(description="One per query, in order")


class BankEntryOut(BaseModel):
    bank_id: str
    signal_type: BankSignalType
    signal: str
    quality: int | None = None


class BankOut(BaseModel):
    count: int
    entries: list[BankEntryOut]


def get_bank(request: Request) -> HashBank:
    bank: HashBank = request.app.state.hash_bank
    return bank


async def fresh_bank(request: Request) -> HashBank:
    """The bank, re-checked against the database when due (in a worker thread; lookups never wait for a
    rebuild once a bank exists)."""
    bank = get_bank(request)
    if bank.due():
        ws: Workspace = request.app.state.workspace
        await run_in_threadpool(bank.refresh, ws.session)
    return bank


Bank = Annotated[HashBank, Depends(fresh_bank)]


# --- /h ---------------------------------------------------------------------------------------------------


_HASHED = (Sha256Signal, Md5Signal, PdqSignal)
"""What ``/h/hash`` answers: the byte hashes and standard PDQ (never reclaim's own pdq64)."""


def _hash_bytes(data: bytes, limit: int) -> HashOut:
    media = decode_media(data, limits=MediaLimits(max_bytes=limit, max_side=WORK_SIDE, max_frames=1))
    first = first_values(hash_media(data, media, signal_types=_HASHED))
    pdq = first.get(PdqSignal.name)
    out = HashOut(
        sha256=first[Sha256Signal.name].value,
        md5=first[Md5Signal.name].value,
        pdq=None if pdq is None else pdq.value,
        pdq_quality=None if pdq is None else pdq.quality,
    )
    if media.kind == "video":  # set only for videos: an image's answer keeps its shape
        features = from_values(hash_video(data, media).values)
        out.vpdq = to_te(features) if features else None
    return out


_MULTIPART_BODY = multipart_body({"file": {"type": "string", "format": "binary"}}, ["file"])


@hasher.post(
    "/hash",
    openapi_extra=_MULTIPART_BODY,
    responses={413: {}, 422: {}, 503: {}},
    response_model_exclude_unset=True,
)
async def hash_file(request: Request, principal: Hasher) -> HashOut:
    """Hash an image, animation or video (multipart field ``file``) without storing it; a video also
    gets its vPDQ. Bad or over-limit files get 422 with the reason; files above the size limit 413."""
    limit = min(HASH_MAX_BYTES, request.app.state.settings.upload_max_bytes)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise http_error(413, f"the file is larger than the limit of {limit // 2**20} MiB")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise http_error(422, "send the file as multipart/form-data in the field 'file'")
    slots = hash_slots(request.app)
    if slots.locked():
        # Each hash holds a file and its decoded frame in memory: beyond HASH_CONCURRENCY at once, callers
        # wait their turn on their side instead of growing the server's memory.
        raise http_error(503, "busy hashing other files; retry shortly", headers={"Retry-After": "1"})
    async with slots:
        return await _hash_upload(request, limit)


HASH_CONCURRENCY = max(1, min(4, os.cpu_count() or 1))
"""Files ``/h/hash`` reads and decodes at once (one per core, at most 4)."""


def hash_slots(app: FastAPI) -> asyncio.Semaphore:
    """The app's ``/h/hash`` semaphore (made on first use, inside the event loop)."""
    slots = getattr(app.state, "hash_slots", None)
    if not isinstance(slots, asyncio.Semaphore):
        slots = asyncio.Semaphore(HASH_CONCURRENCY)
        app.state.hash_slots = slots
    return slots


async def _hash_upload(request: Request, limit: int) -> HashOut:
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise http_error(422, "send the file as multipart/form-data in the field 'file'")
        data = await upload.read(limit + 1)
    if len(data) > limit:
        raise http_error(413, f"the file is larger than the limit of {limit // 2**20} MiB")
    if not data:
        raise http_error(422, "the file is empty")
    try:
        return await run_in_threadpool(_hash_bytes, data, limit)
    except MediaError as exc:
        raise http_error(422, str(exc)) from exc


# --- /m ---------------------------------------------------------------------------------------------------


def _out(matches: list[BankMatch]) -> LookupOut:
    return LookupOut(
        matches=[
            MatchOut(
                bank_id=m.bank_id,
                signal_type=m.signal_type,
                distance=m.distance,
                query_match_percent=m.query_match_percent,
                compared_match_percent=m.compared_match_percent,
            )
            for m in matches
        ]
    )


# The percentages are left out of PDQ and MD5 answers (response_model_exclude_none): their shape is unchanged.
@matcher.get("/lookup", response_model_exclude_none=True)
async def lookup_get(principal: Matcher, query: Annotated[LookupIn, Query()], bank: Bank) -> LookupOut:
    """Matches for one hash: PDQ within 31 bits (of the bank's 8 flips/rotations), MD5 exactly."""
    return _out(bank.lookup(query.signal_type, query.signal))


@matcher.post("/lookup", response_model_exclude_none=True)
async def lookup_post(principal: Matcher, body: LookupIn, bank: Bank) -> LookupOut:
    """The same as ``GET /m/lookup`` with a JSON body ``{signal_type, signal}``."""
    return _out(bank.lookup(body.signal_type, body.signal))


@matcher.post("/lookup/batch", response_model_exclude_none=True)
def lookup_batch(principal: Matcher, body: BatchIn, bank: Bank) -> BatchOut:
    """Up to 1000 lookups in one request; ``results[i]`` answers ``queries[i]``."""
    return BatchOut(results=[_out(bank.lookup(q.signal_type, q.signal)) for q in body.queries])


BankFormat = Literal["json", "jsonl", "text"]


@matcher.get("/bank", response_model=BankOut, responses={200: {"content": {"application/x-ndjson": {}}}})
def bank_export(
    principal: Matcher, bank: Bank, fmt: Annotated[BankFormat, Query(alias="format")] = "json"
) -> BankOut | StreamingResponse:
    """Every hash in the bank: PDQ (variant 0, quality ≥ 50) and MD5 per entry. ``format=jsonl``
    streams one JSON object a line; ``format=text`` streams python-threatexchange's ``<type> <hash>``
    lines (``pdq <hex>``, ``md5 <hex>``)."""
    if fmt == "json":
        entries = [
            BankEntryOut(bank_id=r.bank_id, signal_type=r.signal_type, signal=r.signal, quality=r.quality)
            for r in bank.rows()
        ]
        return BankOut(count=len(entries), entries=entries)

    def lines() -> Iterator[str]:
        for r in bank.rows():
            if fmt == "text":
                yield f"{r.signal_type} {r.signal}\n"
            else:
                row = {"bank_id": r.bank_id, "signal_type": r.signal_type, "signal": r.signal}
                yield json.dumps(row | {"quality": r.quality}) + "\n"

    media_type = "text/plain; charset=utf-8" if fmt == "text" else "application/x-ndjson"
    return StreamingResponse(lines(), media_type=media_type)


class LookupFastPath:
    """``GET /m/lookup`` of a PDQ or MD5 by an API token checked within the last ``TOKEN_TTL_S`` seconds,
    answered before FastAPI's routing, dependencies and response model (a third of a lookup's CPU at 1M
    hashes: 0.64 ms a request, py-spy). Everything else takes the normal route, which gives the same
    answer byte for byte (tested): other paths and methods, a request with a body, a session cookie
    without a token, a token not in the cache (checked against the database there, then cached), a role
    without ``/m``, a malformed, vPDQ or unusual query (its 422 comes from there), a bank due for its
    refresh. Added last, so it is the outermost middleware: its answers carry ``Cache-Control:
    no-store`` themselves."""

    PATH = "/m/lookup"
    HEADERS = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"))

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.PATH and scope["method"] == "GET":
            body = self._answer(scope)
            if body is not None:
                headers = [*self.HEADERS, (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> bytes | None:
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, bearer = value.partition(b" ")
                if scheme.lower() != b"bearer" or token is not None:
                    return None
                token = bearer.strip()
            elif name in (b"content-length", b"transfer-encoding"):
                return None
        cache: TokenCache | None = getattr(self.state, "hash_api_tokens", None)
        if not token or cache is None:
            return None
        key = hashlib.sha256(token).digest()
        principal = cache.get(key)
        bank: HashBank | None = getattr(self.state, "hash_bank", None)
        if principal is None or principal.role not in MATCH_ROLES or bank is None or bank.due():
            return None
        if cache.claim_recheck(key):
            recheck_later(self.state, token.decode("latin-1"), key)
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        query = dict(params)
        if len(query) != len(params) or not query.keys() <= {"signal_type", "signal"}:
            return None
        signal_type = query.get("signal_type", "pdq")
        if signal_type not in ("pdq", "md5") or "signal" not in query:
            return None
        try:
            value = SIGNALS_BY_NAME[signal_type].validate(query["signal"])
        except (ValueError, ReclaimError):
            return None
        matches = [
            {"bank_id": m.bank_id, "signal_type": m.signal_type, "distance": m.distance}
            for m in bank.lookup(signal_type, value)
        ]
        return json.dumps({"matches": matches}, ensure_ascii=False, separators=(",", ":")).encode()


def include(app: FastAPI) -> None:
    """Adds ``/h`` and ``/m`` and the hash bank ``app.state.hash_bank`` (loaded on the first lookup): the
    workspace's bank file, which every worker process maps and shares (see :class:`HashBank`)."""
    if getattr(app.state, "hash_bank", None) is None:
        ws: Workspace = app.state.workspace
        app.state.hash_bank = HashBank(file=workspace_bank_file(ws.root))
    app.state.hash_api_tokens = TokenCache()
    app.add_middleware(LookupFastPath, state=app.state)
    app.include_router(hasher)
    app.include_router(matcher)
