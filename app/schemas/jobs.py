"""Request and response models of the jobs resource. Units live in the Field descriptions so they
show up in the OpenAPI schema."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from app.core.config import get_settings
from app.core.generation import GenerationParams
from app.core.webhooks import check_callback_url
from app.schemas.bounds import ELEMENTS_HINT, unsupported_elements
from app.schemas.screen import PhasesOut, Screen, ScreenOut, ValueRange, screen_spec
from app.tables import JobState

_settings = get_settings()

BAND_GAP_RANGE = (0.0, 10.0)  # eV; the training corpus spans ~0-9 eV
FORMATION_ENERGY_RANGE = (-6.0, 2.0)  # eV/atom
SEED_MAX = 2**31 - 1


def _target_value(lo: float, hi: float):
    """A target is a number or a {min, max} range, each end within [lo, hi]. Checked before the union
    is validated so that an error names the field and the bound, not every union member."""

    def check(value: Any) -> float | ValueRange | None:
        if value is None or isinstance(value, ValueRange):
            return value
        if isinstance(value, dict):
            try:
                value = ValueRange.model_validate(value)
            except ValidationError as exc:
                parts = [
                    ((".".join(map(str, e["loc"])) + ": ") if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
                    for e in exc.errors()
                ]
                raise ValueError("range: " + "; ".join(parts)) from None
            ends = [value.min, value.max]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
            ends = [value]
        else:
            raise ValueError('Input should be a number or a range {"min": ..., "max": ...}')
        for v in ends:
            if not math.isfinite(v):
                raise ValueError("Input should be a finite number")
            if v < lo:
                raise ValueError(f"Input should be greater than or equal to {lo:g}")
            if v > hi:
                raise ValueError(f"Input should be less than or equal to {hi:g}")
        return value

    return check


class Target(BaseModel):
    """Property targets for classifier-free guidance. Omit both for unconditional sampling."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    band_gap: Annotated[float | ValueRange | None, BeforeValidator(_target_value(*BAND_GAP_RANGE))] = Field(
        None,
        description="Target band gap in eV (0-10), or a range {\"min\", \"max\"}: guidance aims at its "
        "midpoint and the job screens for crystals inside it.",
        examples=[2.5],
    )
    formation_energy_per_atom: Annotated[
        float | ValueRange | None, BeforeValidator(_target_value(*FORMATION_ENERGY_RANGE))
    ] = Field(
        None,
        description="Target formation energy in eV/atom (-6..2), or a range {\"min\", \"max\"}.",
        examples=[-1.5],
    )

    @staticmethod
    def guidance(value: float | ValueRange | None) -> float | None:
        return value.midpoint if isinstance(value, ValueRange) else value


class NumAtoms(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    min: int = Field(ge=1, le=_settings.max_num_atoms, description="Smallest number of atoms per cell.")
    max: int = Field(ge=1, le=_settings.max_num_atoms, description="Largest number of atoms per cell.")

    @model_validator(mode="after")
    def _ordered(self) -> NumAtoms:
        if self.min > self.max:
            raise ValueError(f"num_atoms.min ({self.min}) must not exceed num_atoms.max ({self.max})")
        return self


def _check_elements(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    bad = unsupported_elements(values)
    if bad:
        raise ValueError(f"unknown element symbol(s) {', '.join(map(repr, bad))}; {ELEMENTS_HINT}")
    return sorted(set(values), key=values.index)


class JobCreate(BaseModel):
    """A generation request: sample ``num_samples`` crystals near the property target."""

    # strict: `true` or "2.5" is not a number; a JSON integer is still accepted where a float is expected.
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        strict=True,
        json_schema_extra={
            "examples": [{"target": {"band_gap": 2.5}, "num_samples": 4, "guidance_scale": 2.0, "seed": 7}]
        },
    )

    target: Target = Field(
        default_factory=Target,
        description="Property targets (band_gap eV, formation_energy_per_atom eV/atom).",
    )
    num_samples: int = Field(
        ge=1,
        le=_settings.max_num_samples,
        description="Number of crystals to generate; with a screen, the number of passing crystals wanted.",
    )
    guidance_scale: float = Field(
        2.0,
        ge=0.0,
        le=20.0,
        description="Classifier-free guidance scale γ (dimensionless; 1 = plain conditional).",
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=SEED_MAX,
        description="Random seed; same request + same model ⇒ same structures. Drawn at random when omitted.",
    )
    steps: int | None = Field(
        None, ge=1, le=_settings.max_steps, description="Reverse-diffusion steps (default: the model's own)."
    )
    model: str | None = Field(None, max_length=128, description="Model variant (see GET /v1/models).")
    num_atoms: NumAtoms | None = Field(None, description="Range of atoms per unit cell.")
    allowed_elements: list[Annotated[str, Field(max_length=3)]] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Chemical system: only these elements (Z = 1..100) may appear.",
    )
    required_elements: list[Annotated[str, Field(max_length=3)]] | None = Field(
        None,
        min_length=1,
        max_length=20,
        description="Elements (Z = 1..100) every generated crystal must contain.",
    )
    charge_balance: bool = Field(
        True,
        description="Charge-balance closing: the element that completes each crystal is drawn from the model's "
        "distribution restricted to elements giving a SMACT charge-balanced composition (raises SMACT validity "
        "from 77 to 94 % on the default model). false = the network's own compositions.",
    )

    relax: bool = Field(
        True,
        description="CHGNet-relax every crystal (FIRE, cell and positions) before its properties, space group "
        "and screen are computed; the generated structure is kept too.",
    )
    screen: Screen | None = Field(
        None,
        description="Ask for num_samples crystals that pass this screen; the worker samples chunks until "
        "enough pass or max_generated crystals were generated. A range target implies within_target.",
    )
    max_generated: int | None = Field(
        None,
        ge=1,
        le=_settings.max_num_samples,
        description="Budget of a screened job: most crystals to generate (default "
        f"{_settings.screen_budget_factor} x num_samples, at most {_settings.max_num_samples}).",
    )

    callback_url: str | None = Field(
        None,
        max_length=2048,
        description="http(s) URL the service POSTs the job document to when the job succeeds, fails or is "
        "cancelled, signed with the API key's webhook secret (header X-MatterGen-Signature). Its host must be "
        "allowed by the server setting WEBHOOK_ALLOWED_HOSTS (default: loopback only).",
        examples=["https://lims.lab.example/hooks/mattergen"],
    )

    _elements_allowed = field_validator("allowed_elements")(_check_elements)

    @field_validator("callback_url")
    @classmethod
    def _callback_url(cls, value: str | None) -> str | None:
        return None if value is None else check_callback_url(value)
    _elements_required = field_validator("required_elements")(_check_elements)

    @model_validator(mode="after")
    def _consistent(self) -> JobCreate:
        if self.allowed_elements and self.required_elements:
            missing = set(self.required_elements) - set(self.allowed_elements)
            if missing:
                raise ValueError(f"required_elements {sorted(missing)} are not in allowed_elements")
        spec = self.screen_spec()  # raises for a within_target screen without a target
        if spec is None and self.max_generated is not None:
            raise ValueError("max_generated is the budget of a screened job: give a screen or a range target")
        if spec is not None:
            if self.max_generated is None:
                budget = min(self.num_samples * _settings.screen_budget_factor, _settings.max_num_samples)
                self.max_generated = max(budget, self.num_samples)
            if self.max_generated < self.num_samples:
                raise ValueError(
                    f"max_generated ({self.max_generated}) must be at least num_samples ({self.num_samples})"
                )
        return self

    def screen_spec(self) -> dict | None:
        return screen_spec(self.screen, self.target.band_gap, self.target.formation_energy_per_atom)

    @property
    def samples_to_generate(self) -> int:
        """Crystals the job may sample: its budget when screened, else num_samples."""
        return self.max_generated or self.num_samples

    def job_columns(self) -> dict:
        """The issue-17 columns of the ``jobs`` row."""
        return {
            "relax": self.relax,
            "screen": self.screen_spec(),
            "max_generated": self.max_generated,
            "callback_url": self.callback_url,
        }

    def generation_params(self, model_name: str) -> GenerationParams:
        return GenerationParams(
            model_name=model_name,
            band_gap=Target.guidance(self.target.band_gap),
            formation_energy_per_atom=Target.guidance(self.target.formation_energy_per_atom),
            guidance_scale=self.guidance_scale,
            steps=self.steps,
            num_atoms=None if self.num_atoms is None else (self.num_atoms.min, self.num_atoms.max),
            allowed_elements=self.allowed_elements,
            required_elements=self.required_elements,
            charge_balance=self.charge_balance,
        )


class TimingsOut(BaseModel):
    created_at: datetime
    started_at: datetime | None = None
    first_structure_at: datetime | None = None
    finished_at: datetime | None = None
    queued_seconds: float | None = Field(
        None, description="Seconds from submission to the first chunk starting."
    )
    running_seconds: float | None = Field(None, description="Seconds from start to finish (or until now).")
    seconds_to_first_structure: float | None = Field(
        None, description="Seconds from submission to the first stored structure."
    )


class JobOut(BaseModel):
    id: uuid.UUID
    state: JobState
    progress: float = Field(
        ge=0.0, le=1.0, description="Fraction of num_samples sampled (moves within chunks)."
    )
    num_samples: int
    num_structures: int = Field(description="Structures stored so far.")
    num_chunks: int
    chunks_done: int
    chunk_size: int
    target: Target
    guidance_scale: float
    seed: int
    steps: int | None = Field(
        None, description="Reverse-diffusion steps (null until the worker resolves the model default)."
    )
    model: str
    checkpoint_sha256: str | None = None
    num_atoms: NumAtoms | None = None
    allowed_elements: list[str] | None = None
    required_elements: list[str] | None = None
    charge_balance: bool | None = Field(
        None, description="Charge-balance closing was on (null: a job from before the option, sampled without it)."
    )
    timings: TimingsOut
    error: str | None = None
    relax: bool | None = Field(None, description="Crystals are CHGNet-relaxed (null: job from before relaxation).")
    phases: PhasesOut | None = None
    screen: ScreenOut | None = Field(None, description="Screened jobs only: spec, generated / passed counts.")
    callback_url: str | None = Field(None, description="Webhook target (see GET /v1/jobs/{id}/deliveries).")
    links: dict[str, str]

    @staticmethod
    def params_fields(params: GenerationParams) -> dict:
        """The generation parameters under their API names (the inverse of
        :meth:`JobCreate.generation_params`)."""
        return {
            "target": Target(band_gap=params.band_gap, formation_energy_per_atom=params.formation_energy_per_atom),
            "guidance_scale": params.guidance_scale,
            "steps": params.steps,
            "model": params.model_name,
            "num_atoms": None if params.num_atoms is None else NumAtoms(min=params.num_atoms[0], max=params.num_atoms[1]),
            "allowed_elements": params.allowed_elements,
            "required_elements": params.required_elements,
            "charge_balance": params.charge_balance,
        }
