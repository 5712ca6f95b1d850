"""One model of the generation parameters: request → job row → worker → sampler without loss."""

from __future__ import annotations

import inspect

from app.core.generation import GenerationParams
from app.schemas.jobs import JobCreate, JobOut
from app.tables import Job

REQUEST = JobCreate(
    target={"band_gap": 2.5, "formation_energy_per_atom": -1.0},
    num_samples=3,
    guidance_scale=1.5,
    steps=12,
    num_atoms={"min": 2, "max": 8},
    allowed_elements=["Li", "O", "Fe"],
    required_elements=["Li"],
    charge_balance=False,
)


def test_request_to_row_and_back_is_lossless():
    params = REQUEST.generation_params("charge-dos")
    job = Job(**params.job_columns())
    assert GenerationParams.from_job(job) == params
    out = JobOut.params_fields(params)
    assert out["target"].model_dump() == REQUEST.target.model_dump()
    assert out["num_atoms"] == REQUEST.num_atoms and out["model"] == "charge-dos" and out["steps"] == 12


def test_unset_options_stay_unset():
    params = JobCreate(num_samples=1).generation_params("default")
    assert GenerationParams.from_job(Job(**params.job_columns())) == params
    assert params.num_atoms is None and params.band_gap is None and params.steps is None
    assert params.charge_balance is True  # the sampling default


def test_a_job_from_before_charge_balance_samples_without_it():
    job = Job(**JobCreate(num_samples=1).generation_params("default").job_columns())
    job.charge_balance = None  # the column as migration 0007 leaves older rows
    params = GenerationParams.from_job(job)
    assert params.charge_balance is None and params.sample_kwargs(steps=5)["charge_balance"] is False
    assert JobOut.params_fields(params)["charge_balance"] is None


def test_sample_kwargs_are_arguments_of_generate():
    from models.sample import generate

    kwargs = REQUEST.generation_params("m").sample_kwargs(steps=7)
    assert set(kwargs) <= set(inspect.signature(generate).parameters)
    assert kwargs["steps"] == 7 and kwargs["num_atoms"] == (2, 8) and kwargs["charge_balance"] is False
