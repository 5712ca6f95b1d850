"""Path-parameter lookups that respect ownership: a job or structure the caller may not see is a 404,
exactly like one that does not exist (so ids of other keys' jobs are not confirmed)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, HTTPException
from sqlalchemy import select

from app.api.auth import CallerDep
from app.api.deps import SessionDep
from app.tables import Job, Structure


def get_job_or_404(job_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Job:
    job = session.get(Job, job_id)
    if job is None or not caller.may_see(job.owner_key_id):
        raise HTTPException(status_code=404, detail=f"job {job_id} not found")
    return job


def get_structure_or_404(structure_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Structure:
    row = session.execute(
        select(Structure, Job.owner_key_id).join(Job, Job.id == Structure.job_id).where(Structure.id == structure_id)
    ).one_or_none()
    if row is None or not caller.may_see(row.owner_key_id):
        raise HTTPException(status_code=404, detail=f"structure {structure_id} not found")
    return row.Structure


JobDep = Annotated[Job, Depends(get_job_or_404)]
StructureDep = Annotated[Structure, Depends(get_structure_or_404)]
