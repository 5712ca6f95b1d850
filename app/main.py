"""FastAPI application: routers, the {data, meta, errors} envelope for every error, request metrics.

Run with ``uvicorn app.main:app``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.middleware import BodySizeLimit, CatchAll, ConcurrencyLimit, RequestMetrics
from app.api.routes import events as job_event_routes
from app.api.routes import health, jobs, models, structures, verifications, webhooks
from app.core.config import Settings, get_settings
from app.optimade.router import router as optimade_router
from app.schemas.envelope import ErrorItem, error_body
from app.services.model_registry import available_models
from app.web import install as install_web_page

log = logging.getLogger(__name__)

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}

DESCRIPTION = """
Generate crystal structures with per-site Bader charges (e) and atomic DOS (states/eV on a fixed
−10…10 eV grid) from a joint diffusion model, guided towards a band gap (eV) and/or formation energy
(eV/atom) target. Jobs are asynchronous: POST /v1/jobs, poll GET /v1/jobs/{id}, then fetch
structures, CIFs or a zip archive. Every JSON response is an envelope `{data, meta, errors}`.
"""


def _location(loc: tuple[Any, ...]) -> str | None:
    # "body"/"query" say where the input was; the field name is what a client needs.
    parts = [str(p) for p in loc if p not in ("body", "query")]
    return ".".join(parts) or None


def _message(err: dict[str, Any]) -> str:
    message = err.get("msg", "invalid value")
    if err.get("type") == "finite_number":
        return "must be a finite number (NaN and Infinity are not accepted)"
    return message.removeprefix("Value error, ")


def _validation_item(err: dict[str, Any]) -> tuple[int, ErrorItem]:
    kind = err.get("type", "")
    loc = tuple(err.get("loc", ()))
    field = _location(loc)
    if kind == "json_invalid":
        detail = err.get("ctx", {}).get("error", "")
        return 400, ErrorItem(
            code="malformed_json", message=f"request body is not valid JSON: {detail}".strip(": ")
        )
    if kind == "extra_forbidden":
        if loc[:2] == ("body", "target"):
            message = (
                f"unknown property {loc[-1]!r} in target; supported: band_gap (eV), "
                "formation_energy_per_atom (eV/atom)"
            )
        elif loc[:1] == ("query",):
            message = f"unknown query parameter {field!r}"
        else:
            message = f"unknown field {field!r}"
        return 422, ErrorItem(code="unknown_field", message=message, field=field)
    if kind == "missing":
        return 422, ErrorItem(code="missing_field", message=f"field {field!r} is required", field=field)
    message = _message(err)
    return 422, ErrorItem(
        code="validation_error", message=f"{field}: {message}" if field else message, field=field
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """List the model variants once at startup, so a broken checkpoint directory shows up in the log
    at once. A failure here is logged; POST will report it."""
    try:
        log.info("model variants: %s", ", ".join(available_models()) or "none")
    except Exception:
        log.exception("could not list model variants")
    yield


class _Unthrottled:
    """Paths the concurrency limit lets through: /healthz, and the job event streams, which stay open
    for minutes while holding neither a thread nor a database connection (app/api/routes/events.py);
    counted against the limit, a few watchers would starve every other request."""

    def __contains__(self, path: object) -> bool:
        if path == "/healthz":
            return True
        return isinstance(path, str) and path.startswith("/v1/jobs/") and path.endswith("/events")


UNTHROTTLED = _Unthrottled()


def create_app(settings: Settings | None = None) -> FastAPI:
    explicit = settings is not None
    settings = settings or get_settings()
    docs = settings.docs_enabled
    app = FastAPI(
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        title="mattergen-e",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "jobs", "description": "Generation jobs"},
            {"name": "structures", "description": "Generated crystals"},
        ],
    )
    app.include_router(jobs.router)
    app.include_router(job_event_routes.router)  # /v1/jobs/{id}/events (SSE)
    app.include_router(structures.router)
    app.include_router(verifications.router)
    app.include_router(webhooks.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(optimade_router)
    install_web_page(app)  # /web/: the design/watch/inspect page (static files)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        items = [_validation_item(e) for e in exc.errors()]
        status = 400 if any(code == 400 for code, _ in items) else 422
        return JSONResponse(error_body([i for _, i in items]), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(
            error_body([ErrorItem(code=code, message=message)]),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Connection refused/lost or no pooled connection in time: a 503 the client may retry. The
        # driver's text (host, port, SQL) goes to the log only.
        if isinstance(exc, DBAPIError) and not _is_connection_error(exc):
            raise exc
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            error_body([ErrorItem(code="unavailable", message="database unavailable; retry later")]),
            status_code=503,
            headers={"Retry-After": str(settings.unavailable_retry_after)},
        )

    if explicit:  # routes read settings through this dependency; an app built with its own uses those
        app.dependency_overrides[get_settings] = lambda: settings
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)

    # Added innermost first: CatchAll sits just outside the routes, CORS is outermost.
    app.add_middleware(CatchAll)
    app.add_middleware(
        ConcurrencyLimit,
        limit=settings.request_concurrency,
        timeout=settings.request_queue_timeout,
        retry_after=settings.unavailable_retry_after,
        exempt=UNTHROTTLED,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],  # SSE resume
            expose_headers=["Location", "Retry-After", "Idempotent-Replayed"],
        )
    return app


def _is_connection_error(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


app = create_app()
