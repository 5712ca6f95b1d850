"""Model and baseline errors of the descriptor predictor on a set of labelled crystals."""

from __future__ import annotations

import numpy as np

from models.data.descriptors.predictor.labelled import LabelledCrystal
from models.data.descriptors.predictor.metrics import site_errors, summarize
from models.data.descriptors.predictor.model import DescriptorNet, predict_batch


def split_errors(
    model: DescriptorNet, crystals: list[LabelledCrystal], base_q: np.ndarray, base_d: np.ndarray
) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(site symbols, model errors, baseline errors) on ``crystals``."""
    preds = [
        p
        for k in range(0, len(crystals), 64)
        for p in predict_batch(model, [c.graph for c in crystals[k : k + 64]])
    ]
    symbols = [s for c in crystals for s in c.symbols]
    z = np.concatenate([c.graph.z for c in crystals])
    ref_q = np.concatenate([c.charges for c in crystals])
    ref_d = np.concatenate([c.dos for c in crystals])
    model_err = site_errors(
        np.concatenate([p[0] for p in preds]), np.concatenate([p[1] for p in preds]), ref_q, ref_d
    )
    base_err = site_errors(base_q[z], base_d[z], ref_q, ref_d)
    # The same baseline made neutral per crystal: separates what the net learns from what the
    # neutrality constraint alone buys.
    neutral_q = np.concatenate([base_q[c.graph.z] - base_q[c.graph.z].mean() for c in crystals])
    base_err["charge_abs_error_neutral"] = np.abs(neutral_q - ref_q)
    return symbols, model_err, base_err


def report(symbols: list[str], model_err: dict, base_err: dict, n_crystals: int) -> dict:
    return {
        "n_crystals": n_crystals,
        "n_sites": len(symbols),
        "model": summarize(symbols, model_err, n_crystals),
        "baseline": summarize(symbols, base_err, n_crystals),
    }


def evaluate_split(
    model: DescriptorNet, crystals: list[LabelledCrystal], base_q: np.ndarray, base_d: np.ndarray
) -> dict:
    """Model and baseline metrics on ``crystals``."""
    if not crystals:
        return {"n_crystals": 0, "n_sites": 0}
    return report(*split_errors(model, crystals, base_q, base_d), len(crystals))
