"""Response models of a structure's relaxation, self-consistency and screen outcome (issue 17)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

SYMPREC = 0.1  # Å; the worker's spglib tolerance (worker/relaxation.py), stated with every space group
ANGLE_TOLERANCE = 5.0  # degrees
# Below the reference hull by more than this (eV/atom): the reference set lacks this chemical system
# (or CHGNet over-binds the cell), not a record-breaking crystal (models.evaluate.stability).
BELOW_HULL_LIMIT = -0.05
BELOW_HULL_FLAG = "reference hull lacks this chemical system"

METHOD_RELAXATION = (
    "CHGNet 0.3.0 relaxation of positions and cell with FIRE until the largest force is below RELAX_FMAX "
    "(default 0.1 eV/Å) or RELAX_MAX_STEPS (default 300) steps; the generated structure is kept unchanged."
)
METHOD_CONSISTENCY = (
    "Generated charges and DOS vs the descriptor predictor (trained on DFT Bader charges and atomic DOS) "
    "on the same, generated cell: mean absolute charge difference (e) and mean per-site DOS cosine."
)


class RelaxedSpaceGroupOut(BaseModel):
    symbol: str | None = Field(None, description="Hermann–Mauguin symbol of the relaxed crystal.")
    number: int | None = Field(None, description="International Tables number, 1–230.")
    symprec: float = Field(SYMPREC, description="spglib distance tolerance, Å.")
    angle_tolerance: float = Field(ANGLE_TOLERANCE, description="spglib angle tolerance, degrees.")


class RelaxedOut(BaseModel):
    """The CHGNet relaxation of the crystal (null values: not relaxed; `status` says why)."""

    status: str | None = Field(
        None,
        description="relaxed | failed (reason in `error`) | skipped (the job asked relax=false) | disabled "
        "(RELAX_STRUCTURES=false) | null (stored before relaxation existed).",
    )
    error: str | None = None
    space_group: RelaxedSpaceGroupOut
    rmsd: float | None = Field(None, description="RMS displacement of the sites, generated → relaxed, Å.")
    energy_per_atom: float | None = Field(None, description="CHGNet energy of the relaxed crystal, eV/atom.")
    converged: bool | None = Field(None, description="Forces fell below fmax before the step cap.")
    steps: int | None = Field(None, description="FIRE steps taken.")
    seconds: float | None = Field(None, description="Wall seconds the relaxation took.")
    method: str = METHOD_RELAXATION


class ConsistencyOut(BaseModel):
    """Self-consistency of the generated descriptors (null: no charges/DOS or predictor unavailable)."""

    charge_mae: float | None = Field(None, description="Mean |generated − predicted| charge, e.")
    dos_cosine: float | None = Field(None, description="Mean per-site cosine, generated vs predicted DOS.")
    method: str = METHOD_CONSISTENCY


class ScreenResultOut(BaseModel):
    passed: bool | None = Field(None, description="Passed the job's screen (null: the job has no screen).")
    checks: dict[str, Any] | None = Field(
        None, description="Each check's outcome (null: unknown); known_match / duplicate_of say which crystal."
    )


class RelaxedDetailOut(RelaxedOut):
    structure: dict[str, Any] | None = Field(
        None, description="The relaxed structure (pymatgen Structure.as_dict(), same site order as generated)."
    )
    predicted_charges: list[float | None] | None = Field(
        None, description="Descriptor predictor on the RELAXED cell: per-site Bader charge, e."
    )
    predicted_dos: list[list[float | None]] | None = Field(
        None, description="Descriptor predictor on the RELAXED cell: per-site DOS on the /dos grid, states/eV."
    )
    descriptor_predictor_sha256: str | None = None
