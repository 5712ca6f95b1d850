"""Which model variants a job may name. Asked from models.sample once per API process."""

from __future__ import annotations

from functools import lru_cache

from app.core.config import get_settings


@lru_cache
def available_models() -> tuple[str, ...]:
    from models.sample import list_models

    settings = get_settings()
    names = list(dict.fromkeys(list_models()))
    if settings.model_checkpoint is not None and settings.model_name not in names:
        names.append(settings.model_name)  # served from the MODEL_CHECKPOINT override
    return tuple(names)
