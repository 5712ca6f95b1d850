"""The response envelope every endpoint uses: ``{"data": ..., "meta": {...}, "errors": [...]}``.

A single shape lets clients handle success and failure the same way; ``errors`` is empty on success
and ``data`` is null on failure.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class ErrorItem(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. 'validation_error', 'not_found'.")
    message: str = Field(description="Human-readable explanation.")
    field: str | None = Field(None, description="Dotted location of the offending input, when there is one.")


class Envelope(BaseModel, Generic[T]):
    data: T | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    errors: list[ErrorItem] = Field(default_factory=list)


def ok(data: Any, **meta: Any) -> dict[str, Any]:
    return {"data": data, "meta": meta, "errors": []}


def error_body(errors: list[ErrorItem], **meta: Any) -> dict[str, Any]:
    return {"data": None, "meta": meta, "errors": [e.model_dump() for e in errors]}
