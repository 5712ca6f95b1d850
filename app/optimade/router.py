"""OPTIMADE v1 (read-only) under /optimade: /versions at the unversioned base; /info,
/info/structures, /links, /structures and /structures/{id} under /optimade/v1.

Access is the native API's: a key sees the structures of its own jobs, admin and read-all keys see
all, and with PUBLIC_READ requests without a key see all.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from app.api.auth import CallerDep
from app.api.deps import SessionDep
from app.optimade import entries, info, params
from app.optimade.errors import NotFound, OptimadeError, OptimadeRoute
from app.optimade.filter import parse_filter
from app.tables import Structure

router = APIRouter(prefix="/optimade", tags=["optimade"], route_class=OptimadeRoute)
V = f"/v{info.MAJOR}"


def _document(request: Request, data: Any, **meta: Any) -> dict[str, Any]:
    return {"data": data, "meta": info.response_meta(request, **meta)}


@router.get("/versions", response_class=PlainTextResponse, summary="Major OPTIMADE versions served")
def versions() -> PlainTextResponse:
    return PlainTextResponse(f"version\n{info.MAJOR}\n", media_type="text/csv; header=present")


@router.get(f"{V}/info", summary="OPTIMADE base info")
def base_info(request: Request) -> dict[str, Any]:
    params.parse(request, params.COMMON)
    return _document(request, info.info_resource(request), data_returned=1, data_available=1, more_data_available=False)


@router.get(f"{V}/info/structures", summary="Properties of OPTIMADE structures, with units")
def structures_info(request: Request) -> dict[str, Any]:
    params.parse(request, params.COMMON)
    return _document(request, info.structures_info(), data_returned=1, data_available=1, more_data_available=False)


@router.get(f"{V}/links", summary="Links to other OPTIMADE databases (none)")
def links(request: Request) -> dict[str, Any]:
    p = params.parse(request, params.LISTING - {"sort"})
    if p.filter:
        parse_filter(p.filter)  # validated; there are no links to filter
    return _document(request, [], data_returned=0, data_available=0, more_data_available=False, warnings=p.warnings)


@router.get(f"{V}/structures", summary="OPTIMADE structures: filter, sort, paginate")
def list_structures(request: Request, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    p = params.parse(request, params.LISTING)
    where = parse_filter(p.filter)
    names = params.attribute_names(p)
    visible = caller.visible_structures(entries.base_query())
    filtered = visible if where is None else visible.where(where)
    available = session.scalar(visible.add_columns(func.count(Structure.id))) or 0
    returned = available if where is None else session.scalar(filtered.add_columns(func.count(Structure.id))) or 0
    query = entries.order_by(caller.visible_structures(entries.entries_query(names)), p)
    if where is not None:
        query = query.where(where)
    rows = session.execute(query.limit(p.page_limit).offset(p.page_offset)).all()
    more = p.page_offset + len(rows) < returned
    body = _document(
        request,
        [entries.to_entry(r, names) for r in rows],
        data_returned=returned,
        data_available=available,
        more_data_available=more,
        warnings=p.warnings,
    )
    body["links"] = _page_links(request, p, more)
    return body


def _page_links(request: Request, p: params.Params, more: bool) -> dict[str, str | None]:
    def page(offset: int) -> str:
        items = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page_offset", "page_number")]
        return str(request.url.replace_query_params(**dict(items), page_offset=offset))

    return {
        "next": page(p.page_offset + p.page_limit) if more else None,
        "prev": page(max(p.page_offset - p.page_limit, 0)) if p.page_offset > 0 else None,
    }


@router.get(f"{V}/structures/{{entry_id}}", summary="One OPTIMADE structure")
def get_structure(entry_id: str, request: Request, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    p = params.parse(request, params.SINGLE)
    names = params.attribute_names(p)
    try:
        sid = uuid.UUID(entry_id)
    except ValueError:
        raise NotFound(f"no structure with id {entry_id!r}") from None
    query = caller.visible_structures(entries.entries_query(names)).where(Structure.id == sid)
    row = session.execute(query).first()
    if row is None:
        raise NotFound(f"no structure with id {entry_id!r}")
    available = session.scalar(caller.visible_structures(select(func.count(Structure.id)))) or 0
    return _document(
        request,
        entries.to_entry(row, names),
        data_returned=1,
        data_available=available,
        more_data_available=False,
        warnings=p.warnings,
    )


@router.get("/{version}/{rest:path}", include_in_schema=False)
def unknown(version: str, rest: str) -> None:
    if re.fullmatch(r"v\d+(\.\d+){0,2}", version) and not re.fullmatch(rf"v{info.MAJOR}(\.\d+){{0,2}}", version):
        raise OptimadeError(f"OPTIMADE {version} is not served; see /optimade/versions", 553)
    raise NotFound(f"no OPTIMADE endpoint /optimade/{version}/{rest}")
