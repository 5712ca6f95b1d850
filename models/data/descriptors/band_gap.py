"""Band edges and gap from Kohn–Sham eigenvalues over all k-points and spins.

A band crossing the Fermi level (some k below, some above, in the same spin channel) makes the crystal
a metal (gap 0, DOS referenced to the Fermi level). Otherwise VBM = highest eigenvalue below E_F and
CBM = lowest above, over every k-point and both spins (so an indirect gap is found), and the DOS is
referenced to the VBM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BandEdges:
    gap: float
    vbm: float | None
    cbm: float | None
    is_metal: bool
    fermi_level: float

    @property
    def reference_energy(self) -> float:
        """Zero of the DOS axis: VBM for a gapped crystal, Fermi level for a metal."""
        return self.fermi_level if self.is_metal or self.vbm is None else self.vbm


def band_edges(eps_skn: np.ndarray, fermi_level: float) -> BandEdges:
    """``eps_skn``: eigenvalues (eV) with shape (spins, k-points, bands)."""
    eps = np.asarray(eps_skn, dtype=np.float64)
    if eps.ndim != 3:
        raise ValueError(f"eigenvalues must be (spins, kpts, bands), got shape {eps.shape}")
    below = eps < fermi_level
    crossing = below.any(axis=1) & (~below).any(axis=1)  # (spins, bands)
    occupied = eps[below]
    empty = eps[~below]
    vbm = float(occupied.max()) if occupied.size else None
    cbm = float(empty.min()) if empty.size else None
    if crossing.any() or vbm is None or cbm is None:
        return BandEdges(gap=0.0, vbm=vbm, cbm=cbm, is_metal=True, fermi_level=float(fermi_level))
    return BandEdges(gap=cbm - vbm, vbm=vbm, cbm=cbm, is_metal=False, fermi_level=float(fermi_level))
