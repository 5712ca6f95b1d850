"""GET /v1/jobs/{id}/events: the job's state and progress as Server-Sent Events, until it ends.

Every event's data is the job document, the same JSON as ``GET /v1/jobs/{id}``'s ``data``:

- ``event: job`` — the first one (the job as it is now), then one per change of state, progress,
  phases, counts, screen or error;
- ``event: end`` — the job reached a terminal state (succeeded, failed, cancelled); the stream closes.

Each event carries ``id:``, an opaque version of the document (a hash of it, ``running_seconds``
left out since it moves every second), and the stream starts with a ``retry:`` hint. A client that
reconnects with ``Last-Event-ID`` gets the first event only if the job changed since that version;
if it had already received the terminal event the answer is 204 (EventSource stops reconnecting on
204). Comments (``: keep-alive``) go out after ``SSE_HEARTBEAT_INTERVAL`` seconds of silence so
proxies keep the connection open; after ``SSE_MAX_SECONDS`` the server closes the stream and the
client reconnects with ``Last-Event-ID``.

Why polling and not Redis pub/sub: the worker already writes progress to PostgreSQL every
``PROGRESS_INTERVAL``, so the database is the one source of truth and nothing can be missed between
a subscribe and a read. Each look is one short session in a worker thread (a pooled connection for a
few ms); between looks a stream holds neither a thread nor a connection, only an ``asyncio.sleep``.
The concurrency limit of app/main.py skips these paths, since a stream stays open for minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import SessionDep, SettingsDep
from app.api.resources import JobDep
from app.core.config import Settings
from app.core.db import get_sessionmaker
from app.services import jobs as job_service
from app.tables import Job

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
MEDIA_TYPE = "text/event-stream"
# Threads the streams' database looks may use at once in one process: many open streams then queue
# for these instead of crowding out ordinary requests in the shared threadpool.
POLL_THREADS = 4

_limiters: dict[int, anyio.CapacityLimiter] = {}


def event_id(doc: dict[str, Any]) -> str:
    """Version of a job document: equal ids mean nothing a watcher cares about changed."""
    timings = {k: v for k, v in (doc.get("timings") or {}).items() if k != "running_seconds"}
    canonical = json.dumps({**doc, "timings": timings}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def format_event(
    event: str, data: dict[str, Any], version: str | None = None, retry_ms: int | None = None
) -> str:
    """One SSE event. The JSON is on one line (json.dumps escapes newlines), so one ``data:`` field."""
    lines = []
    if retry_ms is not None:
        lines.append(f"retry: {retry_ms}")
    if version is not None:
        lines.append(f"id: {version}")
    lines.append(f"event: {event}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'), default=str)}")
    return "\n".join(lines) + "\n\n"


def format_comment(text: str) -> str:
    return f": {text}\n\n"


def _limiter() -> anyio.CapacityLimiter:
    # One per event loop (a CapacityLimiter belongs to the loop it was made in; tests start several).
    loop = id(asyncio.get_running_loop())
    if loop not in _limiters:
        _limiters.clear()
        _limiters[loop] = anyio.CapacityLimiter(POLL_THREADS)
    return _limiters[loop]


def _load(job_id: uuid.UUID) -> dict[str, Any] | None:
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        return None if job is None else job_service.job_out(session, job).model_dump(mode="json")


async def job_events(
    request: Request, job_id: uuid.UUID, first: dict[str, Any], last_event_id: str | None, settings: Settings
) -> AsyncIterator[str]:
    """The stream: ``first`` is the job as the request found it (ownership already checked)."""
    started = time.monotonic()
    last_write = started
    sent = last_event_id
    doc: dict[str, Any] | None = first
    yield f"retry: {settings.sse_retry_ms}\n\n"
    while True:
        now = time.monotonic()
        if doc is not None:
            version = event_id(doc)
            if doc["state"] in TERMINAL:
                yield format_event("end", doc, version)
                return
            if version != sent:
                yield format_event("job", doc, version)
                sent, last_write = version, now
        if now - started >= settings.sse_max_seconds:
            yield format_comment("stream lifetime reached; reconnect with Last-Event-ID")
            return
        if now - last_write >= settings.sse_heartbeat_interval:
            yield format_comment("keep-alive")
            last_write = now
        await asyncio.sleep(settings.sse_poll_interval)
        if await request.is_disconnected():
            return
        try:
            doc = await anyio.to_thread.run_sync(_load, job_id, limiter=_limiter())
        except SQLAlchemyError as exc:  # database briefly away: keep the stream, look again next time
            log.warning("event stream of job %s: cannot read the job: %s", job_id, exc)
            doc = None
            continue
        if doc is None:  # deleted under us (a submission undone when the broker was down)
            yield format_event("gone", {"id": str(job_id), "message": f"job {job_id} no longer exists"})
            return


def _first_look(session: SessionDep, job: Job) -> dict[str, Any]:
    try:
        return job_service.job_out(session, job).model_dump(mode="json")
    finally:
        session.close()  # give the pooled connection back now, not when the stream ends


EVENTS_DESCRIPTION = """Server-Sent Events (`text/event-stream`) of the job until it ends. Each event's
`data` is the job document (as `GET /v1/jobs/{id}`): `event: job` now and on every change of state,
progress, phases or counts; `event: end` once at the terminal state, then the stream closes
(`event: gone` if the job disappears). `id:` is an opaque version of the document: reconnect with
`Last-Event-ID` and an unchanged job is not sent again; 204 when that id was the terminal event.
`retry:` hints the reconnect delay (ms); `: keep-alive` comments follow silences of
`SSE_HEARTBEAT_INTERVAL` s; the server ends a stream after `SSE_MAX_SECONDS` (reconnect with
`Last-Event-ID`). Browsers: `EventSource` cannot send the Authorization header; read the stream with
`fetch` and a `ReadableStream` reader. Example: `curl -N -H "Authorization: Bearer $KEY" .../events`."""


@router.get(
    "/{job_id}/events",
    summary="Live state and progress of a job (Server-Sent Events)",
    description=EVENTS_DESCRIPTION,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An event stream (`event: job`, then `event: end`).",
            "content": {
                MEDIA_TYPE: {
                    "schema": {"type": "string"},
                    "example": 'retry: 2000\n\nid: 3f1c0a9e5b2d7c41\nevent: job\ndata: {"id": "...", '
                    '"state": "running", "progress": 0.42, ...}\n\n',
                }
            },
        },
        204: {"description": "`Last-Event-ID` names the terminal event: nothing more will come."},
        401: {"description": "Missing, unknown or revoked API key."},
        404: {"description": "No such job, or another key's job."},
    },
)
async def stream_job_events(
    request: Request,
    job: JobDep,
    session: SessionDep,
    settings: SettingsDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=128,
            description="The `id` of the last event received; an unchanged job is then not sent again.",
        ),
    ] = None,
) -> Response:
    first = await run_in_threadpool(_first_look, session, job)
    if first["state"] in TERMINAL and last_event_id == event_id(first):
        return Response(status_code=204)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering (nginx)
    stream = job_events(request, job.id, first, last_event_id, settings)
    return StreamingResponse(stream, media_type=MEDIA_TYPE, headers=headers)
