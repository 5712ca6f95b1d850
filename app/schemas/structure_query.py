"""Query parameters of ``GET /v1/jobs/{id}/structures``: pagination, sparse fields and filters.

One model, used by FastAPI as ``Annotated[StructureQuery, Query()]``. ``extra="forbid"`` turns a typo
such as ``band_gap_mn=2`` into a 422 instead of a silently unfiltered result.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.schemas.bounds import ELEMENTS_HINT, INT32_MAX, unsupported_elements

SUMMARY_FIELDS = (
    "id",
    "job_id",
    "sample_index",
    "formula",
    "reduced_formula",
    "elements",
    "n_sites",
    "lattice",
    "density",
    "space_group",
    "predicted",
    "validity",
    "charges",
    "relaxed",
    "consistency",
    "screen",
    "created_at",
    "links",
)

# sort= keys: column names of the list; "-" in front sorts descending. Nulls always come last.
SORT_KEYS = {
    "sample_index": "sample_index",
    "band_gap": "band_gap_pred",
    "formation_energy": "formation_energy_pred",
    "e_above_hull": "e_above_hull_pred",
    "consistency_charge_mae": "consistency_charge_mae",
    "consistency_dos_cosine": "consistency_dos_cosine",
    "relax_rmsd": "relax_rmsd",
}

_HULL = "eV/atom (CHGNet, relaxed crystal)"


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


class StructureQuery(BaseModel):
    """Range filters leave out structures whose value is null."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=INT32_MAX)
    fields: str | None = Field(None, description=f"Comma-separated subset of: {', '.join(SUMMARY_FIELDS)}")
    band_gap_min: float | None = Field(None, description="Predicted band gap ≥, eV")
    band_gap_max: float | None = Field(None, description="Predicted band gap ≤, eV")
    formation_energy_min: float | None = Field(None, description="Predicted E_form ≥, eV/atom")
    formation_energy_max: float | None = Field(None, description="Predicted E_form ≤, eV/atom")
    e_above_hull_min: float | None = Field(None, description=f"Predicted energy above hull ≥, {_HULL}")
    e_above_hull_max: float | None = Field(None, description=f"Predicted energy above hull ≤, {_HULL}")
    structurally_valid: bool | None = Field(
        None, description="Distances ≥ 0.5 Å and volume ≥ 0.1 Å³ (true/false)"
    )
    smact_valid: bool | None = Field(
        None, description="SMACT charge-neutral, electronegativity-balanced (true/false)"
    )
    valid: bool | None = Field(
        None, description="true: both validity checks pass; false: at least one is known to fail"
    )
    n_sites_min: int | None = Field(None, ge=1, le=INT32_MAX)
    n_sites_max: int | None = Field(None, ge=1, le=INT32_MAX)
    space_group: int | None = Field(None, ge=1, le=230)
    elements: str | None = Field(
        None, max_length=400, description="Comma-separated elements that must all be present"
    )
    formula: str | None = Field(None, max_length=255, description="Reduced formula, e.g. NaCl")
    passed: bool | None = Field(None, description="Screened jobs: crystals that passed (true) or not (false)")
    relaxed_space_group: int | None = Field(
        None, ge=1, le=230, description="Space group number of the relaxed crystal (spglib, symprec 0.1 Å)"
    )
    relax_converged: bool | None = Field(None, description="The CHGNet relaxation converged (true/false)")
    consistency_charge_mae_max: float | None = Field(
        None, ge=0, description="Self-consistency: generated vs predicted charges on the generated cell, MAE ≤, e"
    )
    consistency_dos_cosine_min: float | None = Field(
        None, ge=-1, le=1, description="Self-consistency: mean per-site DOS cosine ≥ (generated vs predicted)"
    )
    sort: str | None = Field(
        None,
        max_length=64,
        description=f"Order by one of {', '.join(SORT_KEYS)}; prefix '-' for descending (nulls last). "
        "Default: sample_index.",
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: str | None) -> str | None:
        unknown = sorted(set(_split(value)) - set(SUMMARY_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; allowed: {', '.join(SUMMARY_FIELDS)}")
        return value

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, value: str | None) -> str | None:
        if value is not None and value.removeprefix("-") not in SORT_KEYS:
            raise ValueError(f"unknown sort key {value!r}; allowed: {', '.join(SORT_KEYS)} (prefix '-' to reverse)")
        return value

    @field_validator("elements")
    @classmethod
    def _known_elements(cls, value: str | None) -> str | None:
        bad = unsupported_elements(_split(value))
        if bad:
            raise ValueError(f"unknown element symbol(s) {bad}; {ELEMENTS_HINT}")
        return value

    @model_validator(mode="after")
    def _ordered_ranges(self) -> Self:
        for name in ("band_gap", "formation_energy", "e_above_hull", "n_sites"):
            lo, hi = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{name}_min ({lo}) is greater than {name}_max ({hi})")
        return self

    @property
    def selected_fields(self) -> tuple[str, ...]:
        return _split(self.fields) or SUMMARY_FIELDS

    @property
    def element_list(self) -> list[str]:
        return list(_split(self.elements))
