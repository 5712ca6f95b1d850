"""Accuracy of predicted per-site descriptors against DFT, overall and per element.

- charge MAE in e;
- DOS cosine similarity (shape agreement on the common grid; both curves carry one state, so shape is
  what can differ — the same measure the evaluation of generated crystals uses);
- DOS earth mover's distance in eV: the L1 distance of the two cumulative distributions over the
  window, i.e. how far (in energy) spectral weight must move to turn one DOS into the other. Unlike
  cosine it rewards a peak that is slightly misplaced over one that is far off.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from models.data.descriptor_spec import DOS_STEP
from models.evaluate.descriptor_accuracy import dos_cosine


def dos_emd_ev(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1-D earth mover's distance (eV) between DOS curves on ``DOS_ENERGIES``."""
    pa = np.asarray(a, float) / np.clip(np.asarray(a, float).sum(-1, keepdims=True), 1e-12, None)
    pb = np.asarray(b, float) / np.clip(np.asarray(b, float).sum(-1, keepdims=True), 1e-12, None)
    return np.abs(np.cumsum(pa - pb, axis=-1)).sum(-1) * DOS_STEP


def site_errors(
    pred_q: np.ndarray, pred_dos: np.ndarray, ref_q: np.ndarray, ref_dos: np.ndarray
) -> dict[str, np.ndarray]:
    return {
        "charge_abs_error": np.abs(np.asarray(pred_q, float) - np.asarray(ref_q, float)),
        "dos_cosine": dos_cosine(pred_dos, ref_dos),
        "dos_emd_ev": dos_emd_ev(pred_dos, ref_dos),
    }


def summarize(symbols: list[str], errors: dict[str, np.ndarray], n_crystals: int) -> dict:
    """Means over sites, overall and by element (``None`` when there are no sites)."""
    out: dict = {"n_crystals": int(n_crystals), "n_sites": len(symbols)}
    names = {
        "charge_abs_error": "charge_mae_e",
        "dos_cosine": "dos_cosine_mean",
        "dos_emd_ev": "dos_emd_ev_mean",
    }
    if "charge_abs_error_neutral" in errors:  # baseline only: per-element means made neutral
        names["charge_abs_error_neutral"] = "charge_mae_e_neutralized"
    for key, name in names.items():
        out[name] = float(np.mean(errors[key])) if len(symbols) else None
    groups: dict[str, list[int]] = defaultdict(list)
    for i, el in enumerate(symbols):
        groups[el].append(i)
    out["by_element"] = {
        el: {"n_sites": len(idx), **{name: float(np.mean(errors[key][idx])) for key, name in names.items()}}
        for el, idx in sorted(groups.items())
    }
    return out
