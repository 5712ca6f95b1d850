"""The descriptor predictor in the worker: charges and DOS on the relaxed cell, and the
self-consistency score of what the diffusion model generated.

The generated charges and DOS belong to the generated cell and stay as generated. Relaxation moves
atoms, so the predictor (``models.data.descriptors.predictor``, trained on DFT Bader charges and
atomic DOS) is run on the relaxed cell and stored as such. The self-consistency score compares the
generated descriptors with the predictor on the *same* (generated) cell: charge MAE in e and mean
per-site DOS cosine; a model whose charges disagree with its own structure scores badly.

Never raises: a crystal the predictor cannot handle gets nulls and a reason.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from pymatgen.core import Structure

from worker.records import _finite_or_none

log = logging.getLogger(__name__)

DESCRIPTOR_COLUMNS = (
    "pred_charges_relaxed",
    "pred_dos_relaxed",
    "consistency_charge_mae",
    "consistency_dos_cosine",
    "descriptor_predictor_sha256",
)


def empty() -> dict[str, Any]:
    return dict.fromkeys(DESCRIPTOR_COLUMNS)


def consistency(
    charges: np.ndarray | None, dos: np.ndarray | None, pred_charges: np.ndarray, pred_dos: np.ndarray
) -> tuple[float | None, float | None]:
    """(charge MAE in e, mean per-site DOS cosine) of generated vs predicted on the same cell."""
    from models.evaluate.descriptor_accuracy import dos_cosine

    mae = cos = None
    if charges is not None:
        value = float(np.mean(np.abs(np.asarray(charges, float).ravel() - np.asarray(pred_charges).ravel())))
        mae = value if math.isfinite(value) else None
    if dos is not None:
        value = float(np.mean(dos_cosine(np.asarray(dos, float), np.asarray(pred_dos, float))))
        cos = value if math.isfinite(value) else None
    return mae, cos


def describe(
    generated: Structure,
    relaxed: Structure | None,
    charges: np.ndarray | None,
    dos: np.ndarray | None,
) -> tuple[dict[str, Any], str | None]:
    """(column values, error or None). ``relaxed`` None: no relaxed cell, only the consistency score."""
    from models.data.descriptors.predictor.predict import load_model, predict_many

    try:
        _, sha = load_model()
        cells = [generated] if relaxed is None else [generated, relaxed]
        predictions = predict_many(cells)
    except Exception as exc:
        log.warning("descriptor predictor failed for %s: %r", generated.composition.formula, exc)
        return empty(), f"descriptor predictor failed: {exc!r}"[:500]
    on_generated = predictions[0]
    mae, cos = consistency(charges, dos, *on_generated)
    out = {**empty(), "consistency_charge_mae": mae, "consistency_dos_cosine": cos, "descriptor_predictor_sha256": sha}
    if relaxed is not None:
        q, d = predictions[1]
        out["pred_charges_relaxed"] = _finite_or_none(q)
        out["pred_dos_relaxed"] = _finite_or_none(d)
    return out, None
