"""A job's progress over its two phases (sampling, then relaxation and post-processing) and, for a
screened job, its generated / passed counts (issue 17)."""

from __future__ import annotations

from pydantic import ValidationError

from app.schemas.jobs import Target
from app.schemas.screen import PhasesOut, ScreenOut
from app.tables import Job, JobState


def job_progress(
    job: Job, sampled: float, relaxed: float, generated: int, passed: int
) -> tuple[PhasesOut, float, ScreenOut | None]:
    """(phases, overall progress, screen block). ``sampled``/``relaxed``: crystals through each phase.

    Overall progress: the mean of the phases for a relaxing job (relaxation costs about as much as
    sampling), else the sampled fraction; a screened job is also as far as its passing count."""
    total = job.max_generated or job.num_samples
    sampling = min(1.0, sampled / total)
    relaxation = min(1.0, relaxed / total) if job.relax else None
    progress = sampling if relaxation is None else (sampling + relaxation) / 2
    screen = None
    if job.screen is not None:
        progress = max(progress, min(1.0, passed / job.num_samples))
        screen = ScreenOut(
            spec=job.screen,
            max_generated=total,
            generated=generated,
            passed=passed,
            pass_rate=round(passed / generated, 4) if generated else None,
            stopped=job.screen_stopped,
        )
    if job.state == JobState.succeeded:
        progress = 1.0
    phases = PhasesOut(sampling=round(sampling, 4), relaxation=None if relaxation is None else round(relaxation, 4))
    return phases, min(1.0, progress), screen


def stored_target(job: Job) -> Target:
    """The target as requested (a range stays a range); jobs' columns hold only the guidance value."""
    try:
        return Target.model_validate((job.request or {}).get("target") or {})
    except ValidationError:  # a request stored by an older version: rebuild it from the columns
        return Target(band_gap=job.target_band_gap, formation_energy_per_atom=job.target_formation_energy_per_atom)

