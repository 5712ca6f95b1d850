"""The second phase of a chunk, after sampling: per crystal, relax and symmetrize, predict properties
(of the relaxed crystal when there is one), run the descriptor predictor and the per-crystal screen
checks. Returns extra column values for each crystal's ``structures`` row.

Per crystal, in order, each step never raises (a failure becomes nulls plus a reason):
1. CHGNet relaxation (worker/relaxation.py) unless the job said ``"relax": false`` (``skipped``) or the
   worker runs with RELAX_STRUCTURES=false (``disabled``);
2. predicted properties (worker/properties.py) of the relaxed crystal, else of the generated one,
   recorded in ``properties_basis``;
3. descriptor predictor (worker/descriptors.py) unless PREDICT_DESCRIPTORS=false;
4. screen checks that need no other crystal (worker/screening.py); uniqueness is decided at commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from app.core.config import get_settings
from worker import relaxation, screening
from worker.descriptors import describe
from worker.descriptors import empty as no_descriptors
from worker.properties import predict_properties


def postprocess(
    crystals: Sequence[Any],
    *,
    relax: bool,
    screen: dict[str, Any] | None,
    progress: Callable[[float], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """(extra columns per crystal, seconds spent per step over the chunk)."""
    settings = get_settings()
    seconds = {"relaxation": 0.0, "properties": 0.0, "descriptors": 0.0, "screen": 0.0}
    out: list[dict[str, Any]] = []
    for i, crystal in enumerate(crystals):
        generated = crystal.structure
        t0 = time.perf_counter()
        if not relax:
            cols, relaxed = relaxation.not_relaxed(relaxation.SKIPPED), None
        elif not settings.relax_structures:
            cols, relaxed = relaxation.not_relaxed(relaxation.DISABLED), None
        else:
            cols, relaxed = relaxation.relax_columns(generated, settings.relax_fmax, settings.relax_max_steps)
        t1 = time.perf_counter()
        basis = relaxed if relaxed is not None else generated
        cols.update(predict_properties([basis])[0])
        cols["properties_basis"] = "relaxed" if relaxed is not None else "generated"
        t2 = time.perf_counter()
        descriptors = _descriptors(crystal, relaxed, settings.predict_descriptors)
        error = descriptors.pop("_descriptor_error", None)
        cols.update(descriptors)
        if error is not None:
            cols["properties_errors"] = {**(cols.get("properties_errors") or {}), "descriptors": error}
        t3 = time.perf_counter()
        if screen is not None:
            cols["screen_checks"] = screening.checks(cols, basis, screen)
        out.append(cols)
        t4 = time.perf_counter()
        for key, dt in zip(seconds, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            seconds[key] += dt
        if progress is not None:
            progress((i + 1) / len(crystals))
    return out, seconds


def _descriptors(crystal: Any, relaxed: Any, enabled: bool) -> dict[str, Any]:
    from models.evaluate.properties import MIN_VOLUME_PER_ATOM

    if not enabled:
        return no_descriptors()
    generated = crystal.structure
    # The predictor's neighbour list explodes on a collapsed cell, like CHGNet's (see quick_properties).
    if float(generated.volume) / max(len(generated), 1) < MIN_VOLUME_PER_ATOM:
        return no_descriptors()
    charges = None if crystal.charges is None else np.asarray(crystal.charges, dtype=float).ravel()
    dos = None if crystal.dos is None else np.asarray(crystal.dos, dtype=float)
    cols, error = describe(generated, relaxed, charges, dos)
    if error is not None:
        cols["_descriptor_error"] = error
    return cols
