"""Serve the web page and describe the API's optional features to it.

No build step and no CDN: the page is plain HTML, CSS and ES modules under ``static/`` (3Dmol.js is
vendored under ``static/vendor/``). It talks to the public /v1 API with the user's key, like any other
client; nothing here reads the database or needs a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from app.schemas import structure_query

STATIC = Path(__file__).parent / "static"

# Request-body fields the design form has its own controls for; any other top-level JobCreate field
# (e.g. relax, screen, max_generated from later API versions) is rendered from its JSON schema.
FORM_FIELDS = (
    "target",
    "num_samples",
    "guidance_scale",
    "seed",
    "steps",
    "model",
    "num_atoms",
    "allowed_elements",
    "required_elements",
)


def _resolve(node: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """Inline ``$ref``s so the page needs no JSON-schema library (schemas here are not recursive;
    ``depth`` guards against a future one)."""
    if depth > 20:
        return {}
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            merged = {**components.get(name, {}), **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolve(merged, components, depth + 1)
        return {k: _resolve(v, components, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, components, depth + 1) for v in node]
    return node


def capabilities(app: FastAPI) -> dict[str, Any]:
    # app.openapi() is built once and cached by FastAPI; it exists even when /openapi.json is not served.
    schema = app.openapi()
    paths = schema.get("paths", {})
    components = schema.get("components", {}).get("schemas", {})
    job_schema = _resolve(components.get("JobCreate", {}), components)
    cif = paths.get("/v1/structures/{structure_id}.cif", {}).get("get", {})
    cif_params = {p.get("name") for p in cif.get("parameters", [])}
    listing = paths.get("/v1/jobs/{job_id}/structures", {}).get("get", {})
    filters = {
        p["name"]: {"schema": p.get("schema", {}), "description": p.get("description", "")}
        for p in listing.get("parameters", [])
        if p.get("in") == "query" and p["name"] not in ("limit", "offset", "fields", "sort")
    }
    events = [p for p in paths if p.startswith("/v1/jobs/{job_id}/") and p.rsplit("/", 1)[-1] in ("events", "stream")]
    return {
        "job_schema": job_schema,
        "form_fields": list(FORM_FIELDS),
        "verify": "/v1/structures/{structure_id}/verify" in paths,
        "verification": "/v1/structures/{structure_id}/verification" in paths,
        "verification_cancel": "/v1/structures/{structure_id}/verification/cancel" in paths,
        "symmetrized_cif": "symmetrized" in cif_params,
        "job_events": events[0] if events else None,
        "structure_filters": filters,
        # Server-side sort keys of the structure list, where the API sorts (the page sorts all pages then).
        "structure_sort_keys": list(getattr(structure_query, "SORT_KEYS", ())),
    }


def install(app: FastAPI) -> None:
    """Add the page to ``app``: ``/`` redirects to ``/web/``; the capabilities route is added before
    the mount so the mount does not swallow it."""

    @app.get("/", include_in_schema=False)
    def _home() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=307)

    @app.get("/web/capabilities.json", include_in_schema=False)
    def _capabilities(request: Request) -> JSONResponse:
        return JSONResponse(capabilities(request.app), headers={"Cache-Control": "no-cache"})

    app.mount("/web", StaticFiles(directory=STATIC, html=True), name="web")
