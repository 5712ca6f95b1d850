"""Range targets and the screen of a job (issue 17): ask for crystals that pass, not for samples."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Point targets count as met within these tolerances (the project's success criterion,
# models/evaluate/success.py): band gap ±0.5 eV, formation energy ±0.2 eV/atom.
TARGET_TOLERANCE = {"band_gap": 0.5, "formation_energy_per_atom": 0.2}


class ValueRange(BaseModel):
    """A target range: guidance aims at its midpoint; the screen keeps crystals inside it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    min: float = Field(description="Lower bound (inclusive), in the unit of the property.")
    max: float = Field(description="Upper bound (inclusive), in the unit of the property.")

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if self.min > self.max:
            raise ValueError(f"range min ({self.min}) must not exceed max ({self.max})")
        return self

    @property
    def midpoint(self) -> float:
        return (self.min + self.max) / 2


class Screen(BaseModel):
    """Which generated crystals count. Checks use the relaxed crystal's predicted properties; an
    unknown value (e.g. a property that could not be predicted) fails its check."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    valid: bool = Field(False, description="Structurally valid and SMACT valid.")
    e_above_hull_max: float | None = Field(
        None, ge=-1.0, le=10.0, description="Largest predicted energy above the reference hull, eV/atom."
    )
    within_target: bool = Field(
        False,
        description="Predicted band gap / formation energy inside the target: a range as given, a point "
        "target ± 0.5 eV (band gap) or ± 0.2 eV/atom (formation energy).",
    )
    unique: bool = Field(False, description="No StructureMatcher match among the job's passing crystals.")
    novel: bool = Field(
        False, description="No StructureMatcher match among the known crystals (corpus + MPTS-52)."
    )


def target_range(value: float | ValueRange | None, tolerance: float, floor: float | None = None) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, ValueRange):
        return [value.min, value.max]
    lo = value - tolerance if floor is None else max(floor, value - tolerance)
    return [lo, value + tolerance]


def screen_spec(
    screen: Screen | None, band_gap: float | ValueRange | None, formation: float | ValueRange | None
) -> dict[str, Any] | None:
    """The normalised spec the worker applies (stored on the job); None: not a screened job.

    A range target makes a job screened even without a ``screen`` (``within_target``)."""
    ranged = isinstance(band_gap, ValueRange) or isinstance(formation, ValueRange)
    if screen is None and not ranged:
        return None
    spec = (screen or Screen()).model_dump()
    spec["within_target"] = spec["within_target"] or ranged
    if spec["within_target"] and band_gap is None and formation is None:
        raise ValueError("screen.within_target needs a target (band_gap and/or formation_energy_per_atom)")
    spec["band_gap_range"] = target_range(band_gap, TARGET_TOLERANCE["band_gap"], floor=0.0)
    spec["formation_energy_range"] = target_range(formation, TARGET_TOLERANCE["formation_energy_per_atom"])
    return spec


class ScreenOut(BaseModel):
    """A screened job's spec and counts."""

    spec: dict[str, Any] = Field(description="The screen as applied, with the target ranges it derived.")
    max_generated: int = Field(description="Budget: most crystals the job may generate.")
    generated: int = Field(description="Crystals generated (and stored) so far.")
    passed: int = Field(description="Crystals that passed the screen so far.")
    pass_rate: float | None = Field(None, description="passed / generated (null before any crystal).")
    stopped: str | None = Field(
        None, description='Why the job ended: "count" (enough passed) or "budget" (max_generated spent).'
    )


class PhasesOut(BaseModel):
    """Progress of the two phases of a job, each a fraction of the crystals to process."""

    sampling: float = Field(ge=0.0, le=1.0)
    relaxation: float | None = Field(
        None, ge=0.0, le=1.0, description="Relaxation and post-processing (null: the job does not relax)."
    )
