"""Loads each model once per worker process and keeps it (loading a checkpoint costs seconds; a
chunk may take less)."""

from __future__ import annotations

import logging
import threading

from app.core.config import get_settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_models: dict[tuple[str, str | None], object] = {}


def get_model(name: str | None = None):
    """The LoadedModel for ``name`` (default: settings.model_name), loaded on first use.

    ``MODEL_CHECKPOINT`` overrides the checkpoint of the default variant only, so a deployment (or a
    test) can serve a specific file under the default name without touching other variants.
    """
    from models.sample import load_model

    settings = get_settings()
    name = name or settings.model_name
    checkpoint = settings.model_checkpoint if name == settings.model_name else None
    key = (name, str(checkpoint) if checkpoint else None)
    with _lock:
        if key not in _models:
            log.info("loading model %s (checkpoint=%s, device=%s)", name, checkpoint, settings.model_device)
            _models[key] = load_model(name, checkpoint=checkpoint, device=settings.model_device)
        return _models[key]


def clear() -> None:
    with _lock:
        _models.clear()
