"""FastAPI application: routers, the {data, meta, errors} envelope for every error, request metrics.

Run with ``uvicorn app.main:app``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.routes import health, jobs, models, structures
from app.metrics import http_latency, http_requests
from app.schemas.envelope import ErrorItem, error_body
from app.services.model_registry import available_models

log = logging.getLogger(__name__)

STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    422: "validation_error",
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


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="mattergen-e",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "jobs", "description": "Generation jobs"},
            {"name": "structures", "description": "Generated crystals"},
        ],
    )
    app.include_router(jobs.router)
    app.include_router(structures.router)
    app.include_router(models.router)
    app.include_router(health.router)

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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body([ErrorItem(code="internal_error", message=f"internal error: {type(exc).__name__}")]),
            status_code=500,
        )

    @app.middleware("http")
    async def _metrics(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        http_requests.labels(request.method, path, str(response.status_code)).inc()
        http_latency.labels(request.method, path).observe(time.perf_counter() - started)
        return response

    return app


app = create_app()
