"""Which corpus crystals the runner labels first: cheapest first, spread over the periodic table.

Cost estimate, two stages:

* **Before there are measurements** (fewer than ``MIN_FIT`` stored results): a hand-set relative cost,
  n_sites × Σ valence electrons (valence = electrons outside the preceding noble-gas core, so Ga counts
  its 3d¹⁰), ×3 if the crystal is a metal by MP (gap 0 or unknown: metals need more SCF steps), ×2 if
  it will be spin-polarized, ×10 with any La–Lu (f-electron SCF is slow and often fails).
* **Once the runner has measured itself** (``fit_cost_model``): seconds predicted by a least-squares
  fit of log(seconds) on log n_sites, log(k-points of the full Γ grid), log(valence electrons in the
  cell) and metal / magnetic / lanthanide flags, over every stored result (timeouts enter at their
  cap, a lower bound). Why: at 137 crystals the hand-set cost correlated with the measured seconds at
  r = 0.20 (log-log) and the fit explains R² ≈ 0.3 — SCF iteration counts are noisy, but k-points and
  the metal/magnetic flags are real — and the order it gives cut the predicted seconds of the next
  163 crystals from 18.1k to 8.9k (both priced by the fitted model).

Both are multiplied by (volume per atom / 25 Å³) when that exceeds 1, because the real-space grid
(SCF and the 4×-refined Bader grid) grows with the volume: a 1-atom Cu cell with 600 Å³ of vacuum
(mp-1056079) was still in its Bader step five minutes after an SCF that took seconds.

Spreading: a greedy order that, at each step, takes the crystal minimising cost × (1 + k)^α,
k = how many already-queued (or already labelled) crystals contain its least-covered element. A
crystal that brings a new element in competes at its bare cost. α = 2 while nothing is measured, so
the first hundred crystals cover most of the corpus' elements instead of hundreds of cheap alkali
halides; α = 0.5 once the fit exists, because by then (72 of 81 elements covered at 137 crystals)
α = 2 mostly queued 200–500 s intermetallics of already-covered elements. Simulated on the next 163
crystals with the fitted costs: α = 2 → 13.9k s predicted, α = 0.5 → 8.9k s and still reaches all 81
elements, α = 0 → 7.5k s but only 53 distinct elements, all Se/Sn/Te/Cd-heavy semiconductors.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Element, Lattice

from models.data.descriptors.magnetism import MAGNETIC_ELEMENTS

LANTHANIDES = frozenset("La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu".split())
_NOBLE_Z = [0, 2, 10, 18, 36, 54, 86, 118]


@cache
def valence_electrons(symbol: str) -> int:
    z = Element(symbol).Z
    core = max(n for n in _NOBLE_Z if n < z) if z > 2 else 0
    return z - core


@lru_cache(maxsize=1)
def elements_with_setups() -> frozenset[str]:
    """Elements for which the installed gpaw-data has a PBE PAW setup and a dzp basis."""
    from models.data.descriptors.gpaw_path import gpaw_setup_path

    path: Path = gpaw_setup_path()
    return frozenset(
        p.name.split(".")[0] for p in path.glob("*.PBE.gz") if (path / f"{p.name.split('.')[0]}.dzp.basis.gz").exists()
    )


TYPICAL_VOLUME_PER_ATOM = 25.0  # Å³; the corpus median is 19


def cell_volume_from_cif(cif: str) -> float | None:
    """``_cell_volume`` of a pymatgen-written CIF, without parsing the structure."""
    m = re.search(r"_cell_volume\s+([0-9.]+)", cif)
    return float(m.group(1)) if m else None


def cell_valence_electrons(formula_counts: dict[str, float], n_sites: int) -> float:
    """Σ valence electrons over the ``n_sites`` of the cell (the formula scaled to the cell)."""
    scale = n_sites / sum(formula_counts.values())
    return sum(valence_electrons(e) * c * scale for e, c in formula_counts.items())


def is_metal_by_mp(mp_gap: float | None) -> bool:
    """Gap 0 or unknown: treated as a metal (more SCF steps)."""
    return mp_gap is None or bool(pd.isna(mp_gap)) or mp_gap <= 0.0


def estimated_cost(elements: list[str], formula_counts: dict[str, float], n_sites: int, mp_gap: float | None,
                   volume: float | None = None) -> float:
    cost = float(n_sites) * cell_valence_electrons(formula_counts, n_sites) * _volume_factor(volume, n_sites)
    if is_metal_by_mp(mp_gap):
        cost *= 3.0
    if any(e in MAGNETIC_ELEMENTS for e in elements):
        cost *= 2.0
    if any(e in LANTHANIDES for e in elements):
        cost *= 10.0
    return cost


MIN_FIT = 30  # stored results before the fitted cost replaces the hand-set one
SPREAD_UNMEASURED = 2.0
SPREAD_MEASURED = 0.5
_CELL_RE = {k: re.compile(rf"_cell_{k}\s+([0-9.]+)") for k in
            ("length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma")}


def cell_from_cif(cif: str) -> Lattice | None:
    """The lattice of a pymatgen-written CIF from its six cell parameters, without parsing the sites
    (15k full parses take a minute; this takes a second)."""
    vals = [m.group(1) if (m := r.search(cif)) else None for r in _CELL_RE.values()]
    if any(v is None for v in vals):
        return None
    return Lattice.from_parameters(*(float(v) for v in vals))  # type: ignore[arg-type]


def cost_features(elements: list[str], formula_counts: dict[str, float], n_sites: int, mp_gap: float | None,
                  cif: str) -> np.ndarray | None:
    """[1, log n_sites, log k-points, log valence electrons, metal, magnetic, lanthanide], or None
    without a cell."""
    from models.data.descriptors.settings import DEFAULT_SETTINGS

    lattice = cell_from_cif(cif)
    if lattice is None or n_sites <= 0:
        return None
    n_val = cell_valence_electrons(formula_counts, n_sites)
    n_k = int(np.prod(DEFAULT_SETTINGS.kpoint_grid(lattice.matrix)))
    return np.array([1.0, np.log(n_sites), np.log(n_k), np.log(max(n_val, 1.0)), float(is_metal_by_mp(mp_gap)),
                     float(any(e in MAGNETIC_ELEMENTS for e in elements)), float(any(e in LANTHANIDES for e in elements))])


def fit_cost_model(features: list[np.ndarray], seconds: list[float]) -> np.ndarray | None:
    """Least-squares coefficients of log(seconds) on ``cost_features``; None below ``MIN_FIT`` points."""
    if len(features) < MIN_FIT:
        return None
    x = np.vstack(features)
    coef, *_ = np.linalg.lstsq(x, np.log(np.maximum(seconds, 1.0)), rcond=None)
    return coef


def _volume_factor(volume: float | None, n_sites: int) -> float:
    return max(1.0, volume / n_sites / TYPICAL_VOLUME_PER_ATOM) if volume is not None and n_sites > 0 else 1.0


def order_for_labelling(df: pd.DataFrame, measured_seconds: dict[str, float] | None = None) -> list[str]:
    """Material ids of ``df`` (columns material_id, formula, n_sites, elements, band_gap, optionally cif)
    in run order. ``measured_seconds`` (material id → seconds, timeouts at their cap) are crystals
    already run: they come first, seed the element counts, and fit the cost model."""
    measured = measured_seconds or {}
    elems: dict[str, list[str]] = {}
    feats: dict[str, np.ndarray | None] = {}
    heuristic: dict[str, float] = {}
    vol_factor: dict[str, float] = {}
    for row in df.itertuples(index=False):
        el = str(row.elements).split()
        elems[row.material_id] = el
        cif = row.cif if "cif" in df.columns else ""
        volume = cell_volume_from_cif(cif) if cif else None
        vol_factor[row.material_id] = _volume_factor(volume, int(row.n_sites))
        counts = Composition(row.formula).get_el_amt_dict()
        heuristic[row.material_id] = estimated_cost(el, counts, int(row.n_sites), row.band_gap, volume)
        feats[row.material_id] = cost_features(el, counts, int(row.n_sites), row.band_gap, cif) if cif else None
    fit_ids = [m for m in elems if m in measured and feats[m] is not None]
    coef = fit_cost_model([feats[m] for m in fit_ids], [measured[m] for m in fit_ids])  # type: ignore[misc]
    if coef is not None and all(f is not None for f in feats.values()):
        costs = {m: float(np.exp(feats[m] @ coef)) * vol_factor[m] for m in elems}  # type: ignore[operator]
        alpha = SPREAD_MEASURED
    else:
        costs, alpha = heuristic, SPREAD_UNMEASURED
    counts: Counter[str] = Counter()
    order = [m for m in elems if m in measured]
    for m in order:
        counts.update(elems[m])

    def priority(mid: str) -> float:
        k = min(counts[e] for e in elems[mid])
        return costs[mid] * (1 + k) ** alpha

    heap = [(priority(m), m) for m in costs if m not in measured]
    heapq.heapify(heap)
    while heap:
        p, mid = heapq.heappop(heap)
        current = priority(mid)
        if heap and current > heap[0][0] + 1e-12:
            heapq.heappush(heap, (current, mid))  # priorities only grow, so lazy re-insertion is exact
            continue
        order.append(mid)
        counts.update(elems[mid])
    return order
