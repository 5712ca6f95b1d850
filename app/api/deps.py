"""Request-scoped dependencies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.db import get_sessionmaker
from app.core.task_queue import TaskQueue, get_task_queue
from app.tables import Job, Structure


def get_db() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TaskQueueDep = Annotated[TaskQueue, Depends(get_task_queue)]


def get_job_or_404(job_id: uuid.UUID, session: SessionDep) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"job {job_id} not found")
    return job


def get_structure_or_404(structure_id: uuid.UUID, session: SessionDep) -> Structure:
    structure = session.get(Structure, structure_id)
    if structure is None:
        raise HTTPException(status_code=404, detail=f"structure {structure_id} not found")
    return structure


JobDep = Annotated[Job, Depends(get_job_or_404)]
StructureDep = Annotated[Structure, Depends(get_structure_or_404)]
