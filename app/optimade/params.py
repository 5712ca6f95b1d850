"""Query parameters of the OPTIMADE endpoints, read from the raw query string so that every rule of
the specification is ours to apply: unknown parameters are a 400, parameters of other providers are
ignored with a warning, an oversized page_limit is a 403."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from app.optimade.errors import BadRequest, NotImplementedFilter, OptimadeError
from app.optimade.fields import FIELDS, PROVIDER_PREFIX, TOP_LEVEL, UNSERVED, Field

PAGE_LIMIT = 20
PAGE_LIMIT_MAX = 500

COMMON = {"response_format", "email_address", "api_hint"}
SINGLE = COMMON | {"response_fields", "include"}
LISTING = SINGLE | {"filter", "sort", "page_limit", "page_offset", "page_number"}
# Defined by the specification, not implemented here: 501, so a client is not served the wrong page.
UNSUPPORTED = {"page_cursor", "page_above", "page_below"}


@dataclass
class Params:
    filter: str = ""
    response_fields: list[str] | None = None
    sort: list[tuple[Field, bool]] = field(default_factory=list)  # (field, descending)
    page_limit: int = PAGE_LIMIT
    page_offset: int = 0
    warnings: list[dict[str, str]] = field(default_factory=list)


def _int(name: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer, not {raw!r}") from exc
    if value < minimum:
        raise BadRequest(f"{name} must be >= {minimum}, not {value}")
    return value


def _foreign(name: str) -> bool:
    """A name with another provider's prefix (`_other_...`)."""
    parts = name.split("_")
    return name.startswith("_") and len(parts) > 2 and parts[1] != PROVIDER_PREFIX


def parse(request: Request, allowed: set[str]) -> Params:
    params = Params()
    query = request.query_params
    for name in query:
        if name in allowed:
            continue
        if name in UNSUPPORTED and "page_limit" in allowed:
            raise NotImplementedFilter(f"{name} is not supported; paginate with page_offset or page_number")
        if _foreign(name):
            params.warnings.append({"title": "UnknownProviderQueryParameter", "detail": f"ignored {name!r}"})
            continue
        raise BadRequest(f"unknown query parameter {name!r} for this endpoint; accepted: {', '.join(sorted(allowed))}")

    if query.get("response_format", "json") != "json":
        raise BadRequest(f"response_format {query['response_format']!r} is not supported; use json")
    if query.get("include", "references") not in ("", "references"):
        raise BadRequest(f"include={query['include']!r}: structures here have no relationships to include")
    params.filter = query.get("filter", "")
    if "response_fields" in query:
        params.response_fields = _response_fields(query["response_fields"], params)
    if query.get("sort"):
        params.sort = _sort(query["sort"])
    if "page_limit" in query:
        params.page_limit = _int("page_limit", query["page_limit"], 1)
        if params.page_limit > PAGE_LIMIT_MAX:
            raise OptimadeError(f"page_limit {params.page_limit} exceeds the maximum of {PAGE_LIMIT_MAX}", 403)
    if "page_offset" in query and "page_number" in query:
        raise BadRequest("give page_offset or page_number, not both")
    if "page_offset" in query:
        params.page_offset = _int("page_offset", query["page_offset"], 0)
    elif "page_number" in query:  # 1-based
        params.page_offset = (_int("page_number", query["page_number"], 1) - 1) * params.page_limit
    return params


def _response_fields(raw: str, params: Params) -> list[str]:
    out: list[str] = []
    for name in (n.strip() for n in raw.split(",")):
        if not name or name in out:
            continue
        if name in FIELDS or name in UNSERVED:
            out.append(name)
        elif _foreign(name):
            params.warnings.append({"title": "UnknownProviderProperty", "detail": f"response field {name!r} ignored"})
        else:
            raise BadRequest(f"unknown property {name!r} in response_fields")
    return out


def _sort(raw: str) -> list[tuple[Field, bool]]:
    out = []
    for item in (s.strip() for s in raw.split(",")):
        descending = item.startswith("-")
        name = item.lstrip("-")
        prop = FIELDS.get(name)
        if prop is None:
            raise BadRequest(f"cannot sort on unknown property {name!r}")
        if not prop.sortable:
            raise BadRequest(f"{name!r} is not sortable (see the `sortable` flags of /info/structures)")
        out.append((prop, descending))
    return out


def attribute_names(params: Params) -> list[str]:
    """The attributes to return: all by default; with response_fields, exactly those."""
    names = list(FIELDS) if params.response_fields is None else params.response_fields
    return [n for n in names if n not in TOP_LEVEL]
