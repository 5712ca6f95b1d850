"""Which model variants a job may name, asked once per API process from the torch-free
:mod:`models.registry`."""

from __future__ import annotations

from functools import lru_cache

from app.core.config import get_settings
from models.registry import list_models


@lru_cache
def available_models() -> tuple[str, ...]:
    settings = get_settings()
    names = list(dict.fromkeys(list_models()))
    if settings.model_checkpoint is not None and settings.model_name not in names:
        names.append(settings.model_name)  # served from the MODEL_CHECKPOINT override
    return tuple(names)
