"""Response models of the structures resource (units in the descriptions)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.relaxed import ConsistencyOut, RelaxedDetailOut, RelaxedOut, ScreenResultOut


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


# How each predicted property is obtained (models.evaluate.quick_properties, run by the worker when it
# stores the chunk). Shared by the OpenAPI descriptions and the `properties` block of a structure.
METHOD_BAND_GAP = (
    "Predicted by an independent LightGBM model (metal classifier + gap regressor) trained on the DFT "
    "(PBE, Materials Project) band gaps of the training corpus; never used for guidance. Corpus test "
    "split: MAE 0.18 eV, metal/non-metal accuracy 0.93."
)
METHOD_FORMATION_ENERGY = (
    "CHGNet 0.3.0 energy of the CHGNet-relaxed structure (of the structure as sampled when `basis` is "
    "'generated': relaxation skipped or failed) minus elemental chemical potentials on the Materials "
    "Project scale."
)
METHOD_E_ABOVE_HULL = (
    "Energy above the convex hull of the reference crystals (corpus + MPTS-52, CHGNet static energies), "
    "from the CHGNet energy of the relaxed structure (of the unrelaxed one when `basis` is 'generated', "
    "then an upper estimate). The reference hull is incomplete: below it by more than 0.05 eV/atom is "
    "flagged 'reference hull lacks this chemical system'."
)
METHOD_STRUCTURALLY_VALID = (
    "All interatomic distances (periodic images included) ≥ 0.5 Å and cell volume ≥ 0.1 Å³."
)
METHOD_SMACT_VALID = (
    "SMACT: some assignment of oxidation states is charge neutral and passes the Pauling electronegativity "
    "test; single elements and all-metal compositions count as valid (CDVAE/DiffCSP definition)."
)
STATUS_DESCRIPTION = (
    "How the predictions were obtained: computed (all values), partial (some null, see errors), "
    "failed (prediction raised for this crystal; all null), disabled (PREDICT_PROPERTIES=false on the "
    "worker), unavailable (worker without the evaluation package), null (stored before predictions existed)."
)


class PredictedOut(BaseModel):
    """Predicted properties, computed by the worker before the structure was stored (null when not
    available; `status` says why)."""

    band_gap: float | None = Field(None, description=f"Predicted band gap, eV. {METHOD_BAND_GAP}")
    formation_energy_per_atom: float | None = Field(
        None, description=f"Predicted formation energy, eV/atom. {METHOD_FORMATION_ENERGY}"
    )
    e_above_hull: float | None = Field(
        None, description=f"Predicted energy above hull, eV/atom. {METHOD_E_ABOVE_HULL}"
    )
    status: str | None = Field(None, description=STATUS_DESCRIPTION)
    basis: str | None = Field(
        None, description="Which structure the values describe: relaxed | generated (null: before relaxation)."
    )
    below_hull_flag: str | None = Field(
        None,
        description="Set when e_above_hull < -0.05 eV/atom: the reference hull lacks this chemical system (the "
        "value is not evidence of an exceptionally stable crystal).",
    )


class ValidityOut(BaseModel):
    structurally_valid: bool | None = Field(None, description=METHOD_STRUCTURALLY_VALID)
    smact_valid: bool | None = Field(None, description=METHOD_SMACT_VALID)
    valid: bool | None = Field(
        None, description="structurally_valid and smact_valid (null if either is unknown)."
    )


class PropertyValue(BaseModel):
    value: float | bool | None = Field(description="null when it could not be obtained (see `errors`).")
    unit: str | None = Field(description="Unit of `value` (null for flags).")
    method: str = Field(description="How the value was obtained.")


class PropertiesOut(BaseModel):
    """Every predicted property with its unit and how it was obtained."""

    status: str | None = Field(description=STATUS_DESCRIPTION)
    band_gap: PropertyValue
    formation_energy_per_atom: PropertyValue
    e_above_hull: PropertyValue
    structurally_valid: PropertyValue
    smact_valid: PropertyValue
    errors: dict[str, str] | None = Field(
        None, description="Why a value is missing, per property (`energy` covers both CHGNet values)."
    )


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
    validity: ValidityOut | None = None
    charges: list[float | None] | None = Field(
        None, description="Per-site net Bader charge, e (site order of the structure)."
    )
    relaxed: RelaxedOut | None = None
    consistency: ConsistencyOut | None = None
    screen: ScreenResultOut | None = None
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
    validity: ValidityOut
    properties: PropertiesOut
    structure: dict[str, Any] = Field(
        description="pymatgen Structure.as_dict() as generated; each site's properties.charge is its "
        "generated Bader charge in e."
    )
    relaxed: RelaxedDetailOut
    consistency: ConsistencyOut
    screen: ScreenResultOut
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
