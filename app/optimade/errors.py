"""OPTIMADE errors: exceptions with the status the specification asks for, and a route class that
turns any error raised under /optimade into an OPTIMADE error document (the native API's
{data, meta, errors} envelope would not validate as OPTIMADE)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    553: "Version Not Supported",
}


class OptimadeError(Exception):
    status = 500

    def __init__(self, detail: str, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status


class BadRequest(OptimadeError):
    status = 400


class NotImplementedFilter(OptimadeError):
    status = 501


class NotFound(OptimadeError):
    status = 404


def error_response(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    from app.optimade.info import response_meta  # info imports fields/models; keep this module light

    body = {
        "errors": [{"status": str(status), "title": TITLES.get(status, "Error"), "detail": detail}],
        "meta": response_meta(request, data_returned=0, data_available=0, more_data_available=False),
    }
    return JSONResponse(body, status_code=status, headers=headers)


class OptimadeRoute(APIRoute):
    """Every handler error becomes an OPTIMADE error document with the right status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except OptimadeError as exc:
                return error_response(request, exc.status, exc.detail)
            except RequestValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                return error_response(request, 400, detail)
            except HTTPException as exc:  # e.g. 401/403 from the key dependency
                detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
                return error_response(request, exc.status_code, detail, getattr(exc, "headers", None))
            except DataError as exc:  # e.g. a filter number beyond the column's integer range
                return error_response(request, 400, f"value not representable in the database: {exc.orig}")
            except (OperationalError, PoolTimeout):  # database unreachable or busy: worth a retry
                log.warning("OPTIMADE request without database: %s", request.url, exc_info=True)
                return error_response(request, 503, "database unavailable; retry later", {"Retry-After": "5"})
            except Exception:
                log.exception("OPTIMADE request failed: %s", request.url)
                return error_response(request, 500, "internal error; see the server log")

        return route
