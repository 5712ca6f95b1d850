"""Composition + structure features for the independent band-gap predictor (no external data).

Element properties come from pymatgen's built-in periodic table (Magpie-like: electronegativity,
radius, row, group, mass, Mendeleev number, ionisation energy, electron affinity, melting point,
molar volume, block and valence-shell electron counts). A crystal is described by fraction-weighted
statistics of those properties, by simple cell descriptors (volume per atom, packing fraction,
density, space group) and by local-environment statistics (nearest-neighbour distance relative to
atomic radii, coordination, electronegativity difference to neighbours — a proxy for ionicity,
which is what separates insulators from metals). Everything is computed from the structure alone.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
from pymatgen.core import Element, Structure

ELEMENT_PROPS = [
    "Z",
    "X",
    "row",
    "group",
    "atomic_radius",
    "atomic_mass",
    "mendeleev_no",
    "ionization_energy",
    "electron_affinity",
    "melting_point",
    "molar_volume",
    "block_s",
    "block_p",
    "block_d",
    "block_f",
    "n_s_valence",
    "n_p_valence",
    "n_d_valence",
    "n_f_valence",
    "n_valence",
]
STATS = ["mean", "min", "max", "range", "mad"]
NEIGHBOUR_CUTOFF = 6.0  # Å


def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if np.isfinite(v) else float("nan")


def _valence_counts(el: Element) -> tuple[float, float, float, float]:
    """Electrons in the outermost s/p shell, the (n-1)d and the (n-2)f shell (Magpie's N*Valence)."""
    try:
        shells = el.full_electronic_structure
    except Exception:
        return (np.nan,) * 4
    n_max = max(n for n, _, _ in shells)
    counts = {"s": 0.0, "p": 0.0, "d": 0.0, "f": 0.0}
    for n, l_, occ in shells:
        if (l_ in "sp" and n == n_max) or (l_ == "d" and n == n_max - 1) or (l_ == "f" and n == n_max - 2):
            counts[l_] += occ
    return counts["s"], counts["p"], counts["d"], counts["f"]


@lru_cache(maxsize=1)
def element_table() -> np.ndarray:
    """(104, len(ELEMENT_PROPS)) property table indexed by Z; NaNs replaced by the column mean."""
    rows = np.full((104, len(ELEMENT_PROPS)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, 104):
            el = Element.from_Z(z)
            s, p, d, f = _valence_counts(el)
            block = el.block
            rows[z] = [
                z,
                _num(el.X),
                _num(el.row),
                _num(el.group),
                _num(el.atomic_radius),
                _num(el.atomic_mass),
                _num(el.mendeleev_no),
                _num(el.ionization_energy),
                _num(el.electron_affinity),
                _num(el.melting_point),
                _num(el.molar_volume),
                float(block == "s"),
                float(block == "p"),
                float(block == "d"),
                float(block == "f"),
                s,
                p,
                d,
                f,
                s + p + d + f,
            ]
    col_mean = np.nanmean(rows[1:], axis=0)
    idx = np.where(np.isnan(rows))
    rows[idx] = np.take(col_mean, idx[1])
    return rows


def feature_names() -> list[str]:
    names = [f"{p}_{s}" for p in ELEMENT_PROPS for s in STATS]
    names += [
        "n_elements",
        "frac_l2",
        "frac_l3",
        "volume_per_atom",
        "packing_fraction",
        "density",
        "n_sites",
        "spacegroup",
        "nn_dist_mean",
        "nn_dist_min",
        "nn_ratio_mean",
        "nn_ratio_min",
        "coord_mean",
        "coord_std",
        "dX_neigh_mean",
        "dX_neigh_max",
        "dX_neigh_min",
    ]
    return names


def _weighted_stats(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n_props, 5): mean, min, max, range and mean absolute deviation over the elements."""
    mean = weights @ values
    vmin, vmax = values.min(axis=0), values.max(axis=0)
    mad = weights @ np.abs(values - mean)
    return np.stack([mean, vmin, vmax, vmax - vmin, mad], axis=1)


def _spacegroup(structure: Structure) -> float:
    try:
        import spglib

        cell = (structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers)
        ds = spglib.get_symmetry_dataset(cell, symprec=0.1)
        return float(ds.number) if ds is not None else 1.0
    except Exception:
        return 1.0


def structure_features(structure: Structure) -> np.ndarray:
    """Feature vector of one crystal (length ``len(feature_names())``)."""
    table = element_table()
    comp = structure.composition.fractional_composition
    zs = np.array([el.Z for el in comp], dtype=int)
    w = np.array([comp[el] for el in comp], dtype=float)
    comp_feats = _weighted_stats(table[zs], w).reshape(-1)

    n = len(structure)
    z_sites = np.array(structure.atomic_numbers, dtype=int)
    radius = table[z_sites, ELEMENT_PROPS.index("atomic_radius")]
    chi = table[z_sites, ELEMENT_PROPS.index("X")]
    vol = float(structure.volume)
    packing = float((4.0 / 3.0) * np.pi * np.sum(radius**3) / vol)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        centers, neighbors, _, dists = structure.get_neighbor_list(NEIGHBOUR_CUTOFF)
    nn = np.full(n, NEIGHBOUR_CUTOFF)
    np.minimum.at(nn, centers, dists)
    # coordination: neighbours within 1.25 x the site's nearest-neighbour distance
    within = dists <= 1.25 * nn[centers]
    coord = np.bincount(centers[within], minlength=n).astype(float)
    ratio = dists / (radius[centers] + radius[neighbors])
    nn_ratio = np.full(n, np.inf)
    np.minimum.at(nn_ratio, centers, ratio)
    nn_ratio[~np.isfinite(nn_ratio)] = NEIGHBOUR_CUTOFF
    dchi = np.abs(chi[centers] - chi[neighbors])
    dchi_site = np.bincount(centers[within], weights=dchi[within], minlength=n) / np.maximum(coord, 1.0)

    frac = w
    extra = [
        float(len(zs)),
        float(np.sqrt((frac**2).sum())),
        float(((frac**3).sum()) ** (1 / 3)),
        vol / n,
        packing,
        float(structure.density),
        float(n),
        _spacegroup(structure),
        float(nn.mean()),
        float(nn.min()),
        float(nn_ratio.mean()),
        float(nn_ratio.min()),
        float(coord.mean()),
        float(coord.std()),
        float(dchi_site.mean()),
        float(dchi_site.max()),
        float(dchi_site.min()),
    ]
    return np.concatenate([comp_feats, np.array(extra)])


def featurize(structures: list[Structure]) -> np.ndarray:
    return (
        np.stack([structure_features(s) for s in structures])
        if structures
        else np.zeros((0, len(feature_names())))
    )
