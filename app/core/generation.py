"""The generation parameters of a job, in one model.

A request is turned into these once (``JobCreate.generation_params``); they are stored as columns of
the ``jobs`` row (:meth:`GenerationParams.job_columns`), read back by the worker and the API
(:meth:`GenerationParams.from_job`) and handed to the sampler (:meth:`GenerationParams.sample_kwargs`).
Adding a parameter means adding it here, to the table and to the request schema, nowhere else.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.tables import Job


class GenerationParams(BaseModel):
    """What the sampler needs besides the chunk's size and seed."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model_name: str
    band_gap: float | None = None  # eV
    formation_energy_per_atom: float | None = None  # eV/atom
    guidance_scale: float
    steps: int | None = None  # None: the model's default, resolved by the worker
    num_atoms: tuple[int, int] | None = None  # (min, max) atoms per cell
    allowed_elements: list[str] | None = None
    required_elements: list[str] | None = None
    # The element completing each crystal is drawn given a SMACT-valid composition (models/charge_balance.py).
    # None: a job from before the option (migration 0007), which sampled without it.
    charge_balance: bool | None = True

    @classmethod
    def from_job(cls, job: Job) -> GenerationParams:
        return cls(
            model_name=job.model_name,
            band_gap=job.target_band_gap,
            formation_energy_per_atom=job.target_formation_energy_per_atom,
            guidance_scale=job.guidance_scale,
            steps=job.steps,
            num_atoms=None if job.num_atoms_min is None else (job.num_atoms_min, job.num_atoms_max),
            allowed_elements=job.allowed_elements,
            required_elements=job.required_elements,
            charge_balance=job.charge_balance,
        )

    def job_columns(self) -> dict[str, Any]:
        """Column values of the ``jobs`` row (the inverse of :meth:`from_job`)."""
        return {
            "model_name": self.model_name,
            "target_band_gap": self.band_gap,
            "target_formation_energy_per_atom": self.formation_energy_per_atom,
            "guidance_scale": self.guidance_scale,
            "steps": self.steps,
            "num_atoms_min": None if self.num_atoms is None else self.num_atoms[0],
            "num_atoms_max": None if self.num_atoms is None else self.num_atoms[1],
            "allowed_elements": self.allowed_elements,
            "required_elements": self.required_elements,
            "charge_balance": self.charge_balance,
        }

    def sample_kwargs(self, steps: int) -> dict[str, Any]:
        """Keyword arguments of ``models.sample.generate``; ``steps`` is the resolved step count."""
        return {
            "band_gap": self.band_gap,
            "formation_energy_per_atom": self.formation_energy_per_atom,
            "guidance_scale": self.guidance_scale,
            "steps": steps,
            "num_atoms": self.num_atoms,
            "allowed_elements": self.allowed_elements,
            "required_elements": self.required_elements,
            "charge_balance": bool(self.charge_balance),
        }
