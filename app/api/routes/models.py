"""/v1/models: the model variants a job may name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from app.api.deps import SettingsDep
from app.schemas.envelope import Envelope, ok
from app.services.model_registry import available_models

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=Envelope[list[dict[str, Any]]], summary="Model variants")
def list_model_variants(settings: SettingsDep) -> dict[str, Any]:
    try:
        names = available_models()
    except Exception as exc:
        raise HTTPException(503, detail=f"cannot list model variants: {type(exc).__name__}: {exc}") from exc
    data = [{"name": name, "default": name == settings.model_name} for name in names]
    return ok(data)
