"""/v1/models: the model variants a job may name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import SettingsDep
from app.schemas.envelope import Envelope, ok
from app.services.model_registry import available_models

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=Envelope[list[dict[str, Any]]], summary="Model variants")
def list_model_variants(settings: SettingsDep) -> dict[str, Any]:
    data = [{"name": name, "default": name == settings.model_name} for name in available_models()]
    return ok(data)
