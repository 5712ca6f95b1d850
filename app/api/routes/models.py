"""/v1/models: the model variants a job may name."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from app.api.auth import require_caller
from app.api.deps import SettingsDep
from app.schemas.envelope import Envelope, ok
from app.services.model_registry import available_models

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(require_caller)])


@router.get("", response_model=Envelope[list[dict[str, Any]]], summary="Model variants")
def list_model_variants(settings: SettingsDep) -> dict[str, Any]:
    try:
        names = available_models()
    except Exception as exc:
        log.exception("cannot list model variants")
        raise HTTPException(503, detail="cannot list model variants on this server") from exc
    data = [{"name": name, "default": name == settings.model_name} for name in names]
    return ok(data)
