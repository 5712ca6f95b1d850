"""Query-string strictness: FastAPI ignores unknown parameters, which turns a typo such as
``band_gap_mn=2`` into a silently unfiltered result. Endpoints with many filters reject them."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException, Request


def reject_unknown_query_params(request: Request, allowed: Iterable[str]) -> None:
    unknown = sorted(set(request.query_params.keys()) - set(allowed))
    if unknown:
        raise HTTPException(
            400, detail=f"unknown query parameter(s) {unknown}; allowed: {', '.join(sorted(allowed))}"
        )
