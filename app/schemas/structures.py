"""Response models of the structures resource (units in the descriptions)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class LatticeOut(BaseModel):
    matrix: list[list[float]] = Field(description="Lattice vectors as rows, Å.")
    a: float = Field(description="Å")
    b: float = Field(description="Å")
    c: float = Field(description="Å")
    alpha: float = Field(description="degrees")
    beta: float = Field(description="degrees")
    gamma: float = Field(description="degrees")
    volume: float = Field(description="Å³")


class SpaceGroupOut(BaseModel):
    symbol: str | None = Field(None, description="Hermann–Mauguin symbol (spglib, symprec 0.1 Å).")
    number: int | None = Field(None, description="International Tables number, 1–230.")


class PredictedOut(BaseModel):
    """Filled by the evaluation module after generation; null until then."""

    band_gap: float | None = Field(None, description="Predicted band gap, eV.")
    formation_energy_per_atom: float | None = Field(None, description="Predicted formation energy, eV/atom.")


class ProvenanceOut(BaseModel):
    model: str = Field(description="Model variant name.")
    checkpoint_sha256: str = Field(description="SHA-256 of the checkpoint file that sampled this structure.")
    guidance_scale: float = Field(description="Classifier-free guidance scale γ.")
    seed: int = Field(
        description="Seed of the sampling call that produced this structure (derived from the job seed)."
    )
    job_seed: int = Field(description="The job's seed.")
    steps: int = Field(description="Reverse-diffusion steps.")
    target: dict[str, float | None] = Field(description="The job's property targets (eV, eV/atom).")


class StructureSummary(BaseModel):
    """One row of a job's structure list. With ``fields=`` only the requested keys (plus id) appear."""

    id: uuid.UUID
    job_id: uuid.UUID | None = None
    sample_index: int | None = Field(None, description="0-based index of the sample within its job.")
    formula: str | None = None
    reduced_formula: str | None = None
    elements: list[str] | None = None
    n_sites: int | None = Field(None, description="Sites in the unit cell.")
    lattice: LatticeOut | None = None
    density: float | None = Field(None, description="g/cm³")
    space_group: SpaceGroupOut | None = None
    predicted: PredictedOut | None = None
    charges: list[float | None] | None = Field(
        None, description="Per-site net Bader charge, e (site order of the structure)."
    )
    created_at: datetime | None = None
    links: dict[str, str] | None = None


class StructureDetail(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID
    sample_index: int
    formula: str
    reduced_formula: str
    n_sites: int
    space_group: SpaceGroupOut
    predicted: PredictedOut
    structure: dict[str, Any] = Field(
        description="pymatgen Structure.as_dict(); each site's properties.charge is its Bader charge in e."
    )
    provenance: ProvenanceOut
    links: dict[str, str]


class SiteDos(BaseModel):
    index: int
    species: str
    charge: float | None = Field(None, description="Net Bader charge, e.")
    dos: list[float | None] = Field(
        description="Atomic DOS on `energies`, states/eV (integrates to 1 over the window)."
    )


class DosOut(BaseModel):
    structure_id: uuid.UUID
    energies: list[float] = Field(
        description="Energy grid, eV, relative to the VBM (gapped) or Fermi level (metal)."
    )
    energy_unit: str = "eV"
    dos_unit: str
    sigma: float = Field(description="Gaussian broadening, eV.")
    sites: list[SiteDos]
