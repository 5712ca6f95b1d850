"""Descriptor accuracy: generated per-site charges / DOS against descriptors recomputed on the structure.

The reference is any callable ``predictor(structure) -> (charges (n,), dos (n, DOS_BINS))``: the
descriptor predictor, or the DFT + Bader path itself for the generated crystals the benchmark checks
against DFT. Nothing here depends on which one it is.

Metrics: charge MAE in e (overall and per element); per site DOS cosine similarity and earth mover's
distance (overall and per element). Cosine compares the *shape* of two site DOS curves bin by bin
(both are normalised to one state over the window by convention); the EMD (``scipy.stats.
wasserstein_distance`` on the energy grid, in eV) says how far states have to move, so a peak shifted
by one bin and one shifted by 5 eV — both near-zero cosine — are told apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np
from pymatgen.core import Structure
from scipy.stats import wasserstein_distance

from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES

DescriptorPredictor = Callable[[Structure], tuple[np.ndarray, np.ndarray]]


def dos_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of (n, K) arrays; a zero row against anything scores 0."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    num = (a * b).sum(axis=-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def dos_emd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise earth mover's distance (eV) between (n, K) DOS arrays on the descriptor energy grid;
    NaN for a row without states."""
    a = np.clip(np.asarray(a, dtype=float), 0.0, None)
    b = np.clip(np.asarray(b, dtype=float), 0.0, None)
    out = np.full(a.shape[0], np.nan)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.sum() > 0 and y.sum() > 0:
            out[i] = wasserstein_distance(DOS_ENERGIES, DOS_ENERGIES, x, y)
    return out


def compare_sites(
    symbols: list[str],
    charges: np.ndarray | None,
    dos: np.ndarray | None,
    ref_charges: np.ndarray,
    ref_dos: np.ndarray,
) -> dict[str, list]:
    """Per-site |charge error| and DOS cosine, tagged with the site's element."""
    n = len(symbols)
    out: dict[str, list] = {"element": list(symbols), "charge_abs_error": [], "dos_cosine": [], "dos_emd_ev": []}
    if charges is not None:
        c, rc = np.asarray(charges, float).reshape(-1), np.asarray(ref_charges, float).reshape(-1)
        if c.shape != (n,) or rc.shape != (n,):
            raise ValueError(f"charges must have shape ({n},), got {c.shape} and {rc.shape}")
        out["charge_abs_error"] = np.abs(c - rc).tolist()
    if dos is not None:
        d, rd = np.asarray(dos, float), np.asarray(ref_dos, float)
        if d.shape != (n, DOS_BINS) or rd.shape != (n, DOS_BINS):
            raise ValueError(f"DOS must have shape ({n}, {DOS_BINS}), got {d.shape} and {rd.shape}")
        out["dos_cosine"] = dos_cosine(d, rd).tolist()
        out["dos_emd_ev"] = dos_emd(d, rd).tolist()
    return out


def descriptor_accuracy(
    structures: list[Structure],
    charges: list[np.ndarray | None],
    dos: list[np.ndarray | None],
    predictor: DescriptorPredictor,
) -> dict:
    """Aggregate charge MAE (e) and DOS cosine similarity over all sites, and per element."""
    per_el_q: dict[str, list[float]] = defaultdict(list)
    per_el_d: dict[str, list[float]] = defaultdict(list)
    per_el_m: dict[str, list[float]] = defaultdict(list)
    all_q: list[float] = []
    all_d: list[float] = []
    all_m: list[float] = []
    n_crystals = 0
    for s, q, d in zip(structures, charges, dos, strict=True):
        if q is None and d is None:
            continue
        ref_q, ref_d = predictor(s)
        sites = compare_sites([site.specie.symbol for site in s], q, d, ref_q, ref_d)
        n_crystals += 1
        for el, e in zip(sites["element"], sites["charge_abs_error"], strict=False):
            per_el_q[el].append(e)
            all_q.append(e)
        for el, c in zip(sites["element"], sites["dos_cosine"], strict=False):
            per_el_d[el].append(c)
            all_d.append(c)
        for el, m in zip(sites["element"], sites["dos_emd_ev"], strict=False):
            if np.isfinite(m):
                per_el_m[el].append(m)
                all_m.append(m)
    elements = sorted(set(per_el_q) | set(per_el_d))
    return {
        "n_crystals": n_crystals,
        "n_sites_charge": len(all_q),
        "n_sites_dos": len(all_d),
        "charge_mae_e": float(np.mean(all_q)) if all_q else None,
        "dos_cosine_mean": float(np.mean(all_d)) if all_d else None,
        "dos_emd_mean_ev": float(np.mean(all_m)) if all_m else None,
        "by_element": {
            el: {
                "n_sites": max(len(per_el_q[el]), len(per_el_d[el])),
                "charge_mae_e": float(np.mean(per_el_q[el])) if per_el_q[el] else None,
                "dos_cosine_mean": float(np.mean(per_el_d[el])) if per_el_d[el] else None,
                "dos_emd_mean_ev": float(np.mean(per_el_m[el])) if per_el_m[el] else None,
            }
            for el in elements
        },
    }
