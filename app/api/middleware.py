"""ASGI middleware of the API: body size limit, bounded concurrency, last-resort error answer, metrics.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: cheaper per request, and an error answered here
is a normal response, so the server keeps the keep-alive connection open (an exception that escapes
to Starlette's ServerErrorMiddleware is re-raised to uvicorn, which then closes the connection).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import http_latency, http_requests
from app.schemas.envelope import ErrorItem, error_body

log = logging.getLogger(__name__)


async def send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class BodySizeLimit:
    """Bodies over ``max_bytes`` get 413 before they are read into memory: at once when Content-Length
    says so, otherwise as soon as the streamed body passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        try:
            too_big = declared is not None and int(declared) > self.max_bytes
        except ValueError:
            too_big = False  # the server rejects a malformed Content-Length itself
        if too_big:
            await send_json(send, 413, self._error())
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # An HTTPException: FastAPI re-raises it from body parsing, the handler answers 413.
                    raise HTTPException(413, detail=self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    def _error(self) -> dict[str, Any]:
        return error_body([ErrorItem(code="payload_too_large", message=self._message())])


class ConcurrencyLimit:
    """At most ``limit`` requests are processed at once; the rest wait here, holding neither a worker
    thread nor a database connection. Without this, FastAPI's 40 threads could each hold a session while
    waiting for one of fewer pooled connections, and requests timed out (p99 31 s at 50 clients).
    A request that waits longer than ``timeout`` seconds gets 503 with Retry-After."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float, retry_after: int, exempt: tuple[str, ...]):
        self.app = app
        self.limit = limit
        self.timeout = timeout
        self.retry_after = retry_after
        self.exempt = exempt
        self._semaphore: asyncio.Semaphore | None = None  # created in the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self.timeout)
        except TimeoutError:
            body = error_body([ErrorItem(code="unavailable", message="server busy; retry later")])
            await send_json(send, 503, body, {"Retry-After": str(self.retry_after)})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._semaphore.release()


class CatchAll:
    """Answers an unexpected exception with a 500 envelope (and logs it with a reference) instead of
    letting it escape: no internal text reaches the client and the connection stays usable."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("unhandled error on %s %s (ref %s)", scope.get("method"), scope.get("path"), ref)
            if started:  # part of the response is out; nothing sensible can follow
                raise
            item = ErrorItem(code="internal_error", message=f"internal error (reference {ref})")
            await send_json(send, 500, error_body([item]))


class RequestMetrics:
    """Prometheus request counter and latency histogram, labelled by route template."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            http_requests.labels(scope["method"], path, str(status)).inc()
            http_latency.labels(scope["method"], path).observe(time.perf_counter() - started)
