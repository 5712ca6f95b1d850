"""Liveness, readiness (DB + broker + at least one worker) and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.api.auth import bearer_scheme, require_caller
from app.api.deps import SessionDep, SettingsDep, TaskQueueDep
from app.core.db import get_engine
from app.core.task_queue import TaskQueue
from app.metrics import registry
from app.schemas.envelope import ok

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def ops_access(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """/readyz and /metrics are open for probes and scrapers unless OPS_REQUIRE_KEY is set."""
    if settings.ops_require_key:
        require_caller(request, session, settings, credentials)


@router.get("/healthz", summary="The API process is alive")
def healthz() -> dict[str, Any]:
    return ok({"status": "ok"})


def _check_db() -> str | None:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if version else "database has no migration applied"
    except Exception:
        # Host, port and driver text stay in the log: /readyz may be reachable by anyone.
        log.warning("readiness: database check failed", exc_info=True)
        return "database unreachable"


def _check_broker_and_workers(
    queue: TaskQueue, timeout: float
) -> tuple[str | None, str | None, list[str]]:
    try:
        queue.check_broker(timeout)
    except Exception:
        log.warning("readiness: broker check failed", exc_info=True)
        return "broker unreachable", None, []
    try:
        workers = queue.ping_workers(timeout)
    except Exception:
        log.warning("readiness: worker ping failed", exc_info=True)
        return None, "workers: ping failed", []
    return None, None if workers else "no worker answered a ping", workers


@router.get(
    "/readyz",
    summary="Ready when PostgreSQL, Redis and at least one worker answer",
    dependencies=[Depends(ops_access)],
)
def readyz(settings: SettingsDep, queue: TaskQueueDep) -> JSONResponse:
    db_error = _check_db()
    broker_error, worker_error, workers = _check_broker_and_workers(queue, settings.readiness_timeout)
    checks = {
        "database": db_error or "ok",
        "broker": broker_error or "ok",
        "workers": worker_error or workers,
    }
    errors = [
        {"code": "not_ready", "message": e, "field": None}
        for e in (db_error, broker_error, worker_error)
        if e
    ]
    body = ok(checks)
    body["errors"] = errors
    headers = {"Retry-After": str(settings.unavailable_retry_after)} if errors else None
    return JSONResponse(body, status_code=503 if errors else 200, headers=headers)


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response, dependencies=[Depends(ops_access)]
)
def metrics() -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
