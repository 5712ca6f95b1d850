"""Liveness, readiness (DB + broker + at least one worker) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.api.deps import SettingsDep, TaskQueueDep
from app.core.db import get_engine
from app.core.task_queue import TaskQueue
from app.metrics import registry
from app.schemas.envelope import ok

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The API process is alive")
def healthz() -> dict[str, Any]:
    return ok({"status": "ok"})


def _check_db() -> str | None:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if version else "database has no migration applied"
    except Exception as exc:
        return f"database: {type(exc).__name__}: {exc}".splitlines()[0]


def _check_broker_and_workers(
    queue: TaskQueue, timeout: float
) -> tuple[str | None, str | None, list[str]]:
    try:
        queue.check_broker(timeout)
    except Exception as exc:
        return f"broker: {type(exc).__name__}: {exc}".splitlines()[0], None, []
    try:
        workers = queue.ping_workers(timeout)
    except Exception as exc:
        return None, f"workers: {type(exc).__name__}: {exc}", []
    return None, None if workers else "no worker answered a ping", workers


@router.get("/readyz", summary="Ready when PostgreSQL, Redis and at least one worker answer")
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
    return JSONResponse(body, status_code=503 if errors else 200)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
