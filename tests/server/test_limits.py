"""Limits before work (issue 12, D2 and /h/hash): a body is capped before it is parsed and before its sender
is authenticated; an upload's body is not read at all for a caller who may not upload; /h/hash hashes at
most HASH_CONCURRENCY files at once. The app is called at the ASGI level with a body that counts how much
of it the server pulled."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from PIL import Image

from reclaim.server.hashapi import HASH_CONCURRENCY, hash_slots
from reclaim.server.limits import JSON_MAX_BYTES

from .conftest import Account

pytestmark = pytest.mark.anyio

CHUNK = 64 * 1024


class Body:
    """A request body sent in CHUNK-sized messages, counting the messages the app asked for."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def receive(self) -> dict[str, Any]:
        chunk = next(self.chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}


async def call(app: FastAPI, path: str, headers: dict[str, str], body: Body) -> tuple[int, dict[str, str]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 443),
    }
    response: dict[str, Any] = {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            response["status"] = message["status"]
            response["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}

    await app(scope, body.receive, send)
    return response["status"], response["headers"]


def endless(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * CHUNK
        sent += CHUNK


async def test_a_declared_oversized_body_is_refused_unread(app: FastAPI) -> None:
    body = Body(endless(300 * 2**20))
    status, _ = await call(
        app, "/api/login", {"content-type": "application/json", "content-length": str(300 * 2**20)}, body
    )
    assert status == 413 and body.pulled == 0


async def test_an_undeclared_oversized_body_is_cut_off_at_the_cap(app: FastAPI) -> None:
    body = Body(endless(300 * 2**20))  # chunked: no Content-Length
    status, _ = await call(app, "/api/login", {"content-type": "application/json"}, body)
    assert status == 413
    assert body.pulled <= JSON_MAX_BYTES // CHUNK + 1, body.pulled


async def test_an_anonymous_upload_is_refused_before_its_body_is_read(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    headers = {"content-type": "multipart/form-data; boundary=xyz", "content-length": str(5 * 2**20)}
    for path in ("/api/cases/abc/uploads", "/api/cases/abc/person"):
        body = Body(endless(5 * 2**20))
        status, _ = await call(app, path, headers, body)
        assert status == 401 and body.pulled == 0, (path, status, body.pulled)
        # a signed-in caller who may not write to the case: refused before the body too
        body = Body(endless(5 * 2**20))
        token = {"authorization": f"Bearer {accounts['viewer'].token}"}
        status, _ = await call(app, path, {**headers, **token}, body)
        assert status == 403 and body.pulled == 0, (path, status, body.pulled)


def _multipart_jpeg() -> tuple[str, bytes]:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 90, 200)).save(buf, "JPEG")
    b = b"reclaimboundary"
    body = (
        b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + buf.getvalue() + b"\r\n--" + b + b"--\r\n"
    )
    return f"multipart/form-data; boundary={b.decode()}", body


async def test_hashing_is_capped_at_hash_concurrency_files_at_once(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    content_type, data = _multipart_jpeg()
    headers = {
        "content-type": content_type,
        "content-length": str(len(data)),
        "authorization": f"Bearer {accounts['platform'].token}",
    }
    slots = hash_slots(app)
    for _ in range(HASH_CONCURRENCY):  # every slot busy, as with HASH_CONCURRENCY large files in flight
        await slots.acquire()
    body = Body(iter([data]))
    status, response_headers = await call(app, "/h/hash", headers, body)
    assert status == 503 and response_headers.get("retry-after") == "1" and body.pulled == 0
    slots.release()
    status, _ = await call(app, "/h/hash", headers, Body(iter([data])))
    assert status == 200
    for _ in range(HASH_CONCURRENCY - 1):
        slots.release()
    # and many at once: all answered, none beyond the cap in flight (the rest are told to retry)
    results = await asyncio.gather(*(call(app, "/h/hash", headers, Body(iter([data]))) for _ in range(12)))
    assert {s for s, _ in results} <= {200, 503} and any(s == 200 for s, _ in results)
