"""Which corpus crystals the runner labels first: cheapest first, spread over the periodic table.

Cost estimate (relative units, no DFT needed): n_sites × Σ valence electrons (valence = electrons
outside the preceding noble-gas core, so Ga counts its 3d¹⁰), ×3 if the crystal is a metal by MP
(gap 0 or unknown: metals need more SCF steps), ×2 if it will be spin-polarized, ×10 with any La–Lu
(f-electron SCF is slow and often fails), so lanthanide crystals go last, and × (volume per atom /
25 Å³) when that exceeds 1, because the real-space grid (SCF and the 4×-refined Bader grid) grows
with the volume: a 1-atom Cu cell with 600 Å³ of vacuum (mp-1056079) was still in its Bader step
five minutes after an SCF that took seconds.

Spreading: a greedy order that, at each step, takes the crystal minimising
cost × (1 + k)², k = how many already-queued crystals contain its least-covered element. A crystal
that brings a new element in competes at its bare cost, so the first few hundred cover most of the
corpus' elements instead of hundreds of cheap alkali halides.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from functools import cache, lru_cache
from pathlib import Path

import pandas as pd
from pymatgen.core import Element

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


def estimated_cost(elements: list[str], formula_counts: dict[str, float], n_sites: int, mp_gap: float | None,
                   volume: float | None = None) -> float:
    per_formula_sites = sum(formula_counts.values())
    scale = n_sites / per_formula_sites
    n_val = sum(valence_electrons(e) * c * scale for e, c in formula_counts.items())
    cost = float(n_sites) * n_val
    if mp_gap is None or pd.isna(mp_gap) or mp_gap <= 0.0:
        cost *= 3.0
    if any(e in MAGNETIC_ELEMENTS for e in elements):
        cost *= 2.0
    if any(e in LANTHANIDES for e in elements):
        cost *= 10.0
    if volume is not None and n_sites > 0:
        cost *= max(1.0, volume / n_sites / TYPICAL_VOLUME_PER_ATOM)
    return cost


def order_for_labelling(df: pd.DataFrame) -> list[str]:
    """Material ids of ``df`` (columns material_id, formula, n_sites, elements, band_gap, optionally cif)
    in run order."""
    from pymatgen.core import Composition

    costs: dict[str, float] = {}
    elems: dict[str, list[str]] = {}
    for row in df.itertuples(index=False):
        el = str(row.elements).split()
        comp = Composition(row.formula).get_el_amt_dict()
        volume = cell_volume_from_cif(row.cif) if "cif" in df.columns else None
        costs[row.material_id] = estimated_cost(el, comp, int(row.n_sites), row.band_gap, volume)
        elems[row.material_id] = el
    counts: Counter[str] = Counter()

    def priority(mid: str) -> float:
        k = min(counts[e] for e in elems[mid])
        return costs[mid] * (1 + k) ** 2

    heap = [(priority(m), m) for m in costs]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        p, mid = heapq.heappop(heap)
        current = priority(mid)
        if heap and current > heap[0][0] + 1e-12:
            heapq.heappush(heap, (current, mid))  # priorities only grow, so lazy re-insertion is exact
            continue
        order.append(mid)
        counts.update(elems[mid])
    return order
