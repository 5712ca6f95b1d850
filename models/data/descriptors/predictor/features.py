"""Inputs of the descriptor predictor: physical element features and periodic neighbour graphs.

Why physical element features instead of only a learned one-hot embedding: the DFT labels cover a few
dozen elements at first (81 occur in the corpus), so the net must say something sensible about an
element it never saw. Electronegativity, row/group, block, valence-shell occupation, radius, ionization
energy and electron affinity place an unseen element next to its chemical neighbours (Bader charge is
mostly an electronegativity-difference effect; the DOS shape mostly a valence-shell effect). The model
adds a learned per-element embedding on top (zero at start), which takes over where data exists.

Why a radius graph over periodic images: Bader charges and the atomic DOS are set by the local
environment; distances to all neighbours within ``CUTOFF`` Å (every periodic image, via pymatgen's
neighbour list) are invariant to rotation/translation of the cell and to the choice of unit cell, and
a graph has no site order, so permutation equivariance comes for free.

Why a formal oxidation state per site: a Bader charge tracks the element's oxidation state in *this*
compound (C is about −2 in SiC but near 0 in a carbide-free intermetallic; N is −3 in Li3N), which a
per-element mean cannot know. pymatgen's composition-level guess (most probable ICSD oxidation states
that make the cell neutral) is cheap, needs no DFT, and is 0 for metals and intermetallics, where no
guess exists. It enters the network as one more site input and through a fitted linear term.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from pymatgen.core import Element, Structure

CUTOFF = 5.0  # Å; first and second coordination shells of nearly every inorganic crystal
MAX_Z = 100
N_ELEMENT_FEATURES = 16


def _num(x: object, default: float) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return default if math.isnan(v) else v


def _valence_shell(el: Element) -> tuple[int, int, int, int]:
    """(s, p, d, f) electrons of the open/valence shells: ns, np, (n-1)d, (n-2)f for the outermost n."""
    conf = el.full_electronic_structure
    n_max = max(n for n, _, _ in conf)
    s = sum(k for n, orb, k in conf if orb == "s" and n == n_max)
    p = sum(k for n, orb, k in conf if orb == "p" and n == n_max)
    d = sum(k for n, orb, k in conf if orb == "d" and n == n_max - 1)
    f = sum(k for n, orb, k in conf if orb == "f" and n == n_max - 2)
    return s, p, d, f


@cache
def element_features(z: int) -> tuple[float, ...]:
    """Fixed, roughly unit-scaled physical features of element ``z`` (length ``N_ELEMENT_FEATURES``).

    Missing data (e.g. no Pauling electronegativity for He/Ne/Ar) falls back to a neutral value and
    sets a flag, so the net can tell "unknown" from "small".
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about missing data for some elements
        el = Element.from_Z(int(z))
        x_raw = _num(el.X, float("nan"))
        x_missing = math.isnan(x_raw)
        x = 2.0 if x_missing else x_raw
        radius = _num(el.atomic_radius, _num(el.atomic_radius_calculated, 1.5))
        ion = _num(el.ionization_energy, 10.0)
        aff = _num(el.electron_affinity, 0.0)
        s, p, d, f = _valence_shell(el)
        block = el.block
        group = _num(el.group, 3.0)
        row = _num(el.row, 4.0)
        mend = _num(el.mendeleev_no, 50.0)
    return (
        (x - 2.0) / 1.0,
        row / 7.0,
        group / 18.0,
        float(block == "s"),
        float(block == "p"),
        float(block == "d"),
        float(block == "f"),
        s / 2.0,
        p / 6.0,
        d / 10.0,
        f / 14.0,
        (radius - 1.4) / 0.6,
        (ion - 8.0) / 4.0,
        aff / 2.0,
        mend / 100.0,
        float(x_missing),
    )


@lru_cache(maxsize=1)
def element_feature_table() -> np.ndarray:
    """(MAX_Z + 1, N_ELEMENT_FEATURES) float32; row 0 unused."""
    table = np.zeros((MAX_Z + 1, N_ELEMENT_FEATURES), dtype=np.float32)
    for z in range(1, MAX_Z + 1):
        table[z] = element_features(z)
    return table


@dataclass(frozen=True)
class CrystalGraph:
    """Sites and directed edges (``src`` → ``dst`` within ``CUTOFF``, periodic images included)."""

    z: np.ndarray  # (n,) int64 atomic numbers, corpus site order
    src: np.ndarray  # (E,) int64 neighbour index
    dst: np.ndarray  # (E,) int64 centre index
    dist: np.ndarray  # (E,) float32 Å
    cutoff: float = CUTOFF  # radius actually used (grows for sparse structures), sets the envelope
    oxi: np.ndarray | None = None  # (n,) float32 formal oxidation state guess per site (0 when none)

    @property
    def oxidation(self) -> np.ndarray:
        return np.zeros(self.n_sites, dtype=np.float32) if self.oxi is None else self.oxi

    @property
    def n_sites(self) -> int:
        return int(self.z.shape[0])


@lru_cache(maxsize=65536)
def _oxidation_guess(formula: str) -> tuple[tuple[str, float], ...]:
    from pymatgen.core import Composition

    comp = Composition(formula)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            guesses = comp.oxi_state_guesses(max_sites=-50)
    except Exception:  # pymatgen raises on exotic compositions; "no guess" is the honest answer
        guesses = []
    if not guesses:
        return tuple((el, 0.0) for el in comp.get_el_amt_dict())
    return tuple((el, float(v)) for el, v in guesses[0].items())


def formal_oxidation_states(structure: Structure) -> np.ndarray:
    """(n,) float32: the most probable charge-balanced oxidation state of each site's element (an
    element's sites share the composition-level average), 0 everywhere when no balanced guess exists."""
    table = dict(_oxidation_guess(structure.composition.formula))
    return np.array([table.get(site.specie.symbol, 0.0) for site in structure], dtype=np.float32)


def crystal_graph(structure: Structure, cutoff: float = CUTOFF) -> CrystalGraph:
    """Neighbour graph of ``structure``; the radius grows for any site that would have no neighbour.

    Ordered/disordered: every site must hold one element (the corpus and the generator produce ordered
    crystals); a partially occupied site is a clear error rather than a silent guess.
    """
    if len(structure) == 0:
        raise ValueError("structure has no sites")
    if not structure.is_ordered:
        raise ValueError("descriptor predictor needs an ordered structure (one element per site)")
    z = np.array([site.specie.Z for site in structure], dtype=np.int64)
    if z.max() > MAX_Z:
        raise ValueError(f"element Z={int(z.max())} beyond the predictor's table (Z <= {MAX_Z})")
    # Every site needs neighbours well inside the radius (the envelope vanishes at the cutoff), so the
    # radius grows until each site's nearest neighbour sits within 1/1.3 of it.
    r = cutoff
    for attempt in range(6):
        centre, neigh, _images, dist = structure.get_neighbor_list(r)
        keep = dist > 1e-6
        centre, neigh, dist = centre[keep], neigh[keep], dist[keep]
        nearest = np.full(len(structure), np.inf)
        np.minimum.at(nearest, centre, dist)
        need = 1.3 * float(nearest.max())
        if need <= r or attempt == 5:
            break
        r = need if np.isfinite(need) else 2.0 * r
    return CrystalGraph(
        z=z,
        src=np.asarray(neigh, dtype=np.int64),
        dst=np.asarray(centre, dtype=np.int64),
        dist=np.asarray(dist, dtype=np.float32),
        cutoff=float(r),
        oxi=formal_oxidation_states(structure),
    )
