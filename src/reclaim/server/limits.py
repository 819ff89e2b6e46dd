"""Limits before work: a request body is capped before anything parses it, and before authentication.

:class:`BodyLimit` is plain ASGI middleware, outermost in the app. Each request gets a cap from its path
(:func:`body_cap`): the routes that take files get the server's upload limit, ``/h/hash`` the hash API's,
every other route :data:`JSON_MAX_BYTES`. A declared ``Content-Length`` above the cap is answered 413 at
once, without reading a byte; a body sent without one (chunked) is counted as it arrives and cut off with
413 when it passes the cap. Nothing downstream (JSON parsing, the multipart parser's temporary files,
authentication) sees more than the cap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_MAX_BYTES = 1024 * 1024
"""Every route that takes no files: sign-in, review decisions, notices, hash look-ups (a batch of 1,000
look-ups is about 120 KB)."""
MULTIPART_OVERHEAD = 64 * 1024

UPLOAD_ROUTES = (re.compile(r"^/api/cases/[^/]+/uploads$"), re.compile(r"^/cases/[^/]+/upload$"))
"""Material to scan: up to the server's upload limit."""
ENROL_ROUTE = re.compile(r"^/api/cases/[^/]+/person$")
ENROL_MAX_BYTES = 10 * 30 * 1024**2 + 2 * 5000
"""An enrolment: at most 10 photos and known images of 30 MiB each (reclaim.server.cases), name, consent."""


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the cap: an HTTPException, so that the framework
    answers 413 wherever the body was being read (FastAPI turns other errors there into a 400)."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"the request body is larger than this route's limit of {cap:,} bytes")


def body_cap(path: str, *, upload_max: int, hash_max: int) -> int:
    """The largest body the route at ``path`` accepts."""
    if path == "/h/hash":
        return hash_max + MULTIPART_OVERHEAD
    if any(r.match(path) for r in UPLOAD_ROUTES):
        return upload_max + MULTIPART_OVERHEAD
    if ENROL_ROUTE.match(path):
        return ENROL_MAX_BYTES + MULTIPART_OVERHEAD
    return JSON_MAX_BYTES


class BodyLimit:
    """Answer 413 to a body above its route's cap (see the module)."""

    def __init__(self, app: ASGIApp, *, upload_max: int, hash_max: int) -> None:
        self.app = app
        self.upload_max = upload_max
        self.hash_max = hash_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = body_cap(str(scope.get("path", "")), upload_max=self.upload_max, hash_max=self.hash_max)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            await _too_large(send, cap)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(send, cap)


async def _too_large(send: Send, cap: int) -> None:
    body = json.dumps({"detail": f"the request body is larger than this route's limit of {cap:,} bytes"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
