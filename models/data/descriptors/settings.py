"""The DFT settings of the reference path: one convention for every crystal, recorded with each result.

Chosen defaults (the settings sweep in ``validation/RESULTS.md``): plain PBE, GPAW LCAO with the
``dzp`` basis, a Γ-centred Monkhorst–Pack grid from a k-point *length* (n_i = ⌈L·|b_i|⌉ with b_i the
reciprocal vectors without 2π, so L ≈ the real-space supercell length in Å), grid spacing ``h`` and
Fermi–Dirac smearing of 0.05 eV. The Bader grid is the all-electron density interpolated to
``gridrefinement`` × the calculation grid.

Why L = 12 Å, h = 0.2 Å, refinement 4 (measured on NaCl, MgO, SrTiO3, one core):
- the Bader grid is what limits the charges: refinement 2 → 4 at h = 0.2 moved Mg by +0.04 e and Ti by
  +0.14 e; with refinement 4, h = 0.2 is within 0.005 e of the h = 0.15 / L = 16 reference for NaCl and
  MgO and within 0.048 e (Ti), 0.017 e (O), 0.004 e (Sr) of the h = 0.15 refinement-4 check for SrTiO3;
- h = 0.25 with refinement 4 is half the SCF cost but moves Ti in SrTiO3 by −0.10 e and the MgO gap by
  +0.21 eV, outside the ~0.05 e target, so it was dropped (after 33 corpus crystals had been run with
  it; those were discarded, not mixed in);
- L = 8 Å gives the same charges but a 3×3×3 grid misses SrTiO3's R-point VBM (gap 2.01 instead of
  1.76 eV), so L = 12 Å is kept for the band gaps;
- the szp sub-basis (``szp(dzp)``) moves Mg by −0.09 e: rejected.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class DFTSettings(BaseModel):
    """All knobs that change a DFT result; stored verbatim next to every result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    xc: str = "PBE"
    basis: str = "dzp"
    kpt_length: float = Field(12.0, gt=0, description="Å; n_i = ceil(L*|b_i|), Γ-centred")
    h: float = Field(0.2, gt=0, description="real-space grid spacing, Å")
    smearing_ev: float = Field(0.05, ge=0, description="Fermi-Dirac width, eV")
    gridrefinement: int = Field(4, ge=1, le=4, description="all-electron density refinement for Bader")
    spin_policy: str = Field(
        "ferromagnetic-open-shell",
        description="'ferromagnetic-open-shell': spin-polarized, FM initial moments, only crystals with "
        "magnetic elements; 'restricted': never spin-polarized",
    )
    maxiter: int = Field(300, ge=1)
    cell: Literal["niggli", "as-given"] = Field(
        "niggli",
        description="'niggli': run on the right-handed Niggli-reduced lattice (same sites, same order) "
        "when it is clearly less skewed than the given one (see gpaw_path.better_shaped_cell)",
    )
    engine: Literal["legacy", "new"] = Field(
        "legacy", description="GPAW's classic calculator (gpaw.old) or the rewritten one (gpaw.new)"
    )

    def kpoint_grid(self, cell: np.ndarray) -> tuple[int, int, int]:
        """Γ-centred grid for a cell (rows = lattice vectors, Å)."""
        recip = np.linalg.inv(np.asarray(cell, dtype=np.float64)).T  # rows b_i with a_i·b_j = δ_ij
        n = [max(1, math.ceil(self.kpt_length * float(np.linalg.norm(b)) - 1e-9)) for b in recip]
        return (n[0], n[1], n[2])


DEFAULT_SETTINGS = DFTSettings()
