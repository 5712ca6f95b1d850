"""One loaded model per checkpoint per worker process (loading is ~1 s; a worker runs many jobs)."""

from __future__ import annotations

from functools import lru_cache

from models.sample import LoadedModel, load_model


@lru_cache(maxsize=2)
def model_for(checkpoint: str, sha256: str) -> LoadedModel:
    model = load_model(checkpoint=checkpoint)
    if model.checkpoint_sha256 != sha256:
        raise RuntimeError(
            f"checkpoint {checkpoint} has SHA-256 {model.checkpoint_sha256}, the benchmark expected {sha256}"
        )
    return model
