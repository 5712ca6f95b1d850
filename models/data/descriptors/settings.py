"""The DFT settings of the reference path: one convention for every crystal, recorded with each result.

Chosen defaults (justified by the settings sweep in ``validation/``): plain PBE, GPAW LCAO with the
``dzp`` basis, a Γ-centred Monkhorst–Pack grid from a k-point *length* (n_i = ⌈L·|b_i|⌉ with b_i the
reciprocal vectors without 2π, so L ≈ the real-space supercell length in Å), grid spacing ``h`` and
Fermi–Dirac smearing small enough not to shift the charges. The Bader grid is the all-electron density
interpolated to ``gridrefinement`` × the calculation grid.
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
    gridrefinement: int = Field(2, ge=1, le=4, description="all-electron density refinement for Bader")
    spin_policy: str = Field(
        "ferromagnetic-open-shell",
        description="'ferromagnetic-open-shell': spin-polarized, FM initial moments, only crystals with "
        "magnetic elements; 'restricted': never spin-polarized",
    )
    maxiter: int = Field(300, ge=1)
    engine: Literal["legacy", "new"] = Field(
        "legacy", description="GPAW's classic calculator (gpaw.old) or the rewritten one (gpaw.new)"
    )

    def kpoint_grid(self, cell: np.ndarray) -> tuple[int, int, int]:
        """Γ-centred grid for a cell (rows = lattice vectors, Å)."""
        recip = np.linalg.inv(np.asarray(cell, dtype=np.float64)).T  # rows b_i with a_i·b_j = δ_ij
        n = [max(1, math.ceil(self.kpt_length * float(np.linalg.norm(b)) - 1e-9)) for b in recip]
        return (n[0], n[1], n[2])


DEFAULT_SETTINGS = DFTSettings()
