"""DFT result vs what the service generated and predicted for the same crystal.

- Site order: the GPAW child reads the cell from a CIF with pymatgen's parser, which may group sites
  by species; :func:`site_permutation` maps its sites back to the stored order so per-site arrays
  line up (positions are matched, never guessed).
- Generated charges/DOS belong to the generated cell and the predictor's to the relaxed cell, DFT
  runs on the relaxed one; all are compared site by site: charge MAE (e), mean per-site DOS cosine.
- Gap: the independent predictor's band gap (of the relaxed crystal) minus the DFT gap, and the DFT
  gap minus the job's target.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from pymatgen.core import Structure


def site_permutation(structure: Structure, cif: str, tol: float = 1e-4) -> list[int] | None:
    """``perm`` with parsed[j] = structure[perm[j]] for the CIF as the child parses it; None if unmatched."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = Structure.from_str(cif, fmt="cif")
    if len(back) != len(structure):
        return None
    free = set(range(len(structure)))
    perm: list[int] = []
    for site in back:
        diff = structure.frac_coords - site.frac_coords
        dist = np.abs(diff - np.round(diff)).max(axis=1)
        hit = next((int(i) for i in np.argsort(dist) if int(i) in free and dist[i] < tol), None)
        if hit is None or structure[hit].specie.symbol != site.specie.symbol:
            return None
        free.discard(hit)
        perm.append(hit)
    return perm


def to_stored_order(record: dict[str, Any], perm: list[int]) -> dict[str, Any]:
    """The DFT record's per-site arrays in the stored site order."""
    inverse = np.argsort(perm)
    out = dict(record)
    for key in ("charges", "dos", "species", "initial_magmoms", "final_magmoms"):
        if out.get(key) is not None:
            out[key] = [record[key][j] for j in inverse]
    return out


def _pair(charges: Any, dos: Any, ref_q: np.ndarray, ref_d: np.ndarray) -> dict[str, float | None]:
    from models.evaluate.descriptor_accuracy import dos_cosine

    out: dict[str, float | None] = {"charge_mae": None, "dos_cosine": None}
    if charges is not None and len(charges) == len(ref_q) and None not in charges:
        out["charge_mae"] = round(float(np.mean(np.abs(np.asarray(charges, float) - ref_q))), 4)
    if dos is not None and len(dos) == len(ref_d):
        d = np.nan_to_num(np.asarray(dos, dtype=float))
        out["dos_cosine"] = round(float(np.mean(dos_cosine(d, ref_d))), 4)
    return out


def compare(record: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    q, d = np.asarray(record["charges"], float), np.asarray(record["dos"], float)
    gap, predicted_gap, target = float(record["band_gap"]), row.get("band_gap_pred"), row.get("target_band_gap")
    return {
        "generated_vs_dft": {**_pair(row.get("charges"), row.get("dos"), q, d), "cell": "generated"},
        "predicted_vs_dft": {
            **_pair(row.get("pred_charges_relaxed"), row.get("pred_dos_relaxed"), q, d),
            "cell": "relaxed",
        },
        "dft_band_gap": gap,
        "predicted_band_gap": predicted_gap,
        "gap_error": None if predicted_gap is None else round(predicted_gap - gap, 4),
        "target_band_gap": target,
        "dft_gap_minus_target": None if target is None else round(gap - target, 4),
        "dft_within_target_0_5_ev": None if target is None else abs(gap - target) <= 0.5,
    }
